import type { PlanInterval } from '../model/catalog.ts';

export type Period = { start: Date; end: Date };

const daysInMonth = (year: number, monthIndex: number): number => new Date(Date.UTC(year, monthIndex + 1, 0)).getUTCDate();

/**
 * The k-th period boundary after `anchor`: k calendar months (or years) later in UTC, at the
 * anchor's time of day, with the anchor's day clamped to the last day of shorter months. Always
 * computed from the anchor, so a start on the 31st gives Feb 28/29 and then Mar 31 again.
 */
export function periodBoundary(anchor: Date, interval: PlanInterval, k: number): Date {
  const months = interval === 'MONTH' ? k : 12 * k;
  const totalMonths = anchor.getUTCFullYear() * 12 + anchor.getUTCMonth() + months;
  const year = Math.floor(totalMonths / 12);
  const monthIndex = totalMonths - year * 12;
  const day = Math.min(anchor.getUTCDate(), daysInMonth(year, monthIndex));
  return new Date(Date.UTC(year, monthIndex, day, anchor.getUTCHours(), anchor.getUTCMinutes(), anchor.getUTCSeconds(), anchor.getUTCMilliseconds()));
}

/** The period of a subscription anchored at `anchor` that contains `at` (at ≥ anchor). */
export function periodContaining(anchor: Date, interval: PlanInterval, at: Date): Period {
  if (at < anchor) throw new RangeError('at lies before the anchor');
  const monthsPerPeriod = interval === 'MONTH' ? 1 : 12;
  const elapsedMonths = (at.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + (at.getUTCMonth() - anchor.getUTCMonth());
  // Month arithmetic gives the right index or one too many; step back while needed.
  let k = Math.max(0, Math.floor(elapsedMonths / monthsPerPeriod));
  while (k > 0 && periodBoundary(anchor, interval, k) > at) k--;
  while (periodBoundary(anchor, interval, k + 1) <= at) k++;
  return { start: periodBoundary(anchor, interval, k), end: periodBoundary(anchor, interval, k + 1) };
}
