import { describe, expect, test } from './fixtures.ts';
import { type Client, expectLedgerWhole, type Harness, mutations, newTenant, queries } from './helpers.ts';

// Changing a subscription's plan, through GraphQL, on test clocks: AUTO's decisions, immediate
// changes with their credits and charges, refusals that change nothing, scheduled changes shown,
// revoked and applied by the renewal, the preview, the events told, and idempotency.

const WARNINGS = 'seatLimitWarnings { featureCode current limit }';
const SUBSCRIPTION = `id planCode status billingAnchor currentPeriodStart currentPeriodEnd cancelAtPeriodEnd scheduledPlanChange { planCode effectiveAt requestedAt ${WARNINGS} }`;
const CHARGE = 'kind featureCode quantity unitPrice daysRemaining daysInPeriod periodStart periodEnd amount currency ts';
const changePlan = /* GraphQL */ `mutation($input: ChangePlanInput!) { changePlan(input: $input) { ${SUBSCRIPTION} } }`;
const revoke = /* GraphQL */ `mutation($input: RevokeScheduledPlanChangeInput!) { revokeScheduledPlanChange(input: $input) { ${SUBSCRIPTION} } }`;
const preview = /* GraphQL */ `query($input: PreviewPlanChangeInput!) {
  previewPlanChange(input: $input) { customerId currentPlanCode planCode timing effectiveAt currency total ${WARNINGS} charges { ${CHARGE} } livemode }
}`;
const cancel = /* GraphQL */ `mutation($input: CancelSubscriptionInput!) { cancelSubscription(input: $input) { id cancelAtPeriodEnd } }`;
const advance = /* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`;
const charges = /* GraphQL */ `query($customerId: String!) { seatCharges(customerId: $customerId) { ${CHARGE} } }`;
const subscriptionQuery = /* GraphQL */ `query($id: String!) { customer(id: $id) { subscription { ${SUBSCRIPTION} } } }`;

type Seat = { featureCode: string; includedSeats: number; unitPrice: number; minimumSeats?: number; maximumSeats?: number | null; overageEnabled?: boolean };
type PlanSpec = { code: string; interval: 'MONTH' | 'YEAR'; currency?: string; seats: Seat[] };

/**
 * The catalog every test shares (features editor and viewer, EUR unless said):
 * - team: monthly, editor 5 included at 3000 per extra seat;
 * - business: monthly, editor 2 included at 5000, viewer 1 included at 100 with at least 1;
 * - starter: monthly, editor 5 included at 1000, at most 8;
 * - capped: monthly, editor 10 included without overage;
 * - viewers: monthly, viewer only;
 * - team_yearly: yearly, editor 5 included at 30000; pro_yearly: yearly, editor 2 included at 40000;
 * - dollars: monthly, in USD.
 */
const catalog: PlanSpec[] = [
  { code: 'team', interval: 'MONTH', seats: [{ featureCode: 'editor', includedSeats: 5, unitPrice: 3000 }] },
  {
    code: 'business',
    interval: 'MONTH',
    seats: [
      { featureCode: 'editor', includedSeats: 2, unitPrice: 5000 },
      { featureCode: 'viewer', includedSeats: 1, unitPrice: 100, minimumSeats: 1 },
    ],
  },
  { code: 'starter', interval: 'MONTH', seats: [{ featureCode: 'editor', includedSeats: 5, unitPrice: 1000, maximumSeats: 8 }] },
  { code: 'capped', interval: 'MONTH', seats: [{ featureCode: 'editor', includedSeats: 10, unitPrice: 0, overageEnabled: false }] },
  { code: 'viewers', interval: 'MONTH', seats: [{ featureCode: 'viewer', includedSeats: 3, unitPrice: 100 }] },
  { code: 'team_yearly', interval: 'YEAR', seats: [{ featureCode: 'editor', includedSeats: 5, unitPrice: 30000 }] },
  { code: 'pro_yearly', interval: 'YEAR', seats: [{ featureCode: 'editor', includedSeats: 2, unitPrice: 40000 }] },
  { code: 'dollars', interval: 'MONTH', currency: 'USD', seats: [{ featureCode: 'editor', includedSeats: 5, unitPrice: 3000 }] },
];

/** A test tenant with the catalog, its clock at `startAt`, and customer `co` on `plan` from then with `editors` editors. */
async function planScenario(harness: Harness, options: { startAt: string; plan: string; editors: number }) {
  const { client } = await newTenant(harness, 'test');
  await client.ok(advance, { input: { to: options.startAt } });
  for (const code of ['editor', 'viewer']) {
    await client.ok(/* GraphQL */ `mutation($input: CreateFeatureInput!) { createFeature(input: $input) { id } }`, {
      input: { code, name: code, type: 'SEATS' },
    });
  }
  for (const plan of catalog) {
    await client.ok(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
      input: {
        code: plan.code,
        name: plan.code,
        currency: plan.currency ?? 'EUR',
        interval: plan.interval,
        seatFeatures: plan.seats.map(({ overageEnabled, ...seat }) => ({ ...seat, overageEnabled: overageEnabled ?? true })),
      },
    });
  }
  const { createCustomer } = await client.ok(/* GraphQL */ `mutation { createCustomer(input: { externalId: "co", name: "Co" }) { id } }`);
  await client.ok(/* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`, {
    input: { customerId: 'co', planCode: options.plan, startAt: options.startAt, initialSeats: [{ featureCode: 'editor', count: options.editors }] },
  });
  const moveTo = (to: string) => client.ok(advance, { input: { to } });
  const setEditors = (count: number) => client.ok(mutations.setSeats, { input: { customerId: 'co', featureCode: 'editor', count } });
  return { client, customerRowId: createCustomer.id as string, moveTo, setEditors };
}

const chargesOf = async (client: Client) => (await client.ok(charges, { customerId: 'co' })).seatCharges as Record<string, any>[];
const subscriptionOf = async (client: Client) => (await client.ok(subscriptionQuery, { id: 'co' })).customer.subscription;
const balancesOf = async (client: Client) =>
  Object.fromEntries(
    ((await client.ok(queries.seatBalances, { customerId: 'co' })).seatBalances as { featureCode: string; current: number }[]).map((b) => [
      b.featureCode,
      b.current,
    ]),
  );

/** Everything a refused call must leave alone: the subscription, balances, ledger, charges and outbox of the customer. */
async function stateOf(harness: Harness, client: Client, customerRowId: string) {
  const [outbox] = await harness.orm.em
    .fork()
    .getConnection()
    .execute<{ n: number }[]>('select count(*)::int as n from outbox_event where customer_id = ?', [customerRowId]);
  return {
    subscription: await subscriptionOf(client),
    balances: await balancesOf(client),
    ledger: (await client.ok(queries.seatEvents, { customerId: 'co', first: 100 })).seatEvents.edges.length,
    charges: await chargesOf(client),
    outbox: outbox!.n,
  };
}

/** The subscription events told for the customer, oldest first. */
async function subscriptionEventsOf(harness: Harness, customerRowId: string) {
  return harness.orm.em
    .fork()
    .getConnection()
    .execute<{ type: string; payload: any }[]>(`select type, payload from outbox_event where customer_id = ? and type like 'subscription.%' order by seq`, [
      customerRowId,
    ]);
}

// The rule, computed here on its own: UTC calendar days, and q × price × days / daysInPeriod rounded half up once.
const dayNumber = (iso: string) => Math.floor(Date.parse(iso) / 86_400_000);
/** UTC days from the day of `from` through the day before `endExclusive` (the period's last day when it ends at midnight). */
const daysFromThrough = (from: string, endExclusive: string) => dayNumber(endExclusive) - 1 - dayNumber(from) + 1;
const prorated = (quantity: number, unitPrice: number, remaining: number, inPeriod: number) => {
  const numerator = BigInt(quantity) * BigInt(unitPrice) * BigInt(remaining);
  return Number((2n * numerator + BigInt(inPeriod)) / (2n * BigInt(inPeriod)));
};

describe('AUTO', () => {
  test.for([
    { name: 'a longer interval applies now', from: 'team', to: 'team_yearly', timing: 'IMMEDIATELY' },
    { name: 'a shorter interval at the period end', from: 'team_yearly', to: 'team', timing: 'AT_PERIOD_END' },
    // 7 editors: team 2 × 3000 = 6000 per month; business 5 × 5000 + 0 viewers billable = 25000.
    { name: 'a higher price at the same interval applies now', from: 'team', to: 'business', timing: 'IMMEDIATELY' },
    // starter: 2 × 1000 = 2000, lower.
    { name: 'a lower price at the same interval at the period end', from: 'team', to: 'starter', timing: 'AT_PERIOD_END' },
    // capped: no overage, so 0; team with 5 editors: 0 too. Equal: at the period end.
    { name: 'an equal price at the period end', from: 'team', to: 'capped', timing: 'AT_PERIOD_END', editors: 5 },
  ])('$name', async ({ from, to, timing, editors }, { harness }) => {
    const { client } = await planScenario(harness, { startAt: '2030-01-01T00:00:00Z', plan: from, editors: editors ?? 7 });
    await client.ok(advance, { input: { to: '2030-01-11T00:00:00Z' } });
    const previewed = (await client.ok(preview, { input: { customerId: 'co', planCode: to } })).previewPlanChange;
    expect(previewed.timing).toBe(timing);
    const changed = (await client.ok(changePlan, { input: { customerId: 'co', planCode: to } })).changePlan;
    if (timing === 'IMMEDIATELY') {
      expect(changed).toMatchObject({ planCode: to, scheduledPlanChange: null });
    } else {
      expect(changed).toMatchObject({ planCode: from, scheduledPlanChange: { planCode: to, effectiveAt: changed.currentPeriodEnd } });
    }
  });
});

describe('an immediate change', () => {
  test('in a leap February: the credit of the period mark, the new plan for the days left, balances carried, marks reset', async ({ harness }) => {
    const { client, customerRowId, moveTo, setEditors } = await planScenario(harness, { startAt: '2028-02-01T00:00:00Z', plan: 'team', editors: 7 });
    await moveTo('2028-02-10T12:00:00Z');
    await setEditors(8);
    // Down again: the mark stays at 3 paid seats through the period's end.
    await setEditors(6);
    await moveTo('2028-02-20T08:00:00Z');

    const before = await chargesOf(client);
    const changed = (await client.ok(changePlan, { input: { customerId: 'co', planCode: 'business', timing: 'IMMEDIATELY' } })).changePlan;
    expect(changed).toMatchObject({
      planCode: 'business',
      billingAnchor: '2028-02-01T00:00:00.000Z',
      currentPeriodStart: '2028-02-01T00:00:00.000Z',
      currentPeriodEnd: '2028-03-01T00:00:00.000Z',
      scheduledPlanChange: null,
    });
    const inPeriod = daysFromThrough('2028-02-01T00:00:00Z', '2028-03-01T00:00:00Z');
    const remaining = daysFromThrough('2028-02-20T08:00:00Z', '2028-03-01T00:00:00Z');
    expect([inPeriod, remaining]).toEqual([29, 10]);
    const period = { periodStart: '2028-02-01T00:00:00.000Z', periodEnd: '2028-03-01T00:00:00.000Z', currency: 'EUR', ts: '2028-02-20T08:00:00.000Z' };
    const added = (await chargesOf(client)).slice(before.length);
    expect(added).toEqual([
      // The mark: 3 seats paid (8 held at most, 5 included), at team's price.
      {
        kind: 'CREDIT',
        featureCode: 'editor',
        quantity: 3,
        unitPrice: 3000,
        daysRemaining: remaining,
        daysInPeriod: inPeriod,
        amount: -prorated(3, 3000, remaining, inPeriod),
        ...period,
      },
      // Today's 6 editors under business: 4 billable at 5000; viewer starts at its minimum 1, all included.
      {
        kind: 'PLAN_CHANGE',
        featureCode: 'editor',
        quantity: 4,
        unitPrice: 5000,
        daysRemaining: remaining,
        daysInPeriod: inPeriod,
        amount: prorated(4, 5000, remaining, inPeriod),
        ...period,
      },
    ]);
    expect(added.map((c) => c.amount)).toEqual([-3103, 6897]);
    expect(await balancesOf(client)).toEqual({ editor: 6, viewer: 1 });
    const viewerLedger = (await client.ok(queries.seatEvents, { customerId: 'co', featureCode: 'viewer' })).seatEvents.edges.map((e: any) => e.node);
    expect(viewerLedger).toMatchObject([{ kind: 'SET', previousBalance: 0, newBalance: 1, ts: '2028-02-20T08:00:00.000Z' }]);
    await expectLedgerWhole(harness, customerRowId, 'editor');

    // The mark is 4 now: a 5th billable seat is a true-up at business's price, the 4 already paid are not.
    await setEditors(7);
    const trueUp = (await chargesOf(client)).at(-1);
    expect(trueUp).toMatchObject({ kind: 'TRUE_UP', quantity: 1, unitPrice: 5000, amount: prorated(1, 5000, remaining, inPeriod) });
    // The renewal bills March on business: 5 editors billable, viewer included.
    await moveTo('2028-03-01T00:00:00Z');
    expect((await chargesOf(client)).at(-1)).toMatchObject({
      kind: 'ADVANCE',
      quantity: 5,
      unitPrice: 5000,
      amount: 25000,
      periodStart: '2028-03-01T00:00:00.000Z',
    });

    const told = await subscriptionEventsOf(harness, customerRowId);
    expect(told.map((row) => row.type)).toEqual(['subscription.plan_changed']);
    expect(told[0]!.payload).toMatchObject({ planCode: 'business', customerId: 'co', scheduledPlanChange: null, livemode: false });
  });

  test('on year plans, across a leap day: the days of the year period', async ({ harness }) => {
    const { client, moveTo } = await planScenario(harness, { startAt: '2031-06-01T00:00:00Z', plan: 'team_yearly', editors: 9 });
    await moveTo('2032-01-10T15:30:00Z');
    const before = (await chargesOf(client)).length;
    await client.ok(changePlan, { input: { customerId: 'co', planCode: 'pro_yearly', timing: 'AUTO' } });
    const inPeriod = daysFromThrough('2031-06-01T00:00:00Z', '2032-06-01T00:00:00Z');
    const remaining = daysFromThrough('2032-01-10T15:30:00Z', '2032-06-01T00:00:00Z');
    expect([inPeriod, remaining]).toEqual([366, 143]);
    expect((await chargesOf(client)).slice(before).map((c) => [c.kind, c.quantity, c.unitPrice, c.daysRemaining, c.daysInPeriod, c.amount])).toEqual([
      ['CREDIT', 4, 30000, remaining, inPeriod, -prorated(4, 30000, remaining, inPeriod)],
      ['PLAN_CHANGE', 7, 40000, remaining, inPeriod, prorated(7, 40000, remaining, inPeriod)],
    ]);
  });

  test('to a longer interval: the old month credited, the new year starting now and charged whole', async ({ harness }) => {
    const { client, moveTo } = await planScenario(harness, { startAt: '2030-01-01T00:00:00Z', plan: 'team', editors: 7 });
    await moveTo('2030-01-11T09:00:00Z');
    const previewed = (await client.ok(preview, { input: { customerId: 'co', planCode: 'team_yearly' } })).previewPlanChange;
    const changed = (await client.ok(changePlan, { input: { customerId: 'co', planCode: 'team_yearly' } })).changePlan;
    expect(changed).toMatchObject({
      planCode: 'team_yearly',
      billingAnchor: '2030-01-11T09:00:00.000Z',
      currentPeriodStart: '2030-01-11T09:00:00.000Z',
      currentPeriodEnd: '2031-01-11T09:00:00.000Z',
    });
    const oldRemaining = daysFromThrough('2030-01-11T09:00:00Z', '2030-02-01T00:00:00Z');
    // The year runs from 11 January 09:00 to 11 January 09:00: it touches 366 calendar days, all charged.
    const yearDays = dayNumber('2031-01-11T09:00:00Z') - dayNumber('2030-01-11T09:00:00Z') + 1;
    const added = (await chargesOf(client)).slice(1);
    expect(added.map((c) => [c.kind, c.quantity, c.daysRemaining, c.daysInPeriod, c.amount, c.periodStart])).toEqual([
      ['CREDIT', 2, oldRemaining, 31, -prorated(2, 3000, oldRemaining, 31), '2030-01-01T00:00:00.000Z'],
      ['PLAN_CHANGE', 2, yearDays, yearDays, 2 * 30000, '2030-01-11T09:00:00.000Z'],
    ]);
    expect(previewed).toMatchObject({ timing: 'IMMEDIATELY', effectiveAt: '2030-01-11T09:00:00.000Z', total: added[0]!.amount + added[1]!.amount });
    expect(previewed.charges).toEqual(added);

    // The next renewal comes a year on, counted from the change.
    await moveTo('2031-01-11T09:00:00Z');
    expect((await chargesOf(client)).at(-1)).toMatchObject({ kind: 'ADVANCE', quantity: 2, amount: 60000, periodStart: '2031-01-11T09:00:00.000Z' });
    expect(await subscriptionOf(client)).toMatchObject({ currentPeriodStart: '2031-01-11T09:00:00.000Z', currentPeriodEnd: '2032-01-11T09:00:00.000Z' });
  });
});

describe('refusals change nothing', () => {
  test.for([
    {
      name: 'a feature holding seats that the new plan lacks',
      input: { planCode: 'viewers', timing: 'IMMEDIATELY' },
      error: { code: 'feature_not_in_plan', type: 'billing_error', param: 'planCode', details: [{ featureCode: 'editor' }] },
    },
    {
      name: "a balance above the new plan's maximum",
      input: { planCode: 'starter', timing: 'IMMEDIATELY' },
      error: { code: 'seat_limit_exceeded', param: 'planCode', details: [{ featureCode: 'editor', limit: 'MAXIMUM', value: 8 }] },
    },
    {
      name: 'a balance above the included seats of a plan without overage',
      input: { planCode: 'capped', timing: 'IMMEDIATELY' },
      error: { code: 'seat_limit_exceeded', param: 'planCode', details: [{ featureCode: 'editor', limit: 'MAXIMUM', value: 10 }] },
    },
    { name: 'another currency', input: { planCode: 'dollars' }, error: { code: 'validation_error', param: 'planCode' } },
    { name: 'the same plan', input: { planCode: 'team' }, error: { code: 'validation_error', param: 'planCode' } },
    { name: 'an unknown plan', input: { planCode: 'nope' }, error: { code: 'plan_not_found', type: 'not_found_error', param: 'planCode' } },
    { name: 'a malformed plan code', input: { planCode: 'Not A Code' }, error: { code: 'validation_error', param: 'planCode' } },
  ])('$name', async ({ input, error }, { harness }) => {
    const { client, customerRowId, moveTo } = await planScenario(harness, { startAt: '2030-01-01T00:00:00Z', plan: 'team', editors: 11 });
    await moveTo('2030-01-11T00:00:00Z');
    const before = await stateOf(harness, client, customerRowId);
    const refused = await client.fails(changePlan, { input: { customerId: 'co', ...input } });
    expect(refused.extensions).toMatchObject(error);
    // The preview answers the same refusal.
    const previewRefused = await client.fails(preview, { input: { customerId: 'co', ...input } });
    expect(previewRefused.extensions).toMatchObject({ code: error.code });
    expect(await stateOf(harness, client, customerRowId)).toEqual(before);
  });

  test('no active subscription', async ({ harness }) => {
    const { client } = await planScenario(harness, { startAt: '2030-01-01T00:00:00Z', plan: 'team', editors: 7 });
    await client.ok(cancel, { input: { customerId: 'co', timing: 'IMMEDIATELY' } });
    for (const [query, input] of [
      [changePlan, { customerId: 'co', planCode: 'business' }],
      [preview, { customerId: 'co', planCode: 'business' }],
      [revoke, { customerId: 'co' }],
    ] as const) {
      expect((await client.fails(query, { input })).extensions).toMatchObject({ code: 'no_active_subscription', param: 'customerId' });
    }
  });

  test('a scheduled cancellation and a scheduled plan change exclude each other', async ({ harness }) => {
    const { client } = await planScenario(harness, { startAt: '2030-01-01T00:00:00Z', plan: 'team', editors: 7 });
    await client.ok(cancel, { input: { customerId: 'co', timing: 'AT_PERIOD_END' } });
    const refused = await client.fails(changePlan, { input: { customerId: 'co', planCode: 'business' } });
    expect(refused.extensions).toMatchObject({ code: 'conflict' });
    expect(refused.message).toContain('resumeSubscription');
    await client.ok(/* GraphQL */ `mutation { resumeSubscription(input: { customerId: "co" }) { id } }`);
    await client.ok(changePlan, { input: { customerId: 'co', planCode: 'starter', timing: 'AT_PERIOD_END' } });
    const refusedCancel = await client.fails(cancel, { input: { customerId: 'co', timing: 'AT_PERIOD_END' } });
    expect(refusedCancel.extensions).toMatchObject({ code: 'conflict', param: 'timing' });
    expect(refusedCancel.message).toContain('revokeScheduledPlanChange');
    // An immediate cancel ends it all, the scheduled change with it.
    await client.ok(cancel, { input: { customerId: 'co', timing: 'IMMEDIATELY' } });
    expect(
      (await client.ok(/* GraphQL */ `{ customer(id: "co") { subscription { status scheduledPlanChange { planCode } } } }`)).customer.subscription,
    ).toEqual({
      status: 'CANCELED',
      scheduledPlanChange: null,
    });
  });
});

describe('a change at the period end', () => {
  test('is shown with its warnings, revoked, scheduled again, and applied by the renewal with clamping', async ({ harness }) => {
    const { client, customerRowId, moveTo, setEditors } = await planScenario(harness, { startAt: '2030-01-01T00:00:00Z', plan: 'team', editors: 10 });
    await moveTo('2030-01-11T00:00:00Z');
    const previewed = (await client.ok(preview, { input: { customerId: 'co', planCode: 'starter' } })).previewPlanChange;
    expect(previewed).toEqual({
      customerId: 'co',
      currentPlanCode: 'team',
      planCode: 'starter',
      timing: 'AT_PERIOD_END',
      effectiveAt: '2030-02-01T00:00:00.000Z',
      currency: 'EUR',
      total: 0,
      charges: [],
      seatLimitWarnings: [{ featureCode: 'editor', current: 10, limit: 8 }],
      livemode: false,
    });
    // The preview recorded nothing.
    expect((await subscriptionOf(client)).scheduledPlanChange).toBeNull();

    const scheduled = (await client.ok(changePlan, { input: { customerId: 'co', planCode: 'starter', timing: 'AT_PERIOD_END' } })).changePlan;
    expect(scheduled).toMatchObject({
      planCode: 'team',
      scheduledPlanChange: {
        planCode: 'starter',
        effectiveAt: '2030-02-01T00:00:00.000Z',
        requestedAt: '2030-01-11T00:00:00.000Z',
        seatLimitWarnings: [{ featureCode: 'editor', current: 10, limit: 8 }],
      },
    });
    // The warnings follow the balances.
    await setEditors(12);
    expect((await subscriptionOf(client)).scheduledPlanChange.seatLimitWarnings).toEqual([{ featureCode: 'editor', current: 12, limit: 8 }]);
    const revoked = (await client.ok(revoke, { input: { customerId: 'co' } })).revokeScheduledPlanChange;
    expect(revoked.scheduledPlanChange).toBeNull();
    expect((await client.fails(revoke, { input: { customerId: 'co' } })).extensions).toMatchObject({ code: 'conflict', param: 'customerId' });
    await client.ok(changePlan, { input: { customerId: 'co', planCode: 'starter', timing: 'AT_PERIOD_END' } });
    // The upcoming invoice bills February's advance on starter's terms, for the balance lowered to 8.
    const { upcomingInvoice } = await client.ok(
      /* GraphQL */ `query { upcomingInvoice(customerId: "co") { lines { kind featureCode quantity unitPrice amount periodStart } } }`,
    );
    expect(upcomingInvoice.lines.filter((line: { kind: string }) => line.kind === 'ADVANCE')).toEqual([
      { kind: 'ADVANCE', featureCode: 'editor', quantity: 3, unitPrice: 1000, amount: 3000, periodStart: '2030-02-01T00:00:00.000Z' },
    ]);

    await moveTo('2030-02-05T00:00:00Z');
    expect(await subscriptionOf(client)).toMatchObject({
      planCode: 'starter',
      scheduledPlanChange: null,
      currentPeriodStart: '2030-02-01T00:00:00.000Z',
      currentPeriodEnd: '2030-03-01T00:00:00.000Z',
    });
    expect(await balancesOf(client)).toEqual({ editor: 8 });
    const [clamp] = (await client.ok(queries.seatEvents, { customerId: 'co', featureCode: 'editor' })).seatEvents.edges.map((e: any) => e.node);
    expect(clamp).toMatchObject({ kind: 'SET', previousBalance: 12, newBalance: 8, ts: '2030-02-01T00:00:00.000Z' });
    await expectLedgerWhole(harness, customerRowId, 'editor');
    // February's advance on starter's terms, for the lowered balance: 3 × 1000.
    expect((await chargesOf(client)).at(-1)).toMatchObject({
      kind: 'ADVANCE',
      quantity: 3,
      unitPrice: 1000,
      amount: 3000,
      periodStart: '2030-02-01T00:00:00.000Z',
    });

    const told = await subscriptionEventsOf(harness, customerRowId);
    expect(told.map((row) => row.type)).toEqual([
      'subscription.plan_change_scheduled',
      'subscription.plan_change_revoked',
      'subscription.plan_change_scheduled',
      'subscription.plan_changed',
    ]);
    expect(told[0]!.payload.scheduledPlanChange).toMatchObject({ planCode: 'starter', seatLimitWarnings: [{ featureCode: 'editor', current: 10, limit: 8 }] });
    expect(told[3]!.payload).toMatchObject({ planCode: 'starter', scheduledPlanChange: null, currentPeriodStart: '2030-02-01T00:00:00.000Z' });
  });

  test('to a shorter interval: the new plan counts its periods from the old period end; a new feature starts at its minimum', async ({ harness }) => {
    const { client, moveTo } = await planScenario(harness, { startAt: '2030-03-15T00:00:00Z', plan: 'team_yearly', editors: 7 });
    await moveTo('2030-06-01T00:00:00Z');
    await client.ok(changePlan, { input: { customerId: 'co', planCode: 'business' } });
    expect((await subscriptionOf(client)).scheduledPlanChange).toMatchObject({ planCode: 'business', effectiveAt: '2031-03-15T00:00:00.000Z' });
    await moveTo('2031-04-20T00:00:00Z');
    expect(await subscriptionOf(client)).toMatchObject({
      planCode: 'business',
      billingAnchor: '2031-03-15T00:00:00.000Z',
      currentPeriodStart: '2031-04-15T00:00:00.000Z',
      currentPeriodEnd: '2031-05-15T00:00:00.000Z',
    });
    expect(await balancesOf(client)).toEqual({ editor: 7, viewer: 1 });
    expect((await chargesOf(client)).slice(1).map((c) => [c.kind, c.featureCode, c.quantity, c.amount, c.periodStart])).toEqual([
      ['ADVANCE', 'editor', 5, 25000, '2031-03-15T00:00:00.000Z'],
      ['ADVANCE', 'editor', 5, 25000, '2031-04-15T00:00:00.000Z'],
    ]);
  });
});

describe('preview and idempotency', () => {
  test('the preview equals what the change then does, and records nothing', async ({ harness }) => {
    const { client, customerRowId, moveTo } = await planScenario(harness, { startAt: '2030-01-01T00:00:00Z', plan: 'team', editors: 9 });
    await moveTo('2030-01-17T06:00:00Z');
    const before = await stateOf(harness, client, customerRowId);
    const previewed = (await client.ok(preview, { input: { customerId: 'co', planCode: 'business', timing: 'IMMEDIATELY' } })).previewPlanChange;
    expect(await stateOf(harness, client, customerRowId)).toEqual(before);
    await client.ok(changePlan, { input: { customerId: 'co', planCode: 'business', timing: 'IMMEDIATELY' } });
    const added = (await chargesOf(client)).slice(before.charges.length);
    expect(previewed.charges).toEqual(added);
    expect(previewed.total).toBe(added.reduce((sum, charge) => sum + charge.amount, 0));
    expect(previewed).toMatchObject({ timing: 'IMMEDIATELY', effectiveAt: '2030-01-17T06:00:00.000Z', currentPlanCode: 'team', seatLimitWarnings: [] });
  });

  test('a repeated key answers the subscription and records nothing more; the header works the same', async ({ harness }) => {
    const { client, customerRowId, moveTo } = await planScenario(harness, { startAt: '2030-01-01T00:00:00Z', plan: 'team', editors: 9 });
    await moveTo('2030-01-17T06:00:00Z');
    const input = { customerId: 'co', planCode: 'business', timing: 'IMMEDIATELY', idempotencyKey: 'move-1' };
    const first = (await client.ok(changePlan, { input })).changePlan;
    const after = await stateOf(harness, client, customerRowId);
    const again = (await client.ok(changePlan, { input: { ...input, customerId: customerRowId } })).changePlan;
    expect(again).toEqual(first);
    expect(await stateOf(harness, client, customerRowId)).toEqual(after);
    const mismatch = await client.fails(changePlan, { input: { ...input, planCode: 'starter' } });
    expect(mismatch.extensions).toMatchObject({ code: 'idempotency_key_mismatch' });
    expect(await stateOf(harness, client, customerRowId)).toEqual(after);
  });
});
