import type { ObjectFieldBuilder } from '@pothos/core';
import { builder } from './builder.ts';
import { loadAll } from '../common/relay.ts';
import { describe, formatCount } from './common.ts';
import { customerIdRule, featureCodeRule } from '../common/validation.ts';
import { ScheduledSeatChangeRef, SeatEventKindEnum, SeatEventRef } from './seats.ts';
import { CustomerRef } from './customers.ts';
import { loadOne } from '../common/list-loader.ts';
import { maxSeatCount } from '../seats/rules.ts';
import { previewSeatChange } from '../flows/seat-change.ts';
import type { ChargeTerms, ScheduledSeatChangeRecord, SeatChargeRecord, SeatEventRecord } from '../model/records.ts';
import { maxChargesPerQuery } from '../billing/service.ts';
import { type InvoiceLine, listCharges, upcomingInvoice, type UpcomingInvoice } from '../flows/invoice.ts';
import { maxPeriodsPerRenewal, maxRenewalStepsPerCall, renewDueSubscriptions, type RenewalSummary } from '../flows/renewal.ts';

const SeatChargeKindEnum = builder.enumType('SeatChargeKind', {
  description: 'Why a charge was made.',
  values: {
    ADVANCE: { description: 'The billable seats held at a period start, charged for the whole period.' },
    TRUE_UP: { description: "Seats above the period's high-water mark, charged for the days left." },
    CREDIT: {
      description:
        "Money given back when a subscription is cancelled IMMEDIATELY, or leaves its plan by changePlan applied IMMEDIATELY: the seats paid through the period's end (its high-water mark) for the days left from the day of the cancellation or change, as a true-up for them would cost. Its amount is negative.",
    },
    PLAN_CHANGE: {
      description:
        "The new plan's advance when changePlan applies IMMEDIATELY: the billable seats held under the new plan's terms, for the days left from the day of the change through the period's last day (the whole new period when the interval changed, since that period starts at the change).",
    },
  },
});

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

/** The fields that explain an amount, shared by charges, quotes and invoice lines. */
export const chargeTermFields = <Shape extends ChargeTerms>(t: ObjectFieldBuilder<Types, Shape>) => ({
  kind: t.field({
    type: SeatChargeKindEnum,
    description:
      'ADVANCE (a period start), TRUE_UP (a seat change), CREDIT (an immediate cancellation or plan change) or PLAN_CHANGE (the new plan of an immediate plan change).',
    resolve: (charge) => charge.kind,
  }),
  quantity: t.int({ description: 'Billable seats charged.', resolve: (charge) => charge.quantity }),
  unitPrice: t.int({ description: 'Minor units per seat per full period.', resolve: (charge) => charge.unitPrice }),
  daysRemaining: t.int({
    description: "UTC calendar days charged: from the day it took effect through the period's last day, both included; equals daysInPeriod for an advance.",
    resolve: (charge) => charge.daysRemaining,
  }),
  daysInPeriod: t.int({ description: 'UTC calendar days the period touches, first and last included.', resolve: (charge) => charge.daysInPeriod }),
  periodStart: t.field({ type: 'DateTime', description: describe.periodStart, resolve: (charge) => charge.periodStart }),
  periodEnd: t.field({ type: 'DateTime', description: describe.periodEnd, resolve: (charge) => charge.periodEnd }),
  amount: t.field({
    type: 'SafeInt',
    description: 'Minor units of the currency: quantity × unitPrice × daysRemaining / daysInPeriod, rounded half up once; negated (below 0) for a CREDIT.',
    resolve: (charge) => charge.amount,
  }),
});

const SeatChargeRef = builder
  .nodeRef<SeatChargeRecord>('SeatCharge', {
    id: { resolve: (charge) => charge.id, description: 'Opaque id, prefixed chg_. Also its global id (node(id:)).' },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.chargeById, ids),
  })
  .implement({
    description: 'A charge and everything that explains its amount: quantity × unitPrice × daysRemaining / daysInPeriod.',
    fields: (t) => ({
      customerId: t.exposeString('customerId', { description: describe.customerIdOut }),
      featureCode: t.exposeString('featureCode', { description: describe.featureCodeOut }),
      ...chargeTermFields(t),
      currency: t.exposeString('currency', { description: describe.currency }),
      eventId: t.exposeID('eventId', { nullable: true, description: 'The seat event that caused it; null for a renewal advance.' }),
      ts: t.expose('ts', { type: 'DateTime', description: 'When it took effect: the change, or the period start.' }),
      createdAt: t.expose('createdAt', { type: 'DateTime', description: describe.createdAt }),
      livemode: t.boolean({ description: describe.livemode, resolve: (charge) => charge.mode === 'live' }),
    }),
  });

builder.objectField(SeatEventRef, 'charge', (t) =>
  t.field({
    type: SeatChargeRef,
    nullable: true,
    description: 'The charge this change caused; null when it cost nothing.',
    resolve: (event, _args, ctx) => (event.charge !== undefined ? event.charge : ctx.loaders.chargeByEventId.load(event.id)),
  }),
);

const InvoiceLineRef = builder.objectRef<InvoiceLine>('InvoiceLine').implement({
  description: "One charge of an upcoming invoice: a true-up recorded in the current period, or the next period's advance.",
  fields: (t) => ({
    featureCode: t.exposeString('featureCode', { description: describe.featureCodeOut }),
    ...chargeTermFields(t),
    chargeId: t.exposeID('chargeId', { nullable: true, description: 'The recorded charge; null for the advance the renewal will record.' }),
  }),
});

const UpcomingInvoiceRef = builder.objectRef<UpcomingInvoice>('UpcomingInvoice').implement({
  description: "What the next renewal bills: this period's true-ups and the next period's advance at today's balances.",
  fields: (t) => ({
    customerId: t.exposeString('customerId', { description: describe.customerIdOut }),
    currency: t.exposeString('currency', { description: describe.currency }),
    billingDate: t.expose('billingDate', { type: 'DateTime', description: 'When the renewal bills: the end of the current period.' }),
    currentPeriodStart: t.field({
      type: 'DateTime',
      description: 'Start of the current period, whose true-ups are billed (inclusive).',
      resolve: (invoice) => invoice.currentPeriod.start,
    }),
    currentPeriodEnd: t.field({ type: 'DateTime', description: 'End of the current period (exclusive).', resolve: (invoice) => invoice.currentPeriod.end }),
    nextPeriodStart: t.field({
      type: 'DateTime',
      description: 'Start of the next period, whose advance is billed (inclusive).',
      resolve: (invoice) => invoice.nextPeriod.start,
    }),
    nextPeriodEnd: t.field({ type: 'DateTime', description: 'End of the next period (exclusive).', resolve: (invoice) => invoice.nextPeriod.end }),
    lines: t.field({
      type: [InvoiceLineRef],
      description: "The current period's true-ups, oldest first, then the next period's advances by feature code; empty when nothing is billable.",
      resolve: (invoice) => invoice.lines,
    }),
    total: t.expose('total', { type: 'SafeInt', description: 'The sum of the lines, in minor units of the currency.' }),
    livemode: t.boolean({ description: describe.livemode, resolve: (invoice) => invoice.mode === 'live' }),
  }),
});

const RenewalSummaryRef = builder.objectRef<RenewalSummary>('RenewalSummary').implement({
  description: 'What one renewDueSubscriptions call did.',
  fields: (t) => ({
    subscriptions: t.exposeInt('subscriptions', { description: 'Subscriptions that rolled into a new period.' }),
    periods: t.exposeInt('periods', { description: 'Periods entered, each with its advance.' }),
    caughtUp: t.exposeBoolean('caughtUp', {
      description: `False when subscriptions are still behind the clock: one call renews in at most ${maxRenewalStepsPerCall} steps of ${maxPeriodsPerRenewal} periods. Call again, or let the server's renewal sweeper finish.`,
    }),
  }),
});

type ChargeQuote = ChargeTerms & { currency: string; ts: Date };

const ChargeQuoteRef = builder.objectRef<ChargeQuote>('ChargeQuote').implement({
  description: 'A charge a change would create.',
  fields: (t) => ({
    ...chargeTermFields(t),
    currency: t.exposeString('currency', { description: describe.currency }),
    ts: t.expose('ts', { type: 'DateTime', description: 'When it would take effect: now.' }),
  }),
});

type PreviewError = { code: string; type: string; message: string; param: string | null };

const PreviewErrorRef = builder.objectRef<PreviewError>('PreviewError').implement({
  description: 'The error a change would fail with, as the mutation would answer it in extensions.',
  fields: (t) => ({
    code: t.exposeString('code', { description: 'The error code, such as insufficient_seats, seat_limit_exceeded or no_active_subscription.' }),
    type: t.exposeString('type', { description: 'The class of the code, such as billing_error, not_found_error or validation_error.' }),
    message: t.exposeString('message', { description: 'What went wrong, for people; match on code, not on this text.' }),
    param: t.exposeString('param', { nullable: true, description: 'The input field at fault, such as count; null when no single field is.' }),
  }),
});

type SeatChangePreview = {
  customerId: string;
  featureCode: string;
  kind: 'ADD' | 'REMOVE' | 'SET';
  count: number;
  previousBalance: number | null;
  newBalance: number | null;
  charge: ChargeQuote | null;
  error: PreviewError | null;
  livemode: boolean;
  /** The event the change would record; null when it would fail. */
  event: SeatEventRecord | null;
};

/** A balance as a previewed change would leave it; never recorded, so it has no id. */
type BalancePreview = { customerId: string; featureCode: string; current: number; scheduledChange: ScheduledSeatChangeRecord | null };

const SeatBalancePreviewRef = builder.objectRef<BalancePreview>('SeatBalancePreview').implement({
  description:
    "A balance as a previewed change would leave it. Not a SeatBalance, and without an id, on purpose: a normalised cache (Apollo, urql's Graphcache, Relay) merges objects by id, and a preview's balance would overwrite the real one, which the preview did not change. Read the real balance through Customer.seatBalances or node(id:).",
  fields: (t) => ({
    customerId: t.exposeString('customerId', { description: describe.customerIdOut }),
    featureCode: t.exposeString('featureCode', { description: describe.featureCodeOut }),
    current: t.exposeInt('current', {
      description: 'The seats the balance would hold after the change; for a decrease that would be scheduled (AT_PERIOD_END), the seats it keeps until then.',
    }),
    scheduledChange: t.field({
      type: ScheduledSeatChangeRef,
      nullable: true,
      description: 'The decrease the change would schedule for the period end; null when it would apply now (which also cancels a scheduled one).',
      resolve: (balance) => balance.scheduledChange,
    }),
  }),
});

const SeatChangePreviewRef = builder.objectRef<SeatChangePreview>('SeatChangePreview').implement({
  description: 'What a change would do. Exactly one of newBalance and error is set.',
  fields: (t) => ({
    customerId: t.exposeString('customerId', {
      description: `${describe.customerIdOut} As given in the input when the preview failed.`,
    }),
    featureCode: t.exposeString('featureCode', { description: 'The feature code given in the input.' }),
    kind: t.field({ type: SeatEventKindEnum, description: 'The change previewed, as given in the input.', resolve: (preview) => preview.kind }),
    count: t.exposeInt('count', { description: 'The count given in the input.' }),
    previousBalance: t.exposeInt('previousBalance', { nullable: true, description: 'The balance now; null when the change would fail.' }),
    newBalance: t.exposeInt('newBalance', { nullable: true, description: 'The balance the change would leave; null when it would fail.' }),
    charge: t.field({
      type: ChargeQuoteRef,
      nullable: true,
      description: 'The true-up the change would charge; null when it would cost nothing or would fail.',
      resolve: (preview) => preview.charge,
    }),
    error: t.field({
      type: PreviewErrorRef,
      nullable: true,
      description: 'The error the change would fail with; null when it would succeed.',
      resolve: (preview) => preview.error,
    }),
    livemode: t.exposeBoolean('livemode', { description: describe.livemode }),
    balance: t.field({
      type: SeatBalancePreviewRef,
      nullable: true,
      description:
        'The balance as the change would leave it, without an id so that it cannot overwrite the real balance in a client cache (see SeatBalancePreview); null when the change would fail.',
      resolve: ({ event }) =>
        event && {
          customerId: event.customerId,
          featureCode: event.featureCode,
          current: event.scheduled ? event.previousBalance : event.newBalance,
          scheduledChange: event.scheduled ? { count: event.newBalance, effectiveAt: event.ts } : null,
        },
    }),
    customer: t.field({
      type: CustomerRef,
      nullable: true,
      description: 'The customer the change is for, read when asked for (the preview changes nothing of it); null when the change would fail.',
      resolve: async ({ event }, _args, ctx) => (event ? loadOne(ctx.loaders.customersByRefs, event.customerRowId) : null),
    }),
  }),
});

const PreviewSeatChangeInput = builder.inputType('PreviewSeatChangeInput', {
  description: 'A change to preview, as addSeats, removeSeats or setSeats would take it.',
  fields: (t) => ({
    customerId: t.string({ description: describe.customerIdArg, validate: customerIdRule }),
    featureCode: t.string({ description: `${describe.featureCodeArg} It must be in the customer's plan.`, validate: featureCodeRule }),
    kind: t.field({ type: SeatEventKindEnum, description: 'The operation: ADD (addSeats), REMOVE (removeSeats) or SET (setSeats).' }),
    count: t.int({
      description: `For ADD and REMOVE, the seats to add or remove (1–${formatCount(maxSeatCount)}; 0 gives a validation_error in error). For SET, the new balance (0–${formatCount(maxSeatCount)}).`,
      validate: { min: 0, max: maxSeatCount },
    }),
  }),
});

builder.queryFields((t) => ({
  seatCharges: t.field({
    type: [SeatChargeRef],
    description: `A customer's charges that took effect in [from, to), oldest first (at most ${formatCount(maxChargesPerQuery)}); renewals already due are recorded first. Errors: validation_error, customer_not_found.`,
    args: {
      customerId: t.arg.string({ description: describe.customerIdArg, validate: customerIdRule }),
      from: t.arg({ type: 'DateTime', required: false, description: 'Only charges whose ts is at or after this instant; omitted: from the first.' }),
      to: t.arg({ type: 'DateTime', required: false, description: 'Only charges whose ts is before this instant; omitted: no end.' }),
    },
    resolve: (_root, args, ctx) => listCharges(ctx.em, ctx.tenant, ctx.now(), args),
  }),
  upcomingInvoice: t.field({
    type: UpcomingInvoiceRef,
    description:
      "What the customer's next renewal will bill: this period's true-ups and the next period's advance; a renewal already due is carried out first. A subscription cancelled AT_PERIOD_END has no next advance (its lines are this period's true-ups); an ended one has no upcoming invoice (no_active_subscription: its charges and credits are in seatCharges). Errors: validation_error, customer_not_found, no_active_subscription, conflict (a catch-up after the clock jumped is under way: retry in a few seconds).",
    args: { customerId: t.arg.string({ description: describe.customerIdArg, validate: customerIdRule }) },
    resolve: (_root, args, ctx) => upcomingInvoice(ctx.em, ctx.tenant, ctx.now(), args.customerId),
  }),
  previewSeatChange: t.field({
    type: SeatChangePreviewRef,
    description:
      'What addSeats, removeSeats or setSeats would do now: the new balance and charge, or the error. Writes nothing (a renewal already due is carried out first). Only argument rules answer a GraphQL error (validation_error); every other failure is in error.',
    args: { input: t.arg({ type: PreviewSeatChangeInput, description: 'The change to preview.' }) },
    resolve: async (_root, { input }, ctx) => {
      const preview = await previewSeatChange(ctx.em, ctx.tenant, ctx.now(), input.kind, input);
      const base = { customerId: input.customerId, featureCode: input.featureCode, kind: input.kind, count: input.count, livemode: ctx.tenant.mode === 'live' };
      if (!preview.ok) {
        const { code, type, message, param } = preview.error;
        return { ...base, previousBalance: null, newBalance: null, charge: null, error: { code, type, message, param }, event: null };
      }
      const { event } = preview;
      return {
        ...base,
        customerId: event.customerId,
        previousBalance: event.previousBalance,
        newBalance: event.newBalance,
        charge: event.charge ?? null,
        error: null,
        event,
      };
    },
  }),
}));

builder.mutationFields((t) => ({
  renewDueSubscriptions: t.field({
    type: RenewalSummaryRef,
    description: `Rolls the subscriptions of this organization and mode whose period has ended, recording advances, in at most ${maxRenewalStepsPerCall} steps (see caughtUp). Safe to call at any time, from any number of schedulers; every server process also runs a sweeper that does it.`,
    resolve: (_root, _args, ctx) => renewDueSubscriptions(ctx.em, ctx.tenant, ctx.now(), undefined, maxRenewalStepsPerCall),
  }),
}));
