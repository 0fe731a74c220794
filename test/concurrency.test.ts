import fc from 'fast-check';
import { expect, test } from './fixtures.ts';
import { expectLedgerWhole, ledgerOf, mutations, postGraphQL, seatScenario } from './helpers.ts';

const post = (http: { endpoint: string }, key: string, query: string, variables: object) => postGraphQL(http.endpoint, key, query, variables);

type Call = { op: 'addSeats' | 'removeSeats' | 'setSeats'; count: number };
const kindOf = { addSeats: 'ADD', removeSeats: 'REMOVE', setSeats: 'SET' } as const;

test('200 concurrent add/remove/set calls on one balance serialize: nothing lost, chain whole, never negative', async ({ harness, http }) => {
  const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 20 }] });
  const calls = fc.sample(
    fc.oneof(
      fc.record({ op: fc.constant('addSeats' as const), count: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ op: fc.constant('removeSeats' as const), count: fc.integer({ min: 1, max: 8 }) }),
      fc.record({ op: fc.constant('setSeats' as const), count: fc.integer({ min: 0, max: 30 }) }),
    ),
    { numRuns: 200, seed: 42 },
  ) as Call[];

  const responses = await Promise.all(
    calls.map((call) => post(http, s.key, mutations[call.op], { input: { customerId: s.customerId, featureCode: 'editor', count: call.count } })),
  );

  const succeeded = new Map<string, Call>();
  responses.forEach((response, i) => {
    expect(response.status).toBeLessThan(500);
    const call = calls[i]!;
    if (response.body.errors) {
      // The only acceptable refusal: removing more than the balance held at that moment.
      expect(response.body.errors[0].extensions.code).toBe('insufficient_seats');
      expect(call.op).toBe('removeSeats');
    } else {
      succeeded.set(response.body.data[call.op].id, call);
    }
  });
  expect(succeeded.size).toBeGreaterThan(100);

  // Replaying the successful calls in ledger order from the initial balance gives every event's
  // balances and the final balance: no update was lost or applied twice.
  const ledger = await harness.orm.em
    .fork()
    .getConnection()
    .execute<{ id: string; kind: string; quantity: number; previous_balance: number; new_balance: number }[]>(
      `select e.id, e.kind, e.quantity, e.previous_balance, e.new_balance from seat_event e join customer c on c.id = e.customer_id
      where c.external_id = ? order by e.seq`,
      [s.customerId],
    );
  expect(ledger).toHaveLength(1 + succeeded.size);
  let balance = 20;
  for (const event of ledger.slice(1)) {
    const call = succeeded.get(event.id)!;
    expect(event.kind).toBe(kindOf[call.op]);
    expect(event.quantity).toBe(call.count);
    const expected = call.op === 'addSeats' ? balance + call.count : call.op === 'removeSeats' ? balance - call.count : call.count;
    expect(event.previous_balance).toBe(balance);
    expect(event.new_balance).toBe(expected);
    expect(expected).toBeGreaterThanOrEqual(0);
    balance = expected;
  }
  const events = await expectLedgerWhole(harness, s.customerId, 'editor');
  expect(events[events.length - 1]!.new_balance).toBe(balance);
});

test('concurrent bulk sets over the same balances in opposite orders neither deadlock nor lose a write', async ({ harness, http, scenario: s }) => {
  const orders = [
    ['editor', 'viewer', 'admin'],
    ['admin', 'viewer', 'editor'],
    ['viewer', 'admin', 'editor'],
  ];
  const responses = await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      post(http, s.key, mutations.bulkSetSeats, {
        input: { customerId: s.customerId, seats: orders[i % 3]!.map((featureCode) => ({ featureCode, count: featureCode === 'viewer' ? i % 3 : i })) },
      }),
    ),
  );
  for (const response of responses) {
    expect(response.status).toBe(200);
    expect(response.body.errors).toBeUndefined();
  }
  for (const code of ['editor', 'viewer', 'admin']) {
    const events = await expectLedgerWhole(harness, s.customerId, code);
    expect(events).toHaveLength(60);
  }
  // Each bulk call's events sit together in every ledger: all three balances end from the same call.
  const last = await Promise.all(['editor', 'admin'].map(async (code) => (await ledgerOf(harness, s.customerId, code)).at(-1)!.new_balance));
  expect(last[0]).toBe(last[1]);
});
