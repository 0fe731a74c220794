import type { ObjectFieldBuilder } from '@pothos/core';
import { builder } from '../builder.js';
import { customerIdRule, featureCodeRule } from '../common/validation.js';
import { SeatEventKindEnum, SeatEventRef } from '../seats/schema.js';
import { maxSeatCount } from '../seats/rules.js';
import { previewSeatChange } from '../seats/service.js';
import type { ChargeTerms, SeatChargeRecord } from './records.js';
import {
  type InvoiceLine,
  listCharges,
  maxChargesPerQuery,
  maxPeriodsPerRenewal,
  maxRenewalStepsPerCall,
  renewDueSubscriptions,
  type RenewalSummary,
  upcomingInvoice,
  type UpcomingInvoice,
} from './service.js';

const SeatChargeKindEnum = builder.enumType('SeatChargeKind', {
  values: {
    ADVANCE: { description: 'The billable seats held at a period start, charged for the whole period.' },
    TRUE_UP: { description: "Seats above the period's high-water mark, charged for the days left." },
  },
});

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

/** The fields that explain an amount, shared by charges, quotes and invoice lines. */
const chargeTermFields = <Shape extends ChargeTerms>(t: ObjectFieldBuilder<Types, Shape>) => ({
  kind: t.field({ type: SeatChargeKindEnum, resolve: (charge) => charge.kind }),
  quantity: t.int({ description: 'Billable seats charged.', resolve: (charge) => charge.quantity }),
  unitPrice: t.int({ description: 'Minor units per seat per full period.', resolve: (charge) => charge.unitPrice }),
  daysRemaining: t.int({ resolve: (charge) => charge.daysRemaining }),
  daysInPeriod: t.int({ resolve: (charge) => charge.daysInPeriod }),
  periodStart: t.field({ type: 'DateTime', resolve: (charge) => charge.periodStart }),
  periodEnd: t.field({ type: 'DateTime', resolve: (charge) => charge.periodEnd }),
  amount: t.field({ type: 'SafeInt', description: 'Minor units of the currency.', resolve: (charge) => charge.amount }),
});

const SeatChargeRef = builder.objectRef<SeatChargeRecord>('SeatCharge').implement({
  description: 'A charge and everything that explains its amount: quantity × unitPrice × daysRemaining / daysInPeriod.',
  fields: (t) => ({
    id: t.exposeID('id'),
    customerId: t.exposeString('customerId'),
    featureCode: t.exposeString('featureCode'),
    ...chargeTermFields(t),
    currency: t.exposeString('currency'),
    eventId: t.exposeID('eventId', { nullable: true, description: 'The seat event that caused it; null for a renewal advance.' }),
    ts: t.expose('ts', { type: 'DateTime', description: 'When it took effect: the change, or the period start.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    livemode: t.boolean({ resolve: (charge) => charge.mode === 'live' }),
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
  fields: (t) => ({
    featureCode: t.exposeString('featureCode'),
    ...chargeTermFields(t),
    chargeId: t.exposeID('chargeId', { nullable: true, description: 'The recorded charge; null for the advance the renewal will record.' }),
  }),
});

const UpcomingInvoiceRef = builder.objectRef<UpcomingInvoice>('UpcomingInvoice').implement({
  description: "What the next renewal bills: this period's true-ups and the next period's advance at today's balances.",
  fields: (t) => ({
    customerId: t.exposeString('customerId'),
    currency: t.exposeString('currency'),
    billingDate: t.expose('billingDate', { type: 'DateTime' }),
    currentPeriodStart: t.field({ type: 'DateTime', resolve: (invoice) => invoice.currentPeriod.start }),
    currentPeriodEnd: t.field({ type: 'DateTime', resolve: (invoice) => invoice.currentPeriod.end }),
    nextPeriodStart: t.field({ type: 'DateTime', resolve: (invoice) => invoice.nextPeriod.start }),
    nextPeriodEnd: t.field({ type: 'DateTime', resolve: (invoice) => invoice.nextPeriod.end }),
    lines: t.field({ type: [InvoiceLineRef], resolve: (invoice) => invoice.lines }),
    total: t.expose('total', { type: 'SafeInt' }),
    livemode: t.boolean({ resolve: (invoice) => invoice.mode === 'live' }),
  }),
});

const RenewalSummaryRef = builder.objectRef<RenewalSummary>('RenewalSummary').implement({
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
    currency: t.exposeString('currency'),
    ts: t.expose('ts', { type: 'DateTime' }),
  }),
});

type PreviewError = { code: string; type: string; message: string; param: string | null };

const PreviewErrorRef = builder.objectRef<PreviewError>('PreviewError').implement({
  fields: (t) => ({
    code: t.exposeString('code'),
    type: t.exposeString('type'),
    message: t.exposeString('message'),
    param: t.exposeString('param', { nullable: true }),
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
};

const SeatChangePreviewRef = builder.objectRef<SeatChangePreview>('SeatChangePreview').implement({
  description: 'What a change would do. Exactly one of newBalance and error is set.',
  fields: (t) => ({
    customerId: t.exposeString('customerId'),
    featureCode: t.exposeString('featureCode'),
    kind: t.field({ type: SeatEventKindEnum, resolve: (preview) => preview.kind }),
    count: t.exposeInt('count'),
    previousBalance: t.exposeInt('previousBalance', { nullable: true }),
    newBalance: t.exposeInt('newBalance', { nullable: true }),
    charge: t.field({ type: ChargeQuoteRef, nullable: true, resolve: (preview) => preview.charge }),
    error: t.field({ type: PreviewErrorRef, nullable: true, resolve: (preview) => preview.error }),
    livemode: t.exposeBoolean('livemode'),
  }),
});

const PreviewSeatChangeInput = builder.inputType('PreviewSeatChangeInput', {
  fields: (t) => ({
    customerId: t.string({ validate: customerIdRule }),
    featureCode: t.string({ validate: featureCodeRule }),
    kind: t.field({ type: SeatEventKindEnum }),
    count: t.int({ validate: { min: 0, max: maxSeatCount } }),
  }),
});

builder.queryFields((t) => ({
  seatCharges: t.field({
    type: [SeatChargeRef],
    description: `A customer's charges that took effect in [from, to), oldest first (at most ${maxChargesPerQuery}).`,
    args: {
      customerId: t.arg.string({ validate: customerIdRule }),
      from: t.arg({ type: 'DateTime', required: false }),
      to: t.arg({ type: 'DateTime', required: false }),
    },
    resolve: (_root, args, ctx) => listCharges(ctx.em, ctx.tenant, ctx.now(), args),
  }),
  upcomingInvoice: t.field({
    type: UpcomingInvoiceRef,
    args: { customerId: t.arg.string({ validate: customerIdRule }) },
    resolve: (_root, args, ctx) => upcomingInvoice(ctx.em, ctx.tenant, ctx.now(), args.customerId),
  }),
  previewSeatChange: t.field({
    type: SeatChangePreviewRef,
    description: 'What addSeats, removeSeats or setSeats would do now: the new balance and charge, or the error. Writes nothing.',
    args: { input: t.arg({ type: PreviewSeatChangeInput }) },
    resolve: async (_root, { input }, ctx) => {
      const preview = await previewSeatChange(ctx.em, ctx.tenant, ctx.now(), input.kind, input);
      const base = { customerId: input.customerId, featureCode: input.featureCode, kind: input.kind, count: input.count, livemode: ctx.tenant.mode === 'live' };
      if (!preview.ok) {
        const { code, type, message, param } = preview.error;
        return { ...base, previousBalance: null, newBalance: null, charge: null, error: { code, type, message, param } };
      }
      const { event } = preview;
      return { ...base, customerId: event.customerId, previousBalance: event.previousBalance, newBalance: event.newBalance, charge: event.charge ?? null, error: null };
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
