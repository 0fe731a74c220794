import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, inject, vi } from 'vitest';
import { describe, expect, test } from './fixtures.ts';
import { loadConfig, webhookLeaseMarginMs } from '../src/config.ts';
import { EventHub } from '../src/events/hub.ts';
import { pruneOutbox } from '../src/events/service.ts';
import { createLogger } from '../src/common/logger.ts';
import { retrySchedule } from '../src/webhooks/retry.ts';
import { deliveryQueue } from '../src/webhooks/service.ts';
import { verifyWebhook } from '../src/webhooks/signature.ts';
import { maxResponseBytes, type WebhookWorker, webhookUserAgent, webhookWorker } from '../src/webhooks/worker.ts';
import { type Client, mutations, newTenant, ormOfGoneDatabase, queries, seatScenario } from './helpers.ts';

// Webhooks end to end in this process: the test's own relay and worker, the app's GraphQL, and
// real HTTP receivers on 127.0.0.1. Other files' server processes share the database and may
// deliver any tenant's deliveries too, so every assertion is about this file's own receivers
// and tenants, and waits by polling rather than by the clock.

const logs: string[] = [];
let hub: EventHub;
let worker: WebhookWorker;
const timeoutMs = 1000;

test.beforeAll(async ({ harness }) => {
  const logger = createLogger('warn', (line) => logs.push(line));
  // Retries a hundred thousand times faster than in production: the day of retries takes about a second.
  worker = webhookWorker(harness.orm, logger, {
    ...loadConfig({}).webhooks,
    timeoutMs,
    concurrency: 8,
    leaseMs: timeoutMs + webhookLeaseMarginMs,
    retryScale: 1e-5,
    pollMs: 500,
  });
  worker.start();
  hub = new EventHub(harness.orm, logger, deliveryQueue(worker));
  await hub.start();
  hub.onPublished(({ due }) => due && worker.poke());
});

afterAll(async () => {
  await worker?.stop();
  await hub?.stop();
  for (const receiver of receivers) receiver.close();
});

/** Waits until `check` passes, up to a generous deadline; no assertion depends on how long it took. */
const eventually = <T>(check: () => Promise<T> | T, timeout = 60_000) => vi.waitFor(check, { timeout, interval: 50 });

type Received = { id: string; headers: IncomingHttpHeaders; body: string; json: any };
type Reply = (received: Received, response: ServerResponse, index: number) => void;

const ok: Reply = (_received, response) => response.end('ok');
const receivers: { close(): void }[] = [];

/** A webhook receiver on 127.0.0.1 that records every request and answers as `reply` says (200 by default). */
async function startReceiver(reply: Reply = ok) {
  const requests: Received[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const received = { id: String(request.headers['webhook-id']), headers: request.headers, body, json: JSON.parse(body) };
      requests.push(received);
      receiver.reply(received, response, requests.length - 1);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    requests,
    reply,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
  receivers.push(receiver);
  return receiver;
}

const ENDPOINT_FIELDS = 'id url events description enabled disabledAt disabledReason consecutiveFailures failingSince createdAt livemode';
const ATTEMPT_FIELDS = 'attemptedAt statusCode latencyMs error';
const DELIVERY_FIELDS = `id eventId eventType status attemptCount nextAttemptAt lastStatusCode lastError createdAt completedAt livemode attempts { ${ATTEMPT_FIELDS} }`;

const ops = {
  create: /* GraphQL */ `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { ${ENDPOINT_FIELDS} } } }`,
  list: /* GraphQL */ `{ webhookEndpoints { ${ENDPOINT_FIELDS} } }`,
  disable: /* GraphQL */ `mutation($id: ID!) { disableWebhookEndpoint(id: $id) { ${ENDPOINT_FIELDS} } }`,
  enable: /* GraphQL */ `mutation($id: ID!) { enableWebhookEndpoint(id: $id) { ${ENDPOINT_FIELDS} } }`,
  rotate: /* GraphQL */ `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { ${ENDPOINT_FIELDS} } } }`,
  deliveries: /* GraphQL */ `query($endpointId: ID!, $first: Int, $after: String) {
    webhookDeliveries(endpointId: $endpointId, first: $first, after: $after) {
      edges { cursor node { ${DELIVERY_FIELDS} } }
      nodes { id }
      pageInfo { hasNextPage endCursor }
    }
  }`,
  redeliver: /* GraphQL */ `mutation($deliveryId: ID!) { redeliverWebhook(deliveryId: $deliveryId) { ${DELIVERY_FIELDS} } }`,
};

type Endpoint = {
  id: string;
  url: string;
  events: string[];
  description: string;
  enabled: boolean;
  disabledAt: string | null;
  disabledReason: string | null;
  consecutiveFailures: number;
  failingSince: string | null;
  createdAt: string;
  livemode: boolean;
};
type Attempt = { attemptedAt: string; statusCode: number | null; latencyMs: number; error: string | null };
type Delivery = {
  id: string;
  eventId: string;
  eventType: string;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED';
  attemptCount: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  completedAt: string | null;
  livemode: boolean;
  attempts: Attempt[];
};

const allEvents = ['SEAT_CHANGED', 'CHARGE_CREATED', 'SEAT_LIMIT_REACHED'];

async function createEndpoint(client: Client, url: string, events = allEvents, description?: string) {
  const { createWebhookEndpoint } = await client.ok<{ createWebhookEndpoint: { secret: string; endpoint: Endpoint } }>(ops.create, {
    input: { url, events, description },
  });
  return createWebhookEndpoint;
}

async function deliveriesOf(client: Client, endpointId: string): Promise<Delivery[]> {
  const { webhookDeliveries } = await client.ok(ops.deliveries, { endpointId, first: 100 });
  return webhookDeliveries.edges.map((edge: { node: Delivery }) => edge.node);
}

/** Waits until the endpoint's one delivery has ended, and returns it. */
async function settledDelivery(client: Client, endpointId: string): Promise<Delivery> {
  return eventually(async () => {
    const [delivery, ...more] = await deliveriesOf(client, endpointId);
    expect(more).toEqual([]);
    expect(delivery?.status).toMatch(/SUCCEEDED|FAILED/);
    return delivery!;
  });
}

const addSeats = (s: { client: Client; customerId: string }, count: number, featureCode = 'editor') =>
  s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode, count } });

describe('endpoints', () => {
  test('are created with a secret shown once, listed without it, rotated and disabled', async ({ tenant: t }) => {
    const created = await createEndpoint(t.client, 'http://127.0.0.1:9/in', ['SEAT_LIMIT_REACHED', 'SEAT_CHANGED'], 'back office');
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.endpoint).toMatchObject({
      url: 'http://127.0.0.1:9/in',
      // Stored in one order, however they were given.
      events: ['SEAT_CHANGED', 'SEAT_LIMIT_REACHED'],
      description: 'back office',
      enabled: true,
      disabledAt: null,
      disabledReason: null,
      consecutiveFailures: 0,
      failingSince: null,
      livemode: false,
    });
    expect(created.endpoint.id).toMatch(/^we_/);

    const { webhookEndpoints } = await t.client.ok<{ webhookEndpoints: Endpoint[] }>(ops.list);
    expect(webhookEndpoints).toEqual([created.endpoint]);
    // The secret cannot be read back: the type has no such field.
    const noSecret = await t.client.run(/* GraphQL */ `{ webhookEndpoints { id secret } }`);
    expect(noSecret.errors?.[0]?.extensions.code).toBe('validation_error');

    const rotated = await t.client.ok<{ rotateWebhookSecret: { secret: string; endpoint: Endpoint } }>(ops.rotate, { id: created.endpoint.id });
    expect(rotated.rotateWebhookSecret.secret).toMatch(/^whsec_/);
    expect(rotated.rotateWebhookSecret.secret).not.toBe(created.secret);
    expect(rotated.rotateWebhookSecret.endpoint).toEqual(created.endpoint);

    const { disableWebhookEndpoint: disabled } = await t.client.ok<{ disableWebhookEndpoint: Endpoint }>(ops.disable, { id: created.endpoint.id });
    expect(disabled).toMatchObject({
      id: created.endpoint.id,
      enabled: false,
      disabledReason: 'Disabled with disableWebhookEndpoint. enableWebhookEndpoint turns it back on.',
    });
    expect(disabled.disabledAt).not.toBeNull();
    // Again: nothing changes.
    expect((await t.client.ok(ops.disable, { id: created.endpoint.id })).disableWebhookEndpoint).toEqual(disabled);
    expect(await t.client.fails(ops.rotate, { id: created.endpoint.id })).toMatchObject({ extensions: { code: 'conflict', param: 'id' } });
    expect((await t.client.ok(ops.list)).webhookEndpoints).toEqual([disabled]);

    const { enableWebhookEndpoint: enabled } = await t.client.ok<{ enableWebhookEndpoint: Endpoint }>(ops.enable, { id: created.endpoint.id });
    expect(enabled).toEqual(created.endpoint);
    // Again: nothing changes.
    expect((await t.client.ok(ops.enable, { id: created.endpoint.id })).enableWebhookEndpoint).toEqual(created.endpoint);
    expect((await t.client.ok(ops.rotate, { id: created.endpoint.id })).rotateWebhookSecret.endpoint).toEqual(created.endpoint);
  });

  test("belong to one organization and mode: another tenant's ids answer not found", async ({ harness }) => {
    const a = await seatScenario(harness);
    const receiver = await startReceiver();
    const { endpoint } = await createEndpoint(a.client, receiver.url);
    await addSeats(a, 1);
    const delivery = await settledDelivery(a.client, endpoint.id);

    for (const other of [await newTenant(harness), await newTenant(harness, 'live', a.organization)]) {
      expect((await other.client.ok(ops.list)).webhookEndpoints).toEqual([]);
      expect(await other.client.fails(ops.disable, { id: endpoint.id })).toMatchObject({
        extensions: { code: 'webhook_endpoint_not_found', type: 'not_found_error', param: 'id' },
      });
      expect(await other.client.fails(ops.rotate, { id: endpoint.id })).toMatchObject({ extensions: { code: 'webhook_endpoint_not_found', param: 'id' } });
      expect(await other.client.fails(ops.enable, { id: endpoint.id })).toMatchObject({ extensions: { code: 'webhook_endpoint_not_found', param: 'id' } });
      expect(await other.client.fails(ops.deliveries, { endpointId: endpoint.id })).toMatchObject({
        extensions: { code: 'webhook_endpoint_not_found', param: 'endpointId' },
      });
      expect(await other.client.fails(ops.redeliver, { deliveryId: delivery.id })).toMatchObject({
        extensions: { code: 'webhook_delivery_not_found', type: 'not_found_error', param: 'deliveryId' },
      });
    }
    expect((await a.client.ok(ops.list)).webhookEndpoints.map((e: Endpoint) => e.enabled)).toEqual([true]);
  });

  test('refuse bad event lists and descriptions', async ({ tenant: t }) => {
    const cases: [unknown, unknown, string][] = [
      [['SEAT_CHANGED', 'SEAT_CHANGED'], undefined, 'events'],
      [[], undefined, 'events'],
      [['SEAT_CHANGED'], 'x'.repeat(501), 'description'],
      [['SEAT_CHANGED'], 'a\u0000b', 'description'],
    ];
    for (const [events, description, param] of cases) {
      const error = await t.client.fails(ops.create, { input: { url: 'https://example.com/hooks', events, description } });
      expect(error.extensions, JSON.stringify(events)).toMatchObject({ code: 'validation_error', param });
    }
    expect((await t.client.ok(ops.list)).webhookEndpoints).toEqual([]);
    // PostgreSQL text cannot hold NUL: refused as the customer ids are, never an internal error.
    for (const [document, variables, param] of [
      [ops.disable, { id: 'we_\u0000' }, 'id'],
      [ops.rotate, { id: '\u0000' }, 'id'],
      [ops.enable, { id: 'we_\u0000' }, 'id'],
      [ops.deliveries, { endpointId: '\u0000' }, 'endpointId'],
      [ops.redeliver, { deliveryId: 'msg_\u0000' }, 'deliveryId'],
    ] as const) {
      expect((await t.client.fails(document, variables)).extensions, document).toMatchObject({ code: 'validation_error', param });
    }
  });

  test('at most 16 may be enabled per organization and mode', async ({ tenant: t }) => {
    const ids = await Promise.all(Array.from({ length: 16 }, async (_, i) => (await createEndpoint(t.client, `https://example.com/hooks/${i}`)).endpoint.id));
    const refused = await t.client.fails(ops.create, { input: { url: 'https://example.com/hooks/16', events: allEvents } });
    expect(refused.extensions.code).toBe('validation_error');
    expect(refused.message).toMatch(/at most 16/);
    // Concurrent creations cannot slip past the count together.
    const racing = await Promise.all(
      Array.from({ length: 5 }, () => t.client.run(ops.create, { input: { url: 'https://example.com/late', events: allEvents } })),
    );
    expect(racing.every((response) => response.errors?.[0]?.extensions.code === 'validation_error')).toBe(true);
    await t.client.ok(ops.disable, { id: ids[3] });
    const results = await Promise.all(
      Array.from({ length: 3 }, () => t.client.run(ops.create, { input: { url: 'https://example.com/again', events: allEvents } })),
    );
    expect(results.filter((response) => !response.errors)).toHaveLength(1);
    const listed: Endpoint[] = (await t.client.ok(ops.list)).webhookEndpoints;
    expect(listed.filter((endpoint) => endpoint.enabled)).toHaveLength(16);
    expect(listed).toHaveLength(17);
    // Enabling the disabled one would make 17: refused as a creation is, and concurrent enables cannot slip past either.
    const enabling = await t.client.fails(ops.enable, { id: ids[3] });
    expect(enabling.extensions.code).toBe('validation_error');
    expect(enabling.message).toMatch(/at most 16/);
    const other = listed.find((endpoint) => endpoint.enabled && endpoint.id !== ids[3])!;
    await t.client.ok(ops.disable, { id: other.id });
    const both = await Promise.all([ids[3], other.id].map((id) => t.client.run(ops.enable, { id })));
    expect(both.filter((response) => !response.errors)).toHaveLength(1);
    expect(both.filter((response) => response.errors?.[0]?.extensions.code === 'validation_error')).toHaveLength(1);
    expect((await t.client.ok<{ webhookEndpoints: Endpoint[] }>(ops.list)).webhookEndpoints.filter((endpoint) => endpoint.enabled)).toHaveLength(16);
  });
});

describe('endpoint URLs', () => {
  const long = `https://example.com/${'a'.repeat(2048)}`;
  test.for([
    ['test', 'https://10.0.0.1/hooks', /not a public address/],
    ['test', 'https://169.254.169.254/latest/meta-data/', /not a public address/],
    ['test', 'https://[fd00::1]/hooks', /not a public address/],
    ['test', 'http://192.168.1.10/hooks', /must use https/],
    ['test', 'http://example.com/hooks', /must use https/],
    ['test', long, /longer than 2048/],
    ['test', 'https://user:secret@example.com/hooks', /user name or password/],
    ['test', 'not a url', /not a valid absolute URL/],
    ['live', 'http://127.0.0.1:8080/hooks', /must use https/],
    ['live', 'http://localhost:8080/hooks', /must use https/],
    ['live', 'https://localhost/hooks', /local name/],
    ['live', 'https://127.0.0.1/hooks', /not a public address/],
  ] as const)('%s mode refuses %s', async ([mode, url, message], { harness }) => {
    const t = await newTenant(harness, mode);
    const error = await t.client.fails(ops.create, { input: { url, events: allEvents } });
    expect(error.extensions).toMatchObject({ code: 'validation_error', param: 'url' });
    expect(error.message).toMatch(message);
    expect((await t.client.ok(ops.list)).webhookEndpoints).toEqual([]);
  });

  test('live mode accepts https to a public host; test mode also http to loopback', async ({ harness }) => {
    const live = await newTenant(harness, 'live');
    expect((await createEndpoint(live.client, 'https://Hooks.Example.com/in')).endpoint).toMatchObject({ url: 'https://hooks.example.com/in', livemode: true });
    const test = await newTenant(harness);
    for (const url of ['http://localhost:3000/in', 'http://127.0.0.1:3000/in', 'http://[::1]:3000/in', 'https://example.com/in']) {
      expect((await createEndpoint(test.client, url)).endpoint.url).toBe(url);
    }
  });
});

describe('failing endpoints', () => {
  const { disableAfterFailures, disableAfterHours } = loadConfig({}).webhooks;

  const endpointOf = async (client: Client, id: string): Promise<Endpoint> =>
    (await client.ok<{ webhookEndpoints: Endpoint[] }>(ops.list)).webhookEndpoints.find((endpoint) => endpoint.id === id)!;

  /** Sets an endpoint's streak as if attempts had failed before: every worker disables at the default limits, so the test need not make a hundred. */
  const setStreak = (harness: { orm: { em: { fork(): any } } }, id: string, failures: number, failingSinceHoursAgo: number) =>
    harness.orm.em
      .fork()
      .getConnection()
      .execute(`update webhook_endpoint set consecutive_failures = ?, failing_since = now() - ? * interval '1 hour' where id = ?`, [
        failures,
        failingSinceHoursAgo,
        id,
      ]);

  test('each failed attempt lengthens the streak, and a success ends it', async ({ scenario: s }) => {
    let release: (() => void) | null = null;
    const receiver = await startReceiver((_received, response, index) => {
      if (index < 2) {
        response.statusCode = 500;
        response.end();
      } else release = () => response.end('ok');
    });
    const { endpoint } = await createEndpoint(s.client, receiver.url, ['SEAT_CHANGED']);
    await addSeats(s, 1);
    // The third attempt is held: both failures are written by then (a retry is due only once its failure is).
    await eventually(() => expect(release).not.toBeNull());
    const [delivery] = await deliveriesOf(s.client, endpoint.id);
    const failing = await endpointOf(s.client, endpoint.id);
    expect(failing).toMatchObject({ enabled: true, consecutiveFailures: 2, failingSince: delivery!.attempts[0]!.attemptedAt, disabledReason: null });
    release!();
    expect(await settledDelivery(s.client, endpoint.id)).toMatchObject({ status: 'SUCCEEDED', attemptCount: 3 });
    await eventually(async () => expect(await endpointOf(s.client, endpoint.id)).toMatchObject({ consecutiveFailures: 0, failingSince: null }));
  });

  test(`the ${disableAfterFailures}th failure in a row disables the endpoint, says why, and fails its pending deliveries; enableWebhookEndpoint turns it back on`, async ({
    harness,
    scenario: s,
  }) => {
    const receiver = await startReceiver((_received, response) => {
      response.statusCode = 503;
      response.end();
    });
    const { endpoint } = await createEndpoint(s.client, receiver.url, ['SEAT_CHANGED']);
    await setStreak(harness, endpoint.id, disableAfterFailures - 1, 1);
    await addSeats(s, 1);
    const disabled = await eventually(async () => {
      const found = await endpointOf(s.client, endpoint.id);
      expect(found.enabled).toBe(false);
      return found;
    });
    expect(disabled.disabledReason).toBe(
      `Disabled automatically: ${disableAfterFailures} attempts in a row failed (the last: HTTP 503). Fix the receiver, then call enableWebhookEndpoint.`,
    );
    expect(disabled.disabledAt).not.toBeNull();
    expect(disabled.consecutiveFailures).toBe(disableAfterFailures);
    const [failed] = await eventually(async () => {
      const listed = await deliveriesOf(s.client, endpoint.id);
      expect(listed.map((delivery) => [delivery.status, delivery.lastError])).toEqual([['FAILED', 'endpoint disabled']]);
      return listed;
    });
    expect(failed!.attempts.map((attempt) => attempt.statusCode)).toEqual([503]);
    expect(await s.client.fails(ops.redeliver, { deliveryId: failed!.id })).toMatchObject({ extensions: { code: 'conflict' } });

    receiver.reply = ok;
    const { enableWebhookEndpoint: enabled } = await s.client.ok<{ enableWebhookEndpoint: Endpoint }>(ops.enable, { id: endpoint.id });
    expect(enabled).toMatchObject({ enabled: true, disabledAt: null, disabledReason: null, consecutiveFailures: 0, failingSince: null });
    const { addSeats: change } = await addSeats(s, 1);
    await eventually(() => expect(receiver.requests.some((request) => request.json.data.event.id === change.id)).toBe(true));
    // What failed while it was disabled stays failed until redelivered.
    await s.client.ok(ops.redeliver, { deliveryId: failed!.id });
    await eventually(async () => expect((await deliveriesOf(s.client, endpoint.id)).map((delivery) => delivery.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']));
  });

  test(`an endpoint whose attempts have all failed for ${disableAfterHours} hours is disabled at its next failure`, async ({ harness, scenario: s }) => {
    const receiver = await startReceiver((_received, response) => {
      response.statusCode = 500;
      response.end();
    });
    const { endpoint } = await createEndpoint(s.client, receiver.url, ['SEAT_CHANGED']);
    // Two failures over a day ago, nothing since: far below the count limit.
    await setStreak(harness, endpoint.id, 2, disableAfterHours + 0.1);
    await addSeats(s, 1);
    const disabled = await eventually(async () => {
      const found = await endpointOf(s.client, endpoint.id);
      expect(found.enabled).toBe(false);
      return found;
    });
    expect(disabled.consecutiveFailures).toBe(3);
    expect(disabled.disabledReason).toBe(
      `Disabled automatically: every attempt failed for ${disableAfterHours} hours (the last: HTTP 500). Fix the receiver, then call enableWebhookEndpoint.`,
    );
  });

  test('an endpoint failing for less than the hours is not disabled, and a success forgives it', async ({ harness, scenario: s }) => {
    const receiver = await startReceiver();
    const { endpoint } = await createEndpoint(s.client, receiver.url, ['SEAT_CHANGED']);
    await setStreak(harness, endpoint.id, disableAfterFailures - 2, disableAfterHours - 0.1);
    await addSeats(s, 1);
    expect(await settledDelivery(s.client, endpoint.id)).toMatchObject({ status: 'SUCCEEDED' });
    await eventually(async () =>
      expect(await endpointOf(s.client, endpoint.id)).toMatchObject({ enabled: true, consecutiveFailures: 0, failingSince: null, disabledReason: null }),
    );
  });

  test('an event whose delivery stays pending is forgotten two days past the retention, so redelivery cannot keep it for good', async ({
    harness,
    scenario: s,
  }) => {
    // Never answers: the delivery stays pending, as one redelivered again and again would.
    const held = await startReceiver(() => undefined);
    const { endpoint } = await createEndpoint(s.client, held.url, ['SEAT_CHANGED']);
    await addSeats(s, 1);
    await eventually(() => expect(held.requests).toHaveLength(1));
    const day = 86_400_000;
    // Retention is seven days (events.test.ts): a pending delivery keeps its event, and so itself, past it...
    await pruneOutbox(harness.orm.em.fork(), new Date(Date.now() + 8 * day), s.organizationId);
    expect((await deliveriesOf(s.client, endpoint.id)).map((delivery) => delivery.status)).toEqual(['PENDING']);
    // ...for two days at most.
    await pruneOutbox(harness.orm.em.fork(), new Date(Date.now() + 9 * day + 60_000), s.organizationId);
    expect(await deliveriesOf(s.client, endpoint.id)).toEqual([]);
  });
});

describe('deliveries', () => {
  test('a seat change is sent signed to each matching endpoint, its data as GraphQL shows it', async ({ scenario: s }) => {
    const [first, second] = [await startReceiver(), await startReceiver()];
    const a = await createEndpoint(s.client, first.url);
    const b = await createEndpoint(s.client, second.url, ['SEAT_CHANGED']);
    // 11 editors: 6 above the 5 included, so a true-up charge too.
    const { addSeats: event } = await s.client.ok(
      /* GraphQL */ `mutation($input: AddSeatsInput!) { addSeats(input: $input) { id customerId featureCode kind count previousBalance newBalance ts createdAt livemode
        charge { id customerId featureCode kind quantity unitPrice daysRemaining daysInPeriod periodStart periodEnd amount currency eventId ts createdAt livemode } } }`,
      { input: { customerId: s.customerId, featureCode: 'editor', count: 11 } },
    );
    const { seatBalance } = await s.client.ok(queries.seatBalance, { customerId: s.customerId, featureCode: 'editor' });

    await eventually(() => expect(first.requests).toHaveLength(2));
    await eventually(() => expect(second.requests).toHaveLength(1));
    const byType = new Map(first.requests.map((request) => [request.json.type, request]));
    const changed = byType.get('seat.changed')!;
    const charged = byType.get('charge.created')!;
    for (const request of [changed, charged]) expect(verifyWebhook(a.secret, request.headers, request.body)).toBe(true);
    expect(verifyWebhook(b.secret, second.requests[0]!.headers, second.requests[0]!.body)).toBe(true);
    // Another endpoint's secret does not verify it.
    expect(verifyWebhook(b.secret, changed.headers, changed.body)).toBe(false);
    expect(changed.headers).toMatchObject({ 'content-type': 'application/json', 'user-agent': webhookUserAgent });
    expect(changed.id).toMatch(/^msg_/);
    expect(second.requests[0]!.id).not.toBe(changed.id);

    const { charge, ...seatEvent } = event;
    expect(changed.json).toEqual({ type: 'seat.changed', timestamp: expect.any(String), data: { event: seatEvent, balance: seatBalance } });
    expect(JSON.parse(second.requests[0]!.body)).toEqual(changed.json);
    expect(charged.json).toEqual({ type: 'charge.created', timestamp: expect.any(String), data: charge });
    expect(Date.parse(changed.json.timestamp)).toBeGreaterThanOrEqual(Date.parse(seatEvent.createdAt));

    const deliveries = await eventually(async () => {
      const listed = await deliveriesOf(s.client, a.endpoint.id);
      expect(listed.map((delivery) => delivery.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
      return listed;
    });
    expect(new Set(deliveries.map((delivery) => delivery.id))).toEqual(new Set([changed.id, charged.id]));
    const delivery = deliveries.find((d) => d.id === changed.id)!;
    expect(delivery).toMatchObject({ eventType: 'SEAT_CHANGED', attemptCount: 1, nextAttemptAt: null, lastStatusCode: 200, lastError: null, livemode: false });
    expect(delivery.eventId).toMatch(/^evt_/);
    expect(delivery.completedAt).not.toBeNull();
    expect(delivery.attempts).toEqual([{ attemptedAt: expect.any(String), statusCode: 200, latencyMs: expect.any(Number), error: null }]);
    expect(delivery.attempts[0]!.latencyMs).toBeGreaterThanOrEqual(0);
  });

  test('an endpoint for SEAT_LIMIT_REACHED gets only limit events, reached and refused', async ({ scenario: s }) => {
    const [everything, limits] = [await startReceiver(), await startReceiver()];
    const all = await createEndpoint(s.client, everything.url);
    const limited = await createEndpoint(s.client, limits.url, ['SEAT_LIMIT_REACHED']);
    // viewer: 2 included, no overage.
    await s.client.ok(mutations.setSeats, { input: { customerId: s.customerId, featureCode: 'viewer', count: 2 } });
    expect((await s.client.fails(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'viewer', count: 1 } })).extensions.code).toBe(
      'seat_limit_exceeded',
    );
    await addSeats(s, 1);
    // Published in commit order, so once the last change is queued for one endpoint, every earlier one is queued for both.
    await eventually(async () => expect(await deliveriesOf(s.client, all.endpoint.id)).toHaveLength(4));
    const queued = await deliveriesOf(s.client, limited.endpoint.id);
    expect(queued.map((delivery) => delivery.eventType)).toEqual(['SEAT_LIMIT_REACHED', 'SEAT_LIMIT_REACHED']);
    await eventually(() => expect(limits.requests).toHaveLength(2));
    expect(limits.requests.map((request) => request.json.type)).toEqual(['seat.limit_reached', 'seat.limit_reached']);
    expect(limits.requests.map((request) => request.json.data.reason).sort()).toEqual(['reached', 'refused']);
    expect(new Set(limits.requests.map((request) => request.id))).toEqual(new Set(queued.map((delivery) => delivery.id)));
    await eventually(() => expect(everything.requests).toHaveLength(4));
    expect(everything.requests.map((request) => request.json.type).sort()).toEqual([
      'seat.changed',
      'seat.changed',
      'seat.limit_reached',
      'seat.limit_reached',
    ]);
  });

  test('a receiver answering 500 is retried until it answers 2xx', async ({ scenario: s }) => {
    const receiver = await startReceiver((_received, response, index) => {
      response.statusCode = index === 0 ? 500 : 204;
      response.end();
    });
    const { endpoint } = await createEndpoint(s.client, receiver.url, ['SEAT_CHANGED']);
    await addSeats(s, 1);
    const delivery = await settledDelivery(s.client, endpoint.id);
    expect(delivery).toMatchObject({ status: 'SUCCEEDED', attemptCount: 2, lastStatusCode: 204, lastError: null, nextAttemptAt: null });
    expect(delivery.attempts.map((attempt) => [attempt.statusCode, attempt.error])).toEqual([
      [500, null],
      [204, null],
    ]);
    for (const attempt of delivery.attempts) expect(attempt.latencyMs).toBeGreaterThanOrEqual(0);
    expect(receiver.requests.map((request) => request.id)).toEqual([delivery.id, delivery.id]);
  });

  test('a delivery whose retries are spent ends FAILED', async ({ harness, scenario: s }) => {
    const receiver = await startReceiver((_received, response) => {
      response.statusCode = 500;
      response.end('down');
    });
    const { endpoint } = await createEndpoint(s.client, receiver.url, ['SEAT_CHANGED']);
    await addSeats(s, 1);
    await eventually(() => expect(receiver.requests.length).toBeGreaterThanOrEqual(1));
    // Any process's worker may take a retry, and one started by another test file waits the real
    // schedule (hours by its end): move the delivery to its last scheduled retry rather than wait.
    await harness.orm.em
      .fork()
      .getConnection()
      .execute(`update webhook_delivery set attempts = greatest(attempts, ?) where endpoint_id = ? and status = 'pending'`, [
        retrySchedule.length,
        endpoint.id,
      ]);
    const delivery = await settledDelivery(s.client, endpoint.id);
    expect(delivery).toMatchObject({ status: 'FAILED', lastStatusCode: 500, nextAttemptAt: null });
    expect(delivery.completedAt).not.toBeNull();
    expect(delivery.attemptCount).toBeGreaterThanOrEqual(2);
    expect(delivery.attempts.every((attempt) => attempt.statusCode === 500)).toBe(true);
    expect(new Set(receiver.requests.map((request) => request.id))).toEqual(new Set([delivery.id]));
  });

  test('redeliverWebhook sends a delivery again under the same webhook-id', async ({ scenario: s }) => {
    const receiver = await startReceiver();
    const { endpoint } = await createEndpoint(s.client, receiver.url, ['SEAT_CHANGED']);
    await addSeats(s, 1);
    const delivered = await settledDelivery(s.client, endpoint.id);
    expect(delivered.status).toBe('SUCCEEDED');

    const { redeliverWebhook } = await s.client.ok<{ redeliverWebhook: Delivery }>(ops.redeliver, { deliveryId: delivered.id });
    expect(redeliverWebhook).toMatchObject({ id: delivered.id, eventId: delivered.eventId, status: 'PENDING', completedAt: null, attemptCount: 1 });
    expect(redeliverWebhook.nextAttemptAt).not.toBeNull();
    await eventually(() => expect(receiver.requests).toHaveLength(2));
    expect(receiver.requests[1]!.id).toBe(delivered.id);
    expect(receiver.requests[1]!.body).toBe(receiver.requests[0]!.body);
    const again = await settledDelivery(s.client, endpoint.id);
    expect(again).toMatchObject({ id: delivered.id, status: 'SUCCEEDED', attemptCount: 2 });

    await s.client.ok(ops.disable, { id: endpoint.id });
    expect(await s.client.fails(ops.redeliver, { deliveryId: delivered.id })).toMatchObject({ extensions: { code: 'conflict', param: 'deliveryId' } });
    expect(await s.client.fails(ops.redeliver, { deliveryId: 'msg_nope' })).toMatchObject({ extensions: { code: 'webhook_delivery_not_found' } });
  });

  test('a disabled endpoint gets nothing new, and its pending delivery ends FAILED', async ({ scenario: s }) => {
    // Holds every request: the first delivery stays pending while it is disabled.
    const held = await startReceiver(() => undefined);
    const marker = await startReceiver();
    const { endpoint } = await createEndpoint(s.client, held.url, ['SEAT_CHANGED']);
    const other = await createEndpoint(s.client, marker.url, ['SEAT_CHANGED']);
    await addSeats(s, 1);
    await eventually(() => expect(held.requests).toHaveLength(1));
    await s.client.ok(ops.disable, { id: endpoint.id });
    const [failed, ...none] = await deliveriesOf(s.client, endpoint.id);
    expect(none).toEqual([]);
    expect(failed).toMatchObject({ status: 'FAILED', lastError: 'endpoint disabled', nextAttemptAt: null });

    await addSeats(s, 1);
    await eventually(async () => expect(await deliveriesOf(s.client, other.endpoint.id)).toHaveLength(2));
    expect((await deliveriesOf(s.client, endpoint.id)).map((delivery) => delivery.id)).toEqual([failed!.id]);
    // The attempt that was in flight ends (cut off by the timeout), but leaves the delivery failed.
    await eventually(async () => expect((await deliveriesOf(s.client, endpoint.id))[0]!.attempts).toHaveLength(1));
    const [after] = await deliveriesOf(s.client, endpoint.id);
    expect(after).toMatchObject({ status: 'FAILED', lastError: 'endpoint disabled' });
    expect(after!.attempts[0]!.statusCode).toBeNull();
    expect(new Set(held.requests.map((request) => request.id))).toEqual(new Set([failed!.id]));
  });

  test('a rolled-back change sends nothing: a failed bulk set, previews', async ({ scenario: s }) => {
    const receiver = await startReceiver();
    const { endpoint } = await createEndpoint(s.client, receiver.url);
    const bulk = await s.client.fails(mutations.bulkSetSeats, {
      input: {
        customerId: s.customerId,
        seats: [
          { featureCode: 'editor', count: 9 },
          { featureCode: 'nope', count: 1 },
        ],
      },
    });
    expect(bulk.extensions.code).toBe('feature_not_found');
    const preview = /* GraphQL */ `query($input: PreviewSeatChangeInput!) { previewSeatChange(input: $input) { newBalance charge { amount } error { code } } }`;
    expect(
      (await s.client.ok(preview, { input: { customerId: s.customerId, featureCode: 'editor', kind: 'ADD', count: 9 } })).previewSeatChange.charge,
    ).not.toBeNull();
    expect(
      (await s.client.ok(preview, { input: { customerId: s.customerId, featureCode: 'viewer', kind: 'SET', count: 2 } })).previewSeatChange.newBalance,
    ).toBe(2);
    expect(
      (await s.client.ok(preview, { input: { customerId: s.customerId, featureCode: 'viewer', kind: 'ADD', count: 5 } })).previewSeatChange.error.code,
    ).toBe('seat_limit_exceeded');
    // A marker: once its delivery is queued, anything published before it is queued too.
    const { addSeats: marker } = await addSeats(s, 1);
    await eventually(() => expect(receiver.requests).toHaveLength(1));
    expect(receiver.requests[0]!.json.data.event.id).toBe(marker.id);
    const deliveries = await deliveriesOf(s.client, endpoint.id);
    expect(deliveries.map((delivery) => delivery.eventType)).toEqual(['SEAT_CHANGED']);
  });

  test('a receiver that does not answer is cut off by the timeout, and retried', async ({ scenario: s }) => {
    const receiver = await startReceiver((_received, response, index) => {
      if (index > 0) response.end('ok');
    });
    const { endpoint } = await createEndpoint(s.client, receiver.url, ['SEAT_CHANGED']);
    await addSeats(s, 1);
    const delivery = await settledDelivery(s.client, endpoint.id);
    expect(delivery.status).toBe('SUCCEEDED');
    expect(delivery.attempts.map((attempt) => attempt.statusCode)).toEqual([null, 200]);
    expect(delivery.attempts[0]!.error).toMatch(/^No answer within \d+ ms\.$/);
    expect(delivery.attempts[0]!.latencyMs).toBeGreaterThanOrEqual(timeoutMs - 50);
    expect(receiver.requests.map((request) => request.id)).toEqual([delivery.id, delivery.id]);
  });

  test('a huge answer is cut off after the size cap and does not hurt', async ({ scenario: s }) => {
    const total = 200 * 1024 * 1024;
    let written = 0;
    let cutOff = false;
    const receiver = await startReceiver((_received, response) => {
      const chunk = Buffer.alloc(64 * 1024, 'x');
      response.on('close', () => (cutOff = written < total));
      response.on('error', () => undefined);
      const pump = () => {
        while (!response.destroyed && written < total) {
          written += chunk.length;
          if (!response.write(chunk)) return void response.once('drain', pump);
        }
        response.end();
      };
      pump();
    });
    const { endpoint } = await createEndpoint(s.client, receiver.url, ['SEAT_CHANGED']);
    await addSeats(s, 1);
    const delivery = await settledDelivery(s.client, endpoint.id);
    expect(delivery).toMatchObject({ status: 'SUCCEEDED', lastStatusCode: 200, attemptCount: 1 });
    await eventually(() => expect(cutOff).toBe(true));
    expect(written).toBeLessThan(total);
    expect(maxResponseBytes).toBe(64 * 1024);
  });

  test('deliveries page newest first with cursors that work only for their own endpoint', async ({ harness }) => {
    const s = await seatScenario(harness);
    const receiver = await startReceiver();
    const { endpoint } = await createEndpoint(s.client, receiver.url, ['SEAT_CHANGED']);
    const sibling = await createEndpoint(s.client, receiver.url, ['SEAT_LIMIT_REACHED']);
    for (let i = 0; i < 3; i++) await addSeats(s, 1);
    await eventually(async () => expect(await deliveriesOf(s.client, endpoint.id)).toHaveLength(3));
    const all = await deliveriesOf(s.client, endpoint.id);
    const times = all.map((delivery) => Date.parse(delivery.createdAt));
    expect([...times].sort((x, y) => y - x)).toEqual(times);

    const page1 = (await s.client.ok(ops.deliveries, { endpointId: endpoint.id, first: 2 })).webhookDeliveries;
    expect(page1.nodes.map((n: { id: string }) => n.id)).toEqual(all.slice(0, 2).map((d) => d.id));
    expect(page1.pageInfo).toEqual({ hasNextPage: true, endCursor: page1.edges[1].cursor });
    const page2 = (await s.client.ok(ops.deliveries, { endpointId: endpoint.id, first: 2, after: page1.pageInfo.endCursor })).webhookDeliveries;
    expect(page2.nodes.map((n: { id: string }) => n.id)).toEqual([all[2]!.id]);
    expect(page2.pageInfo.hasNextPage).toBe(false);

    const cursor = page1.pageInfo.endCursor;
    expect(await s.client.fails(ops.deliveries, { endpointId: sibling.endpoint.id, after: cursor })).toMatchObject({
      extensions: { code: 'validation_error', param: 'after' },
    });
    expect(await s.client.fails(ops.deliveries, { endpointId: endpoint.id, after: 'bm9wZQ' })).toMatchObject({
      extensions: { code: 'validation_error', param: 'after' },
    });
    const stranger = await newTenant(harness);
    const { endpoint: theirs } = await createEndpoint(stranger.client, receiver.url);
    expect(await stranger.client.fails(ops.deliveries, { endpointId: theirs.id, after: cursor })).toMatchObject({
      extensions: { code: 'validation_error', param: 'after' },
    });
    for (const first of [0, 101]) {
      expect(await s.client.fails(ops.deliveries, { endpointId: endpoint.id, first })).toMatchObject({
        extensions: { code: 'validation_error', param: 'first' },
      });
    }
  });

  test('a worker whose database fails logs it, keeps trying, and stops cleanly', async () => {
    const lines: string[] = [];
    const orm = await ormOfGoneDatabase(inject('databaseUrl'));
    const broken = webhookWorker(
      orm,
      createLogger('warn', (line) => lines.push(line)),
      {
        ...loadConfig({}).webhooks,
        timeoutMs,
        concurrency: 2,
        leaseMs: timeoutMs + webhookLeaseMarginMs,
        retryScale: 1,
        pollMs: 200,
      },
    );
    broken.start();
    await eventually(() => expect(lines.filter((line) => line.includes('could not claim due deliveries')).length).toBeGreaterThanOrEqual(2));
    await broken.stop();
  });

  test("this file's worker and relay logged no error", () => {
    expect(logs.filter((line) => JSON.parse(line).level === 'error')).toEqual([]);
  });
});
