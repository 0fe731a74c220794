import { maxAmountPerPeriod, maxUnitPrice } from '../billing/proration.ts';
import { builder } from './builder.ts';
import { loadAll } from '../common/relay.ts';
import { describe, formatCount } from './common.ts';
import { featureCodeRule, nameRule } from '../common/validation.ts';
import type { Feature, Plan, PlanSeatFeature } from '../model/catalog.ts';
import { createFeature, createPlan, type CreatePlanInput as PlanInput, listFeatures, listPlans } from '../catalog/service.ts';
import { maxSeatBalance, maxSeatCount } from '../seats/rules.ts';

const currencies = new Set(Intl.supportedValuesOf('currency'));

const FeatureTypeEnum = builder.enumType('FeatureType', {
  description: 'What a feature counts.',
  values: {
    SEATS: { description: 'Seats: per-customer balances changed by addSeats, removeSeats, setSeats and bulkSetSeats.' },
  } as const,
});
const PlanIntervalEnum = builder.enumType('PlanInterval', {
  description: "How long one billing period lasts, counted in UTC from the subscription's start instant.",
  values: {
    MONTH: { description: 'One calendar month; a start on the 29th–31st clamps to the last day of shorter months.' },
    YEAR: { description: 'One calendar year; a start on 29 February clamps to 28 February in other years.' },
  } as const,
});

const codeDescription = '^[a-z0-9_]+$, 1–50 characters, unique per organization and mode.';
const nameDescription = 'Display name, 1–200 characters.';

const FeatureRef = builder
  .nodeRef<Feature>('Feature', {
    id: { resolve: (feature) => feature.id, description: 'Opaque id, prefixed feat_. Also its global id (node(id:)).' },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.featureById, ids),
  })
  .implement({
    description: 'Something a plan sells seats of, such as editor. Other operations name it by its code (featureCode).',
    fields: (t) => ({
      code: t.exposeString('code', { description: `The featureCode other operations take: ${codeDescription}` }),
      name: t.exposeString('name', { description: nameDescription }),
      type: t.field({ type: FeatureTypeEnum, description: 'What the feature counts: SEATS.', resolve: (feature) => feature.type }),
      createdAt: t.expose('createdAt', { type: 'DateTime', description: describe.createdAt }),
      livemode: t.boolean({ description: describe.livemode, resolve: (feature) => feature.mode === 'live' }),
    }),
  });

const PlanSeatFeatureRef = builder.objectRef<PlanSeatFeature>('PlanSeatFeature').implement({
  description: "A plan's terms for one seat feature.",
  fields: (t) => ({
    featureCode: t.string({ description: describe.featureCodeOut, resolve: (terms) => terms.feature.code }),
    includedSeats: t.exposeInt('includedSeats', {
      description:
        'Seats each customer holds at no extra cost, 0–1,000,000; with overage, each seat above them is billed at unitPrice. Ignored when unlimited.',
    }),
    unlimited: t.exposeBoolean('unlimited', { description: 'True: balances have no cap from the plan and no seat is ever billed.' }),
    overageEnabled: t.exposeBoolean('overageEnabled', {
      description:
        'True: balances may pass includedSeats, each extra seat billed at unitPrice. False: a change taking a balance above includedSeats answers seat_limit_exceeded, and nothing is billed.',
    }),
    unitPrice: t.exposeInt('unitPrice', {
      description: `Minor units of the plan currency per extra seat per full period, 0–${formatCount(maxUnitPrice)}.`,
    }),
    minimumSeats: t.exposeInt('minimumSeats', {
      description:
        "The fewest seats a balance may hold, 0 for none. A new subscription's balance starts here unless initialSeats says otherwise; a change that would leave a balance below it answers seat_limit_exceeded (details.limit MINIMUM) and changes nothing.",
    }),
    maximumSeats: t.exposeInt('maximumSeats', {
      nullable: true,
      description:
        'The most seats a balance may hold; null for no maximum. A change that would leave a balance above it answers seat_limit_exceeded (details.limit MAXIMUM) and changes nothing, whatever overageEnabled says.',
    }),
  }),
});

const PlanRef = builder
  .nodeRef<Plan>('Plan', {
    id: { resolve: (plan) => plan.id, description: 'Opaque id, prefixed plan_. Also its global id (node(id:)).' },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.planById, ids),
  })
  .implement({
    description: 'What a subscription bills: a currency, a period length and per-seat-feature terms. Its terms never change after creation.',
    fields: (t) => ({
      code: t.exposeString('code', { description: `The planCode createSubscription takes: ${codeDescription}` }),
      name: t.exposeString('name', { description: nameDescription }),
      currency: t.exposeString('currency', { description: describe.currency }),
      interval: t.field({ type: PlanIntervalEnum, description: 'The length of one billing period.', resolve: (plan) => plan.interval }),
      seatFeatures: t.field({
        type: [PlanSeatFeatureRef],
        description: 'The seat features the plan offers, with their terms, by featureCode; a subscription has one balance for each.',
        // The database keeps no order for them: one, so that every read and createPlan's answer agree.
        resolve: (plan) => plan.seatFeatures.getItems().toSorted((a, b) => (a.feature.code < b.feature.code ? -1 : a.feature.code > b.feature.code ? 1 : 0)),
      }),
      createdAt: t.expose('createdAt', { type: 'DateTime', description: describe.createdAt }),
      livemode: t.boolean({ description: describe.livemode, resolve: (plan) => plan.mode === 'live' }),
    }),
  });

const CreateFeatureInput = builder.inputType('CreateFeatureInput', {
  description: 'A new feature.',
  fields: (t) => ({
    code: t.string({ description: `${codeDescription} A code in use answers conflict.`, validate: featureCodeRule }),
    name: t.string({ description: nameDescription, validate: nameRule }),
    type: t.field({ type: FeatureTypeEnum, description: 'SEATS.' }),
  }),
});

/** A PlanSeatFeatureInput as its rules between fields read it: the service's shape of one seat feature. */
type SeatTermsInput = PlanInput['seatFeatures'][number];

/** The rules between a seat feature's fields, each naming the field to change; every broken one is listed in details. */
const seatTermsRules: [(terms: SeatTermsInput) => boolean, { message: string; path: string[] }][] = [
  [
    (terms) => terms.maximumSeats == null || terms.maximumSeats >= (terms.minimumSeats ?? 0),
    { message: 'must be at least minimumSeats', path: ['maximumSeats'] },
  ],
  [(terms) => terms.maximumSeats == null || terms.maximumSeats >= terms.includedSeats, { message: 'must be at least includedSeats', path: ['maximumSeats'] }],
  [(terms) => terms.maximumSeats == null || !terms.unlimited, { message: 'must be null when unlimited is true', path: ['maximumSeats'] }],
  [
    (terms) => terms.unlimited === true || terms.overageEnabled || (terms.minimumSeats ?? 0) <= terms.includedSeats,
    { message: 'must be at most includedSeats when overageEnabled is false: no balance could hold it', path: ['minimumSeats'] },
  ],
  [
    (terms) =>
      terms.unlimited === true ||
      !terms.overageEnabled ||
      BigInt(Math.max(0, (terms.minimumSeats ?? 0) - terms.includedSeats)) * BigInt(terms.unitPrice) <= BigInt(maxAmountPerPeriod),
    { message: `must not bill more than ${maxAmountPerPeriod} minor units per period (billable seats × unitPrice)`, path: ['minimumSeats'] },
  ],
];

const PlanSeatFeatureInput = builder.inputType('PlanSeatFeatureInput', {
  description: "A plan's terms for one seat feature.",
  fields: (t) => ({
    featureCode: t.string({
      description: 'The code of an existing feature (feature_not_found otherwise): ^[a-z0-9_]+$, 1–50 characters.',
      validate: featureCodeRule,
    }),
    includedSeats: t.int({
      description: 'Seats each customer holds at no extra cost, 0–1,000,000; ignored when unlimited.',
      validate: { min: 0, max: 1_000_000 },
    }),
    unlimited: t.boolean({ required: false, description: 'Optional, default false. True: balances have no cap from the plan and no seat is billed.' }),
    overageEnabled: t.boolean({
      description:
        'True: balances may pass includedSeats, each extra seat billed at unitPrice. False: raising a balance above includedSeats answers seat_limit_exceeded.',
    }),
    unitPrice: t.int({
      description: `Price of one seat above includedSeats for one full period, in minor units of the plan currency: 0–${formatCount(maxUnitPrice)}.`,
      validate: { min: 0, max: maxUnitPrice },
    }),
    minimumSeats: t.int({
      required: false,
      defaultValue: 0,
      description: `Optional, default 0 (null means 0): the fewest seats a balance may hold, 0–${formatCount(maxSeatCount)}. New balances start here; going below it answers seat_limit_exceeded. At most includedSeats when the plan allows no overage, at most maximumSeats, and its billable seats × unitPrice at most 10^13.`,
      validate: { min: 0, max: maxSeatCount },
    }),
    maximumSeats: t.int({
      required: false,
      description: `Optional, default null (no maximum): the most seats a balance may hold, 1–${formatCount(maxSeatBalance)}, at least includedSeats and minimumSeats. Going above it answers seat_limit_exceeded, even with overage. Not allowed when unlimited.`,
      validate: { min: 1, max: maxSeatBalance },
    }),
  }),
});

const CreatePlanInput = builder.inputType('CreatePlanInput', {
  description: 'A new plan. Its terms cannot be changed afterwards.',
  fields: (t) => ({
    code: t.string({ description: `${codeDescription} A code in use answers conflict.`, validate: featureCodeRule }),
    name: t.string({ description: nameDescription, validate: nameRule }),
    currency: t.string({
      description: 'An ISO 4217 code in upper case, such as EUR; prices and charges are in its minor units.',
      validate: { refine: [(value: string) => currencies.has(value), { message: 'must be an ISO 4217 code such as EUR' }] },
    }),
    interval: t.field({ type: PlanIntervalEnum, description: 'The length of one billing period: MONTH or YEAR.' }),
    seatFeatures: t.field({
      type: [PlanSeatFeatureInput],
      description: 'The seat features the plan offers: at most 100 entries, each feature code once.',
      validate: {
        maxLength: 100,
        items: { refine: seatTermsRules },
        refine: [
          (entries: { featureCode: string }[]) => new Set(entries.map((e) => e.featureCode)).size === entries.length,
          { message: 'lists a feature code twice' },
        ],
      },
    }),
  }),
});

builder.queryFields((t) => ({
  features: t.field({
    type: [FeatureRef],
    description: "Every feature of the key's organization and mode, ordered by code.",
    resolve: (_root, _args, ctx) => listFeatures(ctx.em, ctx.tenant),
  }),
  plans: t.field({
    type: [PlanRef],
    description: "Every plan of the key's organization and mode, ordered by code, with its seat features.",
    resolve: (_root, _args, ctx) => listPlans(ctx.em, ctx.tenant),
  }),
}));

builder.mutationFields((t) => ({
  createFeature: t.field({
    type: FeatureRef,
    description: "Creates a feature in the key's organization and mode. Errors: validation_error, conflict (the code is in use).",
    args: { input: t.arg({ type: CreateFeatureInput, description: 'The feature to create.' }) },
    resolve: (_root, { input }, ctx) => createFeature(ctx.em, ctx.tenant, input),
  }),
  createPlan: t.field({
    type: PlanRef,
    description:
      "Creates a plan in the key's organization and mode. Errors: validation_error (param seatFeatures.N.<field>: a bound out of range, or limits that contradict each other, such as maximumSeats below minimumSeats or includedSeats), feature_not_found (param seatFeatures.N.featureCode), conflict (the code is in use).",
    args: { input: t.arg({ type: CreatePlanInput, description: 'The plan to create.' }) },
    resolve: (_root, { input }, ctx) => createPlan(ctx.em, ctx.tenant, input),
  }),
}));
