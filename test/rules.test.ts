import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { DomainError } from '../src/errors.js';
import { nextBalance, type SeatTerms } from '../src/seats/rules.js';

const capped: SeatTerms = { includedSeats: 5, unlimited: false, overageEnabled: false };
const overage: SeatTerms = { includedSeats: 5, unlimited: false, overageEnabled: true };
const unlimited: SeatTerms = { includedSeats: 0, unlimited: true, overageEnabled: false };

const codeOf = (work: () => unknown): string | null => {
  try {
    work();
    return null;
  } catch (error) {
    return error instanceof DomainError ? error.code : 'not a DomainError';
  }
};

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
  ] as const)('%s', (_name, current, kind, count, terms, expected) => {
    expect(nextBalance(current, kind, count, terms, 'editor')).toBe(expected);
  });

  test.each([
    ['remove more than held', 3, 'REMOVE', 4, overage, 'insufficient_seats'],
    ['add past a hard limit', 5, 'ADD', 1, capped, 'seat_limit_exceeded'],
    ['set past a hard limit', 0, 'SET', 6, capped, 'seat_limit_exceeded'],
    ['add while already above a hard limit', 9, 'ADD', 1, capped, 'seat_limit_exceeded'],
  ] as const)('%s is refused', (_name, current, kind, count, terms, code) => {
    expect(codeOf(() => nextBalance(current, kind, count, terms, 'editor'))).toBe(code);
  });

  test('never goes negative, and a capped feature only rises up to its limit', () => {
    const terms = fc.record({ includedSeats: fc.nat(50), unlimited: fc.boolean(), overageEnabled: fc.boolean() });
    const kind = fc.constantFrom('ADD' as const, 'REMOVE' as const, 'SET' as const);
    fc.assert(
      fc.property(fc.nat(100), kind, fc.integer({ min: 0, max: 100 }), terms, (current, k, count, t) => {
        let next: number;
        try {
          next = nextBalance(current, k, count, t, 'f');
        } catch (error) {
          expect(error).toBeInstanceOf(DomainError);
          return;
        }
        expect(next).toBeGreaterThanOrEqual(0);
        if (!t.unlimited && !t.overageEnabled && next > current) expect(next).toBeLessThanOrEqual(t.includedSeats);
        if (k === 'ADD') expect(next).toBe(current + count);
        if (k === 'REMOVE') expect(next).toBe(current - count);
        if (k === 'SET') expect(next).toBe(count);
      }),
    );
  });
});
