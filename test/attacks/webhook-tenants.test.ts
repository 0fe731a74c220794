import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { afterAll, beforeAll, vi } from 'vitest';
import { describe, expect, test } from '../fixtures.ts';
import { createApp } from '../../src/app.ts';
import { createLogger } from '../../src/common/logger.ts';
import { loadConfig, webhookLeaseMarginMs } from '../../src/config.ts';
import { migrate, type Orm, openOrm } from '../../src/db/orm.ts';
import { EventHub } from '../../src/events/hub.ts';
import { schema } from '../../src/graphql/schema.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { deliveryQueue } from '../../src/webhooks/service.ts';
import type { LoopbackPolicy } from '../../src/webhooks/url.ts';
import { endpointsDisabledForFailing, type WebhookWorkerOptions, webhookWorker } from '../../src/webhooks/worker.ts';
import { type Client, graphql, type Harness, mutations, newTenant, scratchDatabase, seatScenario } from '../helpers.ts';

// The webhook findings of the second attack (issue 21), replayed:
// - 3: tenant A registered 16 test endpoints on a receiver that accepts connections and never
//   answers, made 3 changes, and tenant B's delivery waited 29 s for A's sends to time out;
// - 5: a test key registered http://127.0.0.1:<port>/admin/reset and the local service got the
//   POST; lastError said ECONNRESET for an open port and ECONNREFUSED for a closed one;
// - 6: live mode let [::ffff:0:7f00:1], [100:0:0:1::] and port 0 through.
// Sends are replayed on a database of this file's own: every relay and webhook worker on it is
// this file's, so what is in flight can be counted exactly, and a worker's own rules are the
// only ones applied (on the run's database, other files' server processes claim deliveries too).
// Nothing waits on the clock: each test waits for requests to arrive, then checks what else
// arrived meanwhile.

let orm: Orm;
/** The app on this file's database. */
let apart: Harness;
let dispose: () => Promise<void>;
const logs: string[] = [];

beforeAll(async () => {
  const database = await scratchDatabase('seatgate_webhook_tenants');
  orm = await openOrm(database.url, { poolMax: 10 });
  await migrate(orm);
  const yoga = createApp({
    orm,
    logger: createLogger('warn', (line) => logs.push(line)),
    limits: { ...loadConfig({}).limits, rateLimitPerSecond: 0, authFailuresPerMinute: 0 },
    interpretedRuns: 0,
  });
  apart = { orm, yoga, logs, passTime: () => undefined, countStatements: () => Promise.reject(new Error('not on this database')) };
  dispose = async () => {
    await yoga.dispose();
    await orm.close();
    await database.drop();
  };
});

afterAll(async () => {
  await dispose?.();
});

/** Long enough that a send to the silent receiver is still hanging whenever a test looks. */
const timeoutMs = 30_000;

const eventually = <T>(check: () => Promise<T> | T) => vi.waitFor(check, { timeout: 30_000, interval: 20 });

type Request = { path: string; open: boolean; answer(status: number): void };
type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/**
 * A receiver on 127.0.0.1 that records each request and answers as `reply` says; a request it
 * leaves unanswered stays `open` until seatgate hangs up.
 */
async function startReceiver(reply: (request: Request) => void) {
  const requests: Request[] = [];
  const server = createServer((incoming, response: ServerResponse) => {
    const request: Request = { path: incoming.url ?? '', open: true, answer: (status) => response.writeHead(status).end() };
    response.on('close', () => (request.open = false));
    requests.push(request);
    incoming.resume();
    incoming.on('end', () => reply(request));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  let closed = false;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    open: () => requests.filter((request) => request.open),
    close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      server.close();
    },
  };
}

/**
 * One test's world on this file's database: the process's sender as the server runs it
 * (server.ts), with the default limits unless told: its worker, and a relay that hands
 * deliveries to it at publication (`handOff`) or leaves every one due for the worker to claim;
 * and the receivers and endpoints the test makes. `end` undoes it all, so that nothing of one
 * test is still pending, or hanging, in the next: the test's endpoints are disabled, its
 * receivers closed (a send still hanging ends at once), and the sender stopped.
 */
async function world(handOff: boolean, settings: Partial<WebhookWorkerOptions> = {}) {
  const logger = createLogger('info', (line) => logs.push(line));
  const options = { ...loadConfig({}).webhooks, timeoutMs, leaseMs: timeoutMs + webhookLeaseMarginMs, pollMs: 500, ...settings };
  const worker = webhookWorker(orm, logger, options);
  worker.start();
  const hub = new EventHub(orm, logger, deliveryQueue(handOff ? worker : null));
  await hub.start();
  hub.onPublished(({ due }) => due && worker.poke());
  const receivers: Receiver[] = [];
  const endpoints: { client: Client; id: string }[] = [];
  return {
    options,
    async receiver(reply: (request: Request) => void) {
      const receiver = await startReceiver(reply);
      receivers.push(receiver);
      return receiver;
    },
    /** Accepts every connection and never answers. */
    silent() {
      return this.receiver(() => undefined);
    },
    fast() {
      return this.receiver((request) => request.answer(204));
    },
    async endpoint(client: Client, url: string) {
      const { createWebhookEndpoint } = await client.ok(
        /* GraphQL */ `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }`,
        { input: { url, events: ['SEAT_CHANGED'] } },
      );
      endpoints.push({ client, id: createWebhookEndpoint.endpoint.id });
      return createWebhookEndpoint.endpoint.id as string;
    },
    async end() {
      for (const { client, id } of endpoints) await client.ok(/* GraphQL */ `mutation($id: ID!) { disableWebhookEndpoint(id: $id) { id } }`, { id });
      for (const receiver of receivers) receiver.close();
      await hub.stop();
      await worker.stop();
    },
  };
}
type World = Awaited<ReturnType<typeof world>>;

const addSeat = (s: { client: Client; customerId: string }) =>
  s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } });

const deliveries = async (client: Client, endpointId: string) =>
  (
    await client.ok(/* GraphQL */ `query($endpointId: ID!) { webhookDeliveries(endpointId: $endpointId, first: 100) { nodes { status attemptCount } } }`, {
      endpointId,
    })
  ).webhookDeliveries.nodes as { status: string; attemptCount: number }[];

/** An endpoint's deliveries with the error of each attempt. */
const attemptsOf = async (client: Client, endpointId: string) =>
  (
    await client.ok(
      /* GraphQL */ `query($endpointId: ID!) { webhookDeliveries(endpointId: $endpointId, first: 100) { nodes { status lastError attempts { error } } } }`,
      { endpointId },
    )
  ).webhookDeliveries.nodes as { status: string; lastError: string | null; attempts: { error: string | null }[] }[];

/** A TCP server that does `behave` with each connection, and never speaks HTTP. */
const rawServer = (behave: (socket: Socket) => void) => createNetServer((socket) => behave(socket));

/** Tenant A of the finding: 16 endpoints on one silent receiver, and 3 changes, so 48 deliveries. */
async function silentTenant(w: World) {
  const receiver = await w.silent();
  const a = await seatScenario(apart);
  const endpoints: string[] = [];
  for (let i = 0; i < 16; i++) endpoints.push(await w.endpoint(a.client, `${receiver.url}/a/${i}`));
  for (let i = 0; i < 3; i++) await addSeat(a);
  return { ...a, receiver, endpoints };
}

/** Tenant B of the finding: one endpoint on a receiver that answers at once (unless told otherwise). */
async function healthyTenant(w: World, receiver?: Receiver) {
  receiver ??= await w.fast();
  const b = await seatScenario(apart);
  const endpoint = await w.endpoint(b.client, `${receiver.url}/b`);
  return { ...b, receiver, endpoint };
}

describe("a tenant's endpoints that never answer", () => {
  test.for([
    ['claimed by the worker', false],
    ['handed off at publication', true],
  ] as const)("hold at most the organization's limit of sends, and another tenant's delivery goes out while they all still hang (%s)", async ([, handOff]) => {
    const w = await world(handOff);
    const { concurrencyPerOrganization: perOrganization } = w.options;
    try {
      const a = await silentTenant(w);
      await eventually(() => expect(a.receiver.open()).toHaveLength(perOrganization));

      const b = await healthyTenant(w);
      await addSeat(b);
      await eventually(() => expect(b.receiver.requests).toHaveLength(1));

      // B's delivery arrived while every send of A's was still hanging, and A got no more than its share meanwhile.
      expect(a.receiver.requests).toHaveLength(perOrganization);
      expect(a.receiver.open()).toHaveLength(perOrganization);
      // Its share went to different endpoints: they take turns.
      expect(new Set(a.receiver.requests.map((request) => request.path)).size).toBe(perOrganization);
      await eventually(async () => expect(await deliveries(b.client, b.endpoint)).toEqual([{ status: 'SUCCEEDED', attemptCount: 1 }]));
      const owed = (await Promise.all(a.endpoints.map((id) => deliveries(a.client, id)))).flat();
      expect(owed).toHaveLength(48);
      expect(owed.every((delivery) => delivery.status === 'PENDING')).toBe(true);
    } finally {
      await w.end();
    }
  });

  test("one endpoint holds at most the endpoint's limit of sends", async () => {
    const w = await world(false);
    const { concurrencyPerEndpoint: perEndpoint } = w.options;
    try {
      const receiver = await w.silent();
      const c = await seatScenario(apart);
      await w.endpoint(c.client, `${receiver.url}/c`);
      for (let i = 0; i < perEndpoint + 3; i++) await addSeat(c);
      await eventually(() => expect(receiver.open()).toHaveLength(perEndpoint));

      const b = await healthyTenant(w);
      await addSeat(b);
      await eventually(() => expect(b.receiver.requests).toHaveLength(1));
      expect(receiver.requests).toHaveLength(perEndpoint);
      expect(receiver.open()).toHaveLength(perEndpoint);
    } finally {
      await w.end();
    }
  });

  test("when slots free up, the organization with fewer sends in flight goes first, however old the other one's backlog", async () => {
    // Two slots in all, so that who gets a freed one is the question.
    const w = await world(false, { concurrency: 2 });
    try {
      // H takes both slots, and holds them until released.
      const holder = await w.silent();
      const h = await seatScenario(apart);
      await w.endpoint(h.client, `${holder.url}/h`);
      await addSeat(h);
      await addSeat(h);
      await eventually(() => expect(holder.open()).toHaveLength(2));
      // A's 48 deliveries fall due first, B's one after them: oldest first would give both slots to A.
      const a = await silentTenant(w);
      // B's receiver holds its request too, so that once B's send is in flight no slot is left to change the count.
      const b = await healthyTenant(w, await w.silent());
      await addSeat(b);
      await eventually(async () => expect(await deliveries(b.client, b.endpoint)).toHaveLength(1));
      expect(a.receiver.requests).toEqual([]);

      for (const request of holder.requests) request.answer(200);
      await eventually(() => expect(b.receiver.requests).toHaveLength(1));
      // A got one freed slot, B the other.
      expect(a.receiver.requests).toHaveLength(1);
      expect(a.receiver.open()).toHaveLength(1);
      expect(b.receiver.open()).toHaveLength(1);
    } finally {
      await w.end();
    }
  });
});

describe('an endpoint that keeps failing', () => {
  test('is disabled after the configured failures in a row, with a warning and a metric', async () => {
    const disableAfterFailures = 3;
    // Retries a hundred thousand times faster than in production.
    const w = await world(true, { disableAfterFailures, retryScale: 1e-5 });
    const metrics = createMetrics(orm, schema, createLogger('silent'));
    const counted = endpointsDisabledForFailing.test;
    try {
      const receiver = await w.receiver((request) => request.answer(500));
      const s = await seatScenario(apart);
      const endpoint = await w.endpoint(s.client, `${receiver.url}/failing`);
      await addSeat(s);
      const disabled = await eventually(async () => {
        const { webhookEndpoints } = await s.client.ok(/* GraphQL */ `{ webhookEndpoints { id enabled disabledReason consecutiveFailures } }`);
        expect(webhookEndpoints[0].enabled).toBe(false);
        return webhookEndpoints[0];
      });
      expect(disabled).toEqual({
        id: endpoint,
        enabled: false,
        consecutiveFailures: disableAfterFailures,
        disabledReason: `Disabled automatically: ${disableAfterFailures} attempts in a row failed (the last: HTTP 500). Fix the receiver, then call enableWebhookEndpoint.`,
      });
      expect(receiver.requests).toHaveLength(disableAfterFailures);
      expect(await deliveries(s.client, endpoint)).toEqual([{ status: 'FAILED', attemptCount: disableAfterFailures }]);
      const warnings = logs.map((line) => JSON.parse(line)).filter((line) => line.message === 'a webhook endpoint was disabled for failing');
      expect(warnings).toEqual([
        expect.objectContaining({ level: 'warn', endpointId: endpoint, organizationId: s.organizationId, mode: 'test', reason: disabled.disabledReason }),
      ]);
      expect(endpointsDisabledForFailing.test).toBe(counted + 1);
      expect(await metrics.registry.metrics()).toContain(`seatgate_webhook_endpoints_disabled_total{mode="test"} ${counted + 1}`);
    } finally {
      await w.end();
    }
  });
});

describe('loopback only by choice', () => {
  const createOp = /* GraphQL */ `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id url } } }`;
  /** The app on this file's database, as a server configured with this loopback policy serves it. */
  const appWith = (webhookLoopback: LoopbackPolicy): Harness => ({
    ...apart,
    yoga: createApp({
      orm,
      logger: createLogger('silent'),
      limits: { ...loadConfig({}).limits, rateLimitPerSecond: 0, authFailuresPerMinute: 0 },
      webhookLoopback,
    }),
  });
  /** A key's calls to that app. */
  const clientOf = (app: Harness, key: string) => ({
    async ok(query: string, variables?: Record<string, unknown>) {
      const response = await graphql(app, key, query, variables);
      expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
      return response.data;
    },
    async fails(query: string, variables?: Record<string, unknown>) {
      const response = await graphql(app, key, query, variables);
      expect(response.errors, JSON.stringify(response.data)).toHaveLength(1);
      return response.errors![0]!;
    },
  });

  test('with loopback off (production), a test key cannot register a loopback URL, whatever its spelling', async () => {
    const app = appWith(loadConfig({ NODE_ENV: 'production' }).webhooks.loopback);
    const t = await newTenant(apart);
    const client = clientOf(app, t.key);
    for (const url of ['http://127.0.0.1:3000/admin/reset', 'http://localhost:5432/', 'http://[::1]/', 'https://localhost/hooks']) {
      const refused = await client.fails(createOp, { input: { url, events: ['SEAT_CHANGED'] } });
      expect(refused.extensions, url).toMatchObject({ code: 'validation_error', param: 'url' });
      expect(refused.message).toBe('This server does not send webhooks to loopback addresses; use an https URL of a public host.');
    }
    for (const url of ['https://[::ffff:127.0.0.1]/', 'https://127.0.0.2/', 'https://[::ffff:0:7f00:1]/']) {
      expect((await client.fails(createOp, { input: { url, events: ['SEAT_CHANGED'] } })).message, url).toMatch(/is not a public address/);
    }
    const { createWebhookEndpoint } = await client.ok(createOp, { input: { url: 'https://hooks.example.com/in', events: ['SEAT_CHANGED'] } });
    expect(createWebhookEndpoint.endpoint.url).toBe('https://hooks.example.com/in');
  });

  test('with ports listed, a test key may register loopback URLs on those ports only', async () => {
    const app = appWith(loadConfig({ WEBHOOK_LOOPBACK_PORTS: '3000, 8080' }).webhooks.loopback);
    const t = await newTenant(apart);
    const client = clientOf(app, t.key);
    expect((await client.ok(createOp, { input: { url: 'http://localhost:3000/in', events: ['SEAT_CHANGED'] } })).createWebhookEndpoint.endpoint.url).toBe(
      'http://localhost:3000/in',
    );
    for (const url of ['http://127.0.0.1:5432/', 'http://localhost/in', 'http://[::1]:3001/']) {
      const refused = await client.fails(createOp, { input: { url, events: ['SEAT_CHANGED'] } });
      expect(refused.extensions, url).toMatchObject({ code: 'validation_error', param: 'url' });
      expect(refused.message).toBe('Loopback URLs may use only the ports 3000, 8080 on this server.');
    }
  });

  test('an endpoint registered before loopback was turned off cannot be enabled again, and is sent nothing', async () => {
    const w = await world(true, { loopback: { allowed: false, ports: null } });
    try {
      const receiver = await w.fast();
      const s = await seatScenario(apart);
      // Registered while the server allowed loopback (this file's app does).
      const endpoint = await w.endpoint(s.client, `${receiver.url}/admin/reset`);
      await addSeat(s);
      await eventually(async () => expect((await deliveries(s.client, endpoint))[0]?.status).toBe('FAILED'));
      const [delivery] = await attemptsOf(s.client, endpoint);
      expect(delivery!.attempts.map((attempt) => attempt.error)).toEqual([
        'The URL is refused: This server does not send webhooks to loopback addresses; use an https URL of a public host.',
      ]);
      expect(receiver.requests).toEqual([]);

      const off = clientOf(appWith({ allowed: false, ports: null }), s.key);
      await off.ok(/* GraphQL */ `mutation($id: ID!) { disableWebhookEndpoint(id: $id) { id } }`, { id: endpoint });
      const refused = await off.fails(/* GraphQL */ `mutation($id: ID!) { enableWebhookEndpoint(id: $id) { id } }`, { id: endpoint });
      expect(refused.extensions).toMatchObject({ code: 'conflict', param: 'id' });
      expect(refused.message).toMatch(/URL is no longer accepted: This server does not send webhooks to loopback addresses/);
    } finally {
      await w.end();
    }
  });

  test('at send time, a loopback URL on a port no longer listed is refused before connecting', async () => {
    // Started before the sender, whose policy lists its port.
    const listed = await startReceiver((request) => request.answer(204));
    const port = Number(new URL(listed.url).port);
    const w = await world(true, { loopback: { allowed: true, ports: [port] } });
    try {
      const unlisted = await w.fast();
      const s = await seatScenario(apart);
      const allowed = await w.endpoint(s.client, `${listed.url}/in`);
      const refused = await w.endpoint(s.client, `${unlisted.url}/admin/reset`);
      await addSeat(s);
      await eventually(async () => expect((await deliveries(s.client, allowed))[0]?.status).toBe('SUCCEEDED'));
      await eventually(async () => expect((await deliveries(s.client, refused))[0]?.status).toBe('FAILED'));
      expect((await attemptsOf(s.client, refused))[0]!.attempts.map((attempt) => attempt.error)).toEqual([
        `The URL is refused: Loopback URLs may use only the ports ${port} on this server.`,
      ]);
      expect(listed.requests).toHaveLength(1);
      expect(unlisted.requests).toEqual([]);
    } finally {
      listed.close();
      await w.end();
    }
  });

  test('lastError says the same for a closed port, a reset, a hang-up and a port that speaks something else: it is no port scanner', async () => {
    const w = await world(true);
    const targets: { url: string; close(): void }[] = [];
    try {
      // Closed: nothing listens on the port any more.
      const closed = rawServer(() => undefined);
      await once(closed.listen(0, '127.0.0.1'), 'listening');
      const closedPort = (closed.address() as AddressInfo).port;
      closed.close();
      targets.push({ url: `http://127.0.0.1:${closedPort}/`, close: () => undefined });
      // Reset at once (RST), closed at once (FIN), and a service that is not HTTP, as PostgreSQL's port is not.
      for (const behave of [
        (socket: Socket) => socket.resetAndDestroy(),
        (socket: Socket) => socket.end(),
        (socket: Socket) => socket.end('N\u0000\u0000\u0000garbage\r\n\r\n'),
      ]) {
        const server = rawServer(behave);
        await once(server.listen(0, '127.0.0.1'), 'listening');
        targets.push({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => server.close() });
      }
      const s = await seatScenario(apart);
      const endpoints: string[] = [];
      for (const target of targets) endpoints.push(await w.endpoint(s.client, target.url));
      await addSeat(s);
      const errors = await eventually(async () => {
        const found = await Promise.all(endpoints.map(async (id) => (await attemptsOf(s.client, id))[0]?.attempts[0]?.error));
        expect(found.every((error) => typeof error === 'string')).toBe(true);
        return found;
      });
      expect(errors).toEqual(endpoints.map(() => 'Could not connect to the endpoint.'));
    } finally {
      for (const target of targets) target.close();
      await w.end();
    }
  });
});

describe('URLs in other spellings (finding 6)', () => {
  test.for([
    'https://[::ffff:0:7f00:1]/',
    'https://[100:0:0:1::]/',
    'https://[100::1]/',
    'https://[64:ff9b::7f00:1]/',
    'https://[64:ff9b:1::808:808]/',
    'https://[fec0::1]/',
    'https://[5f00::1]/',
    'https://[2001:20::1]/',
    'https://example.com:0/',
    'https://8.8.8.8:0/',
  ])('a live key cannot register %s', async (url) => {
    const t = await newTenant(apart, 'live');
    const refused = await t.client.fails(
      /* GraphQL */ `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }`,
      { input: { url, events: ['SEAT_CHANGED'] } },
    );
    expect(refused.extensions).toMatchObject({ code: 'validation_error', param: 'url' });
    expect(refused.message).toMatch(/is not a public address|must not use port 0/);
    const { webhookEndpoints } = await t.client.ok(/* GraphQL */ `{ webhookEndpoints { id } }`);
    expect(webhookEndpoints).toEqual([]);
  });
});
