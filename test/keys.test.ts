import { describe, expect, test } from './fixtures.ts';
import { defaultApiKeyCacheMs } from '../src/auth/cache.ts';
import { createApiKey, revokeApiKey } from '../src/auth/service.ts';
import { graphql, newTenant, queries, uniqueName } from './helpers.ts';

const features = /* GraphQL */ `{ features { code } }`;
const testClock = /* GraphQL */ `{ testClock { now } }`;
const advance = /* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`;

describe('the API key cache', () => {
  test('a revoked key keeps working for at most the cache lifetime (5 s), then answers unauthorized', async ({ harness, scenario: s }) => {
    expect((await graphql(harness, s.key, queries.seatBalances, { customerId: s.customerId })).status).toBe(200);
    expect(await revokeApiKey(harness.orm.em.fork(), s.key)).toBe(true);

    harness.passTime(defaultApiKeyCacheMs - 1000);
    expect((await graphql(harness, s.key, features)).status).toBe(200);
    harness.passTime(1001);
    const refused = await graphql(harness, s.key, features);
    expect(refused.status).toBe(401);
    expect(refused.errors?.[0]?.extensions.code).toBe('unauthorized');
    // Revoking is once: the key stays refused, and a second revoke finds nothing.
    expect(await revokeApiKey(harness.orm.em.fork(), s.key)).toBe(false);
  });

  test('a key is looked up once per lifetime; unknown keys are never remembered', async ({ harness }) => {
    const { key } = await newTenant(harness);
    const lookups = async (apiKey: string) =>
      (await harness.countStatements(() => graphql(harness, apiKey, features))).statements.filter((sql) => sql.includes('api_key')).length;
    expect(await lookups(key)).toBe(1);
    expect(await lookups(key)).toBe(0);
    harness.passTime(defaultApiKeyCacheMs + 1);
    expect(await lookups(key)).toBe(1);

    const unknown = `ck_test_${'Q'.repeat(32)}`;
    expect(await lookups(unknown)).toBe(1);
    expect(await lookups(unknown)).toBe(1);
  });

  test("a test clock moved through this server is seen at once by the organization's other keys", async ({ harness }) => {
    const organization = uniqueName('org');
    const a = await createApiKey(harness.orm.em.fork(), organization, 'test');
    const b = await createApiKey(harness.orm.em.fork(), organization, 'test');
    const before = new Date((await graphql(harness, b.key, testClock)).data.testClock.now).getTime();
    const moved = new Date((await graphql(harness, a.key, advance, { input: { days: 30 } })).data.advanceTestClock.now).getTime();
    expect(moved - before).toBeGreaterThanOrEqual(30 * 86_400_000);
    const seen = new Date((await graphql(harness, b.key, testClock)).data.testClock.now).getTime();
    expect(seen).toBeGreaterThanOrEqual(moved);
  });

  test('a test clock moved elsewhere (another server process) is seen within the cache lifetime', async ({ harness, tenant }) => {
    const now = async () => new Date((await graphql(harness, tenant.key, testClock)).data.testClock.now).getTime();
    const before = await now();
    await harness.orm.em
      .fork()
      .getConnection()
      .execute(`insert into test_clock (organization_id, frozen_at) values (?, ?)`, [tenant.organizationId, new Date(before + 10 * 86_400_000)]);
    expect((await now()) - before).toBeLessThan(86_400_000);
    harness.passTime(defaultApiKeyCacheMs + 1);
    expect((await now()) - before).toBeGreaterThanOrEqual(10 * 86_400_000);
  });
});
