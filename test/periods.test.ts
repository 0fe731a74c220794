import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { periodBoundary, periodContaining } from '../src/billing/periods.ts';

const at = (iso: string) => new Date(iso);

describe('periodBoundary', () => {
  test('a start on the 31st clamps to shorter months and comes back to the 31st', () => {
    const anchor = at('2027-01-31T08:30:00.000Z');
    expect([1, 2, 3, 4].map((k) => periodBoundary(anchor, 'MONTH', k).toISOString())).toEqual([
      '2027-02-28T08:30:00.000Z',
      '2027-03-31T08:30:00.000Z',
      '2027-04-30T08:30:00.000Z',
      '2027-05-31T08:30:00.000Z',
    ]);
    expect(periodBoundary(at('2028-01-30T00:00:00Z'), 'MONTH', 1).toISOString()).toBe('2028-02-29T00:00:00.000Z');
  });

  test('yearly periods clamp Feb 29 to Feb 28', () => {
    const anchor = at('2028-02-29T12:00:00Z');
    expect(periodBoundary(anchor, 'YEAR', 1).toISOString()).toBe('2029-02-28T12:00:00.000Z');
    expect(periodBoundary(anchor, 'YEAR', 4).toISOString()).toBe('2032-02-29T12:00:00.000Z');
  });

  test('crosses year ends', () => {
    expect(periodBoundary(at('2026-12-15T00:00:00Z'), 'MONTH', 1).toISOString()).toBe('2027-01-15T00:00:00.000Z');
    expect(periodBoundary(at('2026-11-30T00:00:00Z'), 'MONTH', 15).toISOString()).toBe('2028-02-29T00:00:00.000Z');
  });
});

describe('periodContaining', () => {
  test('finds the period around an instant, boundaries belonging to the later period', () => {
    const anchor = at('2027-01-31T00:00:00Z');
    expect(periodContaining(anchor, 'MONTH', at('2027-03-15T00:00:00Z'))).toEqual({
      start: at('2027-02-28T00:00:00Z'),
      end: at('2027-03-31T00:00:00Z'),
    });
    expect(periodContaining(anchor, 'MONTH', at('2027-03-31T00:00:00Z')).start).toEqual(at('2027-03-31T00:00:00Z'));
    expect(periodContaining(anchor, 'MONTH', anchor).start).toEqual(anchor);
  });

  test('refuses an instant before the anchor: no period of the subscription contains it', () => {
    const anchor = at('2027-01-31T00:00:00Z');
    expect(() => periodContaining(anchor, 'MONTH', at('2027-01-30T23:59:59.999Z'))).toThrow(/before the anchor/);
    expect(() => periodContaining(anchor, 'YEAR', at('2026-06-01T00:00:00Z'))).toThrow(RangeError);
  });

  test('always returns consecutive boundaries that contain the instant', () => {
    const instant = fc.date({ min: at('2000-01-01T00:00:00Z'), max: at('2100-01-01T00:00:00Z'), noInvalidDate: true });
    fc.assert(
      fc.property(
        instant,
        fc.integer({ min: 0, max: 40 * 366 * 86_400_000 }),
        fc.constantFrom('MONTH' as const, 'YEAR' as const),
        (anchor, offset, interval) => {
          const instantAt = new Date(anchor.getTime() + offset);
          const { start, end } = periodContaining(anchor, interval, instantAt);
          expect(start.getTime()).toBeLessThanOrEqual(instantAt.getTime());
          expect(end.getTime()).toBeGreaterThan(instantAt.getTime());
          const k = [...Array(600).keys()].find((i) => periodBoundary(anchor, interval, i).getTime() === start.getTime());
          expect(k).toBeDefined();
          expect(periodBoundary(anchor, interval, k! + 1)).toEqual(end);
        },
      ),
    );
  });
});
