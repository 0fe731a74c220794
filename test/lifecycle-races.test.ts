import fc from 'fast-check';
import { expect, test } from './fixtures.ts';
import { expectLedgerWhole, type Harness, mutations, newTenant, postGraphQL } from './helpers.ts';

// Issue 19, "Bounds and races": a cancel (both timings) and a plan change (both timings) racing
// 50 seat changes of the same customer, on two server processes sharing one database. Nothing is
// lost, nobody deadlocks, the chains stay whole, and the charges are exactly what the ledger, in
// the order it was written, says they must be.

type Terms = { includedSeats: number; unitPrice: number; maximumSeats: number };
type PlanCode = 'team' | 'business' | 'lite';
const codes = ['editor', 'viewer'] as const;
type Code = (typeof codes)[number];
const plans: Record<PlanCode, Record<Code, Terms>> = {
  team: { editor: { includedSeats: 5, unitPrice: 3000, maximumSeats: 40 }, viewer: { includedSeats: 1, unitPrice: 500, maximumSeats: 20 } },
  // Limits no seat change below can break under team, so an immediate change to it always fits.
  business: { editor: { includedSeats: 2, unitPrice: 5000, maximumSeats: 60 }, viewer: { includedSeats: 0, unitPrice: 800, maximumSeats: 30 } },
  // Lower limits: a change scheduled to it is clamped at the renewal.
  lite: { editor: { includedSeats: 3, unitPrice: 1000, maximumSeats: 8 }, viewer: { includedSeats: 2, unitPrice: 200, maximumSeats: 10 } },
};
const initial: Record<Code, number> = { editor: 7, viewer: 2 };
const start = '2030-01-01T00:00:00Z';
const raceAt = '2030-01-11T00:00:00Z';
// January 11..31 of 31 days.
const [daysLeft, daysInPeriod] = [21, 31];

const billable = (count: number, terms: Terms) => Math.max(0, count - terms.includedSeats);
const prorated = (quantity: number, unitPrice: number) =>
  Number((2n * BigInt(quantity) * BigInt(unitPrice) * BigInt(daysLeft) + BigInt(daysInPeriod)) / (2n * BigInt(daysInPeriod)));

/** What each customer's lifecycle call is; `both` races an immediate plan change and an immediate cancel. */
type Lifecycle = 'cancelNow' | 'cancelAtEnd' | 'planNow' | 'planAtEnd' | 'both';
const customers: Lifecycle[] = ['cancelNow', 'cancelAtEnd', 'planNow', 'planAtEnd', 'both'];

const cancel = /* GraphQL */ `mutation($input: CancelSubscriptionInput!) { cancelSubscription(input: $input) { id status } }`;
const changePlan = /* GraphQL */ `mutation($input: ChangePlanInput!) { changePlan(input: $input) { id planCode scheduledPlanChange { planCode } } }`;
const advance = /* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`;
const subscriptionQuery = /* GraphQL */ `query($id: String!) { customer(id: $id) { id subscription { status planCode endedAt currentPeriodStart } } }`;

type SeatCall = { op: 'addSeats' | 'removeSeats' | 'setSeats' | 'bulkSetSeats'; entries: { featureCode: Code; count: number }[] };
const seatCall: fc.Arbitrary<SeatCall> = fc.oneof(
  fc.record({
    op: fc.constant('addSeats' as const),
    entries: fc.tuple(fc.record({ featureCode: fc.constantFrom(...codes), count: fc.integer({ min: 1, max: 3 }) })),
  }),
  fc.record({
    op: fc.constant('removeSeats' as const),
    entries: fc.tuple(fc.record({ featureCode: fc.constantFrom(...codes), count: fc.integer({ min: 1, max: 3 }) })),
  }),
  fc.record({
    op: fc.constant('setSeats' as const),
    entries: fc.tuple(fc.record({ featureCode: fc.constantFrom(...codes), count: fc.integer({ min: 0, max: 14 }) })),
  }),
  fc.record({
    op: fc.constant('bulkSetSeats' as const),
    entries: fc.tuple(fc.integer({ min: 0, max: 14 }), fc.integer({ min: 0, max: 14 }), fc.boolean()).map(([editor, viewer, reversed]) => {
      const entries = [
        { featureCode: 'editor' as const, count: editor },
        { featureCode: 'viewer' as const, count: viewer },
      ];
      return reversed ? entries.reverse() : entries;
    }),
  }),
);

type Charge = { kind: string; quantity: number; amount: number };
type LedgerRow = { id: string; code: Code; kind: string; quantity: number; previous_balance: number; new_balance: number; ts: string };

/**
 * The charges the rules give for one customer's ledger of this period, with its lifecycle steps
 * placed: `planAfter` seat events before the immediate plan change (null: none), and the immediate
 * cancel after all of them (seat changes after it are refused). Per feature, in order.
 */
function expectedCharges(events: LedgerRow[], planAfter: number | null, cancelled: boolean): Record<Code, Charge[]> {
  let plan = plans.team;
  const current = { ...initial };
  const mark = { editor: billable(initial.editor, plan.editor), viewer: billable(initial.viewer, plan.viewer) };
  const charges: Record<Code, Charge[]> = { editor: [], viewer: [] };
  for (const code of codes) if (mark[code] > 0) charges[code].push({ kind: 'ADVANCE', quantity: mark[code], amount: mark[code] * plan[code].unitPrice });
  const credit = () => {
    for (const code of codes) {
      const amount = prorated(mark[code], plan[code].unitPrice);
      if (mark[code] > 0 && amount > 0) charges[code].push({ kind: 'CREDIT', quantity: mark[code], amount: -amount });
    }
  };
  const switchPlan = () => {
    credit();
    plan = plans.business;
    for (const code of codes) {
      mark[code] = billable(current[code], plan[code]);
      const amount = prorated(mark[code], plan[code].unitPrice);
      if (amount > 0) charges[code].push({ kind: 'PLAN_CHANGE', quantity: mark[code], amount });
    }
  };
  for (const [i, event] of events.entries()) {
    if (i === planAfter) switchPlan();
    current[event.code] = event.new_balance;
    const now = billable(event.new_balance, plan[event.code]);
    if (now > mark[event.code]) {
      charges[event.code].push({ kind: 'TRUE_UP', quantity: now - mark[event.code], amount: prorated(now - mark[event.code], plan[event.code].unitPrice) });
      mark[event.code] = now;
    }
  }
  if (planAfter === events.length) switchPlan();
  if (cancelled) credit();
  return charges;
}

async function rowsOf(harness: Harness, customerId: string) {
  const db = harness.orm.em.fork().getConnection();
  const ledger = await db.execute<LedgerRow[]>(
    `select e.id, f.code, e.kind, e.quantity, e.previous_balance, e.new_balance, to_char(e.ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as ts from seat_event e join feature f on f.id = e.feature_id
      where e.customer_id = ? order by e.seq`,
    [customerId],
  );
  const charges = await db.execute<(Charge & { code: Code; unit_price: number })[]>(
    `select f.code, c.kind, c.quantity, c.amount::int as amount, c.unit_price from seat_charge c join feature f on f.id = c.feature_id
      where c.customer_id = ? order by c.seq`,
    [customerId],
  );
  return { ledger, charges };
}

const perFeature = (charges: (Charge & { code: Code })[]): Record<Code, Charge[]> =>
  Object.fromEntries(
    codes.map((code) => [code, charges.filter((c) => c.code === code).map(({ kind, quantity, amount }) => ({ kind, quantity, amount }))]),
  ) as Record<Code, Charge[]>;

test('cancels and plan changes, both timings, racing 50 seat changes each on two processes: nothing lost, no deadlock, charges as the ledger says', async ({
  harness,
  startServer,
}) => {
  const { client, key } = await newTenant(harness, 'test');
  // The clock is set before either process first sees the key: both read it from the database then.
  await client.ok(advance, { input: { to: start } });
  for (const code of codes) {
    await client.ok(/* GraphQL */ `mutation($input: CreateFeatureInput!) { createFeature(input: $input) { id } }`, {
      input: { code, name: code, type: 'SEATS' },
    });
  }
  for (const [code, terms] of Object.entries(plans)) {
    await client.ok(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
      input: {
        code,
        name: code,
        currency: 'EUR',
        interval: 'MONTH',
        seatFeatures: codes.map((featureCode) => ({ featureCode, ...terms[featureCode], overageEnabled: true })),
      },
    });
  }
  const rowIds = new Map<Lifecycle, string>();
  for (const externalId of customers) {
    const { createCustomer } = await client.ok(/* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, {
      input: { externalId, name: externalId },
    });
    rowIds.set(externalId, createCustomer.id);
    await client.ok(/* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`, {
      input: {
        customerId: externalId,
        planCode: 'team',
        startAt: start,
        initialSeats: codes.map((featureCode) => ({ featureCode, count: initial[featureCode] })),
      },
    });
  }
  await client.ok(advance, { input: { to: raceAt } });

  const [a, b] = await Promise.all([startServer(), startServer()]);
  const urls = [a.url, b.url];
  const calls = fc.sample(seatCall, { numRuns: 50 * customers.length, seed: 19 });
  type Outcome = { customer: Lifecycle; what: string; status: number; code: string | null; data: any };
  const outcomes: Outcome[] = [];
  const send = async (customer: Lifecycle, what: string, i: number, query: string, input: Record<string, unknown>) => {
    const response = await postGraphQL(urls[i % 2]!, key, query, { input: { customerId: customer, ...input } });
    outcomes.push({ customer, what, status: response.status, code: response.body.errors?.[0]?.extensions?.code ?? null, data: response.body.data });
  };
  const lifecycleCalls: Record<Lifecycle, [string, string, Record<string, unknown>][]> = {
    cancelNow: [['cancel', cancel, { timing: 'IMMEDIATELY', reason: 'UNUSED' }]],
    cancelAtEnd: [['cancel', cancel, { timing: 'AT_PERIOD_END' }]],
    planNow: [['changePlan', changePlan, { planCode: 'business', timing: 'IMMEDIATELY' }]],
    planAtEnd: [['changePlan', changePlan, { planCode: 'lite', timing: 'AT_PERIOD_END' }]],
    both: [
      ['changePlan', changePlan, { planCode: 'business', timing: 'IMMEDIATELY' }],
      ['cancel', cancel, { timing: 'IMMEDIATELY' }],
    ],
  };
  // Each customer's 50 changes go out on 5 lanes at once, alternating processes; its lifecycle
  // calls go out once 10 (and 15) of them have answered, so that changes come before, beside and after.
  const inFlight: Promise<void>[] = [];
  for (const [c, customer] of customers.entries()) {
    const mine = calls.slice(50 * c, 50 * (c + 1));
    let answered = 0;
    const lifecycle = async (index: number, after: number) => {
      const call = lifecycleCalls[customer][index];
      if (!call) return;
      await new Promise<void>((resolve) => {
        const check = () => (answered >= after ? resolve() : setTimeout(check, 1));
        check();
      });
      await send(customer, call[0], index + c, call[1], call[2]);
    };
    inFlight.push(lifecycle(0, 10), lifecycle(1, 15));
    for (let lane = 0; lane < 5; lane++) {
      inFlight.push(
        (async () => {
          for (let i = lane; i < mine.length; i += 5) {
            const call = mine[i]!;
            const input = call.op === 'bulkSetSeats' ? { seats: call.entries } : { featureCode: call.entries[0]!.featureCode, count: call.entries[0]!.count };
            await send(customer, call.op, i + c, mutations[call.op], input);
            answered++;
          }
        })(),
      );
    }
  }
  await Promise.all(inFlight);

  // Every request answered with data or a contract error; none failed inside. A seat change that
  // waited for the plan change may answer conflict (retry): the plan it was asked under is gone.
  const contract = ['no_active_subscription', 'insufficient_seats', 'seat_limit_exceeded', 'conflict'];
  expect(outcomes.filter((o) => o.status >= 500 || (o.code !== null && !contract.includes(o.code)))).toEqual([]);
  expect(outcomes.filter((o) => o.code === 'conflict' && (o.what === 'cancel' || o.what === 'changePlan'))).toEqual([]);
  for (const o of outcomes.filter((o) => o.what === 'changePlan' || o.what === 'cancel')) {
    // The lifecycle calls succeed, except a plan change that came after the immediate cancel of the same customer.
    if (o.code !== null) expect([o.customer, o.what, o.code]).toEqual(['both', 'changePlan', 'no_active_subscription']);
  }
  for (const server of [a, b]) expect(server.output()).not.toMatch(/deadlock|"level":"error"/);

  for (const customer of customers) {
    const rowId = rowIds.get(customer)!;
    const mine = outcomes.filter((o) => o.customer === customer);
    const succeeded = new Map<string, { kind: string; count: number }>();
    for (const o of mine.filter((o) => o.code === null && o.what !== 'cancel' && o.what !== 'changePlan')) {
      const events = o.what === 'bulkSetSeats' ? o.data.bulkSetSeats : [o.data[o.what]];
      for (const event of events) succeeded.set(event.id, { kind: event.kind, count: event.count });
    }
    const { ledger, charges } = await rowsOf(harness, rowId);
    // The two SETs of subscribing, then exactly the seat changes that answered with data, as they answered.
    expect(ledger.slice(0, 2).map((e) => [e.kind, e.ts])).toEqual([
      ['SET', start],
      ['SET', start],
    ]);
    const changes = ledger.slice(2);
    expect(changes.map((e) => e.id).sort()).toEqual([...succeeded.keys()].sort());
    for (const event of changes) expect([event.kind, event.quantity]).toEqual([succeeded.get(event.id)!.kind, succeeded.get(event.id)!.count]);
    expect(succeeded.size).toBeGreaterThan(0);
    for (const code of codes) await expectLedgerWhole(harness, rowId, code);

    const ended = mine.some((o) => o.what === 'cancel' && o.code === null && customer !== 'cancelAtEnd');
    const planChangedNow = mine.some((o) => o.what === 'changePlan' && o.code === null && (customer === 'planNow' || customer === 'both'));
    if (ended) expect(mine.filter((o) => o.code === 'no_active_subscription').length).toBeGreaterThan(0);
    // Only an ended subscription refuses a change for want of one.
    if (!ended) expect(mine.filter((o) => o.code === 'no_active_subscription')).toEqual([]);
    // The charges the rules give, with the plan change placed where the ledger order allows it:
    // the position is not known from outside, so some position must give exactly what was recorded.
    const actual = perFeature(charges);
    const placements = planChangedNow ? changes.map((_, k) => k).concat(changes.length) : [null];
    const matching = placements.filter((k) => JSON.stringify(expectedCharges(changes, k, ended)) === JSON.stringify(actual));
    expect(matching.length, `${customer}: no placement of its lifecycle step explains ${JSON.stringify(actual)}`).toBeGreaterThan(0);
    if (ended) {
      // The immediate cancel credited every feature that had seats paid, and no true-up came after it.
      for (const code of codes) {
        const kinds = actual[code].map((c) => c.kind);
        if (kinds.includes('CREDIT')) expect(kinds.at(-1)).toBe('CREDIT');
      }
      expect(charges.some((c) => c.kind === 'CREDIT')).toBe(true);
    }
  }

  // Across the period end: the scheduled cancel ends its subscription, the scheduled plan change
  // applies and clamps, and only subscriptions still active are billed in advance.
  const before = new Map<Lifecycle, Awaited<ReturnType<typeof rowsOf>>>();
  for (const customer of customers) before.set(customer, await rowsOf(harness, rowIds.get(customer)!));
  await client.ok(advance, { input: { to: '2030-02-05T00:00:00Z' } });
  for (const customer of customers) {
    const rowId = rowIds.get(customer)!;
    const was = before.get(customer)!;
    const { ledger, charges } = await rowsOf(harness, rowId);
    const subscription = (await client.ok(subscriptionQuery, { id: customer })).customer.subscription;
    const newCharges = charges.slice(was.charges.length);
    const newEvents = ledger.slice(was.ledger.length);
    for (const code of codes) await expectLedgerWhole(harness, rowId, code);
    const held = Object.fromEntries(codes.map((code) => [code, was.ledger.filter((e) => e.code === code).at(-1)!.new_balance])) as Record<Code, number>;
    const ended = customer === 'cancelNow' || customer === 'cancelAtEnd' || customer === 'both';
    if (ended) {
      expect(subscription.status).toBe('CANCELED');
      if (customer === 'cancelAtEnd') expect(subscription.endedAt).toBe('2030-02-01T00:00:00.000Z');
      expect([newCharges, newEvents]).toEqual([[], []]);
      continue;
    }
    const planCode = customer === 'planNow' ? 'business' : 'lite';
    expect(subscription).toMatchObject({ status: 'ACTIVE', planCode, currentPeriodStart: '2030-02-01T00:00:00.000Z' });
    const terms = plans[planCode];
    const clamped = Object.fromEntries(codes.map((code) => [code, Math.min(held[code], terms[code].maximumSeats)])) as Record<Code, number>;
    // A clamp is a SET at the period end, before the advance.
    expect(newEvents.map((e) => [e.code, e.kind, e.new_balance, e.ts]).sort()).toEqual(
      codes.filter((code) => clamped[code] !== held[code]).map((code) => [code, 'SET', clamped[code], '2030-02-01T00:00:00Z']),
    );
    expect(newCharges.map((c) => [c.code, c.kind, c.quantity, c.amount, c.unit_price]).sort()).toEqual(
      codes
        .filter((code) => billable(clamped[code], terms[code]) > 0)
        .map((code) => [
          code,
          'ADVANCE',
          billable(clamped[code], terms[code]),
          billable(clamped[code], terms[code]) * terms[code].unitPrice,
          terms[code].unitPrice,
        ]),
    );
  }

  a.child.kill('SIGTERM');
  b.child.kill('SIGTERM');
  expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
}, 180_000);
