import type { PlanInterval } from '../model/catalog.ts';
import { read, statement } from '../db/prepared.ts';
import type { Mode } from '../model/tenant.ts';
import type { CancellationReason, SubscriptionStatus } from '../model/subscriptions.ts';

/** A cancellation asked for: scheduled for the period end, or carried out. */
export type CancellationRecord = { reason: CancellationReason | null; comment: string | null; requestedAt: Date; effectiveAt: Date };

/** A balance the scheduled plan's maximum would break at the period end, where the renewal lowers it to `limit`. */
export type SeatLimitWarning = { featureCode: string; current: number; limit: number };

/** A plan change scheduled for the period end. */
export type ScheduledPlanChangeRecord = {
  plan: { id: string; code: string; interval: PlanInterval };
  requestedAt: Date;
  effectiveAt: Date;
  seatLimitWarnings: SeatLimitWarning[];
};

/** A subscription as callers see it, with what its periods and prices need from the plan. */
export type SubscriptionRecord = {
  id: string;
  customer: { id: string; externalId: string | null };
  plan: { id: string; code: string; currency: string; interval: PlanInterval };
  status: SubscriptionStatus;
  startAt: Date;
  /** The instant its period boundaries are counted from: startAt, or the last change of interval. */
  billingAnchor: Date;
  currentPeriodStart: Date;
  currentPeriodEnd: Date;
  cancelAtPeriodEnd: boolean;
  scheduledPlanChange: ScheduledPlanChangeRecord | null;
  cancellation: CancellationRecord | null;
  endedAt: Date | null;
  createdAt: Date;
  mode: Mode;
};

const subscriptionColumns = `s.id, s.customer_id, c.external_id, s.plan_id, p.code as plan_code, p.currency, p.interval, s.status,
          s.start_at, s.current_period_start, s.current_period_end, s.created_at, s.mode, s.cancel_at_period_end,
          s.cancellation_reason, s.cancellation_comment, s.cancellation_requested_at, s.cancellation_effective_at, s.ended_at,
          s.billing_anchor, s.scheduled_plan_id, sp.code as scheduled_plan_code, sp.interval as scheduled_plan_interval,
          s.scheduled_plan_requested_at, w.warnings as seat_limit_warnings`;
/**
 * The warnings of a scheduled plan change are read with the subscription, so they always match
 * today's balances: each balance of the current plan above the most the scheduled plan lets it
 * hold, which is 0 for a feature the plan lacks, else the least of maximumSeats and (without
 * overage, not unlimited) includedSeats. The renewal's clamp (flows/plan-change-rules.ts) applies
 * the same bound.
 */
const subscriptionJoins = `subscription s
     join customer c on c.id = s.customer_id
     join plan p on p.id = s.plan_id
     left join plan sp on sp.id = s.scheduled_plan_id
     left join lateral (
       select json_agg(json_build_object('featureCode', f.code, 'current', b.current, 'limit', bound.value) order by f.code) as warnings
         from plan_seat_feature cur
         join seat_balance b on b.customer_id = s.customer_id and b.feature_id = cur.feature_id
         join feature f on f.id = cur.feature_id
         left join plan_seat_feature nxt on nxt.plan_id = s.scheduled_plan_id and nxt.feature_id = cur.feature_id
         cross join lateral (
           select case when nxt.plan_id is null then 0
                       else least(nxt.maximum_seats, case when not nxt.unlimited and not nxt.overage_enabled then nxt.included_seats end) end as value
         ) bound
        where s.scheduled_plan_id is not null and cur.plan_id = s.plan_id and bound.value is not null and b.current > bound.value
     ) w on true`;

const parseSubscription = (row: Record<string, unknown>): SubscriptionRecord => ({
  id: read.text(row.id),
  customer: { id: read.text(row.customer_id), externalId: read.nullableText(row.external_id) },
  plan: { id: read.text(row.plan_id), code: read.text(row.plan_code), currency: read.text(row.currency), interval: row.interval as PlanInterval },
  status: row.status as SubscriptionStatus,
  startAt: read.date(row.start_at),
  billingAnchor: read.date(row.billing_anchor),
  currentPeriodStart: read.date(row.current_period_start),
  currentPeriodEnd: read.date(row.current_period_end),
  cancelAtPeriodEnd: read.bool(row.cancel_at_period_end),
  scheduledPlanChange: row.scheduled_plan_id
    ? {
        plan: { id: read.text(row.scheduled_plan_id), code: read.text(row.scheduled_plan_code), interval: row.scheduled_plan_interval as PlanInterval },
        requestedAt: read.date(row.scheduled_plan_requested_at),
        effectiveAt: read.date(row.current_period_end),
        seatLimitWarnings: (row.seat_limit_warnings as SeatLimitWarning[] | null) ?? [],
      }
    : null,
  cancellation: row.cancellation_requested_at
    ? {
        reason: row.cancellation_reason as CancellationReason | null,
        comment: read.nullableText(row.cancellation_comment),
        requestedAt: read.date(row.cancellation_requested_at),
        effectiveAt: read.date(row.cancellation_effective_at),
      }
    : null,
  endedAt: row.ended_at ? read.date(row.ended_at) : null,
  createdAt: read.date(row.created_at),
  mode: row.mode as Mode,
});

// Read for up to a hundred customers per request, joined with customer and plan: kept prepared so
// the join is planned once per connection.
export const ACTIVE_SUBSCRIPTIONS = statement<{ organizationId: string; mode: Mode; customerIds: string[] }, SubscriptionRecord>(
  'active_subscriptions',
  `select ${subscriptionColumns}
     from ${subscriptionJoins}
    where s.organization_id = :organizationId and s.mode = :mode and s.status = 'ACTIVE'
      and s.customer_id = any(:customerIds::text[])`,
  parseSubscription,
);

/**
 * Each customer's latest subscription: the active one, or else the one that ended most recently
 * (subscription_customer_latest_index serves the order).
 */
export const LATEST_SUBSCRIPTIONS = statement<{ organizationId: string; mode: Mode; customerIds: string[] }, SubscriptionRecord>(
  'latest_subscriptions',
  `select distinct on (s.customer_id) ${subscriptionColumns}
     from ${subscriptionJoins}
    where s.organization_id = :organizationId and s.mode = :mode and s.customer_id = any(:customerIds::text[])
    order by s.customer_id, s.ended_at desc nulls first, s.created_at desc`,
  parseSubscription,
);

/** Subscriptions by id, whatever their status (node(id:)); ids of other tenants match nothing. */
export const SUBSCRIPTIONS_BY_ID = statement<{ organizationId: string; mode: Mode; ids: string[] }, SubscriptionRecord>(
  'subscriptions_by_id',
  `select ${subscriptionColumns}
     from ${subscriptionJoins}
    where s.id = any(:ids::text[]) and s.organization_id = :organizationId and s.mode = :mode`,
  parseSubscription,
);

/**
 * A subscription whose period has ended, with the tenant it renews for and the clock it runs on:
 * `frozenAt` is its organization's test clock, when that was advanced.
 */
export type DueSubscription = { id: string; customerId: string; organizationId: string; mode: Mode; frozenAt: Date | null };

const parseDue = (row: Record<string, unknown>): DueSubscription => ({
  id: read.text(row.id),
  customerId: read.text(row.customer_id),
  organizationId: read.text(row.organization_id),
  mode: row.mode as Mode,
  frozenAt: row.frozen_at ? read.date(row.frozen_at) : null,
});

/**
 * For the renewal sweeper: subscriptions whose period ended by real time (an index on the
 * period end serves it), but for test ones of an organization whose test clock stands still;
 * and those, whose period ended by that clock.
 */
type DueScope = { now: Date; limit: number; organizationId: string | null };

export const DUE_BY_REAL_TIME = statement<DueScope, DueSubscription>(
  'due_by_real_time',
  `select s.id, s.customer_id, s.organization_id, s.mode, null as frozen_at
     from subscription s
    where s.status = 'ACTIVE' and s.current_period_end <= :now::timestamptz
      and not (s.mode = 'test' and exists (select 1 from test_clock c where c.organization_id = s.organization_id and c.frozen_at is not null))
      and (:organizationId::text is null or s.organization_id = :organizationId::text)
    order by s.current_period_end
    limit :limit`,
  parseDue,
);

export const DUE_BY_TEST_CLOCK = statement<DueScope, DueSubscription>(
  'due_by_test_clock',
  `select s.id, s.customer_id, s.organization_id, s.mode, c.frozen_at
     from test_clock c
     join subscription s on s.organization_id = c.organization_id and s.mode = 'test' and s.status = 'ACTIVE'
    where c.frozen_at is not null and s.current_period_end <= c.frozen_at
      and (:organizationId::text is null or c.organization_id = :organizationId::text)
    order by s.current_period_end
    limit :limit`,
  parseDue,
);

/**
 * The customer's active subscription, locked against other lifecycle steps and renewals (FOR NO
 * KEY UPDATE, which seat changes' key-share lock does not wait for). Taken after the customer's
 * balances, in the order renewals follow.
 */
export const LOCK_ACTIVE_SUBSCRIPTION = statement<{ organizationId: string; mode: Mode; customerId: string }, { id: string }>(
  'lock_active_subscription',
  `select s.id
     from subscription s
    where s.organization_id = :organizationId and s.mode = :mode and s.customer_id = :customerId and s.status = 'ACTIVE'
      for no key update`,
  (row) => ({ id: read.text(row.id) }),
);
