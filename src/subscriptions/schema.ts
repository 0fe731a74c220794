import { builder } from '../builder.js';
import { customerIdRule, featureCodeRule } from '../common/validation.js';
import { customerDisplayId } from '../customers/entities.js';
import { CustomerRef } from '../customers/schema.js';
import { maxSeatCount } from '../seats/rules.js';
import { createSubscription, type SubscriptionRecord } from './service.js';

const SubscriptionStatusEnum = builder.enumType('SubscriptionStatus', { values: ['ACTIVE', 'CANCELED'] as const });

export const PlanSubscriptionRef = builder.objectRef<SubscriptionRecord>('PlanSubscription').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    customerId: t.string({ resolve: (subscription) => customerDisplayId(subscription.customer) }),
    planCode: t.string({ resolve: (subscription) => subscription.plan.code }),
    status: t.field({ type: SubscriptionStatusEnum, resolve: (subscription) => subscription.status }),
    startAt: t.expose('startAt', { type: 'DateTime' }),
    currentPeriodStart: t.expose('currentPeriodStart', { type: 'DateTime' }),
    currentPeriodEnd: t.expose('currentPeriodEnd', { type: 'DateTime' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    livemode: t.boolean({ resolve: (subscription) => subscription.mode === 'live' }),
  }),
});

const InitialSeatsInput = builder.inputType('InitialSeatsInput', {
  fields: (t) => ({
    featureCode: t.string({ validate: featureCodeRule }),
    count: t.int({ validate: { min: 0, max: maxSeatCount } }),
  }),
});

const CreateSubscriptionInput = builder.inputType('CreateSubscriptionInput', {
  fields: (t) => ({
    customerId: t.string({ validate: customerIdRule }),
    planCode: t.string({ validate: featureCodeRule }),
    startAt: t.field({ type: 'DateTime', required: false, description: 'Defaults to now; may not lie in the future.' }),
    initialSeats: t.field({ type: [InitialSeatsInput], required: false, validate: { maxLength: 100 } }),
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
    args: { input: t.arg({ type: CreateSubscriptionInput }) },
    resolve: (_root, { input }, ctx) => createSubscription(ctx.em, ctx.tenant, ctx.now(), input),
  }),
}));
