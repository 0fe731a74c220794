import type { EntityManager } from '@mikro-orm/postgresql';
import { advanceTarget, type Clock, moveTestClock, resetTestClock } from '../clock/service.ts';
import { validationError } from '../common/errors.ts';
import { SeatCharge } from '../model/billing.ts';
import type { TestClockState } from '../model/clock.ts';
import { Customer } from '../model/customers.ts';
import { OutboxEvent } from '../model/events.ts';
import { IdempotencyKey } from '../model/idempotency.ts';
import { SeatBalance, SeatEvent } from '../model/seats.ts';
import { Subscription } from '../model/subscriptions.ts';
import type { Tenant } from '../model/tenant.ts';
import { maxRenewalStepsPerCall, renewDueSubscriptions } from './renewal.ts';

// Test mode's own operations: moving an organization's test clock (and renewing what that
// ended), and deleting its test data.

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
  const target = advanceTarget(tenant, clock, input);
  // The move and the renewals it triggers commit together: a failed advance moves nothing.
  return em.transactional(async (tx) => {
    const moved = await moveTestClock(tx, tenant, target);
    await renewDueSubscriptions(tx, tenant, moved.frozenAt!, undefined, maxRenewalStepsPerCall);
    return moved;
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
      clock = await resetTestClock(tx, tenant);
    }
    return { customers: ids.length, complete, clock };
  });
}
