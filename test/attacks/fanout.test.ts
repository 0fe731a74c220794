import { once } from 'node:events';
import { createServer, type IncomingMessage, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { vi } from 'vitest';
import { describe, expect, test } from '../fixtures.ts';
import { createApp } from '../../src/app.ts';
import { createApiKey, revokeApiKey } from '../../src/auth/service.ts';
import { createLogger } from '../../src/common/logger.ts';
import { loadConfig, type SubscriptionSettings } from '../../src/config.ts';
import * as payloads from '../../src/events/payloads.ts';
import { SubscriptionFanout } from '../../src/http/fanout.ts';
import { nodeListener } from '../../src/http/node-listener.ts';
import { graphql, type Harness, mutations, seatScenario, type SeatScenario, subscribe, waitUntil } from '../helpers.ts';

/**
 * One tenant's listeners cannot take the process: open streams are capped, one execution serves
 * every stream of the same subscription, a reader that stops reading is cut off with `conflict`,
 * and a revoked key's streams end. Each test runs an app of its own with the caps it needs.
 */

// Counts executions of the balance field independently of the fan-out: the resolver calls this
// once per execution of a selection that asks for a balance.
vi.mock('../../src/events/payloads.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/events/payloads.ts')>();
  return { ...actual, seatBalanceFromPayload: vi.fn(actual.seatBalanceFromPayload) };
});
const balanceResolutions = vi.mocked(payloads.seatBalanceFromPayload);

const defaults = loadConfig({}).subscriptions;

/** An app of its own (its own event hub and fan-out) on the run's database, with these subscription settings. */
function appWith(harness: Harness, settings: Partial<SubscriptionSettings>, options: { apiKeyCacheMs?: number } = {}) {
  const fanout = new SubscriptionFanout(
    { ...defaults, ...settings },
    createLogger('warn', () => {}),
  );
  const app = createApp({
    orm: harness.orm,
    logger: createLogger('warn', () => {}),
    limits: { ...loadConfig({}).limits, rateLimitPerSecond: 0, authFailuresPerMinute: 0 },
    apiKeyCacheMs: options.apiKeyCacheMs,
    fanout,
  });
  const fetchApp = async (url: string, init: RequestInit) => app.fetch(url, init);
  return { app, fanout, fetchApp, url: 'http://seatgate.test/graphql' };
}

/** The app behind a real HTTP server; `responses` are the Node responses of its event streams, as they come. */
async function served(app: ReturnType<typeof createApp>) {
  const listener = nodeListener(app);
  const responses: ServerResponse[] = [];
  const server = createServer((request, response) => {
    if (request.headers.accept === 'text/event-stream') responses.push(response);
    listener(request, response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    port,
    responses,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends a subscription over a real socket; with `close`, its connection ends with the stream. */
function postSubscription(port: number, key: string, query: string, variables: Record<string, unknown>, options: { close?: boolean } = {}) {
  const body = JSON.stringify({ query, variables });
  const request = httpRequest({
    host: '127.0.0.1',
    port,
    path: '/graphql',
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'x-api-key': key,
      ...(options.close ? { connection: 'close' } : {}),
      'content-length': Buffer.byteLength(body),
    },
  });
  request.end(body);
  return request;
}

/** The messages of an event stream's text, in order: each event's name and its data. */
function messagesOf(text: string): { event: string; data: any }[] {
  return text
    .split('\n\n')
    .filter((message) => message.startsWith('event: '))
    .map((message) => {
      const [, event = '', data = ''] = /^event: (\w+)\ndata:(.*)$/s.exec(message) ?? [];
      return { event, data: data.trim() ? JSON.parse(data) : null };
    });
}

/** A subscription over a real socket whose reader stops reading at once: nothing is taken until `readAll`. */
async function pausedReader(port: number, key: string, query: string, variables: Record<string, unknown>) {
  const request = postSubscription(port, key, query, variables, { close: true });
  const [response] = (await once(request, 'response')) as [IncomingMessage];
  response.pause();
  return {
    status: response.statusCode,
    /** Reads on, to the end of the stream: every message, in order. */
    async readAll(): Promise<{ event: string; data: any }[]> {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.resume();
      await once(response, 'end');
      return messagesOf(text);
    },
  };
}

/** A subscription over a real socket, read as it comes: the `next` messages' data so far. */
function liveReader(port: number, key: string, query: string, variables: Record<string, unknown>) {
  const request = postSubscription(port, key, query, variables);
  let text = '';
  const status = once(request, 'response').then(([response]: IncomingMessage[]) => {
    response!.setEncoding('utf8');
    response!.on('data', (chunk: string) => (text += chunk));
    return response!.statusCode;
  });
  return {
    status,
    nexts: (): any[] =>
      messagesOf(text)
        .filter((message) => message.event === 'next')
        .map((message) => message.data),
    close: () => request.destroy(),
  };
}

const features = Array.from({ length: 100 }, (_, i) => ({ code: `f${i}`, includedSeats: 0, overageEnabled: false, unlimited: true }));
/** A customer with 100 seat features: one bulkSetSeats makes 100 events. */
const wideScenario = (harness: Harness) => seatScenario(harness, { features });
let round = 0;
/** 100 events, one per feature, each a new balance. */
async function bulkSet(s: SeatScenario) {
  round++;
  await s.client.ok(mutations.bulkSetSeats, { input: { customerId: s.customerId, seats: features.map(({ code }) => ({ featureCode: code, count: round })) } });
}

/** Each notification about 4 KB: a few hundred fill the socket buffers a paused reader leaves. */
const wide = /* GraphQL */ `subscription($customerId: String!, $after: ID) {
  seatBalanceChanged(customerId: $customerId, after: $after) {
    id event { id newBalance }
    ${Array.from({ length: 28 }, (_, i) => `b${i}: balance { customerId featureCode current includedSeats unlimited asOf livemode }`).join('\n    ')}
  }
}`;
const narrow = /* GraphQL */ `subscription($customerId: String!, $featureCode: String) {
  seatBalanceChanged(customerId: $customerId, featureCode: $featureCode) { id balance { current } event { newBalance } }
}`;

/** The customer's seat.changed event ids, in publication order, once every one is published. */
async function publishedIds(harness: Harness, customerId: string): Promise<string[]> {
  const read = () =>
    harness.orm.em
      .fork()
      .getConnection()
      .execute<{ id: string; position: string | null }[]>(
        `select id, position from outbox_event where customer_id = ? and type = 'seat.changed' order by seq`,
        [customerId],
      );
  await waitUntil(async () => (await read()).every((row) => row.position !== null), 'every event published');
  return (await read()).sort((a, b) => Number(BigInt(a.position!) - BigInt(b.position!))).map((row) => row.id);
}

/** Samples `sample` at every turn of the event loop until stopped: what a stream held at any moment. */
function everyTurn(sample: () => void): () => void {
  let running = true;
  const loop = () => {
    if (!running) return;
    sample();
    setImmediate(loop);
  };
  loop();
  return () => void (running = false);
}

describe('caps', () => {
  test('past SUBSCRIPTIONS_PER_KEY and _PER_ORGANIZATION a new subscription answers 429 rate_limited with Retry-After; closing one frees its place', async ({
    harness,
  }) => {
    const { app, fanout, fetchApp, url } = appWith(harness, { perKey: 3, perOrganization: 5 });
    const s = await seatScenario(harness);
    const second = await createApiKey(harness.orm.em.fork(), s.organization, 'test');
    const variables = { customerId: s.customerId, featureCode: 'editor' };
    const open = (key: string) => subscribe(fetchApp, url, key, narrow, variables);
    /** A subscription's answer, its headers read and its stream left at once. */
    const attempt = async (key: string) => {
      const controller = new AbortController();
      const response = await app.fetch(url, {
        method: 'POST',
        signal: controller.signal,
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-api-key': key },
        body: JSON.stringify({ query: narrow, variables }),
      });
      const body = response.status === 429 ? await response.json() : null;
      controller.abort();
      return { status: response.status, headers: response.headers, body };
    };

    const first = [await open(s.key), await open(s.key)];
    expect(first.map((stream) => stream.status)).toEqual([200, 200]);
    // The third of the key: allowed, the last place left.
    const third = await attempt(s.key);
    expect(third.status).toBe(200);
    expect(third.headers.get('ratelimit-policy')).toBe(
      '"subscriptions-per-key";q=3;qu="concurrent-requests", "subscriptions-per-organization";q=5;qu="concurrent-requests"',
    );
    expect(third.headers.get('ratelimit')).toBe('"subscriptions-per-key";r=0, "subscriptions-per-organization";r=2');
    await waitUntil(() => fanout.streams().length === 2, 'the aborted stream to close');
    const kept = await open(s.key);

    const refused = await attempt(s.key);
    expect(refused.status).toBe(429);
    expect(refused.body.errors[0].extensions.code).toBe('rate_limited');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('ratelimit')).toBe('"subscriptions-per-key";r=0, "subscriptions-per-organization";r=2');

    // The organization's other key has places of its own, until the organization's are gone.
    const others = [await open(second.key), await open(second.key)];
    expect(others.map((stream) => stream.status)).toEqual([200, 200]);
    const overOrganization = await attempt(second.key);
    expect(overOrganization.status).toBe(429);
    expect(overOrganization.body.errors[0].extensions.code).toBe('rate_limited');
    expect(fanout.counts.refused).toBe(2);

    // A stream that ends gives its place back.
    kept.close();
    await waitUntil(() => fanout.streams().length === 4, 'the closed stream to be counted out');
    expect((await attempt(s.key)).status).toBe(200);
    for (const stream of [...first, ...others]) stream.close();
    await app.dispose();
  });
});

describe('shared execution', () => {
  test('100 subscribers of one document and variables cause one execution per event; another document gets its own', async ({ harness }) => {
    const { app, fanout, fetchApp, url } = appWith(harness, {});
    const s = await seatScenario(harness);
    const variables = { customerId: s.customerId, featureCode: 'editor' };
    const streams = [];
    for (let i = 0; i < 100; i++) streams.push(await subscribe(fetchApp, url, s.key, narrow, variables));
    // The same selection, written differently: a document of its own.
    const other = await subscribe(fetchApp, url, s.key, narrow.replace('{ current }', '{ current  }'), variables);
    expect(fanout.executions).toBe(2);

    balanceResolutions.mockClear();
    const adds = 3;
    for (let i = 0; i < adds; i++) await s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } });
    const received = await Promise.all([...streams, other].map((stream) => stream.take(adds)));
    // Every subscriber saw the three balances, in order.
    for (const notifications of received) expect(notifications.map((n) => n.data.seatBalanceChanged.balance.current)).toEqual([1, 2, 3]);
    // Once per event for each of the two documents, not once per subscriber.
    expect(balanceResolutions).toHaveBeenCalledTimes(adds * 2);
    for (const stream of [...streams, other]) stream.close();
    await waitUntil(() => fanout.executions === 0, 'the executions to end with their last subscriber');
    await app.dispose();
  });
});

describe('many at once', () => {
  test('250 subscriptions sent at once over HTTP all start, a slice per turn of the event loop, and each gets every event', async ({ harness }) => {
    const { app, fanout } = appWith(harness, {});
    const server = await served(app);
    const s = await seatScenario(harness);
    const variables = { customerId: s.customerId, featureCode: 'editor' };
    const readers = Array.from({ length: 250 }, () => liveReader(server.port, s.key, narrow, variables));
    expect(await Promise.all(readers.map((reader) => reader.status))).toEqual(readers.map(() => 200));
    await waitUntil(() => fanout.streams().filter((stream) => stream.open).length === 250, 'every stream to open');
    await s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 2 } });
    await waitUntil(() => readers.every((reader) => reader.nexts().length === 1), 'every stream to get the change');
    for (const reader of readers) expect(reader.nexts()[0].data.seatBalanceChanged.balance.current).toBe(2);
    for (const reader of readers) reader.close();
    await app.dispose();
    await server.close();
  });
});

describe('readers that stop reading', () => {
  test('a paused reader is cut off with conflict once it is SUBSCRIPTION_MAX_BACKLOG events behind, its socket buffer counted; it resumes with after', async ({
    harness,
  }) => {
    const maxBacklog = 40;
    const { app, fanout, fetchApp, url } = appWith(harness, { maxBacklog, writeTimeoutMs: 600_000 });
    const server = await served(app);
    const s = await wideScenario(harness);
    const reader = await pausedReader(server.port, s.key, wide, { customerId: s.customerId });
    expect(reader.status).toBe(200);
    const [response] = server.responses;
    // Unsent bytes the server holds for it: the stream's own, and its Node response's (read here).
    let maxHeldBytes = 0;
    let maxPendingEvents = 0;
    const stop = everyTurn(() => {
      const [stream] = fanout.streams();
      if (!stream?.open) return;
      maxHeldBytes = Math.max(maxHeldBytes, stream.heldBytes + response!.writableLength);
      maxPendingEvents = Math.max(maxPendingEvents, stream.pendingEvents);
    });
    let bulkSets = 0;
    while (fanout.counts.backlog === 0 && bulkSets < 60) {
      await bulkSet(s);
      bulkSets++;
    }
    await waitUntil(() => fanout.counts.backlog === 1, 'the paused reader to be cut off');
    stop();

    const messages = await reader.readAll();
    const notifications = messages.filter((m) => m.event === 'next').map((m) => m.data);
    const ending = notifications.pop();
    expect(ending.errors[0].extensions.code).toBe('conflict');
    expect(messages.at(-1)!.event).toBe('complete');
    // What it got is the start of the customer's events, in order, nothing missing.
    const ids = await publishedIds(harness, s.customer.id);
    const got = notifications.map((n) => n.data.seatBalanceChanged.id);
    expect(got).toEqual(ids.slice(0, got.length));
    expect(got.length).toBeLessThan(ids.length);
    // The server never held more than the backlog: each notification is one frame of at most this size.
    const largestFrame = Math.max(...notifications.map((n) => Buffer.byteLength(`event: next\ndata: ${JSON.stringify(n)}\n\n`)));
    expect(maxPendingEvents).toBeLessThanOrEqual(maxBacklog);
    expect(maxHeldBytes).toBeLessThanOrEqual(maxBacklog * (largestFrame + 16) + 1024);
    await waitUntil(() => fanout.streams().length === 0, 'the stream to close');

    // Resumed with the last id it got: the rest, in order, then live.
    const resumed = await subscribe(fetchApp, url, s.key, wide, { customerId: s.customerId, after: got.at(-1) });
    const rest = await resumed.take(ids.length - got.length, 60_000);
    expect(rest.map((r) => r.data.seatBalanceChanged.id)).toEqual(ids.slice(got.length));
    resumed.close();
    await server.close();
    await app.dispose();
  }, 120_000);

  test('a reader whose socket takes nothing for SUBSCRIPTION_WRITE_TIMEOUT_MS is cut off with conflict, far below the backlog', async ({ harness }) => {
    const { app, fanout } = appWith(harness, { maxBacklog: 1_000_000, writeTimeoutMs: 300 });
    const server = await served(app);
    const s = await wideScenario(harness);
    const reader = await pausedReader(server.port, s.key, wide, { customerId: s.customerId });
    let bulkSets = 0;
    while (fanout.counts.timeout === 0 && bulkSets < 60) {
      await bulkSet(s);
      bulkSets++;
    }
    await waitUntil(() => fanout.counts.timeout === 1, 'the stuck reader to be cut off');
    expect(fanout.counts.backlog).toBe(0);

    const messages = await reader.readAll();
    const notifications = messages.filter((m) => m.event === 'next').map((m) => m.data);
    const ending = notifications.pop();
    expect(ending.errors[0].extensions.code).toBe('conflict');
    const ids = await publishedIds(harness, s.customer.id);
    const got = notifications.map((n) => n.data.seatBalanceChanged.id);
    expect(got).toEqual(ids.slice(0, got.length));
    await waitUntil(() => fanout.streams().length === 0, 'the stream to close');
    await server.close();
    await app.dispose();
  }, 120_000);

  test('a resume longer than the backlog goes at its reader’s pace instead of being cut off', async ({ harness }) => {
    const { app, fanout, fetchApp, url } = appWith(harness, { maxBacklog: 20 });
    const s = await wideScenario(harness);
    const first = await subscribe(fetchApp, url, s.key, narrow, { customerId: s.customerId, featureCode: 'f0' });
    await bulkSet(s);
    const [seen] = await first.take(1);
    first.close();
    // Missed while away: 200 events of the customer, ten times the backlog.
    for (let i = 0; i < 2; i++) await bulkSet(s);
    const ids = await publishedIds(harness, s.customer.id);
    const missed = ids.slice(ids.indexOf(seen.data.seatBalanceChanged.id) + 1);
    expect(missed.length).toBeGreaterThan(20 * 5);
    const resumed = await subscribe(fetchApp, url, s.key, wide, { customerId: s.customerId, after: seen.data.seatBalanceChanged.id });
    const replayed = await resumed.take(missed.length, 60_000);
    expect(replayed.map((r) => r.data?.seatBalanceChanged.id ?? r.errors[0].extensions.code)).toEqual(missed);
    expect(fanout.counts.backlog).toBe(0);
    resumed.close();
    await app.dispose();
  }, 120_000);
});

describe('revoked keys', () => {
  test('a revoked key’s open stream ends with unauthorized; another key’s stream of the same subscription goes on', async ({ harness }) => {
    // Keys are trusted for a second: the open stream is checked again as often.
    const { app, fanout, fetchApp, url } = appWith(harness, {}, { apiKeyCacheMs: 1000 });
    const s = await seatScenario(harness);
    const other = await createApiKey(harness.orm.em.fork(), s.organization, 'test');
    const variables = { customerId: s.customerId, featureCode: 'editor' };
    const revoked = await subscribe(fetchApp, url, s.key, narrow, variables);
    const kept = await subscribe(fetchApp, url, other.key, narrow, variables);
    const add = () => s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } });
    await add();
    expect((await revoked.take(1))[0].data.seatBalanceChanged.balance.current).toBe(1);

    expect(await revokeApiKey(harness.orm.em.fork(), s.key)).toBe(true);
    const [ending, ...after] = await revoked.take(2, 30_000);
    expect(ending.errors[0].extensions.code).toBe('unauthorized');
    expect(after).toEqual([]);
    expect(fanout.counts.revoked).toBe(1);
    // The key is refused from now on, on this app too.
    expect((await graphql({ ...harness, yoga: app }, s.key, '{ features { code } }')).status).toBe(401);

    await add();
    expect((await kept.take(2)).map((n) => n.data.seatBalanceChanged.balance.current)).toEqual([1, 2]);
    kept.close();
    await app.dispose();
  }, 60_000);
});

describe('stopping', () => {
  test('SIGTERM ends every stream, a stuck one too, and the process drains and exits 0', async ({ harness, startServer }) => {
    const server = await startServer();
    const s = await wideScenario(harness);
    const { port } = new URL(server.url);
    const healthy = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-api-key': s.key },
      body: JSON.stringify({ query: narrow, variables: { customerId: s.customerId, featureCode: 'f0' } }),
    });
    let healthyText = '';
    const healthyEnded = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of healthy.body!) healthyText += decoder.decode(chunk, { stream: true });
    })();
    const stuck = await pausedReader(Number(port), s.key, wide, { customerId: s.customerId });
    expect([healthy.status, stuck.status]).toEqual([200, 200]);
    // Enough to fill the stuck reader's socket buffers several times.
    for (let i = 0; i < 15; i++) await bulkSet(s);
    const nextCount = () => healthyText.split('event: next').length - 1;
    await waitUntil(() => nextCount() === 15, 'the healthy stream to get its 15 changes');

    server.child.kill('SIGTERM');
    // The healthy stream ends as documented; the stuck one is disconnected, and the process
    // drains and exits in time (it exits 1 when it cannot).
    await healthyEnded;
    expect(healthyText.endsWith('event: complete\ndata:\n\n')).toBe(true);
    expect(nextCount()).toBe(15);
    expect(await server.exited).toBe(0);
  }, 120_000);
});
