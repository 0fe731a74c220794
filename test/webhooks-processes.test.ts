import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, vi } from 'vitest';
import { expect, type ServerProcess, test } from './fixtures.ts';
import { verifyWebhook } from '../src/webhooks/signature.ts';
import { type Harness, mutations, postGraphQL, seatScenario } from './helpers.ts';

// Webhooks sent by real server processes sharing the database: each delivery goes out once
// with two processes competing for it, and a process killed mid-send loses nothing.

// A lease of 6 s (timeout + 5 s margin), and retries ten thousand times faster than in production.
const env = { WEBHOOK_TIMEOUT_MS: '1000', WEBHOOK_RETRY_SCALE: '0.0001' };

const eventually = <T>(check: () => Promise<T> | T, timeout = 90_000) => vi.waitFor(check, { timeout, interval: 100 });

/**
 * The process holding a loopback TCP connection, by the connection's client port (Linux: the
 * socket's inode in /proc/net/tcp, then whose file descriptors point at it). Lets a receiver tell
 * which server process sent a request; null for any other process.
 */
function senderOf(clientPort: number, serverPort: number, processes: ServerProcess[]): number | null {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  let inode: string | null = null;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${hex(clientPort)}`) && fields[2]?.endsWith(`:${hex(serverPort)}`)) inode = fields[9] ?? null;
    }
  }
  if (!inode) return null;
  for (const { child } of processes) {
    if (!child.pid) continue;
    const holds = (fd: string) => {
      try {
        return readlinkSync(`/proc/${child.pid}/fd/${fd}`) === `socket:[${inode}]`;
      } catch {
        return false; // closed meanwhile
      }
    };
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${child.pid}/fd`);
    } catch {
      continue; // the process has ended
    }
    if (fds.some(holds)) return child.pid;
  }
  return null;
}

type Received = { id: string; headers: IncomingHttpHeaders; body: string; json: any; sender: number | null };

const receivers: { close(): void }[] = [];
afterAll(() => {
  for (const receiver of receivers) receiver.close();
});

async function startReceiver(processes: ServerProcess[], reply: (received: Received, response: ServerResponse) => void) {
  const requests: Received[] = [];
  // Which process opened each connection, asked once per connection (they are kept alive), at
  // once, while it is certainly open: the lookup takes milliseconds.
  const senders = new WeakMap<object, number | null>();
  const server = createServer((request, response) => {
    const sender = senders.get(request.socket) ?? null;
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const received = { id: String(request.headers['webhook-id']), headers: request.headers, body, json: JSON.parse(body), sender };
      requests.push(received);
      reply(received, response);
    });
  });
  server.on('connection', (socket) => senders.set(socket, senderOf(socket.remotePort!, port, processes)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const receiver = {
    url: `http://127.0.0.1:${port}/hooks`,
    requests,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
  receivers.push(receiver);
  return receiver;
}

const createEndpoint = /* GraphQL */ `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { id } } }`;

/** An endpoint's deliveries and attempts, straight from the tables. */
async function deliveryRows(harness: Harness, endpointId: string) {
  return harness.orm.em
    .fork()
    .getConnection()
    .execute<{ id: string; status: string; attempts: number; outcomes: string[] }[]>(
      `select d.id, d.status, (select count(*)::int from webhook_attempt a where a.delivery_id = d.id) as attempts,
              array(select coalesce(a.status_code::text, a.error) from webhook_attempt a where a.delivery_id = d.id order by a.attempted_at) as outcomes
         from webhook_delivery d where d.endpoint_id = ?`,
      [endpointId],
    );
}

test.skipIf(process.platform !== 'linux')(
  'two server processes send each of 200 events exactly once',
  async ({ harness, startServer }) => {
    const processes = await Promise.all([startServer(env), startServer(env)]);
    const [a, b] = processes;
    const s = await seatScenario(harness);
    const receiver = await startReceiver(processes, (_received, response) => {
      // A little work per request, so that sends overlap.
      setTimeout(() => response.end('ok'), Math.random() * 20);
    });
    const { createWebhookEndpoint } = await s.client.ok(createEndpoint, { input: { url: receiver.url, events: ['SEAT_CHANGED'] } });
    const { secret, endpoint } = createWebhookEndpoint;

    const eventIds: string[] = [];
    let next = 0;
    const changes = 200;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < changes) {
          const server = next++ % 2 ? a! : b!;
          const response = await postGraphQL(server.url, s.key, mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } });
          expect(response.body.errors).toBeUndefined();
          eventIds.push(response.body.data.addSeats.id);
        }
      }),
    );

    await eventually(async () => {
      const rows = await deliveryRows(harness, endpoint.id);
      expect(rows.filter((row) => row.status === 'succeeded')).toHaveLength(changes);
    });
    const rows = await deliveryRows(harness, endpoint.id);
    // One attempt per delivery, recorded: none was sent twice.
    expect(
      rows.map((row) => row.attempts),
      JSON.stringify(rows.filter((row) => row.attempts !== 1)),
    ).toEqual(rows.map(() => 1));
    const ids = receiver.requests.map((request) => request.id);
    expect(ids).toHaveLength(changes);
    expect(new Set(ids)).toEqual(new Set(rows.map((row) => row.id)));
    expect(new Set(receiver.requests.map((request) => request.json.data.event.id))).toEqual(new Set(eventIds));
    for (const request of receiver.requests) expect(verifyWebhook(secret, request.headers, request.body)).toBe(true);
    // Both processes took part (other test files' processes may have sent some too).
    const senders = receiver.requests.map((request) => request.sender);
    expect(senders.filter((sender) => sender === a!.child.pid).length, JSON.stringify(senders)).toBeGreaterThan(0);
    expect(senders.filter((sender) => sender === b!.child.pid).length, JSON.stringify(senders)).toBeGreaterThan(0);

    // Stopping waits for the workers; both drain cleanly.
    a!.child.kill('SIGTERM');
    b!.child.kill('SIGTERM');
    expect(await Promise.all([a!.exited, b!.exited])).toEqual([0, 0]);
  },
  180_000,
);

test.skipIf(process.platform !== 'linux')(
  'a process killed mid-send leaves the delivery to be sent after a restart, under the same webhook-id',
  async ({ harness, startServer }) => {
    const processes: ServerProcess[] = [await startServer(env)];
    const victim = processes[0]!;
    const s = await seatScenario(harness);
    let held: Received | null = null;
    // The first request the victim sends is held open, never answered; any other is answered at once.
    const receiver = await startReceiver(processes, (received, response) => {
      if (!held && received.sender === victim.child.pid) held = received;
      else response.end('ok');
    });
    const { createWebhookEndpoint } = await s.client.ok(createEndpoint, { input: { url: receiver.url, events: ['SEAT_CHANGED'] } });
    const { secret, endpoint } = createWebhookEndpoint;

    // Any process's worker may take a delivery: change seats until the victim sends one.
    const eventIds: string[] = [];
    for (let i = 0; !held && i < 50; i++) {
      const response = await postGraphQL(victim.url, s.key, mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } });
      const eventId = response.body.data.addSeats.id;
      eventIds.push(eventId);
      await eventually(() => expect(receiver.requests.some((request) => request.json.data.event.id === eventId)).toBe(true));
    }
    expect(held, 'the victim never sent a delivery').not.toBeNull();
    const heldRequest = held! as Received;

    victim.child.kill('SIGKILL');
    expect(await victim.exited).toBeNull();
    const restarted = await startServer(env);
    processes.push(restarted);

    // Once the lease of the dead process's claim ends, the delivery is sent again: same id, same body.
    await eventually(async () => {
      const [row] = (await deliveryRows(harness, endpoint.id)).filter((r) => r.id === heldRequest.id);
      expect(row?.status).toBe('succeeded');
    });
    const repeats = receiver.requests.filter((request) => request.id === heldRequest.id);
    expect(repeats.length).toBeGreaterThanOrEqual(2);
    for (const repeat of repeats) {
      expect(repeat.body).toBe(heldRequest.body);
      expect(verifyWebhook(secret, repeat.headers, repeat.body)).toBe(true);
    }
    // Nothing lost: every change was delivered, and every delivery succeeded.
    const rows = await deliveryRows(harness, endpoint.id);
    expect(rows.map((row) => row.status)).toEqual(rows.map(() => 'succeeded'));
    expect(new Set(receiver.requests.map((request) => request.json.data.event.id))).toEqual(new Set(eventIds));

    restarted.child.kill('SIGTERM');
    expect(await restarted.exited).toBe(0);
  },
  180_000,
);
