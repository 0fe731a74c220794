import type { EntityManager } from '@mikro-orm/postgresql';
import { maxRenewalStepsPerCall, renewDueSubscriptions } from '../billing/service.js';
import { run } from '../db/prepared.js';
import { validationError } from '../common/errors.js';
import type { Tenant } from '../model/tenant.js';
import type { TestClockState } from '../model/clock.js';
import { MOVE_TEST_CLOCK, RESET_TEST_CLOCK } from './store.js';
import { SeatCharge } from '../model/billing.js';
import { OutboxEvent } from '../model/events.js';
import { Customer } from '../model/customers.js';
import { IdempotencyKey } from '../model/idempotency.js';
import { SeatBalance, SeatEvent } from '../model/seats.js';
import { Subscription } from '../model/subscriptions.js';

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
  constructor(
    private frozenAt: Date | null,
    private readonly realNow: () => number = Date.now,
    /** Told of every change, so that the process's other requests see it at once. */
    private readonly onChange: (state: TestClockState) => void = () => undefined,
  ) {}

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
 * Moves the organization's test clock forward, to an instant or by whole days, and renews what
 * that ended (at most maxRenewalStepsPerCall steps; the sweeper finishes a longer catch-up).
 * Returns the clock's new state, for the caller to give its Clock once that committed. The clock
 * only moves forward, also when two advances race: the later instant wins.
 */
export async function advanceTestClock(
  em: EntityManager,
  tenant: Tenant,
  clock: Clock,
  input: { to?: Date | null; days?: number | null },
): Promise<TestClockState> {
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
  // The move and the renewals it triggers commit together: a failed advance moves nothing.
  return em.transactional(async (tx) => {
    const [moved] = await run(tx, MOVE_TEST_CLOCK, { organizationId: tenant.organizationId, frozenAt: target });
    await renewDueSubscriptions(tx, tenant, moved!.frozenAt!, undefined, maxRenewalStepsPerCall);
    return moved!;
  });
}

/** The customers whose data one deleteTestData call removes; call again until it is complete. */
export const maxCustomersPerDeletion = 1000;

export type TestDataDeletion = { customers: number; complete: boolean; clock: TestClockState | null };

/**
 * Deletes the organization's test-mode customers with their subscriptions, balances, ledger,
 * charges and outbox events, up to maxCustomersPerDeletion per call, as Stripe's "delete all test data" does. The
 * call that finds none left also forgets the test idempotency keys and sets the test clock back
 * to real time. Features and plans stay. Live data is never touched: the ledger's guard lets
 * test rows go only in this transaction.
 */
export async function deleteTestData(em: EntityManager, tenant: Tenant): Promise<TestDataDeletion> {
  if (tenant.mode !== 'test') {
    throw validationError(null, 'deleteTestData works only with a ck_test_ key; live data is never deleted.');
  }
  return em.transactional(async (tx) => {
    // Kept by hand: a setting that lives for this transaction only, which MikroORM has no word for.
    await tx.execute(`set local seatgate.delete_test_data = 'on'`);
    const scope = { organization: tenant.organizationId, mode: 'test' as const };
    const customers = await tx.find(Customer, scope, { fields: ['id'], limit: maxCustomersPerDeletion, disableIdentityMap: true });
    const ids = customers.map((customer) => customer.id);
    if (ids.length > 0) {
      const ofCustomers = { ...scope, customer: { $in: ids } };
      // Their outbox rows go too, with the webhook deliveries that point at them.
      await tx.nativeDelete(OutboxEvent, ofCustomers);
      await tx.nativeDelete(SeatCharge, ofCustomers);
      await tx.nativeDelete(SeatEvent, ofCustomers);
      await tx.nativeDelete(SeatBalance, ofCustomers);
      await tx.nativeDelete(Subscription, ofCustomers);
      await tx.nativeDelete(Customer, { ...scope, id: { $in: ids } });
    }
    const complete = ids.length < maxCustomersPerDeletion;
    let clock: TestClockState | null = null;
    if (complete) {
      await tx.nativeDelete(IdempotencyKey, scope);
      [clock = null] = await run(tx, RESET_TEST_CLOCK, { organizationId: tenant.organizationId });
    }
    return { customers: ids.length, complete, clock };
  });
}
