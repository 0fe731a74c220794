const minute = 60;
const hour = 60 * minute;

/**
 * Seconds to wait after each failed attempt before the next: exponential, capped at 8 hours.
 * Ten retries after the first attempt, eleven attempts in all, spread over 85,355 s
 * (about 23 h 43 min) before jitter.
 */
export const retrySchedule: readonly number[] = [5, 30, 2 * minute, 10 * minute, 30 * minute, hour, 2 * hour, 4 * hour, 8 * hour, 8 * hour];

/** How far, as a fraction either way, a delay is moved at random. */
export const retryJitter = 0.2;

/**
 * Milliseconds to wait before the next attempt of a delivery that has failed `attemptsMade`
 * times, or null when the schedule is spent and the delivery has failed. The delay is the
 * schedule's ±20 % (uniform), so that deliveries failing together, as in an endpoint's outage,
 * do not all come back at the same instant.
 */
export function nextAttemptDelayMs(attemptsMade: number, random: () => number = Math.random): number | null {
  if (!Number.isInteger(attemptsMade) || attemptsMade < 1) throw new RangeError('nextAttemptDelayMs takes the number of attempts made, at least 1');
  const seconds = retrySchedule[attemptsMade - 1];
  if (seconds === undefined) return null;
  return Math.round(seconds * 1000 * (1 - retryJitter + 2 * retryJitter * random()));
}
