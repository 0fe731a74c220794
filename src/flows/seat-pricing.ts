import type { Period } from '../billing/periods.ts';
import { maxAmountPerPeriod, type PlannedCharge, trueUpFor, withinAmountLimit } from '../billing/proration.ts';
import { validationError } from '../common/errors.ts';
import type { SeatTerms } from '../model/catalog.ts';
import type { SeatEventKind } from '../model/seats.ts';
import { nextBalance, type SeatChangeEntry } from '../seats/rules.ts';

// The seat rules and the billing rules together: what a change does to a balance, and what it
// costs. Pure, like the rules it joins: the seat change and subscribing decide with it.

/**
 * nextBalance, and the money bound: a balance whose billable seats would cost more than
 * maxAmountPerPeriod in one period is refused before anything is written.
 */
export function billableBalance(current: number, kind: SeatEventKind, count: number, terms: SeatTerms, featureCode: string, countParam: string): number {
  const next = nextBalance(current, kind, count, terms, featureCode, countParam);
  if (next > current && !withinAmountLimit(next, terms)) {
    throw validationError(
      countParam,
      `${next} seats of '${featureCode}' would bill more than ${maxAmountPerPeriod} minor units per period, the most one feature may bill.`,
    );
  }
  return next;
}

/** What one change does to a balance and its period's high-water mark, and what it costs. */
export type PlannedChange = {
  previousBalance: number;
  newBalance: number;
  highWaterMark: number;
  charge: PlannedCharge | null;
};

/**
 * Decides one change of a balance at `at` in `period`: the new balance under the plan's limits,
 * and the true-up when billable seats pass the period's high-water mark. Throws the contract
 * error that refuses it; changes nothing either way.
 */
export function planChange(
  balance: { current: number; highWaterMark: number },
  entry: SeatChangeEntry,
  terms: SeatTerms,
  period: Period,
  at: Date,
): PlannedChange {
  const newBalance = billableBalance(balance.current, entry.kind, entry.count, terms, entry.featureCode, `${entry.at}count`);
  const priced = trueUpFor({ newBalance, highWaterMark: balance.highWaterMark, at }, terms, period);
  return { previousBalance: balance.current, newBalance, highWaterMark: priced.highWaterMark, charge: priced.charge };
}
