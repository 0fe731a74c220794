import fc from 'fast-check';
import { describe, expect, test } from '../fixtures.ts';
import { advanceFor, trueUpFor } from '../../src/billing/proration.ts';
import { billableBalance } from '../../src/flows/seat-pricing.ts';
import { DomainError } from '../../src/common/errors.ts';
import { balanceOf, expectLedgerWhole, seatScenario } from '../helpers.ts';

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

// The documented maxima (docs/billing.md), written out rather than imported: a constant that
// drifted from the contract must fail here, not move the expectations with it.
const maxUnitPrice = 1_000_000_000;
const maxAmountPerPeriod = 10_000_000_000_000;
const maxSeatBalance = 10_000_000;
/** Seats above the included ones, for a feature with overage. */
const billable = (seats: number, includedSeats: number) => Math.max(0, seats - includedSeats);

describe('money is exact within documented maxima', () => {
  // For any terms and balances the API accepts, every amount is the exact product, and a whole
  // invoice of 100 features (this period's true-ups and the next advance) stays a safe integer.
  const accepted = fc
    .record({
      includedSeats: fc.integer({ min: 0, max: 1_000_000 }),
      unitPrice: fc.oneof(fc.integer({ min: 0, max: maxUnitPrice }), fc.constant(maxUnitPrice)),
      from: fc.integer({ min: 0, max: maxSeatBalance }),
      to: fc.integer({ min: 0, max: maxSeatBalance }),
      day: fc.integer({ min: 0, max: 30 }),
    })
    .filter(({ includedSeats, unitPrice, to }) => BigInt(billable(to, includedSeats)) * BigInt(unitPrice) <= BigInt(maxAmountPerPeriod));

  test('every true-up and advance equals its exact product, below the per-period maximum', () => {
    fc.assert(
      fc.property(accepted, ({ includedSeats, unitPrice, from, to, day }) => {
        const terms = { includedSeats, unlimited: false, overageEnabled: true, unitPrice, minimumSeats: 0, maximumSeats: null };
        // January 2030: 31 days; a change on day `day` (0-based) leaves 31 − day of them.
        const start = new Date('2030-01-01T00:00:00Z');
        const period = { start, end: new Date('2030-02-01T00:00:00Z') };
        const mark = Math.min(billable(from, includedSeats), billable(to, includedSeats));
        const { charge } = trueUpFor({ newBalance: to, highWaterMark: mark, at: new Date(start.getTime() + day * 86_400_000) }, terms, period);
        const quantity = billable(to, includedSeats) - mark;
        if (quantity === 0) expect(charge).toBeNull();
        else {
          const exact = BigInt(quantity) * BigInt(unitPrice) * BigInt(31 - day);
          const rounded = exact / 31n + (2n * (exact % 31n) >= 31n ? 1n : 0n);
          expect(charge).toMatchObject({ quantity, daysRemaining: 31 - day, daysInPeriod: 31 });
          expect(BigInt(charge!.amount)).toBe(rounded);
          expect(charge!.amount).toBeLessThanOrEqual(maxAmountPerPeriod);
        }
        const advance = advanceFor(to, terms, period);
        if (billable(to, includedSeats) === 0) expect(advance).toBeNull();
        else {
          expect(BigInt(advance!.amount)).toBe(BigInt(billable(to, includedSeats)) * BigInt(unitPrice));
          expect(advance!.amount).toBeLessThanOrEqual(maxAmountPerPeriod);
        }
        // An invoice at the worst: 100 features, each with true-ups and an advance at the maximum.
        expect(100n * 2n * BigInt(maxAmountPerPeriod)).toBeLessThan(SAFE);
      }),
      { numRuns: 500 },
    );
  });

  test('the rules refuse, before any write, a balance past the ceiling or a feature billing past the maximum', () => {
    const terms = { includedSeats: 0, unlimited: false, overageEnabled: true, unitPrice: maxUnitPrice, minimumSeats: 0, maximumSeats: null };
    const perPeriodCap = maxAmountPerPeriod / maxUnitPrice;
    expect(billableBalance(0, 'SET', perPeriodCap, terms, 'editor', 'count')).toBe(perPeriodCap);
    const overAmount = () => billableBalance(perPeriodCap, 'ADD', 1, terms, 'editor', 'count');
    expect(overAmount).toThrow(DomainError);
    expect(overAmount).toThrow(/per period/);
    const cheap = { ...terms, unitPrice: 1 };
    expect(() => billableBalance(maxSeatBalance, 'ADD', 1, cheap, 'editor', 'count')).toThrow(/at most 10000000 seats/);
    // Lowering always works, even from above a maximum.
    expect(billableBalance(maxSeatBalance + 5, 'REMOVE', 1, cheap, 'editor', 'count')).toBe(maxSeatBalance + 4);
  });
});

describe('through the API', () => {
  test('a unit price past the maximum is refused naming the field', async ({ scenario: s }) => {
    const refused = await s.client.fails(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
      input: {
        code: 'dear',
        name: 'Dear',
        currency: 'EUR',
        interval: 'MONTH',
        seatFeatures: [{ featureCode: 'editor', includedSeats: 0, overageEnabled: true, unitPrice: maxUnitPrice + 1 }],
      },
    });
    expect(refused.extensions).toMatchObject({ code: 'validation_error', param: 'seatFeatures.0.unitPrice' });
  });

  test('at the maxima every charge and invoice reads back exact; one seat more is refused and changes nothing', async ({ harness }) => {
    const s = await seatScenario(harness, { features: [{ code: 'editor', includedSeats: 0, overageEnabled: true, unitPrice: maxUnitPrice }] });
    const cap = maxAmountPerPeriod / maxUnitPrice;
    const { setSeats } = await s.client.ok(
      /* GraphQL */ `mutation($input: SetSeatsInput!) { setSeats(input: $input) { newBalance charge { amount quantity daysRemaining daysInPeriod } } }`,
      {
        input: { customerId: s.customerId, featureCode: 'editor', count: cap },
      },
    );
    const { quantity, daysRemaining, daysInPeriod, amount } = setSeats.charge;
    expect(quantity).toBe(cap);
    expect(BigInt(amount)).toBe((2n * BigInt(cap) * BigInt(maxUnitPrice) * BigInt(daysRemaining) + BigInt(daysInPeriod)) / (2n * BigInt(daysInPeriod)));

    const refused = await s.client.fails(/* GraphQL */ `mutation($input: AddSeatsInput!) { addSeats(input: $input) { id } }`, {
      input: { customerId: s.customerId, featureCode: 'editor', count: 1 },
    });
    expect(refused.extensions).toMatchObject({ code: 'validation_error', param: 'count' });
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(cap);
    expect(await expectLedgerWhole(harness, s.customerId, 'editor')).toHaveLength(1);

    const { upcomingInvoice, seatCharges } = await s.client.ok(
      /* GraphQL */ `query($c: String!) { upcomingInvoice(customerId: $c) { total lines { amount } } seatCharges(customerId: $c) { amount } }`,
      { c: s.customerId },
    );
    expect(upcomingInvoice.total).toBe(amount + maxAmountPerPeriod);
    expect(seatCharges).toEqual([{ amount }]);
  });

  test('a balance stops at its ceiling with validation_error, never a database error', async ({ harness }) => {
    const s = await seatScenario(harness, { features: [{ code: 'editor', includedSeats: 0, overageEnabled: false, unlimited: true }] });
    const add = (count: number) =>
      s.client.run(/* GraphQL */ `mutation($input: AddSeatsInput!) { addSeats(input: $input) { newBalance } }`, {
        input: { customerId: s.customerId, featureCode: 'editor', count },
      });
    for (let i = 0; i < maxSeatBalance / 1_000_000; i++) expect((await add(1_000_000)).errors).toBeUndefined();
    const refused = await add(1);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'validation_error', param: 'count' });
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(maxSeatBalance);
    expect(harness.logs.filter((line) => line.includes('"level":"error"'))).toEqual([]);
  });
});
