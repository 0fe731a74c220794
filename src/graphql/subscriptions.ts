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
import type { CancellationRecord, ScheduledPlanChangeRecord, SeatLimitWarning, SubscriptionRecord } from '../subscriptions/store.ts';
import { withHeaderKey } from './seats.ts';
import { changePlan, type PlanChangePreview, previewPlanChange, revokeScheduledPlanChange } from '../flows/plan-change.ts';
import { chargeTermFields } from './billing.ts';
import type { SeatChargeRecord } from '../model/records.ts';

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

const PlanChangeTimingEnum = builder.enumType('PlanChangeTiming', {
  description: 'When a plan change takes effect.',
  values: {
    AUTO: {
      description:
        "Decided as Commet does: a longer interval (MONTH to YEAR) applies IMMEDIATELY and a shorter one AT_PERIOD_END; at the same interval, a higher price per period at today's seats (billable seats × unitPrice, summed over the features) applies IMMEDIATELY, an equal or lower one AT_PERIOD_END.",
    },
    IMMEDIATELY: {
      description:
        "Now: each seat feature of the old plan is credited its period's high-water mark of billable seats for the days left from today (a CREDIT, as an immediate cancellation), and each feature of the new plan is charged today's billable seats under its terms for the same days (a PLAN_CHANGE charge). Balances carry over by featureCode and must fit the new plan's limits. At the same interval the period stays; on another interval the new plan's first period starts now (billingAnchor moves here) and is charged whole.",
    },
    AT_PERIOD_END: {
      description:
        'At currentPeriodEnd: shown as scheduledPlanChange until then (the plan in force is unchanged, seat changes bill as usual), then the renewal switches plans before billing the next advance on the new terms, lowering each balance above the new maximum to it and raising each below the new minimum to it (SET events at that instant).',
    },
  } as const,
});

const SeatLimitWarningRef = builder.objectRef<SeatLimitWarning>('SeatLimitWarning').implement({
  description:
    'A balance that the scheduled plan would not let hold its seats: at the period end the renewal lowers it to limit, with a SET event. Lower the balance yourself before then to choose how.',
  fields: (t) => ({
    featureCode: t.exposeString('featureCode', { description: describe.featureCodeOut }),
    current: t.exposeInt('current', { description: 'The seats the balance holds now.' }),
    limit: t.exposeInt('limit', {
      description:
        'The most seats the new plan lets it hold: its maximumSeats, or its includedSeats when it allows no overage (the lesser of both), or 0 when the new plan lacks the feature.',
    }),
  }),
});

const ScheduledPlanChangeRef = builder.objectRef<ScheduledPlanChangeRecord>('ScheduledPlanChange').implement({
  description: 'A plan change scheduled for the period end by changePlan; revokeScheduledPlanChange removes it.',
  fields: (t) => ({
    planCode: t.string({ description: 'The code of the plan the subscription moves to.', resolve: (change) => change.plan.code }),
    effectiveAt: t.expose('effectiveAt', { type: 'DateTime', description: 'When it applies: currentPeriodEnd, before the next advance is billed.' }),
    requestedAt: t.expose('requestedAt', { type: 'DateTime', description: 'When changePlan scheduled it (by your clock: the test clock for test keys).' }),
    seatLimitWarnings: t.field({
      type: [SeatLimitWarningRef],
      description:
        "Balances above what the new plan allows, by feature code, as they stand now; empty when every balance fits. Read live: they follow today's seat changes.",
      resolve: (change) => change.seatLimitWarnings,
    }),
  }),
});

export const PlanSubscriptionRef = builder
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
      scheduledPlanChange: t.field({
        type: ScheduledPlanChangeRef,
        nullable: true,
        description: 'The plan change scheduled for currentPeriodEnd (changePlan with AT_PERIOD_END, or AUTO deciding so); null when none.',
        resolve: (subscription) => subscription.scheduledPlanChange,
      }),
      startAt: t.expose('startAt', { type: 'DateTime', description: 'When it began.' }),
      billingAnchor: t.expose('billingAnchor', {
        type: 'DateTime',
        description:
          'The instant every period boundary is counted from (same day of month and time of day, UTC): startAt, or the instant a plan change moved it to another interval.',
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

const ChangePlanInput = builder.inputType('ChangePlanInput', {
  description: "A move of a customer's active subscription to another plan.",
  fields: (t) => ({
    customerId: t.string({ description: describe.customerIdArg, validate: customerIdRule }),
    planCode: t.string({
      description:
        'The code of the plan to move to (plan_not_found otherwise). It must differ from the current plan and bill in the same currency (validation_error otherwise).',
      validate: featureCodeRule,
    }),
    timing: t.field({
      type: PlanChangeTimingEnum,
      required: false,
      defaultValue: 'AUTO',
      description: 'AUTO (the default), IMMEDIATELY or AT_PERIOD_END.',
    }),
    idempotencyKey: t.string({ required: false, description: idempotencyKeyDescription, validate: idempotencyKeyRule }),
  }),
});

const RevokeScheduledPlanChangeInput = builder.inputType('RevokeScheduledPlanChangeInput', {
  description: 'The subscription whose scheduled plan change to remove.',
  fields: (t) => ({
    customerId: t.string({ description: describe.customerIdArg, validate: customerIdRule }),
    idempotencyKey: t.string({ required: false, description: idempotencyKeyDescription, validate: idempotencyKeyRule }),
  }),
});

const PreviewPlanChangeInput = builder.inputType('PreviewPlanChangeInput', {
  description: 'A plan change to preview, as changePlan would take it.',
  fields: (t) => ({
    customerId: t.string({ description: describe.customerIdArg, validate: customerIdRule }),
    planCode: t.string({ description: 'The code of the plan to move to.', validate: featureCodeRule }),
    timing: t.field({ type: PlanChangeTimingEnum, required: false, defaultValue: 'AUTO', description: 'AUTO (the default), IMMEDIATELY or AT_PERIOD_END.' }),
  }),
});

const PlanChangeChargeRef = builder.objectRef<SeatChargeRecord>('PlanChangeCharge').implement({
  description: 'A credit or charge an immediate plan change would record, with everything that explains its amount.',
  fields: (t) => ({
    featureCode: t.exposeString('featureCode', { description: describe.featureCodeOut }),
    ...chargeTermFields(t),
    currency: t.exposeString('currency', { description: describe.currency }),
    ts: t.expose('ts', { type: 'DateTime', description: 'When it would take effect: now.' }),
  }),
});

const PlanChangePreviewRef = builder.objectRef<PlanChangePreview>('PlanChangePreview').implement({
  description: 'What changePlan would do now. Nothing is recorded.',
  fields: (t) => ({
    customerId: t.exposeString('customerId', { description: describe.customerIdOut }),
    currentPlanCode: t.exposeString('currentPlanCode', { description: 'The plan in force now.' }),
    planCode: t.exposeString('planCode', { description: 'The plan it would move to.' }),
    timing: t.field({
      type: PlanChangeTimingEnum,
      description: 'When it would apply: IMMEDIATELY or AT_PERIOD_END, never AUTO (AUTO is resolved).',
      resolve: (preview) => preview.timing,
    }),
    effectiveAt: t.expose('effectiveAt', { type: 'DateTime', description: 'When the new plan would take effect: now, or currentPeriodEnd.' }),
    currency: t.exposeString('currency', { description: describe.currency }),
    charges: t.field({
      type: [PlanChangeChargeRef],
      description:
        "For IMMEDIATELY: the old plan's CREDIT per seat feature, then the new plan's PLAN_CHANGE charge per feature, by feature code (none where nothing is billable or it rounds to 0). Empty for AT_PERIOD_END: the renewal then bills the next advance on the new terms.",
      resolve: (preview) => preview.charges,
    }),
    total: t.expose('total', { type: 'SafeInt', description: 'The sum of the charges (credits negative), in minor units of the currency.' }),
    seatLimitWarnings: t.field({
      type: [SeatLimitWarningRef],
      description:
        "For AT_PERIOD_END, the balances the renewal would lower to the new plan's limit, as scheduledPlanChange would show them. Empty for IMMEDIATELY (a balance that does not fit refuses the change).",
      resolve: (preview) => preview.seatLimitWarnings,
    }),
    livemode: t.boolean({ description: describe.livemode, resolve: (_preview, _args, ctx) => ctx.tenant.mode === 'live' }),
  }),
});

builder.queryFields((t) => ({
  previewPlanChange: t.field({
    type: PlanChangePreviewRef,
    description:
      'What changePlan would do now: the timing AUTO resolves to, when it would apply, the credits and charges with their inputs and their total, and the seat-limit warnings of a scheduled change. Records nothing (a renewal already due is carried out first). A change changePlan would refuse answers the same error here, with the same code and details.',
    args: { input: t.arg({ type: PreviewPlanChangeInput, description: 'The plan change to preview.' }) },
    resolve: (_root, { input }, ctx) => previewPlanChange(ctx.em, ctx.tenant, ctx.now(), input),
  }),
}));

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
      "Cancels the customer's active subscription. AT_PERIOD_END keeps it ACTIVE until currentPeriodEnd (cancelAtPeriodEnd true), then it ends instead of renewing and the next period is not billed; asked again while scheduled, it succeeds and changes nothing (the first reason and comment stay). IMMEDIATELY ends it now (CANCELED, endedAt now; also when a cancellation was scheduled) and records a CREDIT charge per seat feature: -round_half_up(paid × unitPrice × daysRemaining / daysInPeriod), paid being the period's high-water mark of billable seats (none when that is 0 or it rounds to 0). Balances and the ledger stay readable. An immediate cancel also drops a scheduled plan change. Emits subscription.cancellation_scheduled or subscription.canceled (and charge.created per credit). Errors: validation_error, customer_not_found, no_active_subscription, idempotency_key_mismatch, conflict (AT_PERIOD_END while a plan change is scheduled: revoke it first; or the subscription is renewing: retry).",
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
  changePlan: t.field({
    type: PlanSubscriptionRef,
    description:
      "Moves the customer's active subscription to another plan of the same currency (see PlanChangeTiming for when and what it costs). IMMEDIATELY: balances carry over by featureCode; a feature holding seats that the new plan lacks answers feature_not_in_plan, a balance outside the new plan's limits answers seat_limit_exceeded, each with details naming every offending feature (and limit: MINIMUM or MAXIMUM, value), and nothing changes; features only the new plan offers start at their minimumSeats (a SET event). AT_PERIOD_END: shown as scheduledPlanChange, with seatLimitWarnings; asked again for the same plan it changes nothing, another plan replaces it. An immediate change drops a scheduled one. Emits subscription.plan_changed (with charge.created per credit and charge) or subscription.plan_change_scheduled. Errors: validation_error (same plan, another currency), customer_not_found, plan_not_found, no_active_subscription, feature_not_in_plan, seat_limit_exceeded, conflict (a cancellation is scheduled: resume first; or the subscription is renewing: retry), idempotency_key_mismatch.",
    args: { input: t.arg({ type: ChangePlanInput, description: 'The subscription, the plan to move to, and when.' }) },
    resolve: (_root, { input }, ctx) => changePlan(ctx.em, ctx.tenant, ctx.now(), withHeaderKey(input, ctx)),
  }),
  revokeScheduledPlanChange: t.field({
    type: PlanSubscriptionRef,
    description:
      'Removes the plan change scheduled for the period end: the subscription renews on its plan (scheduledPlanChange null). Emits subscription.plan_change_revoked. Errors: validation_error, customer_not_found, no_active_subscription, conflict (no plan change is scheduled), idempotency_key_mismatch.',
    args: { input: t.arg({ type: RevokeScheduledPlanChangeInput, description: 'The subscription whose scheduled change to remove.' }) },
    resolve: (_root, { input }, ctx) => revokeScheduledPlanChange(ctx.em, ctx.tenant, ctx.now(), withHeaderKey(input, ctx)),
  }),
}));
