import { EntitySchema, type Opt } from '@mikro-orm/core';
import { TenantEntity, TenantEntitySchema } from './base.ts';
import { Plan } from './catalog.ts';
import { Customer } from './customers.ts';

export type SubscriptionStatus = 'ACTIVE' | 'CANCELED';

/** Why a customer cancelled: the reasons Stripe and Polar share. */
export const cancellationReasons = [
  'TOO_EXPENSIVE',
  'MISSING_FEATURES',
  'SWITCHED_SERVICE',
  'UNUSED',
  'CUSTOMER_SERVICE',
  'LOW_QUALITY',
  'TOO_COMPLEX',
  'OTHER',
] as const;
export type CancellationReason = (typeof cancellationReasons)[number];

export class Subscription extends TenantEntity {
  id!: string;
  customer!: Customer;
  plan!: Plan;
  status: Opt<SubscriptionStatus> = 'ACTIVE';
  startAt!: Date;
  /**
   * The instant every period boundary is counted from: startAt, or the instant a change of plan
   * moved the subscription to another interval (its first period on the new interval starts there).
   */
  billingAnchor!: Date;
  currentPeriodStart!: Date;
  currentPeriodEnd!: Date;
  /** A cancellation is scheduled: the renewal at currentPeriodEnd ends the subscription instead. */
  cancelAtPeriodEnd: Opt<boolean> = false;
  cancellationReason: CancellationReason | null = null;
  cancellationComment: string | null = null;
  /** When the cancellation was asked for; null when none is scheduled or happened. */
  cancellationRequestedAt: Date | null = null;
  /** When it ends (ended) the subscription: the period end, or the instant of an immediate cancel. */
  cancellationEffectiveAt: Date | null = null;
  /** When it ended; null while ACTIVE. */
  endedAt: Date | null = null;
  /** A plan change scheduled for currentPeriodEnd: the renewal there switches to this plan before billing. */
  scheduledPlan: Plan | null = null;
  /** When the scheduled plan change was asked for; set exactly when scheduledPlan is. */
  scheduledPlanRequestedAt: Date | null = null;
}

export const SubscriptionSchema = new EntitySchema<Subscription, TenantEntity>({
  class: Subscription,
  extends: TenantEntitySchema,
  tableName: 'subscription',
  properties: {
    id: { type: 'text', primary: true },
    customer: { kind: 'm:1', entity: () => Customer, deleteRule: 'restrict', updateRule: 'cascade' },
    plan: { kind: 'm:1', entity: () => Plan, deleteRule: 'restrict', updateRule: 'cascade' },
    status: { enum: true, items: ['ACTIVE', 'CANCELED'] },
    startAt: { type: 'datetime', columnType: 'timestamptz' },
    billingAnchor: { type: 'datetime', columnType: 'timestamptz' },
    currentPeriodStart: { type: 'datetime', columnType: 'timestamptz' },
    currentPeriodEnd: { type: 'datetime', columnType: 'timestamptz' },
    cancelAtPeriodEnd: { type: 'boolean', default: false },
    cancellationReason: { enum: true, items: [...cancellationReasons], nullable: true },
    cancellationComment: { type: 'text', nullable: true },
    cancellationRequestedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    cancellationEffectiveAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    endedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    scheduledPlan: { kind: 'm:1', entity: () => Plan, nullable: true, deleteRule: 'restrict', updateRule: 'cascade' },
    scheduledPlanRequestedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
  indexes: [
    {
      name: 'subscription_one_active_per_customer',
      expression: "create unique index subscription_one_active_per_customer on subscription (customer_id) where status = 'ACTIVE'",
    },
    {
      // A customer's latest subscription, the active one first: what its balances are read under.
      name: 'subscription_customer_latest_index',
      expression: 'create index subscription_customer_latest_index on subscription (customer_id, ended_at desc nulls first)',
    },
    {
      // The renewal sweeper's search for ended periods.
      name: 'subscription_active_period_end_index',
      expression: "create index subscription_active_period_end_index on subscription (current_period_end) where status = 'ACTIVE'",
    },
  ],
  checks: [
    { name: 'subscription_period_check', expression: 'current_period_start < current_period_end' },
    {
      // Ended exactly when CANCELED; a scheduled cancellation only on an active subscription.
      name: 'subscription_cancellation_check',
      expression:
        "(status = 'CANCELED') = (ended_at is not null) and (not cancel_at_period_end or (status = 'ACTIVE' and cancellation_requested_at is not null)) and char_length(cancellation_comment) <= 500",
    },
    {
      // A plan change is scheduled only on an active subscription with no cancellation scheduled.
      name: 'subscription_scheduled_plan_check',
      expression:
        "(scheduled_plan_id is null) = (scheduled_plan_requested_at is null) and (scheduled_plan_id is null or (status = 'ACTIVE' and not cancel_at_period_end))",
    },
  ],
});
