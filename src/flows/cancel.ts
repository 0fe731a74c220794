import type { EntityManager } from '@mikro-orm/postgresql';
import { creditFor } from '../billing/proration.ts';
import { recordCharge } from '../billing/service.ts';
import { planTerms } from '../catalog/service.ts';
import { DomainError, validationError } from '../common/errors.ts';
import { customerById, getCustomer } from '../customers/service.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { type OutboxEntry, recordOutbox } from '../events/service.ts';
import { claimId, type IdempotentCall, replayOf } from '../idempotency/fingerprint.ts';
import { findClaims, recordClaims } from '../idempotency/service.ts';
import { customerDisplayId } from '../model/customers.ts';
import type { SeatBalance } from '../model/seats.ts';
import type { CancellationReason, Subscription } from '../model/subscriptions.ts';
import type { Tenant } from '../model/tenant.ts';
import { lockBalancesOfCustomer } from '../seats/service.ts';
import { findSubscriptionsById, lockActiveSubscription } from '../subscriptions/service.ts';
import type { SubscriptionRecord } from '../subscriptions/store.ts';
import { chargeOutbox, type SubscriptionEventType, subscriptionOutbox } from './announce.ts';
import { renewBeforeUse } from './renewal.ts';

// Cancelling a subscription, at its period's end or at once, and revoking a scheduled
// cancellation. Each step locks the customer's balances first, then the subscription: the order
// of seat changes and renewals, so a step racing them waits its turn and loses nothing.

type CancelTiming = 'AT_PERIOD_END' | 'IMMEDIATELY';
export const maxCancellationCommentLength = 500;

export type CancelSubscriptionInput = {
  customerId: string;
  timing: CancelTiming;
  reason?: CancellationReason | null;
  comment?: string | null;
  idempotencyKey?: string | null;
};
export type ResumeSubscriptionInput = { customerId: string; idempotencyKey?: string | null };

const noActiveSubscription = (ref: string) =>
  new DomainError('no_active_subscription', `Customer '${ref}' has no active subscription.`, { param: 'customerId' });

/** What a step did inside its transaction: the subscription it acted on, and what the outbox hears. */
type StepOutcome = { subscriptionId: string; event: SubscriptionEventType | null };

/**
 * Runs one lifecycle step for a customer: renews first what is due (a scheduled cancellation
 * whose period ended ends there), then, in one transaction, looks up the idempotency key, locks
 * the balances and the active subscription, and applies `step`. A repeat of a key returns the
 * subscription as it is now and records nothing; a first call racing it on the same key makes
 * this one a repeat.
 */
async function lifecycleStep(
  em: EntityManager,
  tenant: Tenant,
  now: Date,
  ref: string,
  call: IdempotentCall | null,
  step: (tx: EntityManager, subscription: Subscription, balances: SeatBalance[], outbox: OutboxEntry[]) => Promise<SubscriptionEventType | null>,
): Promise<SubscriptionRecord> {
  const customer = await getCustomer(em, tenant, ref);
  await renewBeforeUse(em, tenant, now, [customer.id]);
  const fingerprinted = call && { ...call, input: { ...(call.input as Record<string, unknown>), customerId: customer.id } };
  const attempt = () =>
    em.transactional(async (tx): Promise<StepOutcome> => {
      if (fingerprinted) {
        const claim = (await findClaims(tx, [{ tenant, key: fingerprinted.key }])).get(claimId(tenant, fingerprinted.key));
        if (claim) return { subscriptionId: replayOf(claim, fingerprinted)[0]!, event: null };
      }
      const balances = await lockBalancesOfCustomer(tx, customer.id);
      const subscription = await lockActiveSubscription(tx, tenant, customer.id);
      if (!subscription) throw noActiveSubscription(ref);
      // The renewal above ran in its own transaction; one that came due since is the sweeper's.
      if (subscription.currentPeriodEnd <= now) throw new DomainError('conflict', 'The subscription is renewing; retry the request.');
      const outbox: OutboxEntry[] = [];
      const event = await step(tx, subscription, balances, outbox);
      if (fingerprinted) recordClaims(tx, [{ tenant, call: fingerprinted, eventIds: [subscription.id] }]);
      await tx.flush();
      if (event) {
        const record = (await findSubscriptionsById(tx, tenant, [subscription.id])).get(subscription.id)!;
        outbox.push(subscriptionOutbox(tenant, event, record));
      }
      recordOutbox(tx, outbox);
      await tx.flush();
      return { subscriptionId: subscription.id, event };
    });
  const outcome = await attempt().catch((error: unknown) => {
    if (fingerprinted && isUniqueViolation(error, 'idempotency_key_pkey')) return attempt();
    throw error;
  });
  return (await findSubscriptionsById(em, tenant, [outcome.subscriptionId])).get(outcome.subscriptionId)!;
}

const idempotentCall = (operation: string, input: { idempotencyKey?: string | null }): IdempotentCall | null => {
  const { idempotencyKey, ...rest } = input;
  return idempotencyKey ? { key: idempotencyKey, operation, input: rest } : null;
};

/**
 * Cancels the customer's active subscription.
 * - AT_PERIOD_END schedules it: the subscription stays ACTIVE, and its renewal at
 *   currentPeriodEnd ends it instead of billing the next period. Asked again while scheduled, it
 *   changes nothing (the first reason and comment stay), as Stripe's cancel_at_period_end does.
 * - IMMEDIATELY ends it now, scheduled or not, and credits each seat feature the seats paid
 *   through the period's end for the days left (a CREDIT charge, negative).
 */
export async function cancelSubscription(em: EntityManager, tenant: Tenant, now: Date, input: CancelSubscriptionInput): Promise<SubscriptionRecord> {
  if (input.comment != null && input.comment.length > maxCancellationCommentLength) {
    throw validationError('comment', `comment may hold at most ${maxCancellationCommentLength} characters.`);
  }
  return lifecycleStep(em, tenant, now, input.customerId, idempotentCall('cancelSubscription', input), async (tx, subscription, balances, outbox) => {
    const reason = input.reason ?? null;
    const comment = input.comment ?? null;
    if (input.timing === 'AT_PERIOD_END') {
      if (subscription.cancelAtPeriodEnd) return null;
      subscription.cancelAtPeriodEnd = true;
      subscription.cancellationReason = reason;
      subscription.cancellationComment = comment;
      subscription.cancellationRequestedAt = now;
      subscription.cancellationEffectiveAt = subscription.currentPeriodEnd;
      return 'subscription.cancellation_scheduled';
    }
    // An immediate cancel replaces a scheduled one, keeping what it said unless told anew.
    subscription.status = 'CANCELED';
    subscription.cancelAtPeriodEnd = false;
    subscription.cancellationReason = reason ?? subscription.cancellationReason;
    subscription.cancellationComment = comment ?? subscription.cancellationComment;
    subscription.cancellationRequestedAt = now;
    subscription.cancellationEffectiveAt = now;
    subscription.endedAt = now;
    await creditUnusedDays(tx, tenant, subscription, balances, now, outbox);
    return 'subscription.canceled';
  });
}

/**
 * Records, per seat feature, the credit for the rest of the period: the balances' high-water
 * marks are the seats paid through its end (its advance plus its true-ups). The balances are
 * locked by the caller; they stay as they are, readable.
 */
async function creditUnusedDays(
  tx: EntityManager,
  tenant: Tenant,
  subscription: Subscription,
  balances: readonly SeatBalance[],
  now: Date,
  outbox: OutboxEntry[],
): Promise<void> {
  const { currency, features } = await planTerms(tx, subscription.plan.id);
  const period = { start: subscription.currentPeriodStart, end: subscription.currentPeriodEnd };
  const customerId = customerDisplayId(await customerById(tx, subscription.customer.id));
  for (const balance of balances) {
    const terms = features.get(balance.feature.id);
    const credit = terms ? creditFor(balance.highWaterMark, terms, period, now) : null;
    if (!terms || !credit) continue;
    const names = { customerId, featureCode: terms.featureCode };
    const on = { subscription, customer: subscription.customer.id, feature: balance.feature.id, event: null, currency, ts: now, names };
    outbox.push(chargeOutbox(tenant, subscription.customer.id, recordCharge(tx, tenant, credit, on)));
  }
}

/** Revokes a scheduled cancellation: the subscription renews at currentPeriodEnd as before. */
export async function resumeSubscription(em: EntityManager, tenant: Tenant, now: Date, input: ResumeSubscriptionInput): Promise<SubscriptionRecord> {
  return lifecycleStep(em, tenant, now, input.customerId, idempotentCall('resumeSubscription', input), async (_tx, subscription) => {
    if (!subscription.cancelAtPeriodEnd) {
      throw new DomainError('conflict', `Customer '${input.customerId}' has no cancellation scheduled; nothing to resume.`, { param: 'customerId' });
    }
    subscription.cancelAtPeriodEnd = false;
    subscription.cancellationReason = null;
    subscription.cancellationComment = null;
    subscription.cancellationRequestedAt = null;
    subscription.cancellationEffectiveAt = null;
    return 'subscription.cancellation_revoked';
  });
}
