import type { SeatBalanceRecord, SeatChargeRecord, SeatEventRecord } from '../model/records.ts';
import type { Mode } from '../model/tenant.ts';
import type { SubscriptionStatus } from '../model/subscriptions.ts';

// The public shapes outbox rows carry: what GraphQL shows of each object (times as ISO strings),
// so subscriptions and webhooks say the same thing.

export type SeatEventPayload = {
  id: string;
  customerId: string;
  featureCode: string;
  kind: SeatEventRecord['kind'];
  count: number;
  previousBalance: number;
  newBalance: number;
  ts: string;
  createdAt: string;
  livemode: boolean;
};

export type SeatBalancePayload = {
  customerId: string;
  featureCode: string;
  current: number;
  includedSeats: number | null;
  unlimited: boolean;
  asOf: string;
  livemode: boolean;
  /** Present when a decrease is scheduled (seat.change_scheduled); absent when none is, as in every earlier payload. */
  scheduledChange?: { count: number; effectiveAt: string };
};

/** `seat.changed`: the event and the balance it left. */
export type SeatChangedPayload = { event: SeatEventPayload; balance: SeatBalancePayload };

/** `seat.change_scheduled`: the balance, with the decrease now scheduled for its period end. */
export type SeatChangeScheduledPayload = { balance: SeatBalancePayload };

/** `charge.created`: the charge, as SeatCharge shows it. */
export type ChargeCreatedPayload = Omit<SeatChargeRecord, 'ts' | 'createdAt' | 'periodStart' | 'periodEnd' | 'mode'> & {
  ts: string;
  createdAt: string;
  periodStart: string;
  periodEnd: string;
  livemode: boolean;
};

/**
 * `seat.limit_reached`: a balance of a feature without overage reached its included seats
 * (`reached`, with the event that did it), or a change was refused for going above them or above
 * the feature's maximumSeats (`refused`, with the balance it asked for).
 */
export type LimitReachedPayload = {
  customerId: string;
  featureCode: string;
  includedSeats: number;
  /** The feature's maximumSeats; null when it has none. */
  maximumSeats: number | null;
  current: number;
  reason: 'reached' | 'refused';
  eventId: string | null;
  requested: number | null;
  at: string;
  livemode: boolean;
};

const livemode = (mode: Mode) => mode === 'live';
const iso = (date: Date) => date.toISOString();

export const seatEventPayload = (event: Omit<SeatEventRecord, 'charge'>): SeatEventPayload => ({
  id: event.id,
  customerId: event.customerId,
  featureCode: event.featureCode,
  kind: event.kind,
  count: event.quantity,
  previousBalance: event.previousBalance,
  newBalance: event.newBalance,
  ts: iso(event.ts),
  createdAt: iso(event.createdAt),
  livemode: livemode(event.mode),
});

export const seatBalancePayload = (balance: Omit<SeatBalanceRecord, 'customerRowId'>): SeatBalancePayload => ({
  customerId: balance.customerId,
  featureCode: balance.featureCode,
  current: balance.current,
  includedSeats: balance.unlimited ? null : balance.includedSeats,
  unlimited: balance.unlimited,
  asOf: iso(balance.asOf),
  livemode: livemode(balance.mode),
  ...(balance.scheduledChange && { scheduledChange: { count: balance.scheduledChange.count, effectiveAt: iso(balance.scheduledChange.effectiveAt) } }),
});

export const chargeCreatedPayload = ({ ts, createdAt, periodStart, periodEnd, mode, ...charge }: SeatChargeRecord): ChargeCreatedPayload => ({
  ...charge,
  ts: iso(ts),
  createdAt: iso(createdAt),
  periodStart: iso(periodStart),
  periodEnd: iso(periodEnd),
  livemode: livemode(mode),
});

/**
 * `subscription.cancellation_scheduled`, `subscription.cancellation_revoked`,
 * `subscription.canceled`, `subscription.plan_changed`, `subscription.plan_change_scheduled`,
 * `subscription.plan_change_revoked`: the PlanSubscription, as GraphQL shows it.
 */
export type SubscriptionPayload = {
  id: string;
  customerId: string;
  planCode: string;
  status: SubscriptionStatus;
  startAt: string;
  billingAnchor: string;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  cancelAtPeriodEnd: boolean;
  scheduledPlanChange: {
    planCode: string;
    requestedAt: string;
    effectiveAt: string;
    seatLimitWarnings: { featureCode: string; current: number; limit: number }[];
  } | null;
  cancellation: { reason: string | null; comment: string | null; requestedAt: string; effectiveAt: string } | null;
  endedAt: string | null;
  createdAt: string;
  livemode: boolean;
};

const modeOf = (payload: { livemode: boolean }): Mode => (payload.livemode ? 'live' : 'test');

/**
 * A delivered event as the GraphQL SeatEvent type reads it; its charge is loaded if asked for.
 * `customerRowId` is the outbox row's customer: the payload names it by its display id only.
 */
export const seatEventFromPayload = (payload: SeatEventPayload, customerRowId: string): SeatEventRecord => ({
  id: payload.id,
  customerRowId,
  customerId: payload.customerId,
  featureCode: payload.featureCode,
  kind: payload.kind,
  quantity: payload.count,
  previousBalance: payload.previousBalance,
  newBalance: payload.newBalance,
  ts: new Date(payload.ts),
  createdAt: new Date(payload.createdAt),
  mode: modeOf(payload),
});

export const seatBalanceFromPayload = (payload: SeatBalancePayload, customerRowId: string): SeatBalanceRecord => ({
  customerRowId,
  customerId: payload.customerId,
  featureCode: payload.featureCode,
  current: payload.current,
  includedSeats: payload.includedSeats ?? 0,
  unlimited: payload.unlimited,
  asOf: new Date(payload.asOf),
  mode: modeOf(payload),
  // Payloads published before decreases could be scheduled have no such field.
  scheduledChange: payload.scheduledChange ? { count: payload.scheduledChange.count, effectiveAt: new Date(payload.scheduledChange.effectiveAt) } : null,
});
