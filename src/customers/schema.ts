import type { GraphQLResolveInfo } from 'graphql';
import { builder } from '../builder.js';
import { selectsAnyOf } from '../common/lookahead.js';
import type { Context } from '../context.js';
import { customerIdRule, nameRule } from '../common/validation.js';
import { createCustomer, customerIdPrefix, type CustomerRecord } from './service.js';

export const maxCustomersPerQuery = 100;

export const CustomerRef = builder.objectRef<CustomerRecord>('Customer').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    externalId: t.exposeString('externalId', { nullable: true }),
    name: t.exposeString('name'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    livemode: t.boolean({ resolve: (customer) => customer.mode === 'live' }),
  }),
});

const CreateCustomerInput = builder.inputType('CreateCustomerInput', {
  fields: (t) => ({
    externalId: t.string({
      required: false,
      validate: {
        ...customerIdRule,
        refine: [(value: string) => !value.startsWith(customerIdPrefix), { message: `may not start with '${customerIdPrefix}'` }],
      },
    }),
    name: t.string({ validate: nameRule }),
  }),
});

/**
 * Reads asked for with their seat balances fetch both in one statement: the shape most queries of
 * this service take (customers(ids) { seatBalances }).
 */
const customerLoader = (ctx: Context, info: GraphQLResolveInfo) =>
  selectsAnyOf(info, ['seatBalances', 'seatBalance']) ? ctx.loaders.customerWithSeatBalancesByRef : ctx.loaders.customerByRef;

builder.queryFields((t) => ({
  customer: t.field({
    type: CustomerRef,
    nullable: true,
    description: 'A customer by `cus_` id or external id; null when there is none.',
    args: { id: t.arg.string({ validate: customerIdRule }) },
    resolve: (_root, { id }, ctx, info) => customerLoader(ctx, info).load(id),
  }),
  customers: t.field({
    type: [CustomerRef],
    nullable: { list: false, items: true },
    description: `Customers by \`cus_\` id or external id, in the order asked, null where there is none (at most ${maxCustomersPerQuery}).`,
    args: {
      ids: t.arg.stringList({ validate: { maxLength: maxCustomersPerQuery, items: customerIdRule } }),
    },
    resolve: (_root, { ids }, ctx, info) => customerLoader(ctx, info).loadMany(ids) as Promise<(CustomerRecord | null)[]>,
  }),
}));

builder.mutationFields((t) => ({
  createCustomer: t.field({
    type: CustomerRef,
    args: { input: t.arg({ type: CreateCustomerInput }) },
    resolve: (_root, { input }, ctx) => createCustomer(ctx.em, ctx.tenant, input),
  }),
}));
