import { DomainError, type SeatLimitKind, validationError } from '../common/errors.ts';
import type { SeatLimits } from '../model/catalog.ts';
import type { SeatEventKind } from '../model/seats.ts';

/** A feature whose balance may not pass its included seats: no overage, not unlimited. */
export const isCapped = (terms: SeatLimits): boolean => !terms.unlimited && !terms.overageEnabled;

/** Whether a change took a capped balance to exactly its included seats (a limit_reached event). */
export const reachesLimit = (terms: SeatLimits, previousBalance: number, newBalance: number): boolean =>
  isCapped(terms) && newBalance === terms.includedSeats && previousBalance !== newBalance;

/** The balance a change asks for, before any rule: what a refused change wanted. */
export const requestedBalance = (current: number, kind: SeatEventKind, count: number): number =>
  kind === 'ADD' ? current + count : kind === 'REMOVE' ? current - count : count;

/** The most seats one change may name. */
export const maxSeatCount = 1_000_000;
/** The fewest seats a change may name: a set may make a balance 0, an add or remove must move it. */
export const minSeatCount = (kind: SeatEventKind): number => (kind === 'SET' ? 0 : 1);
/** The most entries one bulk set may name. */
export const maxBulkEntries = 100;
/** The most seats one balance may hold, so that no change can push it past what is stored. */
export const maxSeatBalance = 10_000_000;

/** A list of per-feature entries may name each feature once; the error names the repeat. */
export function assertDistinctFeatureCodes(entries: readonly { featureCode: string }[], listField: string): void {
  const seen = new Set<string>();
  entries.forEach((entry, index) => {
    if (seen.has(entry.featureCode)) {
      throw validationError(`${listField}.${index}.featureCode`, `Feature code '${entry.featureCode}' appears more than once.`);
    }
    seen.add(entry.featureCode);
  });
}

/**
 * The refusal of a change that would leave a balance outside its plan feature's limits; its
 * detail names the feature, the limit and the limit's value, so a caller can fix the count.
 */
function seatLimitExceeded(featureCode: string, limit: SeatLimitKind, value: number, requested: number, countParam: string): DomainError {
  const message =
    limit === 'MAXIMUM'
      ? `The plan allows at most ${value} seats of '${featureCode}'; ${requested} requested.`
      : `The plan requires at least ${value} seats of '${featureCode}'; ${requested} requested.`;
  return new DomainError('seat_limit_exceeded', message, { param: countParam, details: [{ field: countParam, message, featureCode, limit, value }] });
}

/**
 * The balance after one change, or the contract error that refuses it. Removing below zero is
 * refused; so is any balance outside the feature's minimumSeats and maximumSeats, and raising
 * above the included seats when the plan allows no overage (lowering and no-op sets pass that
 * one, even above it).
 */
export function nextBalance(current: number, kind: SeatEventKind, count: number, terms: SeatLimits, featureCode: string, countParam = 'count'): number {
  let next: number;
  switch (kind) {
    case 'ADD':
      next = current + count;
      break;
    case 'REMOVE':
      if (count > current) {
        throw new DomainError('insufficient_seats', `Cannot remove ${count} seats of '${featureCode}': the balance is ${current}.`, { param: countParam });
      }
      next = current - count;
      break;
    case 'SET':
      next = count;
      break;
  }
  if (next > current && next > maxSeatBalance) {
    throw validationError(countParam, `This would take the balance of '${featureCode}' to ${next}; a balance holds at most ${maxSeatBalance} seats.`);
  }
  if (terms.maximumSeats !== null && next > terms.maximumSeats) {
    throw seatLimitExceeded(featureCode, 'MAXIMUM', terms.maximumSeats, next, countParam);
  }
  if (next < terms.minimumSeats) {
    throw seatLimitExceeded(featureCode, 'MINIMUM', terms.minimumSeats, next, countParam);
  }
  if (isCapped(terms) && next > current && next > terms.includedSeats) {
    throw new DomainError(
      'seat_limit_exceeded',
      `The plan includes ${terms.includedSeats} seats of '${featureCode}' and allows no overage; ${next} requested.`,
      { param: countParam },
    );
  }
  return next;
}

/** One change of one balance, as a caller asked for it. `at` prefixes its fields in errors ('' or 'seats.3.'). */
export type SeatChangeEntry = { featureCode: string; kind: SeatEventKind; count: number; at: string };
