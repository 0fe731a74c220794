import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { periodBoundary } from '../src/billing/periods.ts';
import type { SeatTerms } from '../src/model/catalog.ts';
import {
  advanceFor,
  billableSeats,
  creditFor,
  daysInPeriod,
  daysRemaining,
  maxAmountPerPeriod,
  planChangeChargeFor,
  roundHalfUp,
  trueUpAmount,
  trueUpFor,
  withinAmountLimit,
} from '../src/billing/proration.ts';

const at = (iso: string) => new Date(iso);
const period = (start: string, end: string) => ({ start: at(start), end: at(end) });
const terms: SeatTerms = { includedSeats: 5, unlimited: false, overageEnabled: true, unitPrice: 2500, minimumSeats: 0, maximumSeats: null };

describe('days of a period', () => {
  test.each([
    ['a 28-day February', '2027-02-01T00:00:00Z', '2027-03-01T00:00:00Z', 28],
    ['a leap-year February', '2028-02-01T00:00:00Z', '2028-03-01T00:00:00Z', 29],
    ['a 30-day April', '2027-04-01T00:00:00Z', '2027-05-01T00:00:00Z', 30],
    ['a 31-day March', '2027-03-01T00:00:00Z', '2027-04-01T00:00:00Z', 31],
    ['a 365-day year', '2027-01-01T00:00:00Z', '2028-01-01T00:00:00Z', 365],
    ['a 366-day year', '2028-01-01T00:00:00Z', '2029-01-01T00:00:00Z', 366],
    // Anchored mid-day, a period touches its first and last calendar days in part.
    ['a mid-day anchor', '2027-04-15T10:00:00Z', '2027-05-15T10:00:00Z', 31],
  ])('%s has %#: %s to %s', (_name, start, end, days) => {
    expect(daysInPeriod(period(start, end))).toBe(days);
  });

  test('days remaining count the day of the change and the last day', () => {
    const march = period('2027-03-01T00:00:00Z', '2027-04-01T00:00:00Z');
    expect(daysRemaining(march, at('2027-03-01T00:00:00Z'))).toBe(31);
    expect(daysRemaining(march, at('2027-03-15T08:00:00Z'))).toBe(17);
    expect(daysRemaining(march, at('2027-03-31T23:59:59Z'))).toBe(1);
    expect(daysRemaining(march, at('2027-03-14T23:59:59Z'))).toBe(18);
  });
});

describe('amounts', () => {
  test('the worked examples of the contract', () => {
    // 1 extra seat, 15 days before the end of a 30-day period, at 2500.
    const april = period('2027-04-01T00:00:00Z', '2027-05-01T00:00:00Z');
    expect(daysRemaining(april, at('2027-04-16T09:00:00Z'))).toBe(15);
    expect(trueUpAmount(1, 2500, 15, 30)).toBe(1250);
    // 5 extra seats on 15 March in a March period at 5000: 13709.67 rounds to 13710.
    const march = period('2027-03-01T00:00:00Z', '2027-04-01T00:00:00Z');
    const { charge } = trueUpFor({ newBalance: 10, highWaterMark: 0, at: at('2027-03-15T12:00:00Z') }, { ...terms, unitPrice: 5000 }, march);
    expect(charge).toMatchObject({ kind: 'TRUE_UP', quantity: 5, daysRemaining: 17, daysInPeriod: 31, amount: 13710 });
  });

  test.each([
    ['exactly .5 rounds up', 1n, 2n, 1n],
    ['below .5 rounds down', 4n, 9n, 0n],
    ['above .5 rounds up', 5n, 9n, 1n],
    ['2.5 rounds to 3', 5n, 2n, 3n],
    ['an exact quotient stays', 10n, 5n, 2n],
    ['zero', 0n, 7n, 0n],
  ])('%s', (_name, numerator, denominator, expected) => {
    expect(roundHalfUp(numerator, denominator)).toBe(expected);
  });

  test.each([
    ['a negative numerator', -1n, 2n],
    ['a zero denominator', 1n, 0n],
    ['a negative denominator', 1n, -2n],
  ])('rounding refuses %s', (_name, numerator, denominator) => {
    expect(() => roundHalfUp(numerator, denominator)).toThrow(/non-negative numerator and a positive denominator/);
  });

  test('billable seats may cost up to maxAmountPerPeriod in one period, not one minor unit more', () => {
    // 1000 × 10^10 is exactly the bound; 1001 seats pass it.
    const bound = { ...terms, includedSeats: 5, unitPrice: maxAmountPerPeriod / 1000 };
    expect(withinAmountLimit(5 + 1000, bound)).toBe(true);
    expect(withinAmountLimit(5 + 1001, bound)).toBe(false);
    expect(withinAmountLimit(5 + 1001, { ...bound, overageEnabled: false })).toBe(true);
  });

  test('a half minor unit rounds up in a real charge: 1 seat × 15 × 1/30', () => {
    expect(trueUpAmount(1, 15, 1, 30)).toBe(1); // 0.5 → 1
    expect(trueUpAmount(1, 14, 1, 30)).toBe(0); // 0.4666… → 0
  });

  test('products beyond 2^53 stay exact', () => {
    // 1,000,000 seats × 2,147,483,647 × 365 / 366 would lose digits in floating point.
    const exact = (1_000_000n * 2_147_483_647n * 365n * 2n + 366n) / (2n * 366n);
    expect(trueUpAmount(1_000_000, 2_147_483_647, 365, 366)).toBe(Number(exact));
  });

  test('changes on the first and on the last day of a period', () => {
    const feb = period('2027-02-01T00:00:00Z', '2027-03-01T00:00:00Z');
    const first = trueUpFor({ newBalance: 6, highWaterMark: 0, at: at('2027-02-01T00:00:00Z') }, terms, feb).charge!;
    expect(first).toMatchObject({ daysRemaining: 28, daysInPeriod: 28, amount: 2500 });
    const last = trueUpFor({ newBalance: 6, highWaterMark: 0, at: at('2027-02-28T23:59:59Z') }, terms, feb).charge!;
    expect(last).toMatchObject({ daysRemaining: 1, daysInPeriod: 28, amount: 89 }); // 2500/28 = 89.28…
  });

  test('unlimited features and features without overage never bill', () => {
    expect(billableSeats(100, { ...terms, unlimited: true })).toBe(0);
    expect(billableSeats(100, { ...terms, overageEnabled: false })).toBe(0);
    expect(billableSeats(3, terms)).toBe(0);
    expect(billableSeats(8, terms)).toBe(3);
    expect(advanceFor(8, terms, period('2027-04-01T00:00:00Z', '2027-05-01T00:00:00Z'))).toMatchObject({
      kind: 'ADVANCE',
      quantity: 3,
      amount: 7500,
      daysRemaining: 30,
    });
    expect(advanceFor(5, terms, period('2027-04-01T00:00:00Z', '2027-05-01T00:00:00Z'))).toBeNull();
  });
});

describe('properties', () => {
  const anchor = fc.date({ min: at('2020-01-01T00:00:00Z'), max: at('2040-01-01T00:00:00Z'), noInvalidDate: true });
  const monthly = anchor.map((start) => ({ start, end: periodBoundary(start, 'MONTH', 1) }));
  const within = (p: { start: Date; end: Date }, fraction: number) =>
    new Date(p.start.getTime() + Math.floor(fraction * (p.end.getTime() - p.start.getTime() - 1)));
  const price = fc.integer({ min: 0, max: 1_000_000 });

  test('a change within the included seats never charges', () => {
    fc.assert(
      fc.property(monthly, fc.double({ min: 0, max: 1, noNaN: true }), fc.nat(50), fc.nat(60), price, (p, f, included, seats, unitPrice) => {
        const t = { ...terms, includedSeats: included, unitPrice };
        fc.pre(seats <= included);
        expect(trueUpFor({ newBalance: seats, highWaterMark: 0, at: within(p, f) }, t, p).charge).toBeNull();
      }),
    );
  });

  test('splitting one increase into several within a day charges the same total, up to one minor unit per split', () => {
    fc.assert(
      fc.property(
        monthly,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 8 }),
        price,
        (p, f, steps, unitPrice) => {
          const t = { ...terms, includedSeats: 0, unitPrice };
          const when = within(p, f);
          let mark = 0;
          let total = 0;
          for (const step of steps) {
            const result = trueUpFor({ newBalance: mark + step, highWaterMark: mark, at: when }, t, p);
            total += result.charge?.amount ?? 0;
            mark = result.highWaterMark;
          }
          const whole = trueUpFor({ newBalance: mark, highWaterMark: 0, at: when }, t, p).charge?.amount ?? 0;
          expect(Math.abs(total - whole)).toBeLessThanOrEqual(steps.length);
        },
      ),
    );
  });

  test('add, remove and add again to the same level within a period charges once', () => {
    fc.assert(
      fc.property(
        monthly,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 30 }),
        price,
        (p, f, up, down, unitPrice) => {
          const t = { ...terms, includedSeats: 2, unitPrice };
          const when = within(p, f);
          const level = 2 + up;
          const first = trueUpFor({ newBalance: level, highWaterMark: 0, at: when }, t, p);
          const lowered = trueUpFor({ newBalance: Math.max(0, level - down), highWaterMark: first.highWaterMark, at: when }, t, p);
          const again = trueUpFor({ newBalance: level, highWaterMark: lowered.highWaterMark, at: when }, t, p);
          expect(first.charge).not.toBeNull();
          expect(lowered.charge).toBeNull();
          expect(again.charge).toBeNull();
          expect(again.highWaterMark).toBe(up);
        },
      ),
    );
  });

  test('charges are never negative and never exceed the full-period price', () => {
    fc.assert(
      fc.property(monthly, fc.double({ min: 0, max: 1, noNaN: true }), fc.nat(1000), fc.nat(1000), price, (p, f, balance, mark, unitPrice) => {
        const t = { ...terms, includedSeats: 0, unitPrice };
        const { charge } = trueUpFor({ newBalance: balance, highWaterMark: mark, at: within(p, f) }, t, p);
        if (charge) {
          expect(charge.amount).toBeGreaterThanOrEqual(0);
          expect(charge.amount).toBeLessThanOrEqual(charge.quantity * unitPrice);
          expect(charge.daysRemaining).toBeGreaterThanOrEqual(1);
          expect(charge.daysRemaining).toBeLessThanOrEqual(charge.daysInPeriod);
        }
      }),
    );
  });
});

test('a change stamped just before its period starts (another process’s clock ran ahead) counts from the first day', () => {
  const april = period('2027-04-01T00:00:00Z', '2027-05-01T00:00:00Z');
  const { charge } = trueUpFor({ newBalance: 6, highWaterMark: 0, at: at('2027-03-31T23:59:59.990Z') }, terms, april);
  expect(charge).toMatchObject({ daysRemaining: 30, daysInPeriod: 30, amount: 2500 });
});

describe('the credit of an immediate cancellation', () => {
  const january = period('2031-01-01T00:00:00Z', '2031-02-01T00:00:00Z');
  const at3000 = { ...terms, unitPrice: 3000 };

  test('credits the seats paid for the days left, the day of the cancellation included, rounded half up once, negative', () => {
    expect(creditFor(5, at3000, january, at('2031-01-21T15:00:00Z'))).toEqual({
      kind: 'CREDIT',
      quantity: 5,
      unitPrice: 3000,
      daysRemaining: 11,
      daysInPeriod: 31,
      // 5 × 3000 × 11 / 31 = 5322.58…
      amount: -5323,
      period: january,
    });
  });

  test('a cancellation on the first day credits the whole period; an instant just before the start counts as its first day', () => {
    expect(creditFor(2, at3000, january, at('2031-01-01T00:00:00Z'))).toMatchObject({ daysRemaining: 31, amount: -6000 });
    expect(creditFor(2, at3000, january, at('2030-12-31T23:59:59Z'))).toMatchObject({ daysRemaining: 31, amount: -6000 });
  });

  test('nothing paid, or an amount that rounds to 0, records no credit', () => {
    expect(creditFor(0, at3000, january, at('2031-01-10T00:00:00Z'))).toBeNull();
    expect(creditFor(-1, at3000, january, at('2031-01-10T00:00:00Z'))).toBeNull();
    // 1 × 1 × 1 / 31 = 0.03…
    expect(creditFor(1, { ...terms, unitPrice: 1 }, january, at('2031-01-31T12:00:00Z'))).toBeNull();
  });

  test('equals minus the true-up of the same seats on the same day, for any seats, price and day', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 0, max: 30 }), (seats, unitPrice, day) => {
        const on = new Date(january.start.getTime() + day * 86_400_000);
        const credit = creditFor(seats, { ...terms, unitPrice }, january, on);
        const amount = trueUpAmount(seats, unitPrice, daysRemaining(january, on), 31);
        expect(credit === null ? 0 : -credit.amount).toBe(amount);
      }),
    );
  });
});

describe("the new plan's charge of an immediate plan change", () => {
  const february = period('2028-02-01T00:00:00Z', '2028-03-01T00:00:00Z');
  const at5000 = { ...terms, includedSeats: 2, unitPrice: 5000 };

  test('charges the billable seats under the new terms for the days left, the day of the change included, rounded half up once', () => {
    // 6 seats, 2 included: 4 × 5000 × 10 / 29 = 6896.55…
    expect(planChangeChargeFor(6, at5000, february, at('2028-02-20T09:00:00Z'))).toEqual({
      kind: 'PLAN_CHANGE',
      quantity: 4,
      unitPrice: 5000,
      daysRemaining: 10,
      daysInPeriod: 29,
      amount: 6897,
      period: february,
    });
  });

  test('on the first day it charges the whole period; nothing billable, or an amount that rounds to 0, charges nothing', () => {
    expect(planChangeChargeFor(3, at5000, february, at('2028-02-01T00:00:00Z'))).toMatchObject({ quantity: 1, daysRemaining: 29, amount: 5000 });
    expect(planChangeChargeFor(2, at5000, february, at('2028-02-10T00:00:00Z'))).toBeNull();
    expect(planChangeChargeFor(0, at5000, february, at('2028-02-10T00:00:00Z'))).toBeNull();
    // 1 × 1 × 1 / 29 = 0.03…
    expect(planChangeChargeFor(3, { ...at5000, unitPrice: 1 }, february, at('2028-02-29T12:00:00Z'))).toBeNull();
    expect(planChangeChargeFor(9, { ...at5000, unlimited: true }, february, at('2028-02-10T00:00:00Z'))).toBeNull();
  });

  test('equals minus the credit of the same billable seats on the same day, for any seats, price and day', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 0, max: 28 }), (seats, unitPrice, day) => {
        const on = new Date(february.start.getTime() + day * 86_400_000);
        const charge = planChangeChargeFor(seats, { ...at5000, unitPrice }, february, on);
        const credit = creditFor(Math.max(0, seats - 2), { ...at5000, unitPrice }, february, on);
        expect(charge === null ? 0 : charge.amount).toBe(credit === null ? 0 : -credit.amount);
      }),
    );
  });
});
