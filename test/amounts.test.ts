import { describe, expect, test } from './fixtures.ts';
import { type Client, type Harness, newTenant } from './helpers.ts';

// Charges through the GraphQL door, checked against a model of the billing contract written
// here (docs/billing.md, SEAT-CONTRACT.md §5): its own calendar, day counting and half-up
// rounding, and nothing imported from src/billing. Each test has its own organization, and so
// its own test clock, which stands still between advances: every instant below is exact.

const CHARGE = 'kind quantity unitPrice daysRemaining daysInPeriod periodStart periodEnd amount currency ts';
const change = (op: 'addSeats' | 'removeSeats' | 'setSeats') =>
  /* GraphQL */ `mutation($input: ${op[0]!.toUpperCase()}${op.slice(1)}Input!) { ${op}(input: $input) { id previousBalance newBalance ts charge { ${CHARGE} eventId } } }`;
const preview = /* GraphQL */ `query($input: PreviewSeatChangeInput!) {
  previewSeatChange(input: $input) { previousBalance newBalance charge { ${CHARGE} } error { code } }
}`;
const charges = /* GraphQL */ `query($c: String!) { seatCharges(customerId: $c) { ${CHARGE} eventId } }`;
const invoice = /* GraphQL */ `query($c: String!) {
  upcomingInvoice(customerId: $c) {
    currentPeriodStart currentPeriodEnd nextPeriodStart nextPeriodEnd billingDate total
    lines { kind quantity unitPrice daysRemaining daysInPeriod periodStart periodEnd amount }
  }
}`;

// ---- The model: a UTC calendar and the proration rule, without Date and without src/. ----

/** A UTC instant as the API writes it, as calendar fields. */
type Instant = { year: number; month: number; day: number; hour: number; minute: number; second: number };

function instant(text: string): Instant {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.000)?Z$/.exec(text);
  if (!match) throw new Error(`not a whole-second UTC instant: ${text}`);
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  return { year, month, day, hour, minute, second };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
const iso = (t: Instant) => `${pad(t.year, 4)}-${pad(t.month)}-${pad(t.day)}T${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)}.000Z`;

const isLeapYear = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
const monthLength = (year: number, month: number) => (month === 2 ? (isLeapYear(year) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31);

/** Days from 2000-01-01 to the instant's date, counted through the calendar year by year, month by month. */
function dayIndex(t: Instant): number {
  let days = 0;
  for (let year = 2000; year < t.year; year++) days += isLeapYear(year) ? 366 : 365;
  for (let month = 1; month < t.month; month++) days += monthLength(t.year, month);
  return days + t.day - 1;
}

/** The same day and time `months` later. Anchors here lie on days 1–28, so no month clamps them (test/periods.test.ts covers clamping). */
function addMonths(t: Instant, months: number): Instant {
  if (t.day > 28) throw new Error('the model takes anchors on days 1–28 only');
  const zeroBased = t.year * 12 + (t.month - 1) + months;
  return { ...t, year: Math.floor(zeroBased / 12), month: (zeroBased % 12) + 1 };
}

const atMidnight = (t: Instant) => t.hour === 0 && t.minute === 0 && t.second === 0;
/** The day of a period's last instant: its end is exclusive, so an end at midnight closes the day before. */
const lastDay = (end: Instant) => dayIndex(end) - (atMidnight(end) ? 1 : 0);
/** UTC calendar days the period touches, first and last included. */
const daysIn = (period: Period) => lastDay(period.end) - dayIndex(period.start) + 1;
/** UTC calendar days from the day of `at` through the period's last day, both included. */
const daysLeft = (period: Period, at: Instant) => lastDay(period.end) - dayIndex(at) + 1;

/** numerator / denominator, rounded half up: the remainder decides, compared at twice its size. */
function roundHalfUp(numerator: bigint, denominator: bigint): bigint {
  const whole = numerator / denominator;
  return 2n * (numerator % denominator) >= denominator ? whole + 1n : whole;
}
const isTie = (numerator: bigint, denominator: bigint) => 2n * (numerator % denominator) === denominator;

type Period = { start: Instant; end: Instant };
type Interval = 'MONTH' | 'YEAR';
const periodAfter = (start: Instant, interval: Interval): Period => ({ start, end: addMonths(start, interval === 'MONTH' ? 1 : 12) });

type ExpectedCharge = {
  kind: 'ADVANCE' | 'TRUE_UP';
  quantity: number;
  unitPrice: number;
  daysRemaining: number;
  daysInPeriod: number;
  periodStart: string;
  periodEnd: string;
  amount: number;
  currency: string;
  ts: string;
};

/** One overage feature of one subscription: its balance, the period's high-water mark, and the charges the contract asks for. */
class BillingModel {
  balance: number;
  mark: number;
  period: Period;
  readonly recorded: ExpectedCharge[] = [];
  /** The rounding ties met so far: true-ups whose exact value was k + 1/2. */
  ties = 0;
  readonly terms: { includedSeats: number; unitPrice: number; interval: Interval; currency: string };

  constructor(terms: BillingModel['terms'], start: Instant, initialSeats: number) {
    this.terms = terms;
    this.balance = initialSeats;
    this.period = periodAfter(start, terms.interval);
    this.mark = this.billable();
    const advance = this.advance();
    if (advance) this.recorded.push(advance);
  }

  billable(balance = this.balance): number {
    return Math.max(0, balance - this.terms.includedSeats);
  }

  /** The whole-period charge for the billable seats held at the period's start (or now, for the upcoming invoice). */
  advance(period = this.period): ExpectedCharge | null {
    const quantity = this.billable();
    if (quantity === 0) return null;
    const days = daysIn(period);
    return {
      kind: 'ADVANCE',
      quantity,
      unitPrice: this.terms.unitPrice,
      daysRemaining: days,
      daysInPeriod: days,
      periodStart: iso(period.start),
      periodEnd: iso(period.end),
      amount: quantity * this.terms.unitPrice,
      currency: this.terms.currency,
      ts: iso(period.start),
    };
  }

  /** A change to `newBalance` at `at`: a true-up when billable seats pass the mark, never a credit. */
  change(newBalance: number, at: Instant): ExpectedCharge | null {
    this.balance = newBalance;
    const billable = this.billable();
    if (billable <= this.mark) return null;
    const quantity = billable - this.mark;
    this.mark = billable;
    const remaining = daysLeft(this.period, at);
    const days = daysIn(this.period);
    const exact = BigInt(quantity) * BigInt(this.terms.unitPrice) * BigInt(remaining);
    if (isTie(exact, BigInt(days))) this.ties++;
    const charge: ExpectedCharge = {
      kind: 'TRUE_UP',
      quantity,
      unitPrice: this.terms.unitPrice,
      daysRemaining: remaining,
      daysInPeriod: days,
      periodStart: iso(this.period.start),
      periodEnd: iso(this.period.end),
      amount: Number(roundHalfUp(exact, BigInt(days))),
      currency: this.terms.currency,
      ts: iso(at),
    };
    this.recorded.push(charge);
    return charge;
  }

  /** Enters the next period: its advance at the balance held, and the mark starts again from it. */
  renew(): void {
    this.period = periodAfter(this.period.end, this.terms.interval);
    this.mark = this.billable();
    const advance = this.advance();
    if (advance) this.recorded.push(advance);
  }

  /** This period's true-ups, then the next period's advance at today's balance. */
  upcomingLines(): Omit<ExpectedCharge, 'currency' | 'ts'>[] {
    const start = iso(this.period.start);
    const next = this.advance(periodAfter(this.period.end, this.terms.interval));
    return [...this.recorded.filter((c) => c.kind === 'TRUE_UP' && c.periodStart === start), ...(next ? [next] : [])].map(
      ({ currency: _currency, ts: _ts, ...line }) => line,
    );
  }
}

// ---- The API side: one organization per test, its clock moved only forward. ----

const CUSTOMER = 'billed-co';
const FEATURE = 'seat';

/**
 * A fresh organization whose clock stands at `startAt`, one plan with one overage feature, and
 * a customer subscribed from `startAt`.
 */
async function subscribed(harness: Harness, options: { interval: Interval; includedSeats: number; unitPrice: number; startAt: string; initialSeats: number }) {
  const { client } = await newTenant(harness);
  await client.ok(/* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`, { input: { to: options.startAt } });
  await client.ok(/* GraphQL */ `mutation($input: CreateFeatureInput!) { createFeature(input: $input) { id } }`, {
    input: { code: FEATURE, name: 'Seat', type: 'SEATS' },
  });
  await client.ok(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
    input: {
      code: 'plan',
      name: 'Plan',
      currency: 'EUR',
      interval: options.interval,
      seatFeatures: [{ featureCode: FEATURE, includedSeats: options.includedSeats, overageEnabled: true, unlimited: false, unitPrice: options.unitPrice }],
    },
  });
  await client.ok(/* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, {
    input: { name: 'Billed Co', externalId: CUSTOMER },
  });
  const { createSubscription } = await client.ok(
    /* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { currentPeriodStart currentPeriodEnd } }`,
    { input: { customerId: CUSTOMER, planCode: 'plan', startAt: options.startAt, initialSeats: [{ featureCode: FEATURE, count: options.initialSeats }] } },
  );
  let clock = options.startAt;
  const moveClockTo = async (to: string) => {
    if (to === clock) return;
    const { advanceTestClock } = await client.ok(/* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`, {
      input: { to },
    });
    expect(advanceTestClock.now).toBe(to);
    clock = to;
  };
  return { client, createSubscription, moveClockTo };
}

const seats = (client: Client, op: 'addSeats' | 'removeSeats' | 'setSeats', count: number) =>
  client.ok(change(op), { input: { customerId: CUSTOMER, featureCode: FEATURE, count } }).then((data) => data[op]);

describe('a true-up worth exactly k + 1/2 minor units', () => {
  test('rounds up, with the same quantity, price and days in addSeats and in previewSeatChange', async ({ harness }) => {
    // April 2030: a 30-day period. 3 seats included at 2503; 5 held from the start, so the
    // advance bills 2 and the mark is 2.
    const terms = { interval: 'MONTH' as const, includedSeats: 3, unitPrice: 2503, currency: 'EUR' };
    const startAt = '2030-04-01T00:00:00.000Z';
    const { client, createSubscription, moveClockTo } = await subscribed(harness, { ...terms, startAt, initialSeats: 5 });
    expect(createSubscription).toEqual({ currentPeriodStart: startAt, currentPeriodEnd: '2030-05-01T00:00:00.000Z' });
    const model = new BillingModel(terms, instant(startAt), 5);

    // 16 April: Apr 16..30 leaves 15 of 30 days. Lowering to 4 leaves the mark at 2, so adding 4
    // (to 8, billable 5) bills 3 seats: 3 × 2503 × 15 / 30 = 3754.5 exactly.
    const at = '2030-04-16T09:00:00.000Z';
    await moveClockTo(at);
    expect((await seats(client, 'removeSeats', 1)).charge).toBeNull();
    model.change(4, instant(at));

    const { previewSeatChange } = await client.ok(preview, { input: { customerId: CUSTOMER, featureCode: FEATURE, kind: 'ADD', count: 4 } });
    const added = await seats(client, 'addSeats', 4);
    const expected = model.change(8, instant(at))!;

    // The scenario is the tie it means to be, and the model rounds it up: 3754.5 → 3755.
    expect(isTie(3n * 2503n * 15n, 30n)).toBe(true);
    expect(model.ties).toBe(1);
    expect(expected).toMatchObject({ quantity: 3, unitPrice: 2503, daysRemaining: 15, daysInPeriod: 30, amount: 3755 });

    expect(added).toMatchObject({ previousBalance: 4, newBalance: 8, ts: at });
    expect(added.charge).toEqual({ ...expected, eventId: added.id });
    expect(previewSeatChange).toEqual({ previousBalance: 4, newBalance: 8, charge: expected, error: null });

    // Recorded as returned, after the period's advance (2 × 2503, caused by the initial seats'
    // event); the invoice adds May's advance (5 × 2503).
    expect((await client.ok(charges, { c: CUSTOMER })).seatCharges).toEqual([
      { ...model.recorded[0], eventId: expect.stringMatching(/^sev_/) },
      { ...expected, eventId: added.id },
    ]);
    const { upcomingInvoice } = await client.ok(invoice, { c: CUSTOMER });
    expect(upcomingInvoice.lines).toEqual(model.upcomingLines());
    expect(upcomingInvoice.total).toBe(3755 + 5 * 2503);
  });

  test('a tie on the last day of a 28-day February rounds up too: 1 × 1414 × 1 / 28 = 50.5', async ({ harness }) => {
    const terms = { interval: 'MONTH' as const, includedSeats: 0, unitPrice: 1414, currency: 'EUR' };
    const startAt = '2030-02-01T00:00:00.000Z';
    const { client, moveClockTo } = await subscribed(harness, { ...terms, startAt, initialSeats: 0 });
    const at = '2030-02-28T23:59:59.000Z';
    await moveClockTo(at);
    const { previewSeatChange } = await client.ok(preview, { input: { customerId: CUSTOMER, featureCode: FEATURE, kind: 'SET', count: 1 } });
    const { charge } = await seats(client, 'setSeats', 1);
    const expected = {
      kind: 'TRUE_UP',
      quantity: 1,
      unitPrice: 1414,
      daysRemaining: 1,
      daysInPeriod: 28,
      amount: 51,
      currency: 'EUR',
      ts: at,
      periodStart: startAt,
      periodEnd: '2030-03-01T00:00:00.000Z',
    };
    expect(charge).toEqual({ ...expected, eventId: expect.stringMatching(/^sev_/) });
    expect(previewSeatChange.charge).toEqual(expected);
  });
});

/** One step of a scenario: a seat change at an instant. */
type Step = { at: string; op: 'addSeats' | 'removeSeats' | 'setSeats'; count: number };

const scenarios: {
  name: string;
  interval: Interval;
  startAt: string;
  unitPrice: number;
  /** The days the first period touches, by hand, so that the model's calendar is checked too. */
  days: number;
  /** At least this many true-ups whose exact value is k + 1/2 (none can occur over an odd number of days). */
  ties: number;
  steps: Step[];
  /**
   * After the period's end: the renewal's advance at the lowered count (the steps end with a
   * decrease), then a raise above it, a true-up again since the mark starts from the advance.
   */
  renewAt: string;
}[] = [
  {
    name: 'a 28-day February of a common year',
    interval: 'MONTH',
    startAt: '2030-02-01T00:00:00Z',
    unitPrice: 1414, // 14 × 101: an odd quantity over an odd number of remaining days is a tie
    days: 28,
    ties: 2,
    steps: [
      { at: '2030-02-01T00:00:00Z', op: 'addSeats', count: 1 },
      { at: '2030-02-08T09:30:00Z', op: 'removeSeats', count: 2 },
      { at: '2030-02-08T09:30:00Z', op: 'addSeats', count: 3 },
      { at: '2030-02-15T12:00:00Z', op: 'setSeats', count: 8 },
      { at: '2030-02-28T23:59:59Z', op: 'addSeats', count: 1 },
      { at: '2030-02-28T23:59:59Z', op: 'removeSeats', count: 3 },
    ],
    renewAt: '2030-03-01T00:00:00Z',
  },
  {
    name: 'a 29-day February of a leap year',
    interval: 'MONTH',
    startAt: '2032-02-01T00:00:00Z',
    unitPrice: 2999,
    days: 29,
    ties: 0,
    steps: [
      { at: '2032-02-01T00:00:00Z', op: 'addSeats', count: 1 },
      { at: '2032-02-10T09:30:00Z', op: 'removeSeats', count: 2 },
      { at: '2032-02-10T09:30:00Z', op: 'addSeats', count: 3 },
      { at: '2032-02-20T12:00:00Z', op: 'setSeats', count: 8 },
      { at: '2032-02-29T23:59:59Z', op: 'addSeats', count: 1 },
      { at: '2032-02-29T23:59:59Z', op: 'removeSeats', count: 3 },
    ],
    renewAt: '2032-03-01T00:00:00Z',
  },
  {
    name: 'a 30-day April',
    interval: 'MONTH',
    startAt: '2030-04-01T00:00:00Z',
    unitPrice: 1515, // 15 × 101: an odd quantity over an odd number of remaining days is a tie
    days: 30,
    ties: 2,
    steps: [
      { at: '2030-04-01T00:00:00Z', op: 'addSeats', count: 1 },
      { at: '2030-04-14T09:30:00Z', op: 'removeSeats', count: 2 },
      { at: '2030-04-14T09:30:00Z', op: 'addSeats', count: 3 },
      { at: '2030-04-21T12:00:00Z', op: 'setSeats', count: 8 },
      { at: '2030-04-30T23:59:59Z', op: 'addSeats', count: 1 },
      { at: '2030-04-30T23:59:59Z', op: 'removeSeats', count: 3 },
    ],
    renewAt: '2030-05-01T00:00:00Z',
  },
  {
    name: 'a 31-day January',
    interval: 'MONTH',
    startAt: '2030-01-01T00:00:00Z',
    unitPrice: 2503,
    days: 31,
    ties: 0,
    steps: [
      { at: '2030-01-01T00:00:00Z', op: 'addSeats', count: 1 },
      { at: '2030-01-15T09:30:00Z', op: 'removeSeats', count: 2 },
      { at: '2030-01-15T09:30:00Z', op: 'addSeats', count: 3 },
      { at: '2030-01-24T12:00:00Z', op: 'setSeats', count: 8 },
      { at: '2030-01-31T23:59:59Z', op: 'addSeats', count: 1 },
      { at: '2030-01-31T23:59:59Z', op: 'removeSeats', count: 3 },
    ],
    renewAt: '2030-02-01T00:00:00Z',
  },
  {
    // Anchored mid-afternoon, a 30-day month's period touches 31 calendar days.
    name: 'a period anchored at 15:00, touching 31 days of April and May',
    interval: 'MONTH',
    startAt: '2030-04-10T15:00:00Z',
    unitPrice: 2503,
    days: 31,
    ties: 0,
    steps: [
      { at: '2030-04-10T15:00:00Z', op: 'addSeats', count: 1 },
      { at: '2030-04-30T23:59:59Z', op: 'removeSeats', count: 2 },
      { at: '2030-05-01T00:00:00Z', op: 'addSeats', count: 3 },
      { at: '2030-05-10T14:59:59Z', op: 'setSeats', count: 8 },
      { at: '2030-05-10T14:59:59Z', op: 'removeSeats', count: 3 },
    ],
    renewAt: '2030-05-10T15:00:00Z',
  },
  {
    name: 'a 366-day year across 29 February',
    interval: 'YEAR',
    startAt: '2031-03-01T00:00:00Z',
    unitPrice: 1647, // 183 × 9: an odd quantity over an odd number of remaining days is a tie
    days: 366,
    ties: 2,
    steps: [
      { at: '2031-03-01T00:00:00Z', op: 'addSeats', count: 1 },
      { at: '2031-12-31T18:00:00Z', op: 'removeSeats', count: 2 },
      { at: '2031-12-31T18:00:00Z', op: 'addSeats', count: 3 },
      { at: '2032-02-29T23:59:59Z', op: 'addSeats', count: 1 },
      { at: '2032-02-29T23:59:59Z', op: 'removeSeats', count: 3 },
    ],
    renewAt: '2032-03-01T00:00:00Z',
  },
];

describe('amounts over periods of every length, against the model', () => {
  test.for(scenarios)('$name', async (scenario, { harness }) => {
    const terms = { interval: scenario.interval, includedSeats: 2, unitPrice: scenario.unitPrice, currency: 'EUR' };
    const startAt = iso(instant(scenario.startAt));
    const { client, createSubscription, moveClockTo } = await subscribed(harness, { ...terms, startAt, initialSeats: 3 });
    const model = new BillingModel(terms, instant(startAt), 3);
    expect(daysIn(model.period)).toBe(scenario.days);
    expect(createSubscription).toEqual({ currentPeriodStart: iso(model.period.start), currentPeriodEnd: iso(model.period.end) });

    const apply = async ({ at, op, count }: Step) => {
      const when = iso(instant(at));
      await moveClockTo(when);
      const event = await seats(client, op, count);
      const previous = model.balance;
      const next = op === 'addSeats' ? previous + count : op === 'removeSeats' ? previous - count : count;
      const expected = model.change(next, instant(when));
      expect(event).toMatchObject({ previousBalance: previous, newBalance: next, ts: when });
      expect(event.charge, `${op} ${count} at ${when}`).toEqual(expected && { ...expected, eventId: event.id });
    };
    for (const step of scenario.steps) await apply(step);
    // The steps reach the period's first and last days.
    const touched = scenario.steps.map((step) => daysLeft(model.period, instant(step.at)));
    expect(Math.max(...touched)).toBe(scenario.days);
    expect(Math.min(...touched)).toBe(1);
    expect(model.ties).toBeGreaterThanOrEqual(scenario.ties);

    // Before the period ends: its true-ups and the next advance at today's balance.
    const before = (await client.ok(invoice, { c: CUSTOMER })).upcomingInvoice;
    const lines = model.upcomingLines();
    const next = periodAfter(model.period.end, terms.interval);
    expect(before).toEqual({
      currentPeriodStart: iso(model.period.start),
      currentPeriodEnd: iso(model.period.end),
      nextPeriodStart: iso(next.start),
      nextPeriodEnd: iso(next.end),
      billingDate: iso(model.period.end),
      total: lines.reduce((sum, line) => sum + line.amount, 0),
      lines,
    });

    // The renewal bills the next period in advance, over its own length, at the lowered count;
    // the mark starts again from it, so raising back to where the last period ended is charged.
    await moveClockTo(iso(instant(scenario.renewAt)));
    model.renew();
    await apply({ at: scenario.renewAt, op: 'addSeats', count: 4 });
    const recorded = (await client.ok(charges, { c: CUSTOMER })).seatCharges;
    expect(recorded.map(({ eventId: _eventId, ...charge }: { eventId: string | null }) => charge)).toEqual(model.recorded);
  });
});
