import { describe, expect, test } from './fixtures.ts';
import { defaultApiKeyCacheMs } from '../src/auth/cache.ts';
import { createApiKey, revokeApiKey } from '../src/auth/service.ts';
import { graphql, newTenant, queries, runScript, uniqueName } from './helpers.ts';

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

/** Runs `npm run apikey`'s entry point on the run's database; its exit code and both outputs. */
const apikey = (databaseUrl: string, ...args: string[]) => runScript('src/auth/cli.ts', { DATABASE_URL: databaseUrl }, args);

describe('npm run apikey', () => {
  test('--help prints the usage and exits 0; a wrong argument says what is wrong, with the usage, and exits 2; never a stack trace', async ({
    databaseUrl,
  }) => {
    const help = await apikey(databaseUrl, '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run apikey -- <command>/);
    for (const command of ['create', 'revoke', 'list']) expect(help.stdout).toContain(`  ${command} `);
    for (const [args, line] of [
      [['--bogus'], "Unknown option '--bogus'."],
      [['create', '--org', 'x'], 'create needs --mode test or --mode live.'],
      [['forget'], "Unknown command 'forget'."],
      [[], 'Name a command.'],
    ] as const) {
      const wrong = await apikey(databaseUrl, ...args);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr.split('\n')[0]).toBe(line);
      expect(wrong.stderr).toContain('usage: npm run apikey');
      expect(wrong.stderr).not.toMatch(/^\s+at /m);
    }
  });

  test('list shows each key of an organization with its id, prefix, mode, creation and revocation, never the secret', async ({ databaseUrl }) => {
    const organization = uniqueName('cli');
    const created = await Promise.all([
      apikey(databaseUrl, 'create', '--org', organization, '--mode', 'test'),
      apikey(databaseUrl, 'create', '--org', organization, '--mode', 'live'),
    ]);
    const [testKey, liveKey] = created.map(({ code, stdout }) => {
      expect(code).toBe(0);
      return /API key \(shown once, store it now\): (ck_\w+)/.exec(stdout)![1]!;
    });
    expect((await apikey(databaseUrl, 'revoke', '--key', testKey!)).code).toBe(0);

    const listed = await apikey(databaseUrl, 'list', '--org', organization);
    expect(listed.code).toBe(0);
    const [header, ...rows] = listed.stdout
      .trimEnd()
      .split('\n')
      .map((line) => line.split(/\s{2,}/));
    expect(header).toEqual(['id', 'prefix', 'organization', 'mode', 'created', 'revoked']);
    expect(rows).toHaveLength(2);
    const row = (key: string) => rows.find((cells) => cells[1] === `${key.slice(0, 12)}…`)!;
    expect(row(testKey!)).toEqual([expect.stringMatching(/^key_/), `${testKey!.slice(0, 12)}…`, organization, 'test', expect.any(String), expect.any(String)]);
    expect(row(liveKey!)).toEqual([expect.stringMatching(/^key_/), `${liveKey!.slice(0, 12)}…`, organization, 'live', expect.any(String), '-']);
    const revokedAt = new Date(row(testKey!)[5]!).getTime();
    expect(revokedAt).toBeGreaterThanOrEqual(new Date(row(testKey!)[4]!).getTime());
    for (const key of [testKey!, liveKey!]) expect(listed.stdout).not.toContain(key.slice(12));

    expect((await apikey(databaseUrl, 'list', '--org', uniqueName('none'))).stdout).toMatch(/^No keys for organization "none-\w+"\.$/m);
  });
});
