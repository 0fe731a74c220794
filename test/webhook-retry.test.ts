import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { nextAttemptDelayMs, retryJitter, retrySchedule } from '../src/webhooks/retry.ts';

const hour = 3600;
const total = retrySchedule.reduce((sum, seconds) => sum + seconds, 0);

describe('the schedule', () => {
  test('spreads the retries over about 24 hours', () => {
    expect(total).toBe(85_355);
    expect(Math.abs(total - 24 * hour)).toBeLessThanOrEqual(hour);
  });

  test('starts within seconds and never shortens', () => {
    expect(retrySchedule[0]).toBe(5);
    for (const [index, seconds] of retrySchedule.entries()) {
      expect(Number.isInteger(seconds)).toBe(true);
      if (index > 0) expect(seconds).toBeGreaterThanOrEqual(retrySchedule[index - 1]!);
    }
  });
});

describe('the next delay', () => {
  test('follows the schedule without jitter at the midpoint', () => {
    expect(retrySchedule.map((_seconds, index) => nextAttemptDelayMs(index + 1, () => 0.5))).toEqual(retrySchedule.map((seconds) => seconds * 1000));
  });

  test('jitter moves a delay by at most 20 % either way', () => {
    expect(retryJitter).toBe(0.2);
    expect(nextAttemptDelayMs(1, () => 0)).toBe(4000);
    expect(nextAttemptDelayMs(1, () => 0.999_999)).toBe(6000);
    expect(nextAttemptDelayMs(10, () => 0)).toBe(0.8 * 8 * hour * 1000);
  });

  test('is null once the schedule is spent, so the delivery fails', () => {
    expect(nextAttemptDelayMs(retrySchedule.length, () => 0.5)).toBe(8 * hour * 1000);
    expect(nextAttemptDelayMs(retrySchedule.length + 1)).toBeNull();
    expect(nextAttemptDelayMs(1000)).toBeNull();
  });

  test.each([0, -1, 1.5, Number.NaN])('refuses %s attempts made', (attempts) => {
    expect(() => nextAttemptDelayMs(attempts)).toThrow(RangeError);
  });

  test('every delay is a whole number of milliseconds within the jitter bounds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: retrySchedule.length }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempts, random) => {
        const delay = nextAttemptDelayMs(attempts, () => random)!;
        const scheduled = retrySchedule[attempts - 1]! * 1000;
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(scheduled * (1 - retryJitter));
        expect(delay).toBeLessThanOrEqual(scheduled * (1 + retryJitter));
      }),
    );
  });

  test('Math.random by default', () => {
    for (let i = 0; i < 100; i++) {
      const delay = nextAttemptDelayMs(2)!;
      expect(delay).toBeGreaterThanOrEqual(24_000);
      expect(delay).toBeLessThanOrEqual(36_000);
    }
  });
});
