import { chargeCreatedPayload, type LimitReachedPayload, type SubscriptionPayload, seatBalancePayload, seatEventPayload } from '../events/payloads.ts';
import type { OutboxEntry, SubscriptionOutboxEntry } from '../events/service.ts';
import type { SeatTerms } from '../model/catalog.ts';
import { customerDisplayId } from '../model/customers.ts';
import type { SeatChargeRecord, SeatEventRecord } from '../model/records.ts';
import type { Tenant } from '../model/tenant.ts';
import { reachesLimit } from '../seats/rules.ts';
import type { SubscriptionRecord } from '../subscriptions/store.ts';

// What the outbox is told about seat changes and charges: built from the records the change
// made, in the transaction that makes them, so the telling commits exactly when the change does.

/** The balance a change is about: its customer (both ids), its feature and the plan's terms for it. */
export type ChangedBalance = { tenant: Tenant; customer: { id: string; externalId: string | null }; featureCode: string; terms: SeatTerms };

const on = (balance: ChangedBalance) => ({ tenant: balance.tenant, customerId: balance.customer.id, featureCode: balance.featureCode });

function limitPayload(
  balance: ChangedBalance,
  current: number,
  what: Pick<LimitReachedPayload, 'reason' | 'eventId' | 'requested'>,
  at: Date,
): LimitReachedPayload {
  const customerId = customerDisplayId(balance.customer);
  return {
    customerId,
    featureCode: balance.featureCode,
    includedSeats: balance.terms.includedSeats,
    maximumSeats: balance.terms.maximumSeats,
    current,
    ...what,
    at: at.toISOString(),
    livemode: balance.tenant.mode === 'live',
  };
}

/** A charge, as `charge.created`; `customerId` is the customer's own id. */
export const chargeOutbox = (tenant: Tenant, customerId: string, charge: SeatChargeRecord): OutboxEntry => ({
  tenant,
  customerId,
  featureCode: charge.featureCode,
  type: 'charge.created',
  payload: chargeCreatedPayload(charge),
});

/** What the outbox says about one recorded change: the change, its charge, and a limit it reached. */
export function changeOutbox(balance: ChangedBalance, event: SeatEventRecord, charge: SeatChargeRecord | null): OutboxEntry[] {
  const { tenant, terms } = balance;
  const after = {
    customerId: event.customerId,
    featureCode: event.featureCode,
    current: event.newBalance,
    includedSeats: terms.includedSeats,
    unlimited: terms.unlimited,
    asOf: event.ts,
    mode: tenant.mode,
    // A change applied now replaces any decrease scheduled for the balance.
    scheduledChange: null,
  };
  const entries: OutboxEntry[] = [{ ...on(balance), type: 'seat.changed', payload: { event: seatEventPayload(event), balance: seatBalancePayload(after) } }];
  if (charge) entries.push(chargeOutbox(tenant, balance.customer.id, charge));
  if (reachesLimit(terms, event.previousBalance, event.newBalance)) {
    entries.push({
      ...on(balance),
      type: 'seat.limit_reached',
      payload: limitPayload(balance, event.newBalance, { reason: 'reached', eventId: event.id, requested: null }, event.ts),
    });
  }
  return entries;
}

/** A decrease scheduled for the period end, as `seat.change_scheduled`: the balance, unchanged but for it. */
export const scheduledOutbox = (balance: ChangedBalance, scheduled: { current: number; asOf: Date; count: number; effectiveAt: Date }): OutboxEntry => ({
  ...on(balance),
  type: 'seat.change_scheduled',
  payload: {
    balance: seatBalancePayload({
      customerId: customerDisplayId(balance.customer),
      featureCode: balance.featureCode,
      current: scheduled.current,
      includedSeats: balance.terms.includedSeats,
      unlimited: balance.terms.unlimited,
      asOf: scheduled.asOf,
      mode: balance.tenant.mode,
      scheduledChange: { count: scheduled.count, effectiveAt: scheduled.effectiveAt },
    }),
  },
});

/**
 * A change refused for going above a capped feature's included seats or above a maximumSeats:
 * nothing changed, but the back office learns that a customer wants more than the plan allows.
 */
export const limitRefusedOutbox = (balance: ChangedBalance, current: number, requested: number, at: Date): OutboxEntry => ({
  ...on(balance),
  type: 'seat.limit_reached',
  payload: limitPayload(balance, current, { reason: 'refused', eventId: null, requested }, at),
});

/** A subscription, as GraphQL's PlanSubscription shows it. */
const subscriptionPayload = (subscription: SubscriptionRecord): SubscriptionPayload => ({
  id: subscription.id,
  customerId: customerDisplayId(subscription.customer),
  planCode: subscription.plan.code,
  status: subscription.status,
  startAt: subscription.startAt.toISOString(),
  billingAnchor: subscription.billingAnchor.toISOString(),
  currentPeriodStart: subscription.currentPeriodStart.toISOString(),
  currentPeriodEnd: subscription.currentPeriodEnd.toISOString(),
  cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
  scheduledPlanChange: subscription.scheduledPlanChange && {
    planCode: subscription.scheduledPlanChange.plan.code,
    requestedAt: subscription.scheduledPlanChange.requestedAt.toISOString(),
    effectiveAt: subscription.scheduledPlanChange.effectiveAt.toISOString(),
    seatLimitWarnings: subscription.scheduledPlanChange.seatLimitWarnings,
  },
  cancellation: subscription.cancellation && {
    reason: subscription.cancellation.reason,
    comment: subscription.cancellation.comment,
    requestedAt: subscription.cancellation.requestedAt.toISOString(),
    effectiveAt: subscription.cancellation.effectiveAt.toISOString(),
  },
  endedAt: subscription.endedAt?.toISOString() ?? null,
  createdAt: subscription.createdAt.toISOString(),
  livemode: subscription.mode === 'live',
});

export type SubscriptionEventType = SubscriptionOutboxEntry['type'];

/** A step of a subscription's life; it is about no one feature, so its feature code is the empty string. */
export const subscriptionOutbox = (tenant: Tenant, type: SubscriptionEventType, subscription: SubscriptionRecord): OutboxEntry => ({
  tenant,
  customerId: subscription.customer.id,
  featureCode: '',
  type,
  payload: subscriptionPayload(subscription),
});
