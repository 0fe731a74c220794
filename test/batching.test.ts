import { describe, expect, test } from './fixtures.ts';
import { createCustomerWithSubscription, graphql, mutations, seatScenario } from './helpers.ts';

const balancesQuery = /* GraphQL */ `query($ids: [String!]!) {
  customers(ids: $ids) { id externalId subscription { planCode } seatBalances { featureCode current includedSeats asOf } editor: seatBalance(featureCode: "editor") { current } }
}`;

describe('SQL statements per request', () => {
  test('customers(ids) with balances costs the same few statements for 1, 10 and 100 customers', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 1 }] });
    const ids = [s.customerId];
    while (ids.length < 100) {
      const customer = await createCustomerWithSubscription(s.client, {
        externalId: `c-${ids.length}`,
        initialSeats: [{ featureCode: 'editor', count: ids.length }],
      });
      ids.push(customer.externalId ?? customer.id);
    }

    const counts: Record<number, number> = {};
    for (const n of [1, 10, 100]) {
      const { result, statements } = await harness.countStatements(() => graphql(harness, s.key, balancesQuery, { ids: ids.slice(0, n) }));
      expect(result.errors).toBeUndefined();
      expect(result.data.customers).toHaveLength(n);
      expect(result.data.customers[n - 1].seatBalances).toHaveLength(3);
      expect(result.data.customers[n - 1].editor.current).toBe(n === 1 ? 1 : n - 1);
      counts[n] = statements.length;
    }
    // Customers with their balances, then active subscriptions (with plans); the API key comes from the server's cache.
    expect(counts).toEqual({ 1: 2, 10: 2, 100: 2 });

    // A customer named by both its ids answers twice, each time with its own three balances.
    const both = await graphql(harness, s.key, balancesQuery, { ids: [s.customer.id, s.customerId, 'nobody'] });
    expect(both.data.customers.map((c: any) => c && [c.id, c.seatBalances.length])).toEqual([[s.customer.id, 3], [s.customer.id, 3], null]);

    // The shape most clients send, balances only: one statement, whatever the number of customers.
    for (const n of [1, 100]) {
      const { result, statements } = await harness.countStatements(() =>
        graphql(harness, s.key, /* GraphQL */ `query($ids: [String!]!) { customers(ids: $ids) { id seatBalances { featureCode current } } }`, {
          ids: ids.slice(0, n),
        }),
      );
      expect(result.data.customers[n - 1].seatBalances).toHaveLength(3);
      expect(statements).toHaveLength(1);
    }

    // Fields of one document that name customers share that statement.
    const together = await harness.countStatements(() =>
      graphql(
        harness,
        s.key,
        /* GraphQL */ `query($one: String!, $ids: [String!]!) {
          one: customer(id: $one) { externalId seatBalances { current } }
          many: customers(ids: $ids) { externalId seatBalances { current } }
          again: customers(ids: [$one, "nobody"]) { externalId }
        }`,
        { one: ids[5], ids: ids.slice(0, 3) },
      ),
    );
    expect(together.result.errors).toBeUndefined();
    expect(together.result.data.one.seatBalances.map((b: any) => b.current).sort()).toEqual([0, 0, 5]);
    expect(together.result.data.many.map((c: any) => [c.externalId, c.seatBalances.length])).toEqual(ids.slice(0, 3).map((id) => [id, 3]));
    expect(together.result.data.again).toEqual([{ externalId: ids[5] }, null]);
    // One for the customers read with balances, one for those read without.
    expect(together.statements).toHaveLength(2);
  });

  test('a lone seat change costs BEGIN, one locking read, one statement writing its events and balances, the insert of their outbox rows and COMMIT, whatever the bulk size', async ({
    harness,
    scenario: s,
  }) => {
    const add = (featureCode: string) => graphql(harness, s.key, mutations.addSeats, { input: { customerId: s.customerId, featureCode, count: 1 } });
    await add('admin'); // the key is looked up once, then served from the cache
    const single = await harness.countStatements(() => add('admin'));
    expect(single.result.errors).toBeUndefined();
    // The key lookup included: there is none.
    const lone = ['begin', 'select', 'insert seat_event, update seat_balance', 'insert outbox_event', 'commit'];
    expect(single.statements.map(shapeOf)).toEqual(lone);

    // The balance a change left, as a normalised cache needs it (its id and count), costs nothing more.
    const withBalance = await harness.countStatements(() =>
      graphql(
        harness,
        s.key,
        /* GraphQL */ `mutation($input: AddSeatsInput!) { addSeats(input: $input) { id newBalance balance { __typename id current } } }`,
        { input: { customerId: s.customerId, featureCode: 'admin', count: 1 } },
      ),
    );
    expect(withBalance.result.errors).toBeUndefined();
    expect(withBalance.result.data.addSeats.balance).toEqual({ __typename: 'SeatBalance', id: expect.stringMatching(/^sbal_/), current: 3 });
    expect(withBalance.statements.map(shapeOf)).toEqual(lone);
    const bulkWithBalances = await harness.countStatements(() =>
      graphql(harness, s.key, /* GraphQL */ `mutation($input: BulkSetSeatsInput!) { bulkSetSeats(input: $input) { id balance { id current } } }`, {
        input: { customerId: s.customerId, seats: ['editor', 'viewer'].map((featureCode) => ({ featureCode, count: 2 })) },
      }),
    );
    expect(bulkWithBalances.result.data.bulkSetSeats.map((event: any) => event.balance.current)).toEqual([2, 2]);
    expect(bulkWithBalances.statements.map(shapeOf)).toEqual(lone);
    // What the event does not hold (the plan's terms, the customer) is read once for the whole answer.
    const withTerms = await harness.countStatements(() =>
      graphql(
        harness,
        s.key,
        /* GraphQL */ `mutation($input: BulkSetSeatsInput!) { bulkSetSeats(input: $input) { balance { id current includedSeats unlimited } customer { id } } }`,
        { input: { customerId: s.customerId, seats: ['editor', 'viewer'].map((featureCode) => ({ featureCode, count: 1 })) } },
      ),
    );
    expect(withTerms.result.data.bulkSetSeats.map((event: any) => [event.balance.current, event.balance.includedSeats, event.customer.id])).toEqual([
      [1, 5, s.customer.id],
      [1, 2, s.customer.id],
    ]);
    expect(withTerms.statements.map(shapeOf)).toEqual([...lone, 'select', 'select']);

    const bulk = await harness.countStatements(() =>
      graphql(harness, s.key, mutations.bulkSetSeats, {
        input: { customerId: s.customerId, seats: ['editor', 'viewer', 'admin'].map((featureCode) => ({ featureCode, count: 1 })) },
      }),
    );
    expect(bulk.result.errors).toBeUndefined();
    expect(bulk.statements.map(shapeOf)).toEqual(lone);

    // A charge adds its insert (its outbox row shares the outbox insert); an idempotency key adds
    // the look-up of claims and the claim itself.
    const charged = await harness.countStatements(() =>
      graphql(harness, s.key, mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 9, idempotencyKey: 'counted' } }),
    );
    expect(charged.result.data.addSeats.newBalance).toBe(10);
    expect(charged.statements.map(shapeOf)).toEqual([
      'begin',
      'select',
      'select',
      'insert seat_event, update seat_balance',
      'insert outbox_event',
      'insert idempotency_key',
      'insert seat_charge',
      'commit',
    ]);
  });
});

/**
 * A statement's verb, with the table for writes: `insert seat_event`; a statement of several
 * writes lists each (`insert seat_event, update seat_balance`).
 */
const shapeOf = (sql: string) => {
  const writes = [...sql.matchAll(/\b(insert into|update)\s+"?(\w+)"?/gi)].map(([, verb, table]) => `${verb!.split(' ')[0]!.toLowerCase()} ${table}`);
  if (/^with\b/i.test(sql.trim()) && writes.length > 0) return writes.join(', ');
  const [verb, ...rest] = sql.trim().split(/[\s;]+/);
  const table = /^(insert|update)$/i.test(verb!) ? rest.find((word) => !/^(into)$/i.test(word))!.replaceAll('"', '') : null;
  return table ? `${verb!.toLowerCase()} ${table}` : verb!.toLowerCase();
};
