import type { EntityManager } from '@mikro-orm/postgresql';
import { DomainError } from '../common/errors.ts';
import { getCustomer } from '../customers/service.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { insertOutbox, type OutboxEntry } from '../events/service.ts';
import { claimId, type IdempotentCall, replayOf } from '../idempotency/fingerprint.ts';
import { findClaims, recordClaims } from '../idempotency/service.ts';
import type { SeatBalance } from '../model/seats.ts';
import type { Subscription } from '../model/subscriptions.ts';
import type { Tenant } from '../model/tenant.ts';
import { lockBalancesOfCustomer } from '../seats/service.ts';
import { findSubscriptionsById, lockActiveSubscription } from '../subscriptions/service.ts';
import type { SubscriptionRecord } from '../subscriptions/store.ts';
import { type SubscriptionEventType, subscriptionOutbox } from './announce.ts';
import { renewBeforeUse } from './renewal.ts';

// A step of a subscription's life (cancel, resume, change of plan): renew what is due, then lock
// the customer's balances first and the subscription second, the order of seat changes and
// renewals, so a step racing them waits its turn and loses nothing.

const noActiveSubscription = (ref: string) =>
  new DomainError('no_active_subscription', `Customer '${ref}' has no active subscription.`, { param: 'customerId' });

/** What a step does to the locked subscription and balances; answers the event the outbox hears, or null when it changed nothing. */
export type LifecycleStepBody = (
  tx: EntityManager,
  subscription: Subscription,
  balances: SeatBalance[],
  outbox: OutboxEntry[],
) => Promise<SubscriptionEventType | null>;

/** What a step did inside its transaction: the subscription it acted on, and as it left it when the outbox was told. */
type StepOutcome = { subscriptionId: string; told: SubscriptionRecord | null };

export const idempotentCall = (operation: string, input: { idempotencyKey?: string | null }): IdempotentCall | null => {
  const { idempotencyKey, ...rest } = input;
  return idempotencyKey ? { key: idempotencyKey, operation, input: rest } : null;
};

/** Locks the customer's balances, then its active subscription, in `tx`; refuses when there is none or it is renewing. */
async function lockForStep(tx: EntityManager, tenant: Tenant, now: Date, customerId: string, ref: string) {
  const balances = await lockBalancesOfCustomer(tx, customerId);
  const subscription = await lockActiveSubscription(tx, tenant, customerId);
  if (!subscription) throw noActiveSubscription(ref);
  // The renewal before the transaction ran in its own; one that came due since is the sweeper's.
  if (subscription.currentPeriodEnd <= now) throw new DomainError('conflict', 'The subscription is renewing; retry the request.');
  return { balances, subscription };
}

/**
 * Runs one lifecycle step for a customer: renews first what is due (a scheduled cancellation
 * whose period ended ends there), then, in one transaction, looks up the idempotency key, locks
 * the balances and the active subscription, and applies `step`. A repeat of a key returns the
 * subscription as it is now and records nothing; a first call racing it on the same key makes
 * this one a repeat.
 */
export async function lifecycleStep(
  em: EntityManager,
  tenant: Tenant,
  now: Date,
  ref: string,
  call: IdempotentCall | null,
  step: LifecycleStepBody,
): Promise<SubscriptionRecord> {
  const customer = await getCustomer(em, tenant, ref);
  await renewBeforeUse(em, tenant, now, [customer.id]);
  const fingerprinted = call && { ...call, input: { ...(call.input as Record<string, unknown>), customerId: customer.id } };
  const attempt = () =>
    em.transactional(async (tx): Promise<StepOutcome> => {
      if (fingerprinted) {
        const claim = (await findClaims(tx, [{ tenant, key: fingerprinted.key }])).get(claimId(tenant, fingerprinted.key));
        if (claim) return { subscriptionId: replayOf(claim, fingerprinted)[0]!, told: null };
      }
      const { balances, subscription } = await lockForStep(tx, tenant, now, customer.id, ref);
      const outbox: OutboxEntry[] = [];
      const event = await step(tx, subscription, balances, outbox);
      if (fingerprinted) recordClaims(tx, [{ tenant, call: fingerprinted, eventIds: [subscription.id] }]);
      await tx.flush();
      let told: SubscriptionRecord | null = null;
      if (event) {
        told = (await findSubscriptionsById(tx, tenant, [subscription.id])).get(subscription.id)!;
        outbox.push(subscriptionOutbox(tenant, event, told));
      }
      await insertOutbox(tx, outbox);
      return { subscriptionId: subscription.id, told };
    });
  const outcome = await attempt().catch((error: unknown) => {
    if (fingerprinted && isUniqueViolation(error, 'idempotency_key_pkey')) return attempt();
    throw error;
  });
  // Read once more only when nothing was told: the subscription as the step left it is the answer.
  return outcome.told ?? (await findSubscriptionsById(em, tenant, [outcome.subscriptionId])).get(outcome.subscriptionId)!;
}

/** Thrown inside a dry run's transaction, to roll it back and carry out what it read. */
class DryRunRolledBack extends Error {
  readonly seen: DryRun;

  constructor(seen: DryRun) {
    super('dry run rolled back');
    this.seen = seen;
  }
}

/** The subscription before a dry run's step, and as the step left it. */
export type DryRun = { before: SubscriptionRecord; after: SubscriptionRecord };

/**
 * Runs `step` as lifecycleStep would (a due renewal is carried out first, as any operation
 * does), under the same locks, writes what it did inside the transaction and reads the
 * subscription back, then rolls it all back. Errors the step throws reach the caller as they are.
 */
export async function dryRunLifecycleStep(em: EntityManager, tenant: Tenant, now: Date, ref: string, step: LifecycleStepBody): Promise<DryRun> {
  const customer = await getCustomer(em, tenant, ref);
  await renewBeforeUse(em, tenant, now, [customer.id]);
  try {
    await em.transactional(async (tx) => {
      const { balances, subscription } = await lockForStep(tx, tenant, now, customer.id, ref);
      const before = (await findSubscriptionsById(tx, tenant, [subscription.id])).get(subscription.id)!;
      await step(tx, subscription, balances, []);
      await tx.flush();
      throw new DryRunRolledBack({ before, after: (await findSubscriptionsById(tx, tenant, [subscription.id])).get(subscription.id)! });
    });
  } catch (error) {
    if (error instanceof DryRunRolledBack) return error.seen;
    throw error;
  }
  throw new Error('a dry run always rolls back');
}
