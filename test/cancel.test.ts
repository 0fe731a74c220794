import { describe, expect, test } from './fixtures.ts';
import { type Client, expectLedgerWhole, type Harness, holdBalancesOf, mutations, newTenant, queries, rest, waitUntil } from './helpers.ts';

// Cancelling a subscription, through the public doors, on test clocks: at period end (and
// resuming), immediately with its credits, the events told, idempotency, and a race.

const SUBSCRIPTION = 'id status cancelAtPeriodEnd endedAt currentPeriodStart currentPeriodEnd cancellation { reason comment requestedAt effectiveAt }';
const CHARGE = 'kind featureCode quantity unitPrice daysRemaining daysInPeriod periodStart periodEnd amount currency ts eventId';
const cancel = /* GraphQL */ `mutation($input: CancelSubscriptionInput!) { cancelSubscription(input: $input) { ${SUBSCRIPTION} } }`;
const resume = /* GraphQL */ `mutation($input: ResumeSubscriptionInput!) { resumeSubscription(input: $input) { ${SUBSCRIPTION} } }`;
const advance = /* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`;
const charges = /* GraphQL */ `query($customerId: String!) { seatCharges(customerId: $customerId) { ${CHARGE} } }`;
const invoice = /* GraphQL */ `query($customerId: String!) { upcomingInvoice(customerId: $customerId) { total lines { kind quantity amount } } }`;
const node = /* GraphQL */ `query($id: ID!) { node(id: $id) { ... on PlanSubscription { ${SUBSCRIPTION} } } }`;

/**
 * A test tenant whose clock stands at `startAt`, with a plan `team` (`interval`, editor: 5
 * included, `unitPrice` per extra seat) and a customer `co` subscribed from `startAt` with `seats` editors.
 */
async function cancelScenario(harness: Harness, options: { startAt: string; seats: number; interval?: 'MONTH' | 'YEAR'; unitPrice?: number }) {
  const { client } = await newTenant(harness, 'test');
  await client.ok(advance, { input: { to: options.startAt } });
  await client.ok(/* GraphQL */ `mutation { createFeature(input: { code: "editor", name: "Editor", type: SEATS }) { id } }`);
  await client.ok(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
    input: {
      code: 'team',
      name: 'Team',
      currency: 'EUR',
      interval: options.interval ?? 'MONTH',
      seatFeatures: [{ featureCode: 'editor', includedSeats: 5, overageEnabled: true, unitPrice: options.unitPrice ?? 3000 }],
    },
  });
  const { createCustomer } = await client.ok(/* GraphQL */ `mutation { createCustomer(input: { externalId: "co", name: "Co" }) { id } }`);
  const { createSubscription } = await client.ok(
    /* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { ${SUBSCRIPTION} } }`,
    {
      input: { customerId: 'co', planCode: 'team', startAt: options.startAt, initialSeats: [{ featureCode: 'editor', count: options.seats }] },
    },
  );
  const moveTo = (to: string) => client.ok(advance, { input: { to } });
  const seats = (op: 'addSeats' | 'removeSeats' | 'setSeats', count: number) =>
    client.run(mutations[op], { input: { customerId: 'co', featureCode: 'editor', count } });
  return { client, subscription: createSubscription, customerRowId: createCustomer.id as string, moveTo, seats };
}

const chargesOf = async (client: Client) => (await client.ok(charges, { customerId: 'co' })).seatCharges as Record<string, unknown>[];
const subscriptionOf = async (client: Client, id: string) => (await client.ok(node, { id })).node;

/** The outbox rows of the customer `co` of this client's tenant, oldest first. */
async function outboxOf(harness: Harness, subscriptionId: string) {
  return harness.orm.em
    .fork()
    .getConnection()
    .execute<{ type: string; feature_code: string; payload: any }[]>(
      `select o.type, o.feature_code, o.payload from outbox_event o join subscription s on s.customer_id = o.customer_id where s.id = ? order by o.seq`,
      [subscriptionId],
    );
}

describe('cancelling at period end', () => {
  test('keeps the subscription usable until the end; resumed, it renews normally', async ({ harness }) => {
    const { client, subscription, moveTo, seats } = await cancelScenario(harness, { startAt: '2030-01-01T00:00:00Z', seats: 7 });
    await moveTo('2030-01-11T00:00:00Z');

    const scheduled = (await client.ok(cancel, { input: { customerId: 'co', timing: 'AT_PERIOD_END', reason: 'TOO_EXPENSIVE', comment: 'Budget cut' } }))
      .cancelSubscription;
    expect(scheduled).toEqual({
      id: subscription.id,
      status: 'ACTIVE',
      cancelAtPeriodEnd: true,
      endedAt: null,
      currentPeriodStart: '2030-01-01T00:00:00.000Z',
      currentPeriodEnd: '2030-02-01T00:00:00.000Z',
      cancellation: { reason: 'TOO_EXPENSIVE', comment: 'Budget cut', requestedAt: '2030-01-11T00:00:00.000Z', effectiveAt: '2030-02-01T00:00:00.000Z' },
    });
    // Asked again, it changes nothing: the first reason stays.
    const again = (await client.ok(cancel, { input: { customerId: 'co', timing: 'AT_PERIOD_END', reason: 'OTHER' } })).cancelSubscription;
    expect(again).toEqual(scheduled);
    // No next advance is coming; seat changes still work and bill: 1 seat × 3000 × 21/31 = 2032.26.
    expect((await client.ok(invoice, { customerId: 'co' })).upcomingInvoice).toEqual({ total: 0, lines: [] });
    const added = await seats('addSeats', 1);
    expect(added.errors).toBeUndefined();
    expect((await client.ok(invoice, { customerId: 'co' })).upcomingInvoice).toEqual({ total: 2032, lines: [{ kind: 'TRUE_UP', quantity: 1, amount: 2032 }] });

    const resumed = (await client.ok(resume, { input: { customerId: 'co' } })).resumeSubscription;
    expect(resumed).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: false, cancellation: null, endedAt: null });
    const nothingScheduled = await client.fails(resume, { input: { customerId: 'co' } });
    expect(nothingScheduled.extensions).toMatchObject({ code: 'conflict', type: 'conflict_error', param: 'customerId' });
    expect(await subscriptionOf(client, subscription.id)).toEqual(resumed);

    // Renews normally on 1 February: 3 billable seats in advance.
    await moveTo('2030-02-02T00:00:00Z');
    expect(await subscriptionOf(client, subscription.id)).toMatchObject({
      status: 'ACTIVE',
      currentPeriodStart: '2030-02-01T00:00:00.000Z',
      currentPeriodEnd: '2030-03-01T00:00:00.000Z',
    });
    expect((await chargesOf(client)).map((c) => [c.kind, c.quantity, c.amount, c.periodStart])).toEqual([
      ['ADVANCE', 2, 6000, '2030-01-01T00:00:00.000Z'],
      ['TRUE_UP', 1, 2032, '2030-01-01T00:00:00.000Z'],
      ['ADVANCE', 3, 9000, '2030-02-01T00:00:00.000Z'],
    ]);
    expect((await outboxOf(harness, subscription.id)).filter((row) => row.type.startsWith('subscription.')).map((row) => [row.type, row.feature_code])).toEqual(
      [
        ['subscription.cancellation_scheduled', ''],
        ['subscription.cancellation_revoked', ''],
      ],
    );
  });

  test('crossing the end: CANCELED at the period end, no advance, seat changes refused, the ledger readable', async ({ harness }) => {
    const { client, subscription, customerRowId, moveTo, seats } = await cancelScenario(harness, { startAt: '2030-01-01T00:00:00Z', seats: 7 });
    await moveTo('2030-01-20T00:00:00Z');
    await client.ok(cancel, { input: { customerId: 'co', timing: 'AT_PERIOD_END', reason: 'UNUSED' } });
    expect((await seats('removeSeats', 1)).errors).toBeUndefined();

    await moveTo('2030-03-15T00:00:00Z');
    const ended = await subscriptionOf(client, subscription.id);
    expect(ended).toEqual({
      id: subscription.id,
      status: 'CANCELED',
      cancelAtPeriodEnd: false,
      endedAt: '2030-02-01T00:00:00.000Z',
      currentPeriodStart: '2030-01-01T00:00:00.000Z',
      currentPeriodEnd: '2030-02-01T00:00:00.000Z',
      cancellation: { reason: 'UNUSED', comment: null, requestedAt: '2030-01-20T00:00:00.000Z', effectiveAt: '2030-02-01T00:00:00.000Z' },
    });
    // Only the first advance: nothing was billed for February or March.
    expect((await chargesOf(client)).map((c) => [c.kind, c.amount])).toEqual([['ADVANCE', 6000]]);
    for (const op of ['addSeats', 'removeSeats', 'setSeats'] as const) {
      const refused = await seats(op, 1);
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'no_active_subscription', type: 'not_found_error' });
    }
    for (const call of [cancel, resume]) {
      const input = call === cancel ? { customerId: 'co', timing: 'IMMEDIATELY' } : { customerId: 'co' };
      expect((await client.fails(call, { input })).extensions).toMatchObject({ code: 'no_active_subscription', param: 'customerId' });
    }
    const ledger = (await client.ok(queries.seatEvents, { customerId: 'co' })).seatEvents.edges.map((edge: any) => [edge.node.kind, edge.node.newBalance]);
    expect(ledger).toEqual([
      ['REMOVE', 6],
      ['SET', 7],
    ]);
    await expectLedgerWhole(harness, customerRowId, 'editor');
    expect(await subscriptionOf(client, subscription.id)).toEqual(ended);
    // The balances stay readable as they were when it ended, through both doors.
    const held = { customerId: 'co', featureCode: 'editor', current: 6, includedSeats: 5, unlimited: false, asOf: '2030-01-20T00:00:00.000Z', livemode: false };
    expect((await client.ok(queries.seatBalances, { customerId: 'co' })).seatBalances).toEqual([held]);
    expect((await client.ok(queries.seatBalance, { customerId: 'co', featureCode: 'editor' })).seatBalance).toEqual(held);
    const listed = await client.ok(/* GraphQL */ `{ customers(ids: ["co"]) { seatBalances { current } seatBalance(featureCode: "editor") { current } } }`);
    expect(listed.customers).toEqual([{ seatBalances: [{ current: 6 }], seatBalance: { current: 6 } }]);
    expect((await rest(harness.yoga, client.key, 'GET', '/api/v1/seats/balances?customerId=co')).body).toEqual({
      success: true,
      data: { editor: { current: 6, asOf: '2030-01-20T00:00:00.000Z' }, object: 'seat', livemode: false },
    });
    expect((await rest(harness.yoga, client.key, 'GET', '/api/v1/seats/balance?customerId=co&featureCode=editor')).body).toEqual({
      success: true,
      data: { current: 6, asOf: '2030-01-20T00:00:00.000Z', object: 'seat', livemode: false },
    });
    const events = (await outboxOf(harness, subscription.id)).filter((row) => row.type.startsWith('subscription.'));
    expect(events.map((row) => row.type)).toEqual(['subscription.cancellation_scheduled', 'subscription.canceled']);
    expect(events[1]!.payload).toMatchObject({
      id: subscription.id,
      customerId: 'co',
      planCode: 'team',
      status: 'CANCELED',
      endedAt: '2030-02-01T00:00:00.000Z',
      livemode: false,
    });
  });
});

describe('cancelling immediately', () => {
  test('a month plan: credits the high-water mark for the days left, after a true-up and a decrease', async ({ harness }) => {
    const { client, subscription, moveTo, seats } = await cancelScenario(harness, { startAt: '2030-01-01T00:00:00Z', seats: 7 });
    await client.ok(cancel, { input: { customerId: 'co', timing: 'AT_PERIOD_END' } });
    await moveTo('2030-01-11T00:00:00Z');
    expect((await seats('addSeats', 3)).errors).toBeUndefined(); // billable 5: 3 × 3000 × 21/31 = 6096.77
    expect((await seats('removeSeats', 4)).errors).toBeUndefined(); // billable 1; the mark stays at 5
    await moveTo('2030-01-21T10:30:00Z');

    const canceled = (await client.ok(cancel, { input: { customerId: 'co', timing: 'IMMEDIATELY', reason: 'SWITCHED_SERVICE', comment: 'Moved' } }))
      .cancelSubscription;
    expect(canceled).toMatchObject({
      status: 'CANCELED',
      cancelAtPeriodEnd: false,
      endedAt: '2030-01-21T10:30:00.000Z',
      cancellation: { reason: 'SWITCHED_SERVICE', comment: 'Moved', requestedAt: '2030-01-21T10:30:00.000Z', effectiveAt: '2030-01-21T10:30:00.000Z' },
    });
    // 5 seats paid through the end, Jan 21..31: -(5 × 3000 × 11/31) = -5322.58.
    const all = await chargesOf(client);
    expect(all.map((c) => [c.kind, c.quantity, c.amount])).toEqual([
      ['ADVANCE', 2, 6000],
      ['TRUE_UP', 3, 6097],
      ['CREDIT', 5, -5323],
    ]);
    expect(all[2]).toEqual({
      kind: 'CREDIT',
      featureCode: 'editor',
      quantity: 5,
      unitPrice: 3000,
      daysRemaining: 11,
      daysInPeriod: 31,
      periodStart: '2030-01-01T00:00:00.000Z',
      periodEnd: '2030-02-01T00:00:00.000Z',
      amount: -5323,
      currency: 'EUR',
      ts: '2030-01-21T10:30:00.000Z',
      eventId: null,
    });
    expect((await seats('addSeats', 1)).errors?.[0]?.extensions).toMatchObject({ code: 'no_active_subscription' });
    expect((await client.fails(invoice, { customerId: 'co' })).extensions).toMatchObject({ code: 'no_active_subscription' });
    // Nothing more is billed when the period would have ended.
    await moveTo('2030-02-10T00:00:00Z');
    expect(await chargesOf(client)).toHaveLength(3);

    const events = await outboxOf(harness, subscription.id);
    expect(events.slice(-2).map((row) => [row.type, row.feature_code])).toEqual([
      ['charge.created', 'editor'],
      ['subscription.canceled', ''],
    ]);
    expect(events.at(-2)!.payload).toMatchObject({ kind: 'CREDIT', amount: -5323, quantity: 5 });
    expect(events.at(-1)!.payload).toMatchObject({ status: 'CANCELED', endedAt: '2030-01-21T10:30:00.000Z', cancellation: { reason: 'SWITCHED_SERVICE' } });
  });

  test('a month plan in a leap February: 29 days', async ({ harness }) => {
    const { client, moveTo } = await cancelScenario(harness, { startAt: '2028-02-01T00:00:00Z', seats: 7 });
    await moveTo('2028-02-15T23:59:59Z');
    await client.ok(cancel, { input: { customerId: 'co', timing: 'IMMEDIATELY' } });
    // 2 × 3000 × 15/29 = 3103.45: Feb 15..29.
    expect((await chargesOf(client)).at(-1)).toMatchObject({ kind: 'CREDIT', quantity: 2, daysRemaining: 15, daysInPeriod: 29, amount: -3103 });
  });

  test('a year plan across a leap day: 366 days', async ({ harness }) => {
    const { client, moveTo } = await cancelScenario(harness, { startAt: '2028-01-15T00:00:00Z', seats: 8, interval: 'YEAR', unitPrice: 10000 });
    await moveTo('2028-03-01T08:00:00Z');
    await client.ok(cancel, { input: { customerId: 'co', timing: 'IMMEDIATELY', reason: 'OTHER' } });
    // 3 × 10000 × 320/366 = 26229.51: Mar 1 2028 .. Jan 14 2029.
    expect((await chargesOf(client)).map((c) => [c.kind, c.quantity, c.daysRemaining, c.daysInPeriod, c.amount])).toEqual([
      ['ADVANCE', 3, 366, 366, 30000],
      ['CREDIT', 3, 320, 366, -26230],
    ]);
  });

  test('no credit when no seat was paid for', async ({ harness }) => {
    const { client } = await cancelScenario(harness, { startAt: '2030-01-01T00:00:00Z', seats: 5 });
    const canceled = (await client.ok(cancel, { input: { customerId: 'co', timing: 'IMMEDIATELY' } })).cancelSubscription;
    expect(canceled.status).toBe('CANCELED');
    expect(await chargesOf(client)).toEqual([]);
  });
});

describe('subscribing again after the end', () => {
  const subscribe = /* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { ${SUBSCRIPTION} planCode } }`;
  const customerSubscription = /* GraphQL */ `{ customer(id: "co") { subscription { id status planCode endedAt } } }`;
  const ledger = async (client: Client, featureCode: string) =>
    (await client.ok(queries.seatEvents, { customerId: 'co', featureCode })).seatEvents.edges.map((edge: any) => [
      edge.node.kind,
      edge.node.previousBalance,
      edge.node.newBalance,
      edge.node.ts,
    ]);

  test('the same plan: the balance carries on from where it ended, billed in advance, the old charges kept', async ({ harness }) => {
    const { client, subscription, customerRowId, moveTo, seats } = await cancelScenario(harness, { startAt: '2030-01-01T00:00:00Z', seats: 7 });
    await moveTo('2030-01-21T00:00:00Z');
    await client.ok(cancel, { input: { customerId: 'co', timing: 'IMMEDIATELY' } });
    // Ended: Customer.subscription shows the one that ended.
    expect((await client.ok(customerSubscription)).customer.subscription).toEqual({
      id: subscription.id,
      status: 'CANCELED',
      planCode: 'team',
      endedAt: '2030-01-21T00:00:00.000Z',
    });
    // Not before the end of the previous one: the ledger runs forward.
    const early = await client.fails(subscribe, { input: { customerId: 'co', planCode: 'team', startAt: '2030-01-20T00:00:00Z' } });
    expect(early.extensions).toMatchObject({ code: 'validation_error', param: 'startAt' });

    await moveTo('2030-01-25T00:00:00Z');
    const again = (await client.ok(subscribe, { input: { customerId: 'co', planCode: 'team', initialSeats: [{ featureCode: 'editor', count: 9 }] } }))
      .createSubscription;
    expect(again).toMatchObject({
      status: 'ACTIVE',
      planCode: 'team',
      currentPeriodStart: '2030-01-25T00:00:00.000Z',
      currentPeriodEnd: '2030-02-25T00:00:00.000Z',
      endedAt: null,
    });
    expect(again.id).not.toBe(subscription.id);
    expect((await client.ok(customerSubscription)).customer.subscription).toMatchObject({ id: again.id, status: 'ACTIVE' });
    expect(await ledger(client, 'editor')).toEqual([
      ['SET', 7, 9, '2030-01-25T00:00:00.000Z'],
      ['SET', 0, 7, '2030-01-01T00:00:00.000Z'],
    ]);
    await expectLedgerWhole(harness, customerRowId, 'editor');
    // Seat changes work again, priced in the new period: Jan 25..Feb 24, all 31 days.
    expect((await seats('addSeats', 1)).errors).toBeUndefined();
    // The first life's advance and credit (2 × 3000 × 11/31 = 2129.03), then the second's advance (4 × 3000) and true-up.
    expect((await chargesOf(client)).map((c) => [c.kind, c.quantity, c.periodStart, c.amount])).toEqual([
      ['ADVANCE', 2, '2030-01-01T00:00:00.000Z', 6000],
      ['CREDIT', 2, '2030-01-01T00:00:00.000Z', -2129],
      ['ADVANCE', 4, '2030-01-25T00:00:00.000Z', 12000],
      ['TRUE_UP', 1, '2030-01-25T00:00:00.000Z', 3000],
    ]);
    expect(await subscriptionOf(client, subscription.id)).toMatchObject({ status: 'CANCELED', endedAt: '2030-01-21T00:00:00.000Z' });
    await expectLedgerWhole(harness, customerRowId, 'editor');

    // An active subscription, one with a cancellation scheduled included, still refuses another.
    expect((await client.fails(subscribe, { input: { customerId: 'co', planCode: 'team' } })).extensions).toMatchObject({ code: 'conflict' });
    await client.ok(cancel, { input: { customerId: 'co', timing: 'AT_PERIOD_END' } });
    expect((await client.fails(subscribe, { input: { customerId: 'co', planCode: 'team' } })).extensions).toMatchObject({ code: 'conflict' });
    // Ended at its period end, it may subscribe once more, and the chain stays whole across all three.
    await moveTo('2030-03-01T00:00:00Z');
    await client.ok(subscribe, { input: { customerId: 'co', planCode: 'team' } });
    expect((await ledger(client, 'editor'))[0]).toEqual(['SET', 10, 0, '2030-03-01T00:00:00.000Z']);
    await expectLedgerWhole(harness, customerRowId, 'editor');
  });

  test('another plan: a feature not listed goes to 0 by a SET from its last count; a feature new to the customer starts fresh', async ({ harness }) => {
    const { client, customerRowId, moveTo } = await cancelScenario(harness, { startAt: '2030-01-01T00:00:00Z', seats: 7 });
    await client.ok(/* GraphQL */ `mutation { createFeature(input: { code: "viewer", name: "Viewer", type: SEATS }) { id } }`);
    await client.ok(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
      input: {
        code: 'pro',
        name: 'Pro',
        currency: 'EUR',
        interval: 'MONTH',
        seatFeatures: [
          { featureCode: 'editor', includedSeats: 2, overageEnabled: true, unitPrice: 1000 },
          { featureCode: 'viewer', includedSeats: 0, overageEnabled: true, unitPrice: 500 },
        ],
      },
    });
    await moveTo('2030-01-11T00:00:00Z');
    await client.ok(cancel, { input: { customerId: 'co', timing: 'IMMEDIATELY' } });
    await client.ok(subscribe, { input: { customerId: 'co', planCode: 'pro', initialSeats: [{ featureCode: 'viewer', count: 3 }] } });
    // editor is not listed: it starts at 0 (SET 7 → 0, nothing billed); viewer is new: 3 × 500.
    expect((await client.ok(queries.seatBalances, { customerId: 'co' })).seatBalances.map((b: any) => [b.featureCode, b.current, b.includedSeats])).toEqual([
      ['editor', 0, 2],
      ['viewer', 3, 0],
    ]);
    expect(await ledger(client, 'editor')).toEqual([
      ['SET', 7, 0, '2030-01-11T00:00:00.000Z'],
      ['SET', 0, 7, '2030-01-01T00:00:00.000Z'],
    ]);
    expect(await ledger(client, 'viewer')).toEqual([['SET', 0, 3, '2030-01-11T00:00:00.000Z']]);
    // 2 × 3000 × 21/31 = 4064.52 back for January 11..31.
    expect((await chargesOf(client)).map((c) => [c.kind, c.featureCode, c.quantity, c.amount])).toEqual([
      ['ADVANCE', 'editor', 2, 6000],
      ['CREDIT', 'editor', 2, -4065],
      ['ADVANCE', 'viewer', 3, 1500],
    ]);
    await expectLedgerWhole(harness, customerRowId, 'editor');
    await expectLedgerWhole(harness, customerRowId, 'viewer');
  });
});

describe('refusals change nothing', () => {
  test('a comment over 500 characters, an unknown customer, no subscription', async ({ harness }) => {
    const { client, subscription } = await cancelScenario(harness, { startAt: '2030-01-01T00:00:00Z', seats: 7 });
    const long = await client.fails(cancel, { input: { customerId: 'co', timing: 'IMMEDIATELY', comment: 'x'.repeat(501) } });
    expect(long.extensions).toMatchObject({ code: 'validation_error', param: 'comment' });
    expect(
      (await client.ok(cancel, { input: { customerId: 'co', timing: 'AT_PERIOD_END', comment: 'y'.repeat(500) } })).cancelSubscription.cancellation.comment,
    ).toHaveLength(500);
    await client.ok(resume, { input: { customerId: 'co' } });
    const unknown = await client.fails(cancel, { input: { customerId: 'nobody', timing: 'IMMEDIATELY' } });
    expect(unknown.extensions).toMatchObject({ code: 'customer_not_found' });
    await client.ok(/* GraphQL */ `mutation { createCustomer(input: { externalId: "bare", name: "Bare" }) { id } }`);
    expect((await client.fails(cancel, { input: { customerId: 'bare', timing: 'AT_PERIOD_END' } })).extensions).toMatchObject({
      code: 'no_active_subscription',
    });
    expect((await client.fails(resume, { input: { customerId: 'bare' } })).extensions).toMatchObject({ code: 'no_active_subscription' });
    expect(await subscriptionOf(client, subscription.id)).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: false, cancellation: null });
    expect(await chargesOf(client)).toHaveLength(1);
  });
});

describe('idempotency', () => {
  test('a repeated key returns the subscription and records nothing; another input answers idempotency_key_mismatch', async ({ harness }) => {
    const { client, subscription, moveTo } = await cancelScenario(harness, { startAt: '2030-01-01T00:00:00Z', seats: 7 });
    await moveTo('2030-01-11T00:00:00Z');
    const input = { customerId: 'co', timing: 'IMMEDIATELY', reason: 'UNUSED', idempotencyKey: 'cancel-1' };
    const first = (await client.ok(cancel, { input })).cancelSubscription;
    const repeat = (await client.ok(cancel, { input: { ...input, customerId: 'co' } })).cancelSubscription;
    expect(repeat).toEqual(first);
    expect((await chargesOf(client)).filter((c) => c.kind === 'CREDIT')).toHaveLength(1);
    const mismatch = await client.fails(cancel, { input: { ...input, timing: 'AT_PERIOD_END' } });
    expect(mismatch.extensions).toMatchObject({ code: 'idempotency_key_mismatch', param: 'idempotencyKey' });
    const otherOperation = await client.fails(resume, { input: { customerId: 'co', idempotencyKey: 'cancel-1' } });
    expect(otherOperation.extensions).toMatchObject({ code: 'idempotency_key_mismatch' });
    expect((await outboxOf(harness, subscription.id)).filter((row) => row.type === 'subscription.canceled')).toHaveLength(1);
  });

  test('resume with a key: a repeat after the cancellation was scheduled again returns, and changes, nothing', async ({ harness }) => {
    const { client, subscription } = await cancelScenario(harness, { startAt: '2030-01-01T00:00:00Z', seats: 7 });
    await client.ok(cancel, { input: { customerId: 'co', timing: 'AT_PERIOD_END', idempotencyKey: 'c-1' } });
    await client.ok(resume, { input: { customerId: 'co', idempotencyKey: 'r-1' } });
    await client.ok(cancel, { input: { customerId: 'co', timing: 'AT_PERIOD_END', idempotencyKey: 'c-2' } });
    const repeat = (await client.ok(resume, { input: { customerId: 'co', idempotencyKey: 'r-1' } })).resumeSubscription;
    expect(repeat).toMatchObject({ cancelAtPeriodEnd: true });
    expect((await outboxOf(harness, subscription.id)).filter((row) => row.type.startsWith('subscription.')).map((row) => row.type)).toEqual([
      'subscription.cancellation_scheduled',
      'subscription.cancellation_revoked',
      'subscription.cancellation_scheduled',
    ]);
  });
});

describe('races', () => {
  test('a seat change that waited for the balances while the subscription ended answers no_active_subscription and records nothing', async ({ harness }) => {
    // What a cancel does: hold the customer's balances, end the subscription, commit. A change
    // that queued on those balances must see the subscription as the cancel left it, not as its
    // own statement first read it.
    const { client, subscription, customerRowId, moveTo, seats } = await cancelScenario(harness, { startAt: '2030-01-01T00:00:00Z', seats: 5 });
    await moveTo('2030-01-16T00:00:00Z');
    const hold = await holdBalancesOf(customerRowId);
    const change = seats('addSeats', 1);
    await waitUntil(async () => (await hold.waiters()) === 1, 'the seat change to wait for the balances');
    await hold.run(
      `update subscription set status = 'CANCELED', ended_at = now(), cancellation_requested_at = now(), cancellation_effective_at = now() where id = $1`,
      [subscription.id],
    );
    await hold.release();
    expect((await change).errors?.[0]?.extensions).toMatchObject({ code: 'no_active_subscription' });
    expect(await expectLedgerWhole(harness, customerRowId, 'editor')).toHaveLength(1);
    // 5 seats, 5 included: nothing was billed, and the refused change billed nothing either.
    expect(await chargesOf(client)).toEqual([]);
  });

  test('a seat change that waited for the balances while the plan changed runs again on the new plan', async ({ harness }) => {
    // What an immediate plan change does to the subscription row, under the same balance locks.
    const { client, subscription, customerRowId, moveTo, seats } = await cancelScenario(harness, { startAt: '2030-01-01T00:00:00Z', seats: 5 });
    const { createPlan } = await client.ok(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
      input: {
        code: 'pro',
        name: 'Pro',
        currency: 'EUR',
        interval: 'MONTH',
        seatFeatures: [{ featureCode: 'editor', includedSeats: 5, overageEnabled: true, unitPrice: 5000 }],
      },
    });
    await moveTo('2030-01-16T00:00:00Z');
    const hold = await holdBalancesOf(customerRowId);
    const change = seats('addSeats', 1);
    await waitUntil(async () => (await hold.waiters()) === 1, 'the seat change to wait for the balances');
    await hold.run('update subscription set plan_id = $1 where id = $2', [createPlan.id, subscription.id]);
    await hold.release();
    expect((await change).errors).toBeUndefined();
    expect(await expectLedgerWhole(harness, customerRowId, 'editor')).toHaveLength(2);
    // Billed on the plan in force when it ran: 1 seat × 5000 × 16/31 days.
    expect(await chargesOf(client)).toMatchObject([{ kind: 'TRUE_UP', quantity: 1, unitPrice: 5000, amount: Math.round((5000 * 16) / 31) }]);
  });

  test('a cancel racing 50 seat changes: nothing lost, the chain whole, the credit covers every seat paid', async ({ harness }) => {
    const { client, subscription, customerRowId, moveTo, seats } = await cancelScenario(harness, { startAt: '2030-01-01T00:00:00Z', seats: 5 });
    await moveTo('2030-01-16T00:00:00Z');
    const changes = Array.from({ length: 50 }, () => seats('addSeats', 1));
    const canceled = client.run(cancel, { input: { customerId: 'co', timing: 'IMMEDIATELY' } });
    const [results, cancelResult] = await Promise.all([Promise.all(changes), canceled]);
    expect(cancelResult.errors).toBeUndefined();
    const applied = results.filter((r) => !r.errors);
    for (const refused of results.filter((r) => r.errors)) expect(refused.errors![0]!.extensions).toMatchObject({ code: 'no_active_subscription' });
    const ledger = await expectLedgerWhole(harness, customerRowId, 'editor');
    expect(ledger).toHaveLength(1 + applied.length);
    expect(ledger.at(-1)!.new_balance).toBe(5 + applied.length);
    // Every seat charged for this period is credited for the same days left.
    const all = await chargesOf(client);
    const credits = all.filter((c) => c.kind === 'CREDIT');
    expect(credits).toHaveLength(applied.length > 0 ? 1 : 0);
    if (applied.length > 0)
      expect(credits[0]).toMatchObject({ quantity: applied.length, daysRemaining: 16, amount: -Math.round((applied.length * 3000 * 16) / 31) });
    expect(await subscriptionOf(client, subscription.id)).toMatchObject({ status: 'CANCELED' });
  });
});
