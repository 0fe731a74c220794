import fc from 'fast-check';
import { expect, test } from './fixtures.ts';
import { type Client, type Harness, mutations, newTenant } from './helpers.ts';

// Issue 19's property: over random sequences of seat changes, cancels, resumes and plan changes
// under a moving test clock, all through GraphQL,
// (a) every charge and credit is the one an independent model of the rules computes;
// (b) after every change that succeeds, each balance lies within its plan's limits;
// (c) a refused call changes nothing.
// The model below is written from the rules (issue 19, docs/billing.md), not from
// the code: periods counted from the anchor in calendar months, UTC days, rounding half up once.

type Code = 'editor' | 'viewer';
type Terms = { includedSeats: number; unitPrice: number; minimumSeats: number; maximumSeats: number };
type PlanCode = 'basic' | 'pro' | 'yearly';
type Plan = { interval: 'MONTH' | 'YEAR'; features: Partial<Record<Code, Terms>> };
const plans: Record<PlanCode, Plan> = {
  basic: {
    interval: 'MONTH',
    features: {
      editor: { includedSeats: 2, unitPrice: 1000, minimumSeats: 1, maximumSeats: 6 },
      viewer: { includedSeats: 0, unitPrice: 300, minimumSeats: 0, maximumSeats: 4 },
    },
  },
  // No viewer: an immediate change to it is refused while viewers are held.
  pro: { interval: 'MONTH', features: { editor: { includedSeats: 3, unitPrice: 2500, minimumSeats: 2, maximumSeats: 20 } } },
  yearly: {
    interval: 'YEAR',
    features: {
      editor: { includedSeats: 1, unitPrice: 9000, minimumSeats: 0, maximumSeats: 12 },
      viewer: { includedSeats: 1, unitPrice: 2000, minimumSeats: 1, maximumSeats: 8 },
    },
  },
};
const codes: Code[] = ['editor', 'viewer'];
const featuresOf = (plan: PlanCode) => codes.filter((code) => plans[plan].features[code]);
// The end of a month in a leap year: periods clamp to Feb 29, then come back to the 31st.
const start = '2028-01-31T00:00:00.000Z';

// ---- the model ----

const msPerDay = 86_400_000;
const utcDay = (at: Date) => Math.floor(at.getTime() / msPerDay);
/** `months` calendar months after `anchor`, its day clamped to the month's last, its time of day kept. */
function addMonths(anchor: Date, months: number): Date {
  const total = anchor.getUTCFullYear() * 12 + anchor.getUTCMonth() + months;
  const [year, month] = [Math.floor(total / 12), total % 12];
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(Date.UTC(year, month, Math.min(anchor.getUTCDate(), lastDay), anchor.getUTCHours(), anchor.getUTCMinutes(), anchor.getUTCSeconds()));
}
const monthsOf = { MONTH: 1, YEAR: 12 } as const;
/** Days a period touches, and days from the day of `at` through its last day. */
const lastDayOf = (end: Date) => utcDay(new Date(end.getTime() - 1));
const roundHalfUp = (numerator: bigint, denominator: bigint) => Number((2n * numerator + denominator) / (2n * denominator));
const billable = (count: number, terms: Terms) => Math.max(0, count - terms.includedSeats);

type Charge = {
  kind: 'ADVANCE' | 'TRUE_UP' | 'CREDIT' | 'PLAN_CHANGE';
  featureCode: Code;
  quantity: number;
  unitPrice: number;
  daysRemaining: number;
  daysInPeriod: number;
  periodStart: string;
  periodEnd: string;
  amount: number;
  ts: string;
};
type Model = {
  now: Date;
  status: 'ACTIVE' | 'CANCELED';
  plan: PlanCode;
  anchor: Date;
  /** The current period is the k-th from the anchor. */
  k: number;
  cancelAtPeriodEnd: boolean;
  scheduled: PlanCode | null;
  balances: Record<Code, number>;
  marks: Record<Code, number>;
  charges: Charge[];
};
const periodOf = (m: Model) => {
  const step = monthsOf[plans[m.plan].interval];
  return { start: addMonths(m.anchor, m.k * step), end: addMonths(m.anchor, (m.k + 1) * step) };
};

/** A charge for `quantity` seats from the day of `at` through the period's end, rounded half up once. */
function prorated(kind: Charge['kind'], featureCode: Code, quantity: number, terms: Terms, period: { start: Date; end: Date }, at: Date): Charge {
  const inPeriod = lastDayOf(period.end) - utcDay(period.start) + 1;
  const remaining = lastDayOf(period.end) - utcDay(at) + 1;
  const amount = roundHalfUp(BigInt(quantity) * BigInt(terms.unitPrice) * BigInt(remaining), BigInt(inPeriod));
  return {
    kind,
    featureCode,
    quantity,
    unitPrice: terms.unitPrice,
    daysRemaining: remaining,
    daysInPeriod: inPeriod,
    periodStart: period.start.toISOString(),
    periodEnd: period.end.toISOString(),
    amount: kind === 'CREDIT' ? -amount : amount,
    ts: at.toISOString(),
  };
}

/** The advances of a period that starts: the billable seats held, whole; the marks become them. */
function bill(m: Model) {
  const period = periodOf(m);
  for (const code of featuresOf(m.plan)) {
    const terms = plans[m.plan].features[code]!;
    m.marks[code] = billable(m.balances[code], terms);
    if (m.marks[code] > 0) m.charges.push({ ...prorated('ADVANCE', code, m.marks[code], terms, period, period.start), ts: period.start.toISOString() });
  }
}

/** Credits of an early end of the period: each feature's mark for the days left; none that round to 0. */
function credit(m: Model) {
  for (const code of featuresOf(m.plan)) {
    const terms = plans[m.plan].features[code]!;
    if (m.marks[code] <= 0) continue;
    const charge = prorated('CREDIT', code, m.marks[code], terms, periodOf(m), m.now);
    if (charge.amount !== 0) m.charges.push(charge);
  }
}

/** The balances moved onto another plan's features: kept within its limits, dropped ones to 0, new ones at their minimum. */
function switchBalances(m: Model, to: PlanCode) {
  for (const code of codes) {
    const before = plans[m.plan].features[code];
    const after = plans[to].features[code];
    if (!after) m.balances[code] = before ? 0 : m.balances[code];
    else if (!before) m.balances[code] = after.minimumSeats;
    else m.balances[code] = Math.max(after.minimumSeats, Math.min(after.maximumSeats, m.balances[code]));
  }
  m.plan = to;
}

class Refused extends Error {
  readonly code: string;

  constructor(code: string) {
    super(code);
    this.code = code;
  }
}

type SeatOp = { type: 'seats'; op: 'addSeats' | 'removeSeats' | 'setSeats'; featureCode: Code; count: number };
type BulkOp = { type: 'bulk'; seats: { featureCode: Code; count: number }[] };
type CancelOp = { type: 'cancel'; timing: 'AT_PERIOD_END' | 'IMMEDIATELY' };
type PlanOp = { type: 'changePlan'; planCode: PlanCode; timing: 'AUTO' | 'IMMEDIATELY' | 'AT_PERIOD_END' };
type Op = SeatOp | BulkOp | CancelOp | PlanOp | { type: 'resume' } | { type: 'revoke' } | { type: 'advance'; days: number; hours: number };

function seatEntry(m: Model, featureCode: Code, kind: SeatOp['op'], count: number): number {
  const terms = plans[m.plan].features[featureCode]!;
  const current = m.balances[featureCode];
  if (kind === 'removeSeats' && count > current) throw new Refused('insufficient_seats');
  const next = kind === 'addSeats' ? current + count : kind === 'removeSeats' ? current - count : count;
  if (next > terms.maximumSeats || next < terms.minimumSeats) throw new Refused('seat_limit_exceeded');
  return next;
}

/** Applies one op to the model; throws Refused with the contract code when the rules refuse it. */
function step(m: Model, op: Op): void {
  if (op.type === 'advance') {
    m.now = new Date(m.now.getTime() + op.days * msPerDay + op.hours * 3_600_000);
    // Renewals: each period end the clock passed, in order.
    while (m.status === 'ACTIVE' && periodOf(m).end <= m.now) {
      const end = periodOf(m).end;
      if (m.cancelAtPeriodEnd) {
        m.status = 'CANCELED';
        m.cancelAtPeriodEnd = false;
        break;
      }
      if (m.scheduled) {
        const interval = plans[m.plan].interval;
        switchBalances(m, m.scheduled);
        m.scheduled = null;
        if (plans[m.plan].interval !== interval) {
          m.anchor = end;
          m.k = 0;
          bill(m);
          continue;
        }
      }
      m.k++;
      bill(m);
    }
    return;
  }
  if (m.status !== 'ACTIVE') throw new Refused('no_active_subscription');
  const period = periodOf(m);
  switch (op.type) {
    case 'seats':
    case 'bulk': {
      const entries =
        op.type === 'seats' ? [{ featureCode: op.featureCode, count: op.count, kind: op.op }] : op.seats.map((s) => ({ ...s, kind: 'setSeats' as const }));
      if (entries.some((e) => !plans[m.plan].features[e.featureCode])) throw new Refused('feature_not_in_plan');
      // All entries or none.
      const next = entries.map((e) => seatEntry(m, e.featureCode, e.kind, e.count));
      for (const [i, e] of entries.entries()) {
        const terms = plans[m.plan].features[e.featureCode]!;
        m.balances[e.featureCode] = next[i]!;
        const now = billable(next[i]!, terms);
        if (now > m.marks[e.featureCode]) {
          m.charges.push(prorated('TRUE_UP', e.featureCode, now - m.marks[e.featureCode], terms, period, m.now));
          m.marks[e.featureCode] = now;
        }
      }
      return;
    }
    case 'cancel':
      if (op.timing === 'AT_PERIOD_END') {
        if (m.cancelAtPeriodEnd) return;
        if (m.scheduled) throw new Refused('conflict');
        m.cancelAtPeriodEnd = true;
        return;
      }
      credit(m);
      m.status = 'CANCELED';
      m.cancelAtPeriodEnd = false;
      m.scheduled = null;
      return;
    case 'resume':
      if (!m.cancelAtPeriodEnd) throw new Refused('conflict');
      m.cancelAtPeriodEnd = false;
      return;
    case 'revoke':
      if (!m.scheduled) throw new Refused('conflict');
      m.scheduled = null;
      return;
    case 'changePlan': {
      if (op.planCode === m.plan) throw new Refused('validation_error');
      if (m.cancelAtPeriodEnd) throw new Refused('conflict');
      const [before, after] = [plans[m.plan], plans[op.planCode]];
      let timing = op.timing;
      if (timing === 'AUTO') {
        if (before.interval !== after.interval) timing = monthsOf[after.interval] > monthsOf[before.interval] ? 'IMMEDIATELY' : 'AT_PERIOD_END';
        else {
          // Today's price per period: held seats, and the minimum of a feature only the new plan offers.
          const price = (plan: Plan, countOf: (code: Code, terms: Terms) => number) =>
            codes.reduce(
              (sum, code) =>
                plan.features[code] ? sum + billable(countOf(code, plan.features[code]!), plan.features[code]!) * plan.features[code]!.unitPrice : sum,
              0,
            );
          const priceBefore = price(before, (code) => m.balances[code]);
          const priceAfter = price(after, (code, terms) => (before.features[code] ? m.balances[code] : terms.minimumSeats));
          timing = priceAfter > priceBefore ? 'IMMEDIATELY' : 'AT_PERIOD_END';
        }
      }
      if (timing === 'AT_PERIOD_END') {
        m.scheduled = op.planCode;
        return;
      }
      for (const code of featuresOf(m.plan)) if (!after.features[code] && m.balances[code] > 0) throw new Refused('feature_not_in_plan');
      for (const code of featuresOf(m.plan)) {
        const terms = after.features[code];
        if (terms && (m.balances[code] > terms.maximumSeats || m.balances[code] < terms.minimumSeats)) throw new Refused('seat_limit_exceeded');
      }
      credit(m);
      switchBalances(m, op.planCode);
      m.scheduled = null;
      if (after.interval !== before.interval) {
        // The new plan's first period starts now.
        m.anchor = m.now;
        m.k = 0;
      }
      for (const code of featuresOf(m.plan)) {
        const terms = after.features[code]!;
        m.marks[code] = billable(m.balances[code], terms);
        const charge = prorated('PLAN_CHANGE', code, m.marks[code], terms, periodOf(m), m.now);
        if (charge.amount > 0) m.charges.push(charge);
      }
      return;
    }
  }
}

// ---- the service ----

const CHARGE = 'kind featureCode quantity unitPrice daysRemaining daysInPeriod periodStart periodEnd amount ts';
const SUBSCRIPTION = 'status planCode billingAnchor currentPeriodStart currentPeriodEnd cancelAtPeriodEnd scheduledPlanChange { planCode }';
const documents = {
  cancel: /* GraphQL */ `mutation($input: CancelSubscriptionInput!) { cancelSubscription(input: $input) { id } }`,
  resume: /* GraphQL */ `mutation($input: ResumeSubscriptionInput!) { resumeSubscription(input: $input) { id } }`,
  changePlan: /* GraphQL */ `mutation($input: ChangePlanInput!) { changePlan(input: $input) { id } }`,
  revoke: /* GraphQL */ `mutation($input: RevokeScheduledPlanChangeInput!) { revokeScheduledPlanChange(input: $input) { id } }`,
  advance: /* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`,
  charges: /* GraphQL */ `query { seatCharges(customerId: "co") { ${CHARGE} } }`,
  subscription: /* GraphQL */ `query { customer(id: "co") { subscription { ${SUBSCRIPTION} } } }`,
  balances: /* GraphQL */ `query { seatBalances(customerId: "co") { featureCode current asOf } }`,
};

async function send(client: Client, m: Model, op: Op) {
  const customerId = 'co';
  switch (op.type) {
    case 'seats':
      return client.run(mutations[op.op], { input: { customerId, featureCode: op.featureCode, count: op.count } });
    case 'bulk':
      return client.run(mutations.bulkSetSeats, { input: { customerId, seats: op.seats } });
    case 'cancel':
      return client.run(documents.cancel, { input: { customerId, timing: op.timing } });
    case 'resume':
      return client.run(documents.resume, { input: { customerId } });
    case 'revoke':
      return client.run(documents.revoke, { input: { customerId } });
    case 'changePlan':
      return client.run(documents.changePlan, { input: { customerId, planCode: op.planCode, timing: op.timing } });
    case 'advance':
      // `m.now` is already where the model moved.
      return client.run(documents.advance, { input: { to: m.now.toISOString() } });
  }
}

/** Everything a refused call must leave as it was, read through GraphQL, and the ledger's length and balances from the tables. */
async function stateOf(harness: Harness, client: Client, customerRowId: string) {
  const db = harness.orm.em.fork().getConnection();
  const [ledger] = await db.execute<{ n: number }[]>('select count(*)::int as n from seat_event where customer_id = ?', [customerRowId]);
  const rows = await db.execute<{ code: Code; current: number }[]>(
    'select f.code, b.current from seat_balance b join feature f on f.id = b.feature_id where b.customer_id = ? order by f.code',
    [customerRowId],
  );
  return {
    subscription: (await client.ok(documents.subscription)).customer.subscription,
    charges: (await client.ok(documents.charges)).seatCharges as Charge[],
    seatBalances: (await client.ok(documents.balances)).seatBalances,
    // A feature the customer never held has no balance row yet: 0.
    balances: { editor: 0, viewer: 0, ...Object.fromEntries(rows.map((row) => [row.code, row.current])) } as Record<Code, number>,
    ledger: ledger!.n,
  };
}

const sorted = (charges: Charge[]) => charges.map((c) => JSON.stringify(c, Object.keys(c).sort())).sort();

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      type: fc.constant('seats' as const),
      op: fc.constantFrom('addSeats' as const, 'removeSeats' as const, 'setSeats' as const),
      featureCode: fc.constantFrom<Code>('editor', 'viewer'),
      count: fc.integer({ min: 1, max: 9 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .subarray(codes, { minLength: 1 })
      .chain((chosen) => fc.tuple(...chosen.map((featureCode) => fc.record({ featureCode: fc.constant(featureCode), count: fc.integer({ min: 0, max: 12 }) }))))
      .map((seats) => ({ type: 'bulk' as const, seats })),
  },
  // An immediate cancel ends the sequence's subscription: rarer, so that most sequences go on.
  { weight: 1, arbitrary: fc.constant({ type: 'cancel' as const, timing: 'AT_PERIOD_END' as const }) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 0, max: 2 })
      .map((n) => ({ type: 'cancel' as const, timing: n === 0 ? ('IMMEDIATELY' as const) : ('AT_PERIOD_END' as const) })),
  },
  { weight: 1, arbitrary: fc.constant({ type: 'resume' as const }) },
  {
    weight: 5,
    arbitrary: fc.record({
      type: fc.constant('changePlan' as const),
      planCode: fc.constantFrom<PlanCode>('basic', 'basic', 'pro', 'yearly'),
      timing: fc.constantFrom('AUTO' as const, 'IMMEDIATELY' as const, 'AT_PERIOD_END' as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ type: 'revoke' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({ type: fc.constant('advance' as const), days: fc.integer({ min: 0, max: 100 }), hours: fc.integer({ min: 0, max: 23 }) }),
  },
);

test('charges and credits as the model computes, balances within limits, refusals change nothing', async ({ harness }) => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 6, maxLength: 20 }), async (ops) => {
      const { client } = await newTenant(harness, 'test');
      await client.ok(documents.advance, { input: { to: start } });
      for (const code of codes) {
        await client.ok(/* GraphQL */ `mutation($input: CreateFeatureInput!) { createFeature(input: $input) { id } }`, {
          input: { code, name: code, type: 'SEATS' },
        });
      }
      for (const [code, plan] of Object.entries(plans)) {
        await client.ok(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
          input: {
            code,
            name: code,
            currency: 'EUR',
            interval: plan.interval,
            seatFeatures: featuresOf(code as PlanCode).map((featureCode) => ({ featureCode, ...plan.features[featureCode], overageEnabled: true })),
          },
        });
      }
      const { createCustomer } = await client.ok(/* GraphQL */ `mutation { createCustomer(input: { externalId: "co", name: "Co" }) { id } }`);
      await client.ok(/* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`, {
        input: {
          customerId: 'co',
          planCode: 'pro',
          startAt: start,
          initialSeats: [{ featureCode: 'editor', count: 8 }],
        },
      });
      const m: Model = {
        now: new Date(start),
        status: 'ACTIVE',
        plan: 'pro',
        anchor: new Date(start),
        k: 0,
        cancelAtPeriodEnd: false,
        scheduled: null,
        balances: { editor: 8, viewer: 0 },
        marks: { editor: 0, viewer: 0 },
        charges: [],
      };
      bill(m);

      for (const [i, next] of ops.entries()) {
        const before = await stateOf(harness, client, createCustomer.id);
        let refusal: string | null = null;
        try {
          step(m, next);
        } catch (error) {
          if (!(error instanceof Refused)) throw error;
          refusal = error.code;
        }
        const response = await send(client, m, next);
        const where = `op ${i} ${JSON.stringify(next)} of ${JSON.stringify(ops)}`;
        expect(response.errors?.[0]?.extensions.code ?? null, where).toBe(refusal);
        const after = await stateOf(harness, client, createCustomer.id);
        if (refusal) {
          // (c) nothing changed.
          expect(after, where).toEqual(before);
          continue;
        }
        // (a) every charge and credit, with its inputs, as the model has them.
        expect(sorted(after.charges), where).toEqual(sorted(m.charges));
        expect(after.charges.reduce((sum, c) => sum + c.amount, 0)).toBe(m.charges.reduce((sum, c) => sum + c.amount, 0));
        // The subscription and the balances as the model has them.
        const period = periodOf(m);
        expect(after.subscription, where).toMatchObject({
          status: m.status,
          planCode: m.plan,
          billingAnchor: m.anchor.toISOString(),
          cancelAtPeriodEnd: m.cancelAtPeriodEnd,
          scheduledPlanChange: m.scheduled && { planCode: m.scheduled },
          ...(m.status === 'ACTIVE' ? { currentPeriodStart: period.start.toISOString(), currentPeriodEnd: period.end.toISOString() } : {}),
        });
        expect(after.balances, where).toEqual(m.balances);
        // (b) within the plan's limits.
        for (const code of featuresOf(m.plan)) {
          const terms = plans[m.plan].features[code]!;
          expect(after.balances[code], where).toBeGreaterThanOrEqual(terms.minimumSeats);
          expect(after.balances[code], where).toBeLessThanOrEqual(terms.maximumSeats);
        }
      }
    }),
    // Bounded and seeded: the same sequences every run, in well under a minute.
    { numRuns: 60, seed: 19, endOnFailure: true },
  );
}, 120_000);
