import { afterAll, beforeAll } from 'vitest';
import { describe, expect, test } from './fixtures.ts';
import { createApp, exampleOperation } from '../src/app.ts';
import { createLogger } from '../src/common/logger.ts';
import { loadConfig } from '../src/config.ts';
import { openOrm, type Orm } from '../src/db/orm.ts';
import { runScript, scratchDatabase } from './helpers.ts';

/** Runs `npm run seed`'s entry point; its exit code and both outputs. */
const seed = (env: Record<string, string>, ...args: string[]) => runScript('src/cli/seed.ts', { TEST_DATABASE_URL: '', ...env }, args);

let database: Awaited<ReturnType<typeof scratchDatabase>>;
let orm: Orm | undefined;
beforeAll(async () => {
  database = await scratchDatabase('seatgate_seed');
});
afterAll(async () => {
  await orm?.close();
  await database.drop();
});

/** Everything a client can read of the demo data, for comparing two runs. */
const everything = /* GraphQL */ `{
  features { code name }
  plans { code interval currency seatFeatures { featureCode includedSeats overageEnabled unitPrice unlimited } }
  customers(ids: ["acme-corp", "globex", "initech"]) {
    externalId name
    subscription { id status planCode }
    seatBalances { featureCode current includedSeats unlimited }
  }
  acme: seatEvents(customerId: "acme-corp", first: 20) { ...Ledger }
  globex: seatEvents(customerId: "globex", first: 20) { ...Ledger }
  initech: seatEvents(customerId: "initech", first: 20) { ...Ledger }
}
fragment Ledger on SeatEventConnection {
  edges { node { id customerId featureCode kind count previousBalance newBalance } }
}`;

describe('npm run seed', () => {
  test('refuses a DATABASE_URL unless told it may use it, and writes nothing there', async () => {
    const refused = await seed({ DATABASE_URL: database.url });
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe('DATABASE_URL is set: the seed writes demo data only to the embedded database, unless run with --database-url-ok.');
    // Not even migrated: the database was never opened.
    const probe = await openOrm(database.url, { poolMax: 1 });
    const [row] = await probe.em.getConnection().execute<{ table: string | null }[]>(`select to_regclass('organization')::text as table`);
    await probe.close();
    expect(row!.table).toBeNull();
  });

  test('creates the demo data through the API, answers the prefilled GraphiQL example, and a second run changes nothing', async () => {
    const first = await seed({ DATABASE_URL: database.url }, '--database-url-ok');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const key = /\n {2}(ck_test_\w{32})\n/.exec(first.stdout)![1]!;
    expect(first.stdout.trim().split('\n').at(-1)).toBe(
      'Demo data in the "development" organization\'s test mode: created 3 features, 2 plans, 3 customers, 3 subscriptions, 6 seat changes.',
    );

    orm = await openOrm(database.url, { poolMax: 2 });
    const app = createApp({ orm, logger: createLogger('silent'), limits: loadConfig({}).limits });
    const graphql = async (query: string, operationName?: string) => {
      const response = await app.fetch('http://seatgate.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify({ query, operationName }),
      });
      const body = (await response.json()) as { data: any; errors?: unknown[] };
      expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
      return body.data;
    };

    // GraphiQL's prefilled example answers with acme-corp's balances: 3 editors, +2, +4, -1; viewers 4, then set to 6.
    const example = await graphql(exampleOperation, 'Balances');
    expect(example.customers).toEqual([
      {
        id: expect.stringMatching(/^cus_/),
        externalId: 'acme-corp',
        seatBalances: expect.arrayContaining([
          expect.objectContaining({ featureCode: 'editor', current: 8, includedSeats: 5, unlimited: false }),
          expect.objectContaining({ featureCode: 'viewer', current: 6, includedSeats: 10, unlimited: false }),
          expect.objectContaining({ featureCode: 'admin', current: 0, unlimited: true }),
        ]),
      },
    ]);

    const before = await graphql(everything);
    expect(before.features.map((feature: { code: string }) => feature.code).toSorted()).toEqual(['admin', 'editor', 'viewer']);
    expect(before.plans.map((plan: { code: string; interval: string }) => [plan.code, plan.interval]).toSorted()).toEqual([
      ['team', 'MONTH'],
      ['team_yearly', 'YEAR'],
    ]);
    const team = before.plans.find((plan: { code: string }) => plan.code === 'team');
    expect(team.seatFeatures).toContainEqual({ featureCode: 'editor', includedSeats: 5, overageEnabled: true, unitPrice: 2500, unlimited: false });
    const balances = Object.fromEntries(
      before.customers.map((customer: { externalId: string; seatBalances: { featureCode: string; current: number }[]; subscription: any }) => {
        expect(customer.subscription).toMatchObject({ status: 'ACTIVE', planCode: customer.externalId === 'globex' ? 'team_yearly' : 'team' });
        return [customer.externalId, Object.fromEntries(customer.seatBalances.map((balance) => [balance.featureCode, balance.current]))];
      }),
    );
    expect(balances).toEqual({
      'acme-corp': { editor: 8, viewer: 6, admin: 0 },
      globex: { editor: 9, viewer: 0 },
      initech: { editor: 3, viewer: 0, admin: 0 },
    });

    // Each balance's ledger (newest first; reversed here) chains from zero to its current value, the history in order.
    type Event = { customerId: string; featureCode: string; kind: string; count: number; previousBalance: number; newBalance: number };
    const events: Event[] = [before.acme, before.globex, before.initech].flatMap((connection) =>
      connection.edges.map((edge: { node: Event }) => edge.node).toReversed(),
    );
    const ledger = (customerId: string, featureCode: string) => events.filter((event) => event.customerId === customerId && event.featureCode === featureCode);
    expect(ledger('acme-corp', 'editor').map(({ kind, count, previousBalance, newBalance }) => [kind, count, previousBalance, newBalance])).toEqual([
      ['SET', 3, 0, 3],
      ['ADD', 2, 3, 5],
      ['ADD', 4, 5, 9],
      ['REMOVE', 1, 9, 8],
    ]);
    expect(ledger('acme-corp', 'viewer').map(({ kind, newBalance }) => [kind, newBalance])).toEqual([
      ['SET', 4],
      ['SET', 6],
    ]);
    expect(ledger('globex', 'editor').map(({ kind, newBalance }) => [kind, newBalance])).toEqual([
      ['SET', 6],
      ['SET', 9],
    ]);
    expect(ledger('initech', 'editor').map(({ kind, newBalance }) => [kind, newBalance])).toEqual([
      ['SET', 2],
      ['ADD', 3],
    ]);

    const second = await seed({ DATABASE_URL: database.url }, '--database-url-ok');
    expect(second.code).toBe(0);
    expect(second.stdout.trim()).toBe('The demo data is already in the "development" organization\'s test mode: nothing changed.');
    expect(await graphql(everything)).toEqual(before);
    const [keys] = await orm.em.getConnection().execute<{ count: string }[]>(`select count(*)::text as count from api_key`);
    expect(keys!.count).toBe('1');
    await app.dispose();
  }, 120_000);
});
