import type { GraphQLResolveInfo } from 'graphql';
import { builder } from './builder.ts';
import { selectsAnyOf } from './lookahead.ts';
import type { Context } from '../types.ts';
import { loadOne, type RefListLoader } from '../common/list-loader.ts';
import { describe } from './common.ts';
import { customerIdRule, nameRule } from '../common/validation.ts';
import { createCustomer } from '../customers/service.ts';
import { customerIdPrefix } from '../model/customer-refs.ts';
import type { CustomerRecord } from '../model/records.ts';

const maxCustomersPerQuery = 100;

export const CustomerRef = builder
  .nodeRef<CustomerRecord>('Customer', {
    id: { resolve: (customer) => customer.id, description: 'Our id, generated: `cus_` and an opaque suffix. Also its global id (node(id:)).' },
    // A global id is always a cus_ id, so the loader every customerId argument uses serves it.
    loadMany: (ids, ctx) => ctx.loaders.customersByRefs.load(ids),
  })
  .implement({
    description:
      'A customer of your product, holding seat balances through its subscription. Every customerId argument takes its `cus_` id or its external id.',
    fields: (t) => ({
      externalId: t.exposeString('externalId', {
        nullable: true,
        description: 'Your own id for the customer, unique per organization and mode; null when none was given. Responses show it as customerId.',
      }),
      name: t.exposeString('name', { description: 'Display name, 1–200 characters.' }),
      createdAt: t.expose('createdAt', { type: 'DateTime', description: describe.createdAt }),
      livemode: t.boolean({ description: describe.livemode, resolve: (customer) => customer.mode === 'live' }),
    }),
  });

const CreateCustomerInput = builder.inputType('CreateCustomerInput', {
  description: 'A new customer.',
  fields: (t) => ({
    externalId: t.string({
      required: false,
      description: `Optional: your own id for the customer, 1–200 characters, not starting with \`${customerIdPrefix}\`, unique per organization and mode (conflict otherwise). Accepted wherever a customerId is, and shown as customerId in responses.`,
      validate: {
        ...customerIdRule,
        refine: [(value: string) => !value.startsWith(customerIdPrefix), { message: `may not start with '${customerIdPrefix}'` }],
      },
    }),
    name: t.string({ description: 'Display name, 1–200 characters.', validate: nameRule }),
  }),
});

/**
 * Reads asked for with their seat balances fetch both in one statement: the shape most queries of
 * this service take (customers(ids) { seatBalances }).
 */
const customersLoader = (ctx: Context, info: GraphQLResolveInfo): RefListLoader<CustomerRecord> =>
  selectsAnyOf(info, ['seatBalances', 'seatBalance']) ? ctx.loaders.customersWithSeatBalancesByRefs : ctx.loaders.customersByRefs;

builder.queryFields((t) => ({
  customer: t.field({
    type: CustomerRef,
    nullable: true,
    description: 'A customer by `cus_` id or external id; null when there is none.',
    args: { id: t.arg.string({ description: 'Its `cus_` id or its external id, 1–200 characters.', validate: customerIdRule }) },
    resolve: (_root, { id }, ctx, info) => loadOne(customersLoader(ctx, info), id),
  }),
  customers: t.field({
    type: [CustomerRef],
    nullable: { list: false, items: true },
    description: `Customers by \`cus_\` id or external id, in the order asked, null where there is none (at most ${maxCustomersPerQuery}).`,
    args: {
      ids: t.arg.stringList({
        description: `At most ${maxCustomersPerQuery} ids, each a \`cus_\` id or an external id of 1–200 characters.`,
        validate: { maxLength: maxCustomersPerQuery, items: customerIdRule },
      }),
    },
    resolve: (_root, { ids }, ctx, info) => customersLoader(ctx, info).load(ids),
  }),
}));

builder.mutationFields((t) => ({
  createCustomer: t.field({
    type: CustomerRef,
    description: "Creates a customer in the key's organization and mode. Errors: validation_error, conflict (the externalId is in use).",
    args: { input: t.arg({ type: CreateCustomerInput, description: 'The customer to create.' }) },
    resolve: (_root, { input }, ctx) => createCustomer(ctx.em, ctx.tenant, input),
  }),
}));
