import { builder } from '../builder.js';
import { PageInfo } from '../common/schema.js';
import { customerIdRule, featureCodeRule, idempotencyKeyRule, isValidIdempotencyKey } from '../common/validation.js';
import { CustomerRef } from '../customers/schema.js';
import { customerNotFound } from '../customers/service.js';
import type { Context } from '../context.js';
import { DomainError, validationError } from '../errors.js';
import { loadSeatBalance, seatBalancesOf } from './loaders.js';
import { maxSeatCount } from './rules.js';
import { encodeCursor, listSeatEvents, type SeatEventPage, type SeatEventRecord } from './ledger.js';
import { bulkSetSeats, changeSeats, type CustomerWithSeatBalances, type SeatBalanceRecord } from './service.js';

export const SeatEventKindEnum = builder.enumType('SeatEventKind', { values: ['ADD', 'REMOVE', 'SET'] as const });

const SeatBalanceRef = builder.objectRef<SeatBalanceRecord>('SeatBalance').implement({
  fields: (t) => ({
    customerId: t.exposeString('customerId'),
    featureCode: t.exposeString('featureCode'),
    current: t.exposeInt('current'),
    includedSeats: t.int({
      nullable: true,
      description: 'Seats the plan includes; null when the feature is unlimited.',
      resolve: (balance) => (balance.unlimited ? null : balance.includedSeats),
    }),
    unlimited: t.exposeBoolean('unlimited'),
    asOf: t.expose('asOf', { type: 'DateTime', description: 'When the balance last changed (the subscription start before any change).' }),
    livemode: t.boolean({ resolve: (balance) => balance.mode === 'live' }),
  }),
});

export const SeatEventRef = builder.objectRef<SeatEventRecord>('SeatEvent').implement({
  description: 'One change of one balance. The ledger keeps every event forever, unchanged.',
  fields: (t) => ({
    id: t.exposeID('id'),
    customerId: t.exposeString('customerId'),
    featureCode: t.exposeString('featureCode'),
    kind: t.field({ type: SeatEventKindEnum, resolve: (event) => event.kind }),
    count: t.exposeInt('quantity', { description: 'The count asked for: seats added or removed, or the target of a set.' }),
    previousBalance: t.exposeInt('previousBalance'),
    newBalance: t.exposeInt('newBalance'),
    ts: t.expose('ts', { type: 'DateTime', description: 'When the change took effect.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the event was recorded.' }),
    livemode: t.boolean({ resolve: (event) => event.mode === 'live' }),
  }),
});

const SeatEventEdgeRef = builder.objectRef<SeatEventRecord>('SeatEventEdge').implement({
  fields: (t) => ({
    cursor: t.string({ resolve: (event) => encodeCursor(event.seq) }),
    node: t.field({ type: SeatEventRef, resolve: (event) => event }),
  }),
});

const SeatEventConnectionRef = builder.objectRef<SeatEventPage>('SeatEventConnection').implement({
  fields: (t) => ({
    edges: t.field({ type: [SeatEventEdgeRef], resolve: (page) => page.events }),
    nodes: t.field({ type: [SeatEventRef], resolve: (page) => page.events }),
    pageInfo: t.field({
      type: PageInfo,
      resolve: (page) => ({
        hasNextPage: page.hasNextPage,
        endCursor: page.events.length ? encodeCursor(page.events[page.events.length - 1]!.seq) : null,
      }),
    }),
  }),
});

const seatChangeFields = (minCount: number) => (t: PothosInputFieldBuilder) => ({
  customerId: t.string({ validate: customerIdRule }),
  featureCode: t.string({ validate: featureCodeRule }),
  count: t.int({ validate: { min: minCount, max: maxSeatCount } }),
  idempotencyKey: t.string({ required: false, validate: idempotencyKeyRule }),
});
type PothosInputFieldBuilder = Parameters<Parameters<typeof builder.inputType>[1]['fields']>[0];

const AddSeatsInput = builder.inputType('AddSeatsInput', { fields: seatChangeFields(1) });
const RemoveSeatsInput = builder.inputType('RemoveSeatsInput', { fields: seatChangeFields(1) });
const SetSeatsInput = builder.inputType('SetSeatsInput', { fields: seatChangeFields(0) });

const BulkSeatEntryInput = builder.inputType('BulkSeatEntryInput', {
  fields: (t) => ({
    featureCode: t.string({ validate: featureCodeRule }),
    count: t.int({ validate: { min: 0, max: maxSeatCount } }),
  }),
});

const BulkSetSeatsInput = builder.inputType('BulkSetSeatsInput', {
  fields: (t) => ({
    customerId: t.string({ validate: customerIdRule }),
    seats: t.field({ type: [BulkSeatEntryInput], validate: { minLength: 1, maxLength: 100 } }),
    idempotencyKey: t.string({ required: false, validate: idempotencyKeyRule }),
  }),
});

/**
 * The input with the Idempotency-Key header applied (a request holds one mutation at most: see
 * http/limits.ts); it must obey the argument's rules, and may not contradict the argument.
 */
function withHeaderKey<T extends { idempotencyKey?: string | null }>(input: T, ctx: Context): T {
  const header = ctx.idempotencyKeyHeader;
  if (header === null) return input;
  if (!isValidIdempotencyKey(header)) throw validationError('Idempotency-Key', 'Idempotency-Key must be 1-255 printable characters.');
  if (input.idempotencyKey && input.idempotencyKey !== header) {
    throw validationError('idempotencyKey', 'idempotencyKey differs from the Idempotency-Key header.');
  }
  return { ...input, idempotencyKey: header };
}

async function customerOrFail(ctx: Context, ref: string): Promise<CustomerWithSeatBalances> {
  const customer = await ctx.loaders.customerWithSeatBalancesByRef.load(ref);
  if (!customer) throw customerNotFound(ref);
  return customer;
}

builder.objectFields(CustomerRef, (t) => ({
  seatBalances: t.field({
    type: [SeatBalanceRef],
    description: "Every seat feature of the customer's plan, zero balances included; empty without an active subscription.",
    resolve: (customer, _args, ctx) => seatBalancesOf(ctx.loaders, customer),
  }),
  seatBalance: t.field({
    type: SeatBalanceRef,
    nullable: true,
    args: { featureCode: t.arg.string({ validate: featureCodeRule }) },
    resolve: (customer, { featureCode }, ctx) => loadSeatBalance(ctx.loaders, customer, featureCode),
  }),
}));

builder.queryFields((t) => ({
  seatBalance: t.field({
    type: SeatBalanceRef,
    args: {
      customerId: t.arg.string({ validate: customerIdRule }),
      featureCode: t.arg.string({ validate: featureCodeRule }),
    },
    resolve: async (_root, args, ctx) => {
      const customer = await customerOrFail(ctx, args.customerId);
      return loadSeatBalance(ctx.loaders, customer, args.featureCode);
    },
  }),
  seatBalances: t.field({
    type: [SeatBalanceRef],
    args: { customerId: t.arg.string({ validate: customerIdRule }) },
    resolve: async (_root, args, ctx) => {
      const customer = await customerOrFail(ctx, args.customerId);
      // Balances exist only under an active subscription; none may also mean a plan without seat features.
      if (customer.seatBalances.length === 0 && !(await ctx.loaders.activeSubscriptionByCustomerId.load(customer.id))) {
        throw new DomainError('no_active_subscription', `Customer '${args.customerId}' has no active subscription.`, {
          param: 'customerId',
        });
      }
      return customer.seatBalances;
    },
  }),
  seatEvents: t.field({
    type: SeatEventConnectionRef,
    description: 'The ledger of a customer, newest first.',
    args: {
      customerId: t.arg.string({ validate: customerIdRule }),
      featureCode: t.arg.string({ required: false, validate: featureCodeRule }),
      first: t.arg.int({ required: false, validate: { min: 1, max: 100 } }),
      after: t.arg.string({ required: false, validate: { minLength: 1, maxLength: 100 } }),
    },
    resolve: (_root, args, ctx) =>
      listSeatEvents(ctx.em, ctx.tenant, {
        customerId: args.customerId,
        featureCode: args.featureCode,
        first: args.first ?? 25,
        after: args.after,
      }),
  }),
}));

builder.mutationFields((t) => ({
  addSeats: t.field({
    type: SeatEventRef,
    args: { input: t.arg({ type: AddSeatsInput }) },
    resolve: (_root, { input }, ctx) => changeSeats(ctx.seatChanges, ctx.tenant, ctx.now(), 'ADD', withHeaderKey(input, ctx)),
  }),
  removeSeats: t.field({
    type: SeatEventRef,
    args: { input: t.arg({ type: RemoveSeatsInput }) },
    resolve: (_root, { input }, ctx) => changeSeats(ctx.seatChanges, ctx.tenant, ctx.now(), 'REMOVE', withHeaderKey(input, ctx)),
  }),
  setSeats: t.field({
    type: SeatEventRef,
    args: { input: t.arg({ type: SetSeatsInput }) },
    resolve: (_root, { input }, ctx) => changeSeats(ctx.seatChanges, ctx.tenant, ctx.now(), 'SET', withHeaderKey(input, ctx)),
  }),
  bulkSetSeats: t.field({
    type: [SeatEventRef],
    description: 'Sets several balances of one customer atomically; returns one event per entry, in order.',
    args: { input: t.arg({ type: BulkSetSeatsInput }) },
    resolve: (_root, { input }, ctx) => bulkSetSeats(ctx.seatChanges, ctx.tenant, ctx.now(), withHeaderKey(input, ctx)),
  }),
}));
