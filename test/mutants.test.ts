import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { maxAmountPerPeriod, maxUnitPrice } from '../src/billing/proration.ts';
import { DomainError } from '../src/common/errors.ts';
import { IdempotencyKey } from '../src/model/idempotency.ts';
import { claimId, type IdempotentCall, replayOf, requestHash } from '../src/idempotency/fingerprint.ts';
import { billableBalance, planChange } from '../src/flows/seat-pricing.ts';
import type { SeatLimits, SeatTerms } from '../src/model/catalog.ts';
import { assertDistinctFeatureCodes, isCapped, maxSeatBalance, minSeatCount, nextBalance, reachesLimit, requestedBalance } from '../src/seats/rules.ts';

/**
 * Tests written to kill the mutants StrykerJS found alive in the pure rules (npm run mutate):
 * each pins a behaviour the other unit tests left open. For the seat rules they add to the
 * properties of rules.test.ts; the idempotency fingerprints had no unit tests of their own.
 */

const capped: SeatLimits = { includedSeats: 5, unlimited: false, overageEnabled: false, minimumSeats: 0, maximumSeats: null };
const unlimited: SeatLimits = { includedSeats: 0, unlimited: true, overageEnabled: false, minimumSeats: 0, maximumSeats: null };

/** The DomainError `work` throws; fails the test when it returns or throws anything else. */
function refusal(work: () => unknown): DomainError {
  try {
    work();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a refusal, but the change was allowed');
}

describe('seat rule refusals', () => {
  test('name the `count` field when the caller names none', () => {
    expect(refusal(() => nextBalance(3, 'REMOVE', 4, capped, 'editor')).param).toBe('count');
    expect(refusal(() => nextBalance(5, 'ADD', 1, capped, 'editor')).param).toBe('count');
    expect(refusal(() => nextBalance(maxSeatBalance, 'ADD', 1, unlimited, 'editor')).param).toBe('count');
  });

  test('say what was asked and what the balance, the plan or the maxima allow', () => {
    const insufficient = refusal(() => nextBalance(3, 'REMOVE', 4, capped, 'editor'));
    expect(insufficient.code).toBe('insufficient_seats');
    expect(insufficient.message).toMatch(/'editor'/);
    expect(insufficient.message).toMatch(/\b4\b/);
    expect(insufficient.message).toMatch(/\b3\b/);
    const exceeded = refusal(() => nextBalance(4, 'ADD', 3, capped, 'viewer'));
    expect(exceeded.code).toBe('seat_limit_exceeded');
    expect(exceeded.message).toMatch(/'viewer'/);
    expect(exceeded.message).toMatch(new RegExp(`\\b${capped.includedSeats}\\b`));
    expect(exceeded.message).toMatch(/\b7\b/);
    const pastBalance = refusal(() => nextBalance(maxSeatBalance - 10, 'ADD', 11, unlimited, 'editor'));
    expect(pastBalance.message).toMatch(/'editor'/);
    expect(pastBalance.message).toContain(String(maxSeatBalance + 1));
    // At the highest unit price, this many billable seats cost exactly maxAmountPerPeriod.
    const seatsAtBound = maxAmountPerPeriod / maxUnitPrice;
    const dear: SeatTerms = { includedSeats: 0, unlimited: false, overageEnabled: true, unitPrice: maxUnitPrice, minimumSeats: 0, maximumSeats: null };
    const pastAmount = refusal(() => billableBalance(seatsAtBound, 'ADD', 1, dear, 'editor', 'count'));
    expect(pastAmount.message).toMatch(/'editor'/);
    expect(pastAmount.message).toContain(String(seatsAtBound + 1));
    expect(pastAmount.message).toContain(String(maxAmountPerPeriod));
  });
});

test('a no-op set passes on a balance standing above the balance maximum', () => {
  const above = maxSeatBalance + 5;
  expect(nextBalance(above, 'SET', above, unlimited, 'editor')).toBe(above);
});

describe('planChange', () => {
  const terms: SeatTerms = { includedSeats: 2, unlimited: false, overageEnabled: true, unitPrice: 3000, minimumSeats: 0, maximumSeats: null };
  const april = { start: new Date('2027-04-01T00:00:00Z'), end: new Date('2027-05-01T00:00:00Z') };

  test('gives the new balance, the moved mark and the true-up for the days left', () => {
    const at = new Date('2027-04-16T09:00:00Z');
    const planned = planChange({ current: 1, highWaterMark: 0 }, { featureCode: 'editor', kind: 'ADD', count: 4, at: '' }, terms, april, at);
    // 5 seats, 2 included: 3 billable, charged for 16–30 April, 15 of 30 days.
    expect(planned).toMatchObject({ previousBalance: 1, newBalance: 5, highWaterMark: 3 });
    expect(planned.charge).toMatchObject({ kind: 'TRUE_UP', quantity: 3, daysRemaining: 15, daysInPeriod: 30, amount: (3 * 3000 * 15) / 30 });
  });

  test('a change below the mark keeps it and charges nothing', () => {
    const planned = planChange({ current: 6, highWaterMark: 4 }, { featureCode: 'editor', kind: 'REMOVE', count: 2, at: '' }, terms, april, april.start);
    expect(planned).toEqual({ previousBalance: 6, newBalance: 4, highWaterMark: 4, charge: null });
  });
});

describe('small seat rules', () => {
  test.each([
    [false, false, true],
    [false, true, false],
    [true, false, false],
    [true, true, false],
  ])('unlimited %s, overage %s: capped %s', (isUnlimited, overageEnabled, expected) => {
    expect(isCapped({ includedSeats: 5, unlimited: isUnlimited, overageEnabled, minimumSeats: 0, maximumSeats: null })).toBe(expected);
  });

  test('a capped balance reaches its limit when a change lands on it from either side', () => {
    expect(reachesLimit(capped, 3, 5)).toBe(true);
    expect(reachesLimit(capped, 8, 5)).toBe(true);
    expect(reachesLimit(capped, 5, 5)).toBe(false); // a no-op set
    expect(reachesLimit(capped, 3, 4)).toBe(false);
    expect(reachesLimit({ ...capped, overageEnabled: true }, 3, 5)).toBe(false);
    expect(reachesLimit({ ...capped, unlimited: true }, 3, 5)).toBe(false);
  });

  test('the balance a change asks for, before any rule', () => {
    expect(requestedBalance(3, 'ADD', 4)).toBe(7);
    expect(requestedBalance(3, 'REMOVE', 4)).toBe(-1);
    expect(requestedBalance(3, 'SET', 9)).toBe(9);
  });

  test('a set may name 0 seats; an add or a remove must name at least 1', () => {
    expect(minSeatCount('SET')).toBe(0);
    expect(minSeatCount('ADD')).toBe(1);
    expect(minSeatCount('REMOVE')).toBe(1);
  });

  test('a list may name each feature once; the error names the repeat', () => {
    expect(() => assertDistinctFeatureCodes([{ featureCode: 'editor' }, { featureCode: 'viewer' }], 'seats')).not.toThrow();
    const repeated = refusal(() => assertDistinctFeatureCodes([{ featureCode: 'editor' }, { featureCode: 'viewer' }, { featureCode: 'editor' }], 'seats'));
    expect(repeated).toMatchObject({ code: 'validation_error', param: 'seats.2.featureCode' });
    expect(repeated.message).toMatch(/'editor'/);
  });
});

describe('idempotency fingerprints', () => {
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
  const call = (input: unknown, operation = 'addSeats'): IdempotentCall => ({ key: 'k1', operation, input });

  test('are sha256 of the operation and the canonical JSON of the input', () => {
    // Stored hashes outlive a deploy: a retry after an upgrade must still match its first call.
    const input = { customerId: 'cus_1', featureCode: 'editor', count: 3, seats: [{ featureCode: 'b', count: 0 }] };
    expect(requestHash(call(input))).toBe(sha256('addSeats\n{"count":3,"customerId":"cus_1","featureCode":"editor","seats":[{"count":0,"featureCode":"b"}]}'));
  });

  test('do not depend on the order of object keys, at any depth', () => {
    const a = { customerId: 'cus_1', seats: [{ featureCode: 'b', count: 2 }], count: 3 };
    const b = { count: 3, seats: [{ count: 2, featureCode: 'b' }], customerId: 'cus_1' };
    expect(requestHash(call(a))).toBe(requestHash(call(b)));
  });

  test('treat an absent field, undefined and null alike', () => {
    const bare = requestHash(call({ customerId: 'cus_1', count: 3 }));
    expect(requestHash(call({ customerId: 'cus_1', count: 3, idempotencyKey: undefined }))).toBe(bare);
    expect(requestHash(call({ customerId: 'cus_1', count: 3, idempotencyKey: null }))).toBe(bare);
  });

  test('tell apart every change of value, order of a list or operation', () => {
    const inputs: unknown[] = [
      { count: 3 },
      { count: 4 },
      { count: '3' },
      { count: [3] },
      { count: { n: 3 } },
      { count: 0 },
      { count: false },
      { seats: [1, 2] },
      { seats: [2, 1] },
      { seats: [12] },
      { seats: [[1], [2]] },
      { seats: [[1, 2]] },
      { a: 1, b: 2 },
      { ab: 12 },
      {},
      [],
    ];
    const hashes = inputs.map((input) => requestHash(call(input)));
    expect(new Set(hashes).size).toBe(inputs.length);
    expect(requestHash(call({ count: 3 }, 'removeSeats'))).not.toBe(requestHash(call({ count: 3 }, 'addSeats')));
  });

  test('claim ids tell apart every organization, mode and key, whatever characters they hold', () => {
    const ids = [
      claimId({ organizationId: 'org_a', mode: 'live' }, 'k'),
      claimId({ organizationId: 'org_a', mode: 'test' }, 'k'),
      claimId({ organizationId: 'org_b', mode: 'live' }, 'k'),
      claimId({ organizationId: 'org_a', mode: 'live' }, 'k2'),
      // Without a separator these two would read the same: org_a + live + testk, org_alive + test + k.
      claimId({ organizationId: 'org_a', mode: 'live' }, 'testk'),
      claimId({ organizationId: 'org_alive', mode: 'test' }, 'k'),
    ];
    expect(new Set(ids).size).toBe(ids.length);
    expect(claimId({ organizationId: 'org_a', mode: 'live' }, 'k')).toBe(ids[0]);
  });

  describe('a repeat of a committed call', () => {
    const first = call({ customerId: 'cus_1', count: 3 });
    const claim = Object.assign(new IdempotencyKey(), {
      key: first.key,
      operation: first.operation,
      requestHash: requestHash(first),
      eventIds: ['evt_1', 'evt_2'],
    });

    test('gets the original event ids when the operation and the input match', () => {
      expect(replayOf(claim, call({ count: 3, customerId: 'cus_1' }))).toEqual(['evt_1', 'evt_2']);
    });

    test('with another input or operation answers idempotency_key_mismatch on idempotencyKey, saying which differs', () => {
      const otherInput = refusal(() => replayOf(claim, call({ customerId: 'cus_1', count: 4 })));
      expect(otherInput).toMatchObject({ code: 'idempotency_key_mismatch', param: 'idempotencyKey' });
      expect(otherInput.message).toMatch(/'k1'/);
      expect(otherInput.message).toMatch(/different input/);
      const otherOperation = refusal(() => replayOf(claim, call({ customerId: 'cus_1', count: 3 }, 'removeSeats')));
      expect(otherOperation).toMatchObject({ code: 'idempotency_key_mismatch', param: 'idempotencyKey' });
      expect(otherOperation.message).toMatch(/different operation \(addSeats\)/);
    });

    test('with another operation is refused even when the stored hash would match', () => {
      // Only the operation differs from what was stored: the hash alone must not decide.
      const sameHash = Object.assign(new IdempotencyKey(), { ...claim, operation: 'setSeats' });
      expect(refusal(() => replayOf(sameHash, first)).code).toBe('idempotency_key_mismatch');
    });
  });
});
