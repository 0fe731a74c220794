import { describe, expect, test } from './fixtures.ts';
import { balanceOf, expectLedgerWhole, mutations, queries, seatScenario } from './helpers.ts';

describe('addSeats, removeSeats, setSeats', () => {
  test('each records one event with the balances before and after', async ({ harness, scenario: s }) => {
    const input = (count: number) => ({ input: { customerId: s.customerId, featureCode: 'editor', count } });

    const { addSeats } = await s.client.ok(mutations.addSeats, input(3));
    expect(addSeats).toMatchObject({
      customerId: s.customerId,
      featureCode: 'editor',
      kind: 'ADD',
      count: 3,
      previousBalance: 0,
      newBalance: 3,
      livemode: false,
    });
    expect(addSeats.id).toMatch(/^sev_/);

    const { removeSeats } = await s.client.ok(mutations.removeSeats, input(2));
    expect(removeSeats).toMatchObject({ kind: 'REMOVE', previousBalance: 3, newBalance: 1 });

    const { setSeats } = await s.client.ok(mutations.setSeats, input(9));
    expect(setSeats).toMatchObject({ kind: 'SET', previousBalance: 1, newBalance: 9 });

    const noop = await s.client.ok(mutations.setSeats, input(9));
    expect(noop.setSeats).toMatchObject({ kind: 'SET', previousBalance: 9, newBalance: 9 });

    const { seatBalance } = await s.client.ok(queries.seatBalance, { customerId: s.customerId, featureCode: 'editor' });
    expect(seatBalance).toMatchObject({ customerId: s.customerId, featureCode: 'editor', current: 9, includedSeats: 5, unlimited: false, livemode: false });
    expect(seatBalance.asOf).toBe(noop.setSeats.ts);

    const events = await expectLedgerWhole(harness, s.customerId, 'editor');
    expect(events.map((e) => e.kind)).toEqual(['ADD', 'REMOVE', 'SET', 'SET']);
  });
});

describe('limits', () => {
  test('a feature without overage refuses to go above its included seats, and changes nothing', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'viewer', count: 2 }] });
    const viewer = { customerId: s.customerId, featureCode: 'viewer' };

    const add = await s.client.fails(mutations.addSeats, { input: { ...viewer, count: 1 } });
    expect(add.extensions).toMatchObject({ code: 'seat_limit_exceeded', type: 'billing_error', param: 'count' });
    const set = await s.client.fails(mutations.setSeats, { input: { ...viewer, count: 3 } });
    expect(set.extensions.code).toBe('seat_limit_exceeded');
    expect(await balanceOf(harness, s.customerId, 'viewer')).toBe(2);
    expect(await expectLedgerWhole(harness, s.customerId, 'viewer')).toHaveLength(1);

    // Lowering always works, and a set to the limit is fine.
    await s.client.ok(mutations.removeSeats, { input: { ...viewer, count: 2 } });
    const { setSeats } = await s.client.ok(mutations.setSeats, { input: { ...viewer, count: 2 } });
    expect(setSeats).toMatchObject({ previousBalance: 0, newBalance: 2 });
  });

  test('overage-enabled and unlimited features go past the included seats', async ({ scenario: s }) => {
    const { setSeats } = await s.client.ok(mutations.setSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1_000_000 } });
    expect(setSeats.newBalance).toBe(1_000_000);
    const { addSeats } = await s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'admin', count: 500 } });
    expect(addSeats.newBalance).toBe(500);
    const { seatBalance } = await s.client.ok(queries.seatBalance, { customerId: s.customerId, featureCode: 'admin' });
    expect(seatBalance).toMatchObject({ current: 500, unlimited: true, includedSeats: null });
  });
});

describe('errors change nothing', () => {
  test('removing more than the balance answers insufficient_seats', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 3 }] });
    const error = await s.client.fails(mutations.removeSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 4 } });
    expect(error.extensions).toMatchObject({ code: 'insufficient_seats', type: 'billing_error', param: 'count' });
    expect(error.path).toEqual(['removeSeats']);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(3);
    expect(await expectLedgerWhole(harness, s.customerId, 'editor')).toHaveLength(1);
  });

  test.for<[string, Record<string, unknown>, string, string, string]>([
    ['an unknown customer', { customerId: 'nobody' }, 'customer_not_found', 'not_found_error', 'customerId'],
    ['an unknown cus_ id', { customerId: 'cus_00000000000000000000000000' }, 'customer_not_found', 'not_found_error', 'customerId'],
    ['an unknown feature', { featureCode: 'ghost' }, 'feature_not_found', 'not_found_error', 'featureCode'],
    ['a feature outside the plan', { featureCode: 'auditor' }, 'feature_not_in_plan', 'billing_error', 'featureCode'],
  ])('%s answers its code on every operation', async ([_name, override, code, type, param], { harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 2 }] });
    const input = { customerId: s.customerId, featureCode: 'editor', count: 1, ...override };
    for (const mutation of [mutations.addSeats, mutations.removeSeats, mutations.setSeats]) {
      const error = await s.client.fails(mutation, { input });
      expect(error.extensions).toMatchObject({ code, type, param });
    }
    const bulk = await s.client.fails(mutations.bulkSetSeats, {
      input: { customerId: input.customerId, seats: [{ featureCode: input.featureCode, count: 1 }] },
    });
    expect(bulk.extensions.code).toBe(code);
    const read = await s.client.fails(queries.seatBalance, { customerId: input.customerId, featureCode: input.featureCode });
    expect(read.extensions.code).toBe(code);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(2);
    expect(await expectLedgerWhole(harness, s.customerId, 'editor')).toHaveLength(1);
  });

  test('a customer without a subscription answers no_active_subscription', async ({ harness, scenario: s }) => {
    const { createCustomer } = await s.client.ok(/* GraphQL */ `mutation { createCustomer(input: { name: "Lone" }) { id } }`);
    const input = { customerId: createCustomer.id, featureCode: 'editor', count: 1 };
    for (const mutation of [mutations.addSeats, mutations.removeSeats, mutations.setSeats]) {
      expect((await s.client.fails(mutation, { input })).extensions).toMatchObject({
        code: 'no_active_subscription',
        type: 'not_found_error',
        param: 'customerId',
      });
    }
    expect((await s.client.fails(queries.seatBalances, { customerId: createCustomer.id })).extensions.code).toBe('no_active_subscription');
    expect((await s.client.fails(queries.seatBalance, { customerId: createCustomer.id, featureCode: 'editor' })).extensions.code).toBe(
      'no_active_subscription',
    );
    const { customer } = await s.client.ok(/* GraphQL */ `query($id: String!) { customer(id: $id) { seatBalances { current } subscription { id } } }`, {
      id: createCustomer.id,
    });
    expect(customer).toEqual({ seatBalances: [], subscription: null });
    const events = await harness.orm.em.fork().getConnection().execute(`select 1 from seat_event where customer_id = ?`, [createCustomer.id]);
    expect(events).toHaveLength(0);
  });
});

describe('bulkSetSeats', () => {
  test('sets every listed balance, leaves the others, and returns events in the order given', async ({ harness }) => {
    const s = await seatScenario(harness, {
      initialSeats: [
        { featureCode: 'editor', count: 4 },
        { featureCode: 'admin', count: 7 },
      ],
    });
    const { bulkSetSeats } = await s.client.ok(mutations.bulkSetSeats, {
      input: {
        customerId: s.customerId,
        seats: [
          { featureCode: 'viewer', count: 2 },
          { featureCode: 'editor', count: 10 },
        ],
      },
    });
    expect(bulkSetSeats.map((e: any) => [e.featureCode, e.kind, e.previousBalance, e.newBalance])).toEqual([
      ['viewer', 'SET', 0, 2],
      ['editor', 'SET', 4, 10],
    ]);
    expect(new Set(bulkSetSeats.map((e: any) => e.ts)).size).toBe(1);
    const { seatBalances } = await s.client.ok(queries.seatBalances, { customerId: s.customerId });
    expect(Object.fromEntries(seatBalances.map((b: any) => [b.featureCode, b.current]))).toEqual({ admin: 7, editor: 10, viewer: 2 });
  });

  test.for([
    [
      'one entry over its limit',
      [
        { featureCode: 'editor', count: 9 },
        { featureCode: 'viewer', count: 3 },
      ],
      'seat_limit_exceeded',
      'seats.1.count',
    ],
    [
      'one unknown code',
      [
        { featureCode: 'editor', count: 9 },
        { featureCode: 'ghost', count: 1 },
      ],
      'feature_not_found',
      'seats.1.featureCode',
    ],
    [
      'one code outside the plan',
      [
        { featureCode: 'editor', count: 9 },
        { featureCode: 'auditor', count: 1 },
      ],
      'feature_not_in_plan',
      'seats.1.featureCode',
    ],
  ])('is atomic: %s fails the whole call', async ([_name, seats, code, param], { harness }) => {
    const s = await seatScenario(harness, {
      initialSeats: [
        { featureCode: 'editor', count: 1 },
        { featureCode: 'viewer', count: 1 },
      ],
    });
    const error = await s.client.fails(mutations.bulkSetSeats, { input: { customerId: s.customerId, seats } });
    expect(error.extensions).toMatchObject({ code, param });
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(1);
    expect(await balanceOf(harness, s.customerId, 'viewer')).toBe(1);
    expect(await expectLedgerWhole(harness, s.customerId, 'editor')).toHaveLength(1);
  });
});

describe('reads', () => {
  test('seatBalances lists every seat feature of the plan, zero balances included, with asOf at the start before any change', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 3 }] });
    const { customer } = await s.client.ok(/* GraphQL */ `query($id: String!) { customer(id: $id) { subscription { startAt } } }`, { id: s.customerId });
    const { seatBalances } = await s.client.ok(queries.seatBalances, { customerId: s.customer.id });
    expect(seatBalances).toEqual([
      {
        customerId: s.customerId,
        featureCode: 'admin',
        current: 0,
        includedSeats: null,
        unlimited: true,
        asOf: customer.subscription.startAt,
        livemode: false,
      },
      { customerId: s.customerId, featureCode: 'editor', current: 3, includedSeats: 5, unlimited: false, asOf: customer.subscription.startAt, livemode: false },
      { customerId: s.customerId, featureCode: 'viewer', current: 0, includedSeats: 2, unlimited: false, asOf: customer.subscription.startAt, livemode: false },
    ]);
  });

  test('customerId is the external id when there is one, else the cus_ id; both are accepted as input', async ({ harness }) => {
    const withExternal = await seatScenario(harness);
    const byOwnId = await withExternal.client.ok(mutations.addSeats, { input: { customerId: withExternal.customer.id, featureCode: 'editor', count: 1 } });
    expect(byOwnId.addSeats.customerId).toBe(withExternal.customer.externalId);

    const withoutExternal = await seatScenario(harness, { externalId: null });
    const { addSeats } = await withoutExternal.client.ok(mutations.addSeats, {
      input: { customerId: withoutExternal.customer.id, featureCode: 'editor', count: 1 },
    });
    expect(addSeats.customerId).toBe(withoutExternal.customer.id);
    expect(addSeats.customerId).toMatch(/^cus_/);
  });

  test('seatEvents pages newest first with opaque cursors and filters by feature', async ({ scenario: s }) => {
    const made: string[] = [];
    for (let i = 1; i <= 7; i++) {
      const featureCode = i % 2 ? 'editor' : 'admin';
      const { addSeats } = await s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode, count: i } });
      made.push(addSeats.id);
    }
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const { seatEvents }: any = await s.client.ok(queries.seatEvents, { customerId: s.customerId, first: 3, after });
      seen.push(...seatEvents.edges.map((edge: any) => edge.node.id));
      after = seatEvents.pageInfo.hasNextPage ? seatEvents.pageInfo.endCursor : null;
      pages++;
    } while (after);
    expect(pages).toBe(3);
    expect(seen).toEqual([...made].reverse());

    const { seatEvents } = await s.client.ok(queries.seatEvents, { customerId: s.customerId, featureCode: 'admin' });
    expect(seatEvents.edges.map((edge: any) => edge.node.count)).toEqual([6, 4, 2]);
    expect(seatEvents.pageInfo).toEqual({ hasNextPage: false, endCursor: seatEvents.edges[2].cursor });

    const unknown = await s.client.fails(queries.seatEvents, { customerId: s.customerId, featureCode: 'ghost' });
    expect(unknown.extensions.code).toBe('feature_not_found');
  });

  test('the default page is 25 events', async ({ scenario: s }) => {
    for (let i = 0; i < 26; i++) await s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'admin', count: 1 } });
    const { seatEvents } = await s.client.ok(queries.seatEvents, { customerId: s.customerId });
    expect(seatEvents.edges).toHaveLength(25);
    expect(seatEvents.pageInfo.hasNextPage).toBe(true);
  });

  test('Customer.seatBalance answers one balance, and field errors leave the rest of a batch intact', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 2 }] });
    const response = await s.client.run(
      /* GraphQL */ `query($ids: [String!]!) { customers(ids: $ids) { id editor: seatBalance(featureCode: "editor") { current } auditor: seatBalance(featureCode: "auditor") { current } } }`,
      { ids: [s.customerId, 'missing'] },
    );
    expect(response.data.customers).toEqual([{ id: s.customer.id, editor: { current: 2 }, auditor: null }, null]);
    expect(response.errors).toHaveLength(1);
    expect(response.errors![0]!.extensions.code).toBe('feature_not_in_plan');
    expect(response.errors![0]!.path).toEqual(['customers', 0, 'auditor']);
  });
});
