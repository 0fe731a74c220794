import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, expect, test } from '../fixtures.ts';
import { mutations, postGraphQL, subscribe } from '../helpers.ts';

/**
 * Clients that hold connections without finishing a request, or open too many: the server's own
 * process, over raw sockets, since only a socket can trickle bytes or stay silent.
 */

/** Everything the server sends on `socket` until it closes it. */
function answerOf(socket: Socket): Promise<string> {
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  // Not `once`, which rejects on the reset that is the answer here.
  return new Promise((resolve) => socket.on('close', () => resolve(text)));
}

async function open(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  // A reset is an answer here (the connection cap's), read from what arrived before `close`.
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** Writes one byte every `everyMs` while the socket is open; answers how many it wrote. */
function trickle(socket: Socket, bytes: string, everyMs: number): () => number {
  let sent = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || socket.writableEnded || sent >= bytes.length) return clearInterval(timer);
    socket.write(bytes[sent++]!);
  }, everyMs);
  socket.on('close', () => clearInterval(timer));
  return () => sent;
}

const seatEventsOf = /* GraphQL */ `subscription($customerId: String) { seatEvents(customerId: $customerId) { id event { customerId newBalance } } }`;

const healthz = (url: string) => fetch(url.replace(/\/graphql$/, '/healthz')).then((response) => response.status);

describe('slow and many connections', () => {
  test('a body trickling in is cut off with 408 at REQUEST_TIMEOUT_MS, long before it would end', async ({ startServer, scenario: s }) => {
    const server = await startServer({ REQUEST_TIMEOUT_MS: '1000', HEADERS_TIMEOUT_MS: '1000' });
    // A stream's request is complete when it opens: the timeout never ends it.
    const stream = await subscribe(fetch, server.url, s.key, seatEventsOf, { customerId: s.customerId });
    const socket = await open(server.url);
    const answer = answerOf(socket);
    const body = JSON.stringify({ query: `{ features { code } }` }).padEnd(200, ' ');
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: seatgate.test\r\nX-Api-Key: ${s.key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    // One byte every 100 ms: 20 seconds to send the body.
    const sent = trickle(socket, body, 100);
    expect(await answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(sent()).toBeLessThan(body.length);
    expect(await healthz(server.url)).toBe(200);
    // Opened before the trickle and so older than the timeout it proved is enforced, the stream still delivers.
    const added = await postGraphQL(server.url, s.key, mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 2 } });
    expect(added.body.errors).toBeUndefined();
    const [event] = await stream.take(1);
    expect(event.data.seatEvents.event).toMatchObject({ customerId: s.customerId, newBalance: added.body.data.addSeats.newBalance });
    stream.close();
  });

  test('headers that never end are cut off with 408 at HEADERS_TIMEOUT_MS', async ({ startServer }) => {
    const server = await startServer({ REQUEST_TIMEOUT_MS: '60000', HEADERS_TIMEOUT_MS: '1000' });
    const socket = await open(server.url);
    const answer = answerOf(socket);
    socket.write('GET /healthz HTTP/1.1\r\nHost: seatgate.test\r\n');
    const header = `X-Padding: ${'a'.repeat(200)}`;
    const sent = trickle(socket, header, 100);
    expect(await answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(sent()).toBeLessThan(header.length);
  });

  test('past MAX_CONNECTIONS a new connection is closed at once; one freed lets the next in', async ({ startServer }) => {
    const server = await startServer({ MAX_CONNECTIONS: '4', HEADERS_TIMEOUT_MS: '60000', REQUEST_TIMEOUT_MS: '60000' });
    const held = await Promise.all([1, 2, 3, 4].map(() => open(server.url)));
    // The fifth is accepted by the kernel and closed by the server before it reads a byte.
    const { hostname, port } = new URL(server.url);
    const fifth = connect(Number(port), hostname).on('error', () => {});
    const refused = answerOf(fifth);
    fifth.write('GET /healthz HTTP/1.1\r\nHost: seatgate.test\r\nConnection: close\r\n\r\n');
    expect(await refused).toBe('');

    const freed = once(held[0]!, 'close');
    held[0]!.destroy();
    await freed;
    // The server counts the closed one only once it has seen it close: ask until it has.
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      status = await healthz(server.url).catch(() => 0);
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(200);
    for (const socket of held) socket.destroy();
  });
});
