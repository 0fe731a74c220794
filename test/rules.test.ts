import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { DomainError } from '../src/common/errors.ts';
import { billableBalance, planChange } from '../src/flows/seat-pricing.ts';
import type { SeatLimits } from '../src/model/catalog.ts';
import { nextBalance } from '../src/seats/rules.ts';

const capped: SeatLimits = { includedSeats: 5, unlimited: false, overageEnabled: false };
const overage: SeatLimits = { includedSeats: 5, unlimited: false, overageEnabled: true };
const unlimited: SeatLimits = { includedSeats: 0, unlimited: true, overageEnabled: false };

type Kind = 'ADD' | 'REMOVE' | 'SET';
type Refusal = 'insufficient_seats' | 'seat_limit_exceeded' | 'validation_error';

/** What a call did: the balance, or the code and param of the DomainError it threw. */
const outcomeOf = (work: () => number): { balance: number } | { code: string; param: string | null } => {
  try {
    return { balance: work() };
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return { code: error.code, param: error.param };
  }
};

// ---- The model: the contract's seat rules (README "Rules worth knowing" and "Billing"), written
// out here, maxima included, so that the rules are checked against something they did not compute.

const MAX_BALANCE = 10_000_000;
const MAX_AMOUNT_PER_PERIOD = 10_000_000_000_000n;

/**
 * The balance a change leaves, or why it is refused: removing below zero; raising a balance past
 * its maximum; raising a capped feature (no overage, not unlimited) above its included seats;
 * and, with the money rule, raising billable seats × unitPrice past the per-period maximum.
 * Lowering and no-op sets always pass, even from above a limit. The order of the checks decides
 * the code when several apply: a balance past its maximum is bad input whatever the plan.
 */
function expected(
  current: number,
  kind: Kind,
  count: number,
  terms: SeatLimits & { unitPrice?: number },
): { balance: number } | { code: Refusal; reason: string } {
  const wanted = kind === 'ADD' ? current + count : kind === 'REMOVE' ? current - count : count;
  if (wanted < 0) return { code: 'insufficient_seats', reason: 'below zero' };
  if (wanted <= current) return { balance: wanted };
  if (wanted > MAX_BALANCE) return { code: 'validation_error', reason: 'balance maximum' };
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

describe('billableBalance: the money maximum', () => {
  const dear = { includedSeats: 0, unlimited: false, overageEnabled: true, unitPrice: 1_000_000_000 };
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
  const terms = fc.record({
    includedSeats: fc.oneof(fc.nat(50), fc.constantFrom(0, 1_000_000), fc.integer({ min: 0, max: 1_000_000 })),
    unlimited: fc.boolean(),
    overageEnabled: fc.boolean(),
    unitPrice: fc.oneof(fc.nat(5_000), fc.constantFrom(0, 1_000_000_000), fc.integer({ min: 999_000_000, max: 1_000_000_000 })),
  });
  const change = kind.chain((k) =>
    fc.record({ current, kind: fc.constant(k), count: count(k), terms, param: fc.constantFrom('count', 'seats.0.count', 'seats.99.count') }),
  );

  // Which of the model's outcomes the runs met, so that a generator that stops reaching one fails.
  const covered = (seen: Set<string>, outcome: ReturnType<typeof expected>) => seen.add('balance' in outcome ? 'passes' : `${outcome.code}: ${outcome.reason}`);

  test('nextBalance: the count rules and the seat cap', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(change, ({ current, kind, count, terms: { unitPrice: _price, ...seatTerms }, param }) => {
        const model = expected(current, kind, count, seatTerms);
        covered(seen, model);
        const actual = outcomeOf(() => nextBalance(current, kind, count, seatTerms, 'f', param));
        expect(actual).toEqual('balance' in model ? model : { code: model.code, param });
      }),
      { numRuns: 3_000 },
    );
    expect([...seen].sort()).toEqual(['insufficient_seats: below zero', 'passes', 'seat_limit_exceeded: cap', 'validation_error: balance maximum']);
  });

  test('billableBalance: the same, and the money maximum', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(change, ({ current, kind, count, terms, param }) => {
        const model = expected(current, kind, count, terms);
        covered(seen, model);
        const actual = outcomeOf(() => billableBalance(current, kind, count, terms, 'f', param));
        expect(actual).toEqual('balance' in model ? model : { code: model.code, param });
      }),
      { numRuns: 3_000 },
    );
    expect([...seen].sort()).toEqual([
      'insufficient_seats: below zero',
      'passes',
      'seat_limit_exceeded: cap',
      'validation_error: amount maximum',
      'validation_error: balance maximum',
    ]);
  });
});
