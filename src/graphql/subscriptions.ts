import { builder } from './builder.ts';
import { loadAll } from '../common/relay.ts';
import { describe, formatCount } from './common.ts';
import { customerIdRule, featureCodeRule } from '../common/validation.ts';
import { customerDisplayId } from '../model/customers.ts';
import { CustomerRef } from './customers.ts';
import { maxSeatCount } from '../seats/rules.ts';
import { createSubscription } from '../flows/subscribe.ts';
import type { SubscriptionRecord } from '../subscriptions/store.ts';

const SubscriptionStatusEnum = builder.enumType('SubscriptionStatus', {
  description: 'Whether a subscription is in force.',
  values: {
    ACTIVE: { description: "In force: it holds the customer's seat balances and renews at the end of every period." },
    CANCELED: {
      description:
        'Ended: no longer renewed or billed, and seat operations answer no_active_subscription. No operation of this API cancels a subscription yet.',
    },
  } as const,
});

const PlanSubscriptionRef = builder
  .nodeRef<SubscriptionRecord>('PlanSubscription', {
    id: { resolve: (subscription) => subscription.id, description: 'Opaque id, prefixed sub_. Also its global id (node(id:)).' },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.subscriptionById, ids),
  })
  .implement({
    description:
      'A customer on a plan, billed period by period. A customer has at most one active subscription; its plan fixes which seat features have balances.',
    fields: (t) => ({
      customerId: t.string({ description: describe.customerIdOut, resolve: (subscription) => customerDisplayId(subscription.customer) }),
      planCode: t.string({ description: 'The code of its plan.', resolve: (subscription) => subscription.plan.code }),
      status: t.field({ type: SubscriptionStatusEnum, description: 'ACTIVE while in force.', resolve: (subscription) => subscription.status }),
      startAt: t.expose('startAt', {
        type: 'DateTime',
        description: 'When it began; every period boundary is counted from this instant (same day of month and time of day, UTC).',
      }),
      currentPeriodStart: t.expose('currentPeriodStart', { type: 'DateTime', description: 'Start of the current billing period (inclusive).' }),
      currentPeriodEnd: t.expose('currentPeriodEnd', {
        type: 'DateTime',
        description: 'End of the current billing period (exclusive): the subscription renews then, and the next period is billed in advance.',
      }),
      createdAt: t.expose('createdAt', { type: 'DateTime', description: describe.createdAt }),
      livemode: t.boolean({ description: describe.livemode, resolve: (subscription) => subscription.mode === 'live' }),
    }),
  });

const InitialSeatsInput = builder.inputType('InitialSeatsInput', {
  description: 'The starting balance of one seat feature.',
  fields: (t) => ({
    featureCode: t.string({
      description: 'A seat feature of the plan (feature_not_found or feature_not_in_plan otherwise): ^[a-z0-9_]+$, 1–50 characters.',
      validate: featureCodeRule,
    }),
    count: t.int({
      description: `The starting balance in seats, 0–${formatCount(maxSeatCount)}. Outside the feature's minimumSeats–maximumSeats (details {featureCode, limit: MINIMUM or MAXIMUM, value}), or above includedSeats without overage: seat_limit_exceeded; billable seats × unitPrice above 10^13: validation_error.`,
      validate: { min: 0, max: maxSeatCount },
    }),
  }),
});

const CreateSubscriptionInput = builder.inputType('CreateSubscriptionInput', {
  description: 'A new subscription.',
  fields: (t) => ({
    customerId: t.string({ description: describe.customerIdArg, validate: customerIdRule }),
    planCode: t.string({ description: 'The code of an existing plan (plan_not_found otherwise).', validate: featureCodeRule }),
    startAt: t.field({
      type: 'DateTime',
      required: false,
      description:
        'When the first period starts. Defaults to now; may not lie in the future, nor more than one billing period (a month or a year) back: validation_error otherwise.',
    }),
    initialSeats: t.field({
      type: [InitialSeatsInput],
      required: false,
      description:
        'Starting balances: at most 100 entries, each feature code once. Each is recorded as a SET event at startAt, and its billable seats are charged for the first period in advance. Seat features not listed start at their minimumSeats (0 unless the plan sets one), recorded and billed the same way when above 0.',
      validate: { maxLength: 100 },
    }),
  }),
});

builder.objectField(CustomerRef, 'subscription', (t) =>
  t.field({
    type: PlanSubscriptionRef,
    nullable: true,
    description: 'The active subscription, if any.',
    resolve: (customer, _args, ctx) => ctx.loaders.activeSubscriptionByCustomerId.load(customer.id),
  }),
);

builder.mutationFields((t) => ({
  createSubscription: t.field({
    type: PlanSubscriptionRef,
    description:
      'Subscribes a customer to a plan: one balance per seat feature of the plan, and the first period from startAt. Errors: validation_error, customer_not_found, plan_not_found, feature_not_found, feature_not_in_plan, seat_limit_exceeded, conflict (the customer already has an active subscription).',
    args: { input: t.arg({ type: CreateSubscriptionInput, description: 'The subscription to create.' }) },
    resolve: (_root, { input }, ctx) => createSubscription(ctx.em, ctx.tenant, ctx.now(), input),
  }),
}));
