import { builder } from './builder.ts';
import { loadAll } from '../common/relay.ts';
import { describe, formatCount } from './common.ts';
import { customerIdRule, featureCodeRule, idempotencyKeyRule } from '../common/validation.ts';
import { customerDisplayId } from '../model/customers.ts';
import { CustomerRef } from './customers.ts';
import { maxSeatCount } from '../seats/rules.ts';
import { createSubscription } from '../flows/subscribe.ts';
import { cancelSubscription, maxCancellationCommentLength, resumeSubscription } from '../flows/cancel.ts';
import type { cancellationReasons } from '../model/subscriptions.ts';
import type { CancellationRecord, SubscriptionRecord } from '../subscriptions/store.ts';
import { withHeaderKey } from './seats.ts';

const SubscriptionStatusEnum = builder.enumType('SubscriptionStatus', {
  description: 'Whether a subscription is in force.',
  values: {
    ACTIVE: { description: "In force: it holds the customer's seat balances and renews at the end of every period." },
    CANCELED: {
      description:
        'Ended (endedAt says when): cancelled IMMEDIATELY, or at the end of the period a cancellation was scheduled for (cancelSubscription). It is no longer renewed or billed, and seat changes answer no_active_subscription; its ledger (seatEvents) and charges (seatCharges) stay readable.',
    },
  } as const,
});

const CancellationReasonEnum = builder.enumType('CancellationReason', {
  description: 'Why the customer cancelled, as the customer said (the reasons Stripe and Polar share). Kept with the cancellation, for your own reports.',
  values: {
    TOO_EXPENSIVE: { description: 'It costs too much.' },
    MISSING_FEATURES: { description: 'Something the customer needs is missing.' },
    SWITCHED_SERVICE: { description: 'The customer moved to another product.' },
    UNUSED: { description: 'The customer does not use it enough.' },
    CUSTOMER_SERVICE: { description: 'The customer was unhappy with the service they got.' },
    LOW_QUALITY: { description: 'The customer was unhappy with its quality.' },
    TOO_COMPLEX: { description: 'It is too hard to use.' },
    OTHER: { description: 'Another reason; the comment may say which.' },
  } as const satisfies Record<(typeof cancellationReasons)[number], { description: string }>,
});

const CancelTimingEnum = builder.enumType('CancelTiming', {
  description: 'When a cancellation takes effect.',
  values: {
    AT_PERIOD_END: {
      description:
        'At currentPeriodEnd: the subscription stays ACTIVE and usable until then (seat changes work and bill as usual), then ends instead of renewing, and the next period is not billed. resumeSubscription revokes it before then.',
    },
    IMMEDIATELY: {
      description:
        "Now: the subscription ends (CANCELED, endedAt now), and each seat feature is credited the seats paid through the period's end for the days left, from the day of the cancellation (a CREDIT charge, negative).",
    },
  } as const,
});

const SubscriptionCancellationRef = builder.objectRef<CancellationRecord>('SubscriptionCancellation').implement({
  description: 'A cancellation: scheduled for the period end while cancelAtPeriodEnd is true, or carried out once the subscription is CANCELED.',
  fields: (t) => ({
    reason: t.field({
      type: CancellationReasonEnum,
      nullable: true,
      description: 'Why, as given to cancelSubscription; null when none was given.',
      resolve: (cancellation) => cancellation.reason,
    }),
    comment: t.string({
      nullable: true,
      description: "The customer's own words, as given; null when none was given.",
      resolve: (cancellation) => cancellation.comment,
    }),
    requestedAt: t.field({
      type: 'DateTime',
      description: 'When cancelSubscription was called (by your clock: the test clock for test keys).',
      resolve: (cancellation) => cancellation.requestedAt,
    }),
    effectiveAt: t.field({
      type: 'DateTime',
      description: 'When it ends the subscription: currentPeriodEnd for AT_PERIOD_END, the instant of the call for IMMEDIATELY.',
      resolve: (cancellation) => cancellation.effectiveAt,
    }),
  }),
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
      status: t.field({
        type: SubscriptionStatusEnum,
        description: 'ACTIVE while in force (also while a cancellation is scheduled), CANCELED once ended.',
        resolve: (subscription) => subscription.status,
      }),
      cancelAtPeriodEnd: t.boolean({
        description:
          'True while a cancellation is scheduled: the subscription ends at currentPeriodEnd instead of renewing. resumeSubscription sets it back to false. Always false once CANCELED.',
        resolve: (subscription) => subscription.cancelAtPeriodEnd,
      }),
      cancellation: t.field({
        type: SubscriptionCancellationRef,
        nullable: true,
        description: 'The cancellation scheduled or carried out, with its reason and comment; null when none (a resumed one is gone).',
        resolve: (subscription) => subscription.cancellation,
      }),
      endedAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When it ended: the instant of an IMMEDIATELY cancellation, or the period end a scheduled one took effect at. Null while ACTIVE.',
        resolve: (subscription) => subscription.endedAt,
      }),
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

const idempotencyKeyDescription =
  'Optional, 1–255 printable characters. The call applies at most once per key (per organization and mode, kept 24 hours at least): a repeat returns the subscription as it is now and records nothing; the same key with another operation or input answers idempotency_key_mismatch. The Idempotency-Key header does the same; if both are given they must be equal.';

const CancelSubscriptionInput = builder.inputType('CancelSubscriptionInput', {
  description: "A cancellation of a customer's active subscription.",
  fields: (t) => ({
    customerId: t.string({ description: describe.customerIdArg, validate: customerIdRule }),
    timing: t.field({
      type: CancelTimingEnum,
      description: 'AT_PERIOD_END (keeps it usable until currentPeriodEnd) or IMMEDIATELY (ends it now, with a credit).',
    }),
    reason: t.field({ type: CancellationReasonEnum, required: false, description: 'Why the customer cancelled. Optional.' }),
    comment: t.string({
      required: false,
      description: `The customer's own words, at most ${maxCancellationCommentLength} characters (validation_error naming comment otherwise). Optional.`,
      validate: { maxLength: maxCancellationCommentLength },
    }),
    idempotencyKey: t.string({ required: false, description: idempotencyKeyDescription, validate: idempotencyKeyRule }),
  }),
});

const ResumeSubscriptionInput = builder.inputType('ResumeSubscriptionInput', {
  description: 'The subscription whose scheduled cancellation to revoke.',
  fields: (t) => ({
    customerId: t.string({ description: describe.customerIdArg, validate: customerIdRule }),
    idempotencyKey: t.string({ required: false, description: idempotencyKeyDescription, validate: idempotencyKeyRule }),
  }),
});

builder.objectField(CustomerRef, 'subscription', (t) =>
  t.field({
    type: PlanSubscriptionRef,
    nullable: true,
    description:
      'The active subscription; or else, when the customer has none, the one that ended most recently (status CANCELED, endedAt set), whose balances seatBalances still shows; null if it never had one.',
    resolve: (customer, _args, ctx) => ctx.loaders.latestSubscriptionByCustomerId.load(customer.id),
  }),
);

builder.mutationFields((t) => ({
  createSubscription: t.field({
    type: PlanSubscriptionRef,
    description:
      'Subscribes a customer to a plan: one balance per seat feature of the plan, and the first period from startAt. Errors: validation_error, customer_not_found, plan_not_found, feature_not_found, feature_not_in_plan, seat_limit_exceeded, conflict (the customer already has an active subscription, one with a scheduled cancellation included). A customer whose last subscription ended (CANCELED) may subscribe again from its endedAt on (validation_error on startAt before it): its balances carry on, each feature of the new plan starting at its initialSeats count (or minimumSeats, or 0), recorded as a SET event from the balance it held and billed in advance as at any start.',
    args: { input: t.arg({ type: CreateSubscriptionInput, description: 'The subscription to create.' }) },
    resolve: (_root, { input }, ctx) => createSubscription(ctx.em, ctx.tenant, ctx.now(), input),
  }),
  cancelSubscription: t.field({
    type: PlanSubscriptionRef,
    description:
      "Cancels the customer's active subscription. AT_PERIOD_END keeps it ACTIVE until currentPeriodEnd (cancelAtPeriodEnd true), then it ends instead of renewing and the next period is not billed; asked again while scheduled, it succeeds and changes nothing (the first reason and comment stay). IMMEDIATELY ends it now (CANCELED, endedAt now; also when a cancellation was scheduled) and records a CREDIT charge per seat feature: -round_half_up(paid × unitPrice × daysRemaining / daysInPeriod), paid being the period's high-water mark of billable seats (none when that is 0 or it rounds to 0). Balances and the ledger stay readable. Emits subscription.cancellation_scheduled or subscription.canceled (and charge.created per credit). Errors: validation_error, customer_not_found, no_active_subscription, idempotency_key_mismatch, conflict (the subscription is renewing: retry).",
    args: { input: t.arg({ type: CancelSubscriptionInput, description: 'The subscription to cancel, when, and why.' }) },
    resolve: (_root, { input }, ctx) => cancelSubscription(ctx.em, ctx.tenant, ctx.now(), withHeaderKey(input, ctx)),
  }),
  resumeSubscription: t.field({
    type: PlanSubscriptionRef,
    description:
      'Revokes a cancellation scheduled for the period end: the subscription renews at currentPeriodEnd as usual again (cancelAtPeriodEnd false, cancellation null). Emits subscription.cancellation_revoked. Errors: validation_error, customer_not_found, no_active_subscription (also once it ended: too late to resume), conflict (no cancellation is scheduled), idempotency_key_mismatch.',
    args: { input: t.arg({ type: ResumeSubscriptionInput, description: 'The subscription to keep.' }) },
    resolve: (_root, { input }, ctx) => resumeSubscription(ctx.em, ctx.tenant, ctx.now(), withHeaderKey(input, ctx)),
  }),
}));
