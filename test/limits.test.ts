import { vi } from 'vitest';
import { describe, expect, test } from './fixtures.ts';
import { createApp, type AppOptions } from '../src/app.ts';
import { loadConfig, type Limits } from '../src/config.ts';
import fc from 'fast-check';
import type { RatePolicy } from '../src/common/rate-limit.ts';
import { decisionsOf } from '../src/ratelimits/service.ts';
import { createLogger } from '../src/common/logger.ts';
import { balanceOf, type Harness, mutations, seatScenario } from './helpers.ts';
import { limiterNow } from './limiter-clock.ts';

const defaults = loadConfig({}).limits;

function appWith(harness: Harness, limits: Partial<Limits>, options: Partial<AppOptions> = {}) {
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
  const balances = (extra = '') => /* GraphQL */ `{ customers(ids: ["x"]) { id ${extra} seatBalances { featureCode current } } }`;
  test.for<[string, Partial<Limits>, string]>([
    ['depth', { maxQueryDepth: 2 }, /* GraphQL */ `{ customers(ids: ["x"]) { subscription { planCode } } }`],
    ['aliases', { maxAliases: 2 }, /* GraphQL */ `{ a: features { code } b: features { code } c: features { code } }`],
    ['tokens', { maxTokens: 20 }, balances('name externalId createdAt livemode')],
    ['cost', { maxQueryCost: 10 }, balances('name externalId createdAt livemode')],
    ['directives', { maxDirectives: 1 }, /* GraphQL */ `{ features { code @include(if: true) name @include(if: true) } }`],
  ])('%s over the limit answers validation_error and runs nothing', async ([_name, limits, query], { harness, scenario: s }) => {
    const app = appWith(harness, limits);
    const refused = await post(app, s.key, { query });
    expect(refused.body.data).toBeUndefined();
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'validation_error', type: 'validation_error' });
    // The same document passes the default limits.
    const allowed = await post(appWith(harness, {}), s.key, { query });
    expect(allowed.body.errors).toBeUndefined();
  });

  test('a refused mutation changes nothing', async ({ harness, scenario: s }) => {
    const app = appWith(harness, { maxAliases: 1 });
    const input = { customerId: s.customerId, featureCode: 'editor', count: 1 };
    const refused = await post(app, s.key, {
      query: /* GraphQL */ `mutation($i: AddSeatsInput!) { a: addSeats(input: $i) { id } b: addSeats(input: $i) { id } }`,
      variables: { i: input },
    });
    expect(refused.body.errors?.[0]?.extensions.code).toBe('validation_error');
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(0);
  });
});

describe('request body size', () => {
  test('a body over MAX_BODY_BYTES answers 413 validation_error, whether or not it declares its length', async ({ harness, scenario: s }) => {
    const app = appWith(harness, { maxBodyBytes: 1000 });
    const big = JSON.stringify({
      query: mutations.addSeats,
      variables: { input: { customerId: s.customerId, featureCode: 'editor', count: 1, pad: 'x'.repeat(2000) } },
    });
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
  test('past its burst a key answers 429 rate_limited with Retry-After; other keys go on', async ({ harness }) => {
    const a = await seatScenario(harness);
    const b = await seatScenario(harness);
    // One request per 1,000 s: nothing refills during the test.
    const app = appWith(harness, { rateLimitPerSecond: 0.001, rateLimitBurst: 3 });
    const query = { query: /* GraphQL */ `{ features { code } }` };
    for (let i = 0; i < 3; i++) expect((await post(app, a.key, query)).status).toBe(200);
    const limited = await post(app, a.key, query);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.body.errors?.[0]?.extensions).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' });
    expect((await post(app, b.key, query)).status).toBe(200);
  });

  test('a bucket passes its burst, then one request per interval, and refills only up to its burst', async ({ harness, scenario: s }) => {
    // One request per 100 s: none comes back within a test.
    const app = appWith(harness, { rateLimitPerSecond: 0.01, rateLimitBurst: 4 });
    const query = { query: /* GraphQL */ `{ features { code } }` };
    const answers = [];
    const from = await limiterNow(harness);
    for (let i = 0; i < 5; i++) answers.push(await post(app, s.key, query));
    const elapsedMs = (await limiterNow(harness)) - from;
    expect(answers.map(({ status }) => status)).toEqual([200, 200, 200, 200, 429]);
    expect(answers.map(({ headers }) => headers.get('ratelimit-remaining'))).toEqual(['3', '2', '1', '0', '0']);
    // The refused one waits one interval from the first request, less what has passed since on the limiter's clock.
    expect(Number(answers[4]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(Math.ceil((100_000 - elapsedMs) / 1000));
    expect(Number(answers[4]!.headers.get('retry-after'))).toBeLessThanOrEqual(100);
  });

  test('requests let through before the database answers are all counted: a burst of 40 allows exactly 40', async ({ harness, scenario: s }) => {
    // One request per 1,000 s: nothing refills during the test.
    const policy: RatePolicy = { perSecond: 0.001, burst: 40 };
    const app = appWith(harness, { rateLimitPerSecond: policy.perSecond, rateLimitBurst: policy.burst });
    const query = { query: /* GraphQL */ `{ features { code } }` };
    const statuses: number[] = [];
    /** The requests the database has counted against the tenant's key: its bucket's debt, in intervals. */
    const counted = async () => {
      const rows = await harness.orm.em
        .fork()
        .getConnection()
        .execute<{ debt: string }[]>(
          `select b.full_at - extract(epoch from clock_timestamp()) * 1000 as debt
           from rate_limit_bucket b join api_key k on b.bucket = 'key:' || k.id where k.organization_id = ?`,
          [s.organizationId],
        );
      return rows.length === 0 ? 0 : Math.ceil(Number(rows[0]!.debt) / (1000 / policy.perSecond));
    };
    // One at a time, then many at once, each time until the database has counted them all: those
    // let through early are counted in the background, with no later request to carry their count.
    for (let i = 0; i < 12; i++) statuses.push((await post(app, s.key, query)).status);
    await vi.waitFor(async () => expect(await counted()).toBe(12), { timeout: 30_000, interval: 20 });
    statuses.push(...(await Promise.all(Array.from({ length: 12 }, () => post(app, s.key, query)))).map(({ status }) => status));
    await vi.waitFor(async () => expect(await counted()).toBe(24), { timeout: 30_000, interval: 20 });
    for (let i = 0; i < 26; i++) statuses.push((await post(app, s.key, query)).status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(40);
    expect(statuses.slice(40)).toEqual(Array.from({ length: 10 }, () => 429));
  });
});

describe('rate decisions (GCRA arithmetic)', () => {
  const policy: RatePolicy = { perSecond: 2, burst: 4 };

  test('a fresh bucket grants its burst; the rest wait for one interval past the debt', () => {
    // As the database leaves a fresh bucket after 6 wanted at t=0: 4 granted, full at 2 s.
    const decisions = decisionsOf({ nowMs: 0, fullAt: 2000, granted: 4 }, 6, policy);
    expect(decisions.map(({ allowed }) => allowed)).toEqual([true, true, true, true, false, false]);
    expect(decisions.map(({ remaining }) => remaining)).toEqual([3, 2, 1, 0, 0, 0]);
    expect(decisions.map(({ resetSeconds }) => resetSeconds)).toEqual([1, 1, 2, 2, 2, 2]);
    expect(decisions.slice(4).map(({ retryAfterSeconds }) => retryAfterSeconds)).toEqual([1, 1]);
    expect(decisions.every(({ limit }) => limit === 4)).toBe(true);
  });

  test('remaining never exceeds the burst nor goes below zero, and grants count down by one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 100_000 }),
        (burst, perSecondTenths, wanted, debtMs) => {
          const p = { perSecond: perSecondTenths / 10, burst };
          const granted = Math.min(wanted, Math.max(0, Math.floor((burst * (1000 / p.perSecond) - debtMs) / (1000 / p.perSecond))));
          const fullAt = debtMs + granted * (1000 / p.perSecond);
          const decisions = decisionsOf({ nowMs: 0, fullAt, granted }, wanted, p);
          expect(decisions.filter(({ allowed }) => allowed)).toHaveLength(granted);
          for (const d of decisions) {
            expect(d.remaining).toBeGreaterThanOrEqual(0);
            expect(d.remaining).toBeLessThan(burst);
            if (!d.allowed) expect(d.retryAfterSeconds).toBeGreaterThanOrEqual(1);
          }
          for (let i = 1; i < granted; i++) expect(decisions[i]!.remaining).toBe(decisions[i - 1]!.remaining - 1);
        },
      ),
    );
  });
});

describe('production switches', () => {
  test('introspection can be turned off', async ({ harness, scenario: s }) => {
    const off = await post(appWith(harness, {}, { introspection: false }), s.key, { query: /* GraphQL */ `{ __schema { queryType { name } } }` });
    expect(off.body.errors?.[0]?.extensions.code).toBe('validation_error');
    const on = await post(appWith(harness, {}), s.key, { query: /* GraphQL */ `{ __schema { queryType { name } } }` });
    expect(on.body.data.__schema.queryType.name).toBe('Query');
    // Ordinary operations still work without introspection.
    expect((await post(appWith(harness, {}, { introspection: false }), s.key, { query: /* GraphQL */ `{ features { code } }` })).body.errors).toBeUndefined();
  });

  test('GraphiQL can be turned off', async ({ harness }) => {
    const page = await appWith(harness, {}, { graphiql: false }).fetch('http://seatgate.test/graphql', { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toContain('<html');
    const on = await appWith(harness, {}).fetch('http://seatgate.test/graphql', { headers: { accept: 'text/html' } });
    expect(await on.text()).toContain('<html');
  });
});
