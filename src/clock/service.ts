import type { EntityManager } from '@mikro-orm/postgresql';
import { DomainError, validationError } from '../errors.js';
import type { Tenant } from '../tenant.js';

const msPerDay = 86_400_000;
/** How far one advance may move the clock; renewals then roll at most a few hundred periods. */
export const maxAdvanceDays = 3660;

/**
 * The time a request works with. Live mode runs on real time; an organization's test mode runs
 * on real time plus its test clock's offset, so test clocks tick on after being advanced.
 */
export class Clock {
  constructor(
    private offsetMs: number,
    private readonly realNow: () => number = Date.now,
    /** Told of every move, so that the process's other requests see it at once. */
    private readonly onMove: (offsetMs: number) => void = () => undefined,
  ) {}

  now(): Date {
    return new Date(this.realNow() + this.offsetMs);
  }

  moveTo(offsetMs: number): void {
    this.offsetMs = Math.max(this.offsetMs, offsetMs);
    this.onMove(this.offsetMs);
  }

  get realTime(): number {
    return this.realNow();
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
 * Moves the organization's test clock forward, to an instant or by whole days. The offset only
 * grows, also when two advances race: the larger one wins.
 */
export async function advanceTestClock(
  em: EntityManager,
  tenant: Tenant,
  clock: Clock,
  input: { to?: Date | null; days?: number | null },
): Promise<Date> {
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
  const offsetMs = target.getTime() - clock.realTime;
  const [row] = await em.execute<{ offset_ms: string }[]>(
    `insert into test_clock (organization_id, offset_ms) values (?, ?)
     on conflict (organization_id) do update set offset_ms = greatest(test_clock.offset_ms, excluded.offset_ms), updated_at = now()
     returning offset_ms`,
    [tenant.organizationId, offsetMs],
  );
  if (!row) throw new DomainError('internal_error', 'The test clock did not answer.');
  clock.moveTo(Number(row.offset_ms));
  return clock.now();
}
