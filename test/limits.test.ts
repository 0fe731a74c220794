import { describe, expect, test } from 'vitest';
import { createApp, type AppOptions } from '../src/app.js';
import { loadConfig, type Limits } from '../src/config.js';
import { RateLimiter } from '../src/http/rate-limit.js';
import { createLogger } from '../src/logger.js';
import { balanceOf, mutations, seatScenario, useHarness } from './helpers.js';

const harness = useHarness();
const defaults = loadConfig({}).limits;

function appWith(limits: Partial<Limits>, options: Partial<AppOptions> = {}) {
  return createApp({ orm: harness.orm, logger: createLogger('silent'), limits: { ...defaults, rateLimitPerSecond: 0, ...limits }, ...options });
}

async function post(app: ReturnType<typeof createApp>, key: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await app.fetch('http://seatgate.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as { data?: any; errors?: any[] } };
}

describe('document limits (graphql-armor), each configurable', () => {
  const balances = (extra = '') => `{ customers(ids: ["x"]) { id ${extra} seatBalances { featureCode current } } }`;
  test.each([
    ['depth', { maxQueryDepth: 2 }, `{ customers(ids: ["x"]) { subscription { planCode } } }`],
    ['aliases', { maxAliases: 2 }, `{ a: features { code } b: features { code } c: features { code } }`],
    ['tokens', { maxTokens: 20 }, balances('name externalId createdAt livemode')],
    ['cost', { maxQueryCost: 10 }, balances('name externalId createdAt livemode')],
    ['directives', { maxDirectives: 1 }, `{ features { code @include(if: true) name @include(if: true) } }`],
  ])('%s over the limit answers validation_error and runs nothing', async (_name, limits, query) => {
    const s = await seatScenario(harness);
    const app = appWith(limits);
    const refused = await post(app, s.key, { query });
    expect(refused.body.data).toBeUndefined();
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'validation_error', type: 'validation_error' });
    // The same document passes the default limits.
    const allowed = await post(appWith({}), s.key, { query });
    expect(allowed.body.errors).toBeUndefined();
  });

  test('a refused mutation changes nothing', async () => {
    const s = await seatScenario(harness);
    const app = appWith({ maxAliases: 1 });
    const input = { customerId: s.customerId, featureCode: 'editor', count: 1 };
    const refused = await post(app, s.key, {
      query: `mutation($i: AddSeatsInput!) { a: addSeats(input: $i) { id } b: addSeats(input: $i) { id } }`,
      variables: { i: input },
    });
    expect(refused.body.errors?.[0]?.extensions.code).toBe('validation_error');
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(0);
  });
});

describe('request body size', () => {
  test('a body over MAX_BODY_BYTES answers 413 validation_error, whether or not it declares its length', async () => {
    const s = await seatScenario(harness);
    const app = appWith({ maxBodyBytes: 1000 });
    const big = JSON.stringify({ query: mutations.addSeats, variables: { input: { customerId: s.customerId, featureCode: 'editor', count: 1, pad: 'x'.repeat(2000) } } });
    const declared = await post(app, s.key, big);
    expect(declared.status).toBe(413);
    expect(declared.body.errors?.[0]?.extensions).toMatchObject({ code: 'validation_error', type: 'validation_error' });

    const streamed = await app.fetch('http://seatgate.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': s.key },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(big));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(0);

    const small = await post(app, s.key, { query: mutations.addSeats, variables: { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } } });
    expect(small.body.errors).toBeUndefined();
  });
});

describe('rate limit per API key', () => {
  test('past its burst a key answers 429 rate_limited with Retry-After; other keys go on', async () => {
    const a = await seatScenario(harness);
    const b = await seatScenario(harness);
    const app = appWith({ rateLimitPerSecond: 1, rateLimitBurst: 3 });
    const query = { query: '{ features { code } }' };
    for (let i = 0; i < 3; i++) expect((await post(app, a.key, query)).status).toBe(200);
    const limited = await post(app, a.key, query);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.body.errors?.[0]?.extensions).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' });
    expect((await post(app, b.key, query)).status).toBe(200);
  });

  test('buckets refill at the configured rate', () => {
    let now = 0;
    const limiter = new RateLimiter(2, 4, () => now);
    expect([1, 2, 3, 4, 5].map(() => limiter.take('k'))).toEqual([0, 0, 0, 0, 1]);
    now += 500; // one token back
    expect(limiter.take('k')).toBe(0);
    expect(limiter.take('k')).toBe(1);
    now += 10_000; // refills up to the burst, not beyond
    expect([1, 2, 3, 4, 5].map(() => limiter.take('k'))).toEqual([0, 0, 0, 0, 1]);
    expect(limiter.take('other')).toBe(0);
  });
});

describe('production switches', () => {
  test('introspection can be turned off', async () => {
    const s = await seatScenario(harness);
    const off = await post(appWith({}, { introspection: false }), s.key, { query: '{ __schema { queryType { name } } }' });
    expect(off.body.errors?.[0]?.extensions.code).toBe('validation_error');
    const on = await post(appWith({}), s.key, { query: '{ __schema { queryType { name } } }' });
    expect(on.body.data.__schema.queryType.name).toBe('Query');
    // Ordinary operations still work without introspection.
    expect((await post(appWith({}, { introspection: false }), s.key, { query: '{ features { code } }' })).body.errors).toBeUndefined();
  });

  test('GraphiQL can be turned off', async () => {
    const page = await appWith({}, { graphiql: false }).fetch('http://seatgate.test/graphql', { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toContain('<html');
    const on = await appWith({}).fetch('http://seatgate.test/graphql', { headers: { accept: 'text/html' } });
    expect(await on.text()).toContain('<html');
  });
});
