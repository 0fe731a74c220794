import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { DomainError } from '../src/common/errors.ts';
import { billableBalance, planChange } from '../src/flows/seat-pricing.ts';
import type { SeatLimits } from '../src/model/catalog.ts';
import { nextBalance } from '../src/seats/rules.ts';

const capped: SeatLimits = { includedSeats: 5, unlimited: false, overageEnabled: false, minimumSeats: 0, maximumSeats: null };
const overage: SeatLimits = { includedSeats: 5, unlimited: false, overageEnabled: true, minimumSeats: 0, maximumSeats: null };
const unlimited: SeatLimits = { includedSeats: 0, unlimited: true, overageEnabled: false, minimumSeats: 0, maximumSeats: null };

type Kind = 'ADD' | 'REMOVE' | 'SET';
type Refusal = 'insufficient_seats' | 'seat_limit_exceeded' | 'validation_error';

type Outcome = { balance: number } | { code: string; param: string | null; limit?: string; value?: number };

/**
 * What a call did: the balance, or the code and param of the DomainError it threw, with the limit
 * and its value when the refusal names one (seat_limit_exceeded at minimumSeats or maximumSeats).
 */
const outcomeOf = (work: () => number): Outcome => {
  try {
    return { balance: work() };
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    const detail = error.details?.[0];
    return { code: error.code, param: error.param, ...(detail?.limit ? { limit: detail.limit, value: detail.value } : {}) };
  }
};

// ---- The model: the contract's seat rules (docs/api.md "Rules worth knowing", docs/billing.md), written
// out here, maxima included, so that the rules are checked against something they did not compute.

const MAX_BALANCE = 10_000_000;
const MAX_AMOUNT_PER_PERIOD = 10_000_000_000_000n;

/**
 * The balance a change leaves, or why it is refused: removing below zero; raising a balance past
 * its maximum; leaving it above the feature's maximumSeats or below its minimumSeats, whichever
 * way it moved (those refusals carry the limit); raising a capped feature (no overage, not
 * unlimited) above its included seats; and, with the money rule, raising billable seats ×
 * unitPrice past the per-period maximum. Otherwise lowering and no-op sets pass, even from above
 * a cap. The order of the checks decides the code when several apply: a balance past its maximum
 * is bad input whatever the plan.
 */
function expected(
  current: number,
  kind: Kind,
  count: number,
  terms: SeatLimits & { unitPrice?: number },
): { balance: number } | { code: Refusal; reason: string; limit?: 'MINIMUM' | 'MAXIMUM'; value?: number } {
  const wanted = kind === 'ADD' ? current + count : kind === 'REMOVE' ? current - count : count;
  if (wanted < 0) return { code: 'insufficient_seats', reason: 'below zero' };
  if (wanted > current && wanted > MAX_BALANCE) return { code: 'validation_error', reason: 'balance maximum' };
  if (terms.maximumSeats !== null && wanted > terms.maximumSeats) {
    return { code: 'seat_limit_exceeded', reason: 'maximumSeats', limit: 'MAXIMUM', value: terms.maximumSeats };
  }
  if (wanted < terms.minimumSeats) return { code: 'seat_limit_exceeded', reason: 'minimumSeats', limit: 'MINIMUM', value: terms.minimumSeats };
  if (wanted <= current) return { balance: wanted };
  const isCapped = !terms.unlimited && !terms.overageEnabled;
  if (isCapped && wanted > terms.includedSeats) return { code: 'seat_limit_exceeded', reason: 'cap' };
  if (terms.unitPrice !== undefined) {
    const billable = terms.unlimited || !terms.overageEnabled ? 0 : Math.max(0, wanted - terms.includedSeats);
    if (BigInt(billable) * BigInt(terms.unitPrice) > MAX_AMOUNT_PER_PERIOD) return { code: 'validation_error', reason: 'amount maximum' };
  }
  return { balance: wanted };
}

describe('nextBalance', () => {
  test.each([
    ['add', 2, 'ADD', 3, overage, 5],
    ['add past the included seats with overage', 4, 'ADD', 3, overage, 7],
    ['add on unlimited', 100, 'ADD', 1_000_000, unlimited, 1_000_100],
    ['remove', 4, 'REMOVE', 4, capped, 0],
    ['set up to the limit', 0, 'SET', 5, capped, 5],
    ['set down while above the limit', 9, 'SET', 7, capped, 7],
    ['a no-op set above the limit', 9, 'SET', 9, capped, 9],
    ['remove while above the limit', 9, 'REMOVE', 1, capped, 8],
    ['add up to the balance maximum', 9_000_000, 'ADD', 1_000_000, unlimited, 10_000_000],
    ['lower from above the balance maximum', 10_000_005, 'REMOVE', 1, overage, 10_000_004],
  ] as const)('%s', (_name, current, kind, count, terms, balance) => {
    expect(outcomeOf(() => nextBalance(current, kind, count, terms, 'editor'))).toEqual({ balance });
  });

  test.each([
    ['remove more than held', 3, 'REMOVE', 4, overage, 'insufficient_seats'],
    ['add past a hard limit', 5, 'ADD', 1, capped, 'seat_limit_exceeded'],
    ['set past a hard limit', 0, 'SET', 6, capped, 'seat_limit_exceeded'],
    ['add while already above a hard limit', 9, 'ADD', 1, capped, 'seat_limit_exceeded'],
    ['add past the balance maximum', 9_000_001, 'ADD', 1_000_000, unlimited, 'validation_error'],
    ['add past the balance maximum on a capped feature: the maximum decides', 10_000_000, 'ADD', 1, capped, 'validation_error'],
  ] as const)('%s is refused', (_name, current, kind, count, terms, code) => {
    expect(outcomeOf(() => nextBalance(current, kind, count, terms, 'editor', 'seats.2.count'))).toEqual({ code, param: 'seats.2.count' });
  });
});

describe('nextBalance: minimumSeats and maximumSeats', () => {
  // 2 to 10 seats, overage allowed above the 5 included.
  const bounded: SeatLimits = { ...overage, minimumSeats: 2, maximumSeats: 10 };
  test.each([
    ['add up to the maximum', 7, 'ADD', 3, 10],
    ['set to the maximum', 0, 'SET', 10, 10],
    ['remove down to the minimum', 5, 'REMOVE', 3, 2],
    ['set to the minimum', 9, 'SET', 2, 2],
  ] as const)('%s passes', (_name, current, kind, count, balance) => {
    expect(outcomeOf(() => nextBalance(current, kind, count, bounded, 'editor'))).toEqual({ balance });
  });

  test.each([
    ['add past the maximum', 7, 'ADD', 4, 'MAXIMUM', 10],
    ['set past the maximum', 2, 'SET', 11, 'MAXIMUM', 10],
    ['remove below the minimum', 5, 'REMOVE', 4, 'MINIMUM', 2],
    ['set below the minimum', 5, 'SET', 1, 'MINIMUM', 2],
    ['set to 0 with a minimum', 5, 'SET', 0, 'MINIMUM', 2],
    ['lower while still above the maximum', 14, 'REMOVE', 1, 'MAXIMUM', 10],
  ] as const)('%s is refused with the limit', (_name, current, kind, count, limit, value) => {
    expect(outcomeOf(() => nextBalance(current, kind, count, bounded, 'editor', 'seats.2.count'))).toEqual({
      code: 'seat_limit_exceeded',
      param: 'seats.2.count',
      limit,
      value,
    });
  });

  test('the refusal names the feature, the limit and its value in its detail', () => {
    try {
      nextBalance(7, 'ADD', 4, bounded, 'editor', 'seats.2.count');
      expect.unreachable();
    } catch (error) {
      expect((error as DomainError).details).toEqual([
        { field: 'seats.2.count', message: (error as DomainError).message, featureCode: 'editor', limit: 'MAXIMUM', value: 10 },
      ]);
      expect((error as DomainError).message).toMatch(/at most 10 seats of 'editor'; 11 requested/);
    }
  });

  test('removing more than held is insufficient_seats, not the minimum', () => {
    expect(outcomeOf(() => nextBalance(3, 'REMOVE', 4, bounded, 'editor'))).toEqual({ code: 'insufficient_seats', param: 'count' });
  });

  test('past the maximum on a capped feature, the maximum is the one named', () => {
    const cappedBounded: SeatLimits = { ...capped, maximumSeats: 8 };
    expect(outcomeOf(() => nextBalance(5, 'ADD', 4, cappedBounded, 'viewer'))).toEqual({
      code: 'seat_limit_exceeded',
      param: 'count',
      limit: 'MAXIMUM',
      value: 8,
    });
    // Between includedSeats and maximumSeats the cap refuses, as before, without a limit detail.
    expect(outcomeOf(() => nextBalance(5, 'ADD', 1, cappedBounded, 'viewer'))).toEqual({ code: 'seat_limit_exceeded', param: 'count' });
  });
});

describe('billableBalance: the money maximum', () => {
  const dear = { includedSeats: 0, unlimited: false, overageEnabled: true, unitPrice: 1_000_000_000, minimumSeats: 0, maximumSeats: null };
  test.each([
    ['billing exactly the maximum passes', 0, 'SET', 10_000, dear, { balance: 10_000 }],
    ['one seat more is refused', 10_000, 'ADD', 1, dear, { code: 'validation_error', param: 'count' }],
    ['included seats are not billed', 0, 'SET', 10_005, { ...dear, includedSeats: 5 }, { balance: 10_005 }],
    ['unlimited seats are not billed', 0, 'SET', 1_000_000, { ...dear, unlimited: true }, { balance: 1_000_000 }],
    ['lowering from above the maximum passes', 20_000, 'REMOVE', 1, dear, { balance: 19_999 }],
    ['a no-op set above the maximum passes', 20_000, 'SET', 20_000, dear, { balance: 20_000 }],
  ] as const)('%s', (_name, current, kind, count, terms, outcome) => {
    expect(outcomeOf(() => billableBalance(current, kind, count, terms, 'editor', 'count'))).toEqual(outcome);
  });
});

describe('planChange', () => {
  test('a bulk entry is refused naming its own count', () => {
    const period = { start: new Date('2030-01-01T00:00:00Z'), end: new Date('2030-02-01T00:00:00Z') };
    const refused = outcomeOf(
      () =>
        planChange(
          { current: 2, highWaterMark: 0 },
          { featureCode: 'viewer', kind: 'SET', count: 6, at: 'seats.3.' },
          { ...capped, unitPrice: 0 },
          period,
          period.start,
        ).newBalance,
    );
    expect(refused).toEqual({ code: 'seat_limit_exceeded', param: 'seats.3.count' });
  });
});

describe('properties: every change gets exactly the outcome the model gives', () => {
  const kind = fc.constantFrom<Kind>('ADD', 'REMOVE', 'SET');
  // Small values meet each other (caps, removals past the balance); values near the maxima meet
  // those, from below and from above (a balance may stand above a maximum lowered since).
  const current = fc.oneof(
    fc.nat(60),
    fc.integer({ min: 8_990_000, max: 10_000_010 }),
    fc.constantFrom(0, 9_999, 10_000, 10_001, 10_000_000, 10_000_005, 10_000_060),
  );
  const count = (k: Kind) =>
    fc.oneof(
      fc.integer({ min: k === 'SET' ? 0 : 1, max: 60 }),
      fc.integer({ min: 990_000, max: 1_000_000 }),
      fc.constantFrom(1, 9_999, 10_000, 10_001, 1_000_000),
    );
  // Limits of any value, consistent or not: the rules must hold whatever the database holds.
  // Mostly small, to meet small balances; often absent, so the other refusals stay reachable.
  const terms = fc.record({
    includedSeats: fc.oneof(fc.nat(50), fc.constantFrom(0, 1_000_000), fc.integer({ min: 0, max: 1_000_000 })),
    unlimited: fc.boolean(),
    overageEnabled: fc.boolean(),
    unitPrice: fc.oneof(fc.nat(5_000), fc.constantFrom(0, 1_000_000_000), fc.integer({ min: 999_000_000, max: 1_000_000_000 })),
    minimumSeats: fc.oneof(fc.constant(0), fc.nat(60), fc.integer({ min: 0, max: 1_000_000 })),
    maximumSeats: fc.oneof(fc.constant(null), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 10_000_000 })),
  });
  const change = kind.chain((k) =>
    fc.record({ current, kind: fc.constant(k), count: count(k), terms, param: fc.constantFrom('count', 'seats.0.count', 'seats.99.count') }),
  );

  // Which of the model's outcomes the runs met, so that a generator that stops reaching one fails.
  const covered = (seen: Set<string>, outcome: ReturnType<typeof expected>) => seen.add('balance' in outcome ? 'passes' : `${outcome.code}: ${outcome.reason}`);
  /** The outcome nextBalance must give for the model's: the balance, or the refusal under `param`. */
  const asOutcome = (model: ReturnType<typeof expected>, param: string): Outcome => {
    if ('balance' in model) return model;
    const { code, limit, value } = model;
    return { code, param, ...(limit ? { limit, value } : {}) };
  };
  /** A balance a change was let to leave lies within its limits. */
  const withinLimits = (outcome: Outcome, terms: SeatLimits) =>
    !('balance' in outcome) || (outcome.balance >= terms.minimumSeats && (terms.maximumSeats === null || outcome.balance <= terms.maximumSeats));

  test('nextBalance: the count rules, the seat cap and the seat limits', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(change, ({ current, kind, count, terms: { unitPrice: _price, ...seatTerms }, param }) => {
        const model = expected(current, kind, count, seatTerms);
        covered(seen, model);
        const actual = outcomeOf(() => nextBalance(current, kind, count, seatTerms, 'f', param));
        expect(actual).toEqual(asOutcome(model, param));
        expect(withinLimits(actual, seatTerms)).toBe(true);
      }),
      { numRuns: 3_000 },
    );
    expect([...seen].sort()).toEqual([
      'insufficient_seats: below zero',
      'passes',
      'seat_limit_exceeded: cap',
      'seat_limit_exceeded: maximumSeats',
      'seat_limit_exceeded: minimumSeats',
      'validation_error: balance maximum',
    ]);
  });

  test('billableBalance: the same, and the money maximum', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(change, ({ current, kind, count, terms, param }) => {
        const model = expected(current, kind, count, terms);
        covered(seen, model);
        const actual = outcomeOf(() => billableBalance(current, kind, count, terms, 'f', param));
        expect(actual).toEqual(asOutcome(model, param));
        expect(withinLimits(actual, terms)).toBe(true);
      }),
      { numRuns: 3_000 },
    );
    expect([...seen].sort()).toEqual([
      'insufficient_seats: below zero',
      'passes',
      'seat_limit_exceeded: cap',
      'seat_limit_exceeded: maximumSeats',
      'seat_limit_exceeded: minimumSeats',
      'validation_error: amount maximum',
      'validation_error: balance maximum',
    ]);
  });
});
