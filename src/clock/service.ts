import type { EntityManager } from '@mikro-orm/postgresql';
import { validationError } from '../common/errors.ts';
import { run } from '../db/prepared.ts';
import type { TestClockState } from '../model/clock.ts';
import type { Tenant } from '../model/tenant.ts';
import { MOVE_TEST_CLOCK, RESET_TEST_CLOCK } from './store.ts';

const msPerDay = 86_400_000;
/** How far one advance may move the clock. */
export const maxAdvanceDays = 3660;
/**
 * The furthest a test clock goes: a year short of the last instant this API represents (the end
 * of 9999), so that a yearly period started at the clock still ends where it can be stored and
 * read back.
 */
export const maxTestClock = new Date(Date.UTC(9998, 0, 1));

/**
 * The time a request works with. Live mode runs on real time; an organization's test mode runs
 * on its test clock: real time until first advanced, then the instant advanced to, standing
 * still until the next advance (so a test can start a subscription at midnight and see whole
 * days).
 */
export class Clock {
  private frozenAt: Date | null;
  private readonly realNow: () => number;
  /** Told of every change, so that the process's other requests see it at once. */
  private readonly onChange: (state: TestClockState) => void;

  constructor(frozenAt: Date | null, realNow: () => number = Date.now, onChange: (state: TestClockState) => void = () => undefined) {
    this.frozenAt = frozenAt;
    this.realNow = realNow;
    this.onChange = onChange;
  }

  now(): Date {
    return this.frozenAt ?? new Date(this.realNow());
  }

  /** The test clock as a committed change left it. */
  set(state: TestClockState): void {
    this.frozenAt = state.frozenAt;
    this.onChange(state);
  }
}

function requireTestMode(tenant: Tenant): void {
  if (tenant.mode !== 'test') {
    throw validationError(null, 'The test clock exists only in test mode; use a ck_test_ key.');
  }
}

export function readTestClock(tenant: Tenant, clock: Clock): Date {
  requireTestMode(tenant);
  return clock.now();
}

/**
 * Where an advance takes the organization's test clock: an instant, or whole days on. Refused
 * (validation_error) for a live key, both or neither given, a move back, more than
 * maxAdvanceDays, or past maxTestClock.
 */
export function advanceTarget(tenant: Tenant, clock: Clock, input: { to?: Date | null; days?: number | null }): Date {
  requireTestMode(tenant);
  const hasTo = input.to !== undefined && input.to !== null;
  const hasDays = input.days !== undefined && input.days !== null;
  if (hasTo === hasDays) throw validationError(hasTo ? 'days' : 'to', 'Give either `to` or `days`, not both.');
  const current = clock.now();
  const target = hasTo ? input.to! : new Date(current.getTime() + input.days! * msPerDay);
  if (target < current) {
    throw validationError('to', `The test clock is at ${current.toISOString()} and only moves forward.`);
  }
  if (target.getTime() - current.getTime() > maxAdvanceDays * msPerDay) {
    throw validationError(hasTo ? 'to' : 'days', `The test clock moves at most ${maxAdvanceDays} days at a time.`);
  }
  if (target > maxTestClock) {
    throw validationError(hasTo ? 'to' : 'days', `The test clock goes no further than ${maxTestClock.toISOString()}.`);
  }
  return target;
}

/** Moves the organization's test clock to `target`, never back: when two moves race, the later instant wins. Answers its new state. */
export async function moveTestClock(tx: EntityManager, tenant: Tenant, target: Date): Promise<TestClockState> {
  const [moved] = await run(tx, MOVE_TEST_CLOCK, { organizationId: tenant.organizationId, frozenAt: target });
  return moved!;
}

/** Sets the organization's test clock back to real time: the one move back a clock makes. Null when it was never advanced. */
export async function resetTestClock(tx: EntityManager, tenant: Tenant): Promise<TestClockState | null> {
  const [reset = null] = await run(tx, RESET_TEST_CLOCK, { organizationId: tenant.organizationId });
  return reset;
}
