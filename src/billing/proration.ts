import type { SeatTerms } from '../model/catalog.ts';
import type { Period } from './periods.ts';

/**
 * The money maxima. A seat's price for one period is at most maxUnitPrice, and a feature's
 * billable seats cost at most maxAmountPerPeriod in one period; with at most 100 seat features
 * per plan, every charge, and every invoice (this period's true-ups and the next advance), stays
 * far below 2^53, so each amount the API returns is exact in its SafeInt scalar.
 */
export const maxUnitPrice = 1_000_000_000;
export const maxAmountPerPeriod = 10_000_000_000_000;

const msPerDay = 86_400_000;
const utcDay = (instant: Date): number => Math.floor(instant.getTime() / msPerDay);
/** The UTC day of a period's last instant (its end is exclusive). */
const lastDay = (period: Period): number => utcDay(new Date(period.end.getTime() - 1));

/** Seats above the included ones; none for unlimited features or features without overage. */
export function billableSeats(current: number, terms: SeatTerms): number {
  if (terms.unlimited || !terms.overageEnabled) return 0;
  return Math.max(0, current - terms.includedSeats);
}

/** The UTC calendar days the period touches, first and last included. */
export const daysInPeriod = (period: Period): number => lastDay(period) - utcDay(period.start) + 1;

/** UTC calendar days from the day of `at` through the period's last day, both included. */
export const daysRemaining = (period: Period, at: Date): number => lastDay(period) - utcDay(at) + 1;

/** numerator / denominator rounded half up, exactly, for non-negative integers. */
export function roundHalfUp(numerator: bigint, denominator: bigint): bigint {
  if (numerator < 0n || denominator <= 0n) throw new RangeError('roundHalfUp takes a non-negative numerator and a positive denominator');
  return (2n * numerator + denominator) / (2n * denominator);
}

/**
 * What `seats` extra seats cost for the rest of a period: seats × unitPrice × daysRemaining /
 * daysInPeriod, computed in integers and rounded half up once. Products pass 2^53, hence BigInt.
 */
export function trueUpAmount(seats: number, unitPrice: number, remaining: number, inPeriod: number): number {
  return Number(roundHalfUp(BigInt(seats) * BigInt(unitPrice) * BigInt(remaining), BigInt(inPeriod)));
}

export type PlannedCharge = {
  kind: 'ADVANCE' | 'TRUE_UP' | 'CREDIT' | 'PLAN_CHANGE';
  quantity: number;
  unitPrice: number;
  daysRemaining: number;
  daysInPeriod: number;
  amount: number;
  period: Period;
};

/**
 * The true-up a balance change causes: when billable seats rise above the period's high-water
 * mark, the difference is charged for the days left and the mark moves up. Decreases give no
 * credit and leave the mark alone.
 */
export function trueUpFor(
  change: { newBalance: number; highWaterMark: number; at: Date },
  terms: SeatTerms,
  period: Period,
): { charge: PlannedCharge | null; highWaterMark: number } {
  const billable = billableSeats(change.newBalance, terms);
  if (billable <= change.highWaterMark) return { charge: null, highWaterMark: change.highWaterMark };
  const quantity = billable - change.highWaterMark;
  // Another process may have entered this period by a clock a little ahead of ours: a change
  // stamped just before the start counts as made on its first day.
  // biome-ignore lint/complexity/useMathMinMax: Dates, compared as instants; Math.max would answer a number.
  const remaining = daysRemaining(period, change.at < period.start ? period.start : change.at);
  const inPeriod = daysInPeriod(period);
  return {
    highWaterMark: billable,
    charge: {
      kind: 'TRUE_UP',
      quantity,
      unitPrice: terms.unitPrice,
      daysRemaining: remaining,
      daysInPeriod: inPeriod,
      amount: trueUpAmount(quantity, terms.unitPrice, remaining, inPeriod),
      period,
    },
  };
}

/** What `seats` billable seats cost for a whole period, exactly (BigInt: the product may pass 2^53). */
const periodAmount = (seats: number, unitPrice: number): bigint => BigInt(seats) * BigInt(unitPrice);

/** Whether a balance's billable seats stay within maxAmountPerPeriod. */
export const withinAmountLimit = (balance: number, terms: SeatTerms): boolean =>
  periodAmount(billableSeats(balance, terms), terms.unitPrice) <= BigInt(maxAmountPerPeriod);

/** The advance for a whole period: the billable seats held at its start, at full price. */
export function advanceFor(current: number, terms: SeatTerms, period: Period): PlannedCharge | null {
  const quantity = billableSeats(current, terms);
  if (quantity === 0) return null;
  const inPeriod = daysInPeriod(period);
  return {
    kind: 'ADVANCE',
    quantity,
    unitPrice: terms.unitPrice,
    daysRemaining: inPeriod,
    daysInPeriod: inPeriod,
    amount: Number(periodAmount(quantity, terms.unitPrice)),
    period,
  };
}

/**
 * The credit for ending a period early: the seats paid through its end (the period's high-water
 * mark: the advance plus its true-ups) for the days from the day of `at` through its last day,
 * priced as a true-up for those days and negated. Null when nothing was paid or it rounds to 0.
 */
export function creditFor(paidSeats: number, terms: SeatTerms, period: Period, at: Date): PlannedCharge | null {
  if (paidSeats <= 0) return null;
  // As for a true-up: an instant stamped just before the start counts as its first day.
  const remaining = daysRemaining(period, at < period.start ? period.start : at);
  const inPeriod = daysInPeriod(period);
  const amount = trueUpAmount(paidSeats, terms.unitPrice, remaining, inPeriod);
  if (amount === 0) return null;
  return { kind: 'CREDIT', quantity: paidSeats, unitPrice: terms.unitPrice, daysRemaining: remaining, daysInPeriod: inPeriod, amount: -amount, period };
}

/**
 * The new plan's charge when a plan change applies at once: the billable seats held under its
 * terms, for the days from the day of `at` through the period's last day, priced as a true-up of
 * them from nothing. Null when nothing is billable or it rounds to 0.
 */
export function planChangeChargeFor(current: number, terms: SeatTerms, period: Period, at: Date): PlannedCharge | null {
  const { charge } = trueUpFor({ newBalance: current, highWaterMark: 0, at }, terms, period);
  return charge && charge.amount > 0 ? { ...charge, kind: 'PLAN_CHANGE' } : null;
}
