import { maxUnitPrice } from '../billing/proration.js';
import { builder } from '../builder.js';
import { featureCodeRule, nameRule } from '../common/validation.js';
import type { Feature, Plan, PlanSeatFeature } from './entities.js';
import { createFeature, createPlan, listFeatures, listPlans } from './service.js';

const currencies = new Set(Intl.supportedValuesOf('currency'));

export const FeatureTypeEnum = builder.enumType('FeatureType', { values: ['SEATS'] as const });
export const PlanIntervalEnum = builder.enumType('PlanInterval', { values: ['MONTH', 'YEAR'] as const });

export const FeatureRef = builder.objectRef<Feature>('Feature').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    code: t.exposeString('code'),
    name: t.exposeString('name'),
    type: t.field({ type: FeatureTypeEnum, resolve: (feature) => feature.type }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    livemode: t.boolean({ resolve: (feature) => feature.mode === 'live' }),
  }),
});

const PlanSeatFeatureRef = builder.objectRef<PlanSeatFeature>('PlanSeatFeature').implement({
  description: "A plan's terms for one seat feature.",
  fields: (t) => ({
    featureCode: t.string({ resolve: (terms) => terms.feature.code }),
    includedSeats: t.exposeInt('includedSeats'),
    unlimited: t.exposeBoolean('unlimited'),
    overageEnabled: t.exposeBoolean('overageEnabled'),
    unitPrice: t.exposeInt('unitPrice', { description: 'Minor units of the plan currency per extra seat per full period.' }),
  }),
});

export const PlanRef = builder.objectRef<Plan>('Plan').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    code: t.exposeString('code'),
    name: t.exposeString('name'),
    currency: t.exposeString('currency'),
    interval: t.field({ type: PlanIntervalEnum, resolve: (plan) => plan.interval }),
    seatFeatures: t.field({ type: [PlanSeatFeatureRef], resolve: (plan) => plan.seatFeatures.getItems() }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    livemode: t.boolean({ resolve: (plan) => plan.mode === 'live' }),
  }),
});

const CreateFeatureInput = builder.inputType('CreateFeatureInput', {
  fields: (t) => ({
    code: t.string({ validate: featureCodeRule }),
    name: t.string({ validate: nameRule }),
    type: t.field({ type: FeatureTypeEnum }),
  }),
});

const PlanSeatFeatureInput = builder.inputType('PlanSeatFeatureInput', {
  fields: (t) => ({
    featureCode: t.string({ validate: featureCodeRule }),
    includedSeats: t.int({ validate: { min: 0, max: 1_000_000 } }),
    unlimited: t.boolean({ required: false }),
    overageEnabled: t.boolean(),
    unitPrice: t.int({ validate: { min: 0, max: maxUnitPrice } }),
  }),
});

const CreatePlanInput = builder.inputType('CreatePlanInput', {
  fields: (t) => ({
    code: t.string({ validate: featureCodeRule }),
    name: t.string({ validate: nameRule }),
    currency: t.string({
      validate: { refine: [(value: string) => currencies.has(value), { message: 'must be an ISO 4217 code such as EUR' }] },
    }),
    interval: t.field({ type: PlanIntervalEnum }),
    seatFeatures: t.field({
      type: [PlanSeatFeatureInput],
      validate: {
        maxLength: 100,
        refine: [
          (entries: { featureCode: string }[]) => new Set(entries.map((e) => e.featureCode)).size === entries.length,
          { message: 'lists a feature code twice' },
        ],
      },
    }),
  }),
});

builder.queryFields((t) => ({
  features: t.field({ type: [FeatureRef], resolve: (_root, _args, ctx) => listFeatures(ctx.em, ctx.tenant) }),
  plans: t.field({ type: [PlanRef], resolve: (_root, _args, ctx) => listPlans(ctx.em, ctx.tenant) }),
}));

builder.mutationFields((t) => ({
  createFeature: t.field({
    type: FeatureRef,
    args: { input: t.arg({ type: CreateFeatureInput }) },
    resolve: (_root, { input }, ctx) => createFeature(ctx.em, ctx.tenant, input),
  }),
  createPlan: t.field({
    type: PlanRef,
    args: { input: t.arg({ type: CreatePlanInput }) },
    resolve: (_root, { input }, ctx) => createPlan(ctx.em, ctx.tenant, input),
  }),
}));
