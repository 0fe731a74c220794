import type { EntityManager } from '@mikro-orm/postgresql';
import { creditFor } from '../billing/proration.ts';
import { insertCharges, newCharge } from '../billing/service.ts';
import { planTerms } from '../catalog/service.ts';
import type { PlanTerms } from '../catalog/store.ts';
import { DomainError, validationError } from '../common/errors.ts';
import { customerById } from '../customers/service.ts';
import type { OutboxEntry } from '../events/service.ts';
import { customerDisplayId } from '../model/customers.ts';
import type { SeatChargeRecord } from '../model/records.ts';
import type { SeatBalance } from '../model/seats.ts';
import type { CancellationReason, Subscription } from '../model/subscriptions.ts';
import type { Tenant } from '../model/tenant.ts';
import type { SubscriptionRecord } from '../subscriptions/store.ts';
import { chargeOutbox } from './announce.ts';
import { idempotentCall, lifecycleStep } from './lifecycle.ts';

// Cancelling a subscription, at its period's end or at once, and revoking a scheduled
// cancellation: lifecycle steps (lifecycle.ts).

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
      // One change at the period end at a time: which would apply first is no rule a customer could guess.
      if (subscription.scheduledPlan) {
        throw new DomainError(
          'conflict',
          `Customer '${input.customerId}' has a plan change scheduled for the period end; revoke it first (revokeScheduledPlanChange), or cancel IMMEDIATELY.`,
          { param: 'timing' },
        );
      }
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
    // Ending now, it reaches no period end where a scheduled plan change would apply.
    subscription.scheduledPlan = null;
    subscription.scheduledPlanRequestedAt = null;
    await creditUnusedDays(tx, tenant, subscription, await planTerms(tx, subscription.plan.id), balances, now, outbox);
    return 'subscription.canceled';
  });
}

/**
 * Records, per seat feature, the credit for the rest of the period: the balances' high-water
 * marks are the seats paid through its end (its advance plus its true-ups). The balances are
 * locked by the caller; they stay as they are, readable. A plan change applied at once credits
 * the old plan the same way. `terms` are those of the plan in force, which the caller has read.
 * Answers the credits recorded.
 */
export async function creditUnusedDays(
  tx: EntityManager,
  tenant: Tenant,
  subscription: Subscription,
  terms: PlanTerms,
  balances: readonly SeatBalance[],
  now: Date,
  outbox: OutboxEntry[],
): Promise<SeatChargeRecord[]> {
  const { currency, features } = terms;
  const period = { start: subscription.currentPeriodStart, end: subscription.currentPeriodEnd };
  const customerId = customerDisplayId(await customerById(tx, subscription.customer.id));
  const credits = balances.flatMap((balance) => {
    const featureTerms = features.get(balance.feature.id);
    const credit = featureTerms ? creditFor(balance.highWaterMark, featureTerms, period, now) : null;
    if (!featureTerms || !credit) return [];
    const names = { customerId, featureCode: featureTerms.featureCode };
    return [
      newCharge(tenant, credit, {
        subscription: subscription.id,
        customer: subscription.customer.id,
        feature: balance.feature.id,
        event: null,
        currency,
        ts: now,
        names,
      }),
    ];
  });
  // Plain rows, as the renewal's advances: a credit per feature of a wide plan would otherwise
  // be as many entities for the unit of work to track and flush.
  if (credits.length > 0)
    await insertCharges(
      tx,
      credits.map(({ row }) => row),
    );
  outbox.push(...credits.map(({ record }) => chargeOutbox(tenant, subscription.customer.id, record)));
  return credits.map(({ record }) => record);
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
