import { builder } from './builder.ts';
import { type Connection, loadAll, nodesOf } from '../common/relay.ts';
import { describe, formatCount, pagingArgs } from './common.ts';
import { checkIdempotencyKeyHeader, customerIdRule, featureCodeRule, idempotencyKeyRule } from '../common/validation.ts';
import { CustomerRef } from './customers.ts';
import type { Context } from '../types.ts';
import { validationError } from '../common/errors.ts';
import { loadOne } from '../common/list-loader.ts';
import { customerNotFound } from '../model/customer-refs.ts';
import { bulkSetSeats, changeSeats } from '../flows/seat-change.ts';
import { listSeatEvents, loadCustomerWithBalances, loadSeatBalance, loadSeatBalances, seatBalancesOf } from '../flows/seat-reads.ts';
import type { ScheduledSeatChangeRecord, SeatBalanceRecord, SeatEventRecord } from '../model/records.ts';
import type { SeatChangeTiming } from '../model/organization.ts';
import type { SeatEventKind } from '../model/seats.ts';
import { seatBalanceId } from '../seats/balance-id.ts';
import { defaultSeatEventsPerPage, maxSeatEventsPerPage } from '../seats/ledger.ts';
import { maxBulkEntries, maxSeatBalance, maxSeatCount, minSeatCount } from '../seats/rules.ts';

export const SeatEventKindEnum = builder.enumType('SeatEventKind', {
  description: 'What a seat change does to a balance.',
  values: {
    ADD: { description: 'Raises the balance by count (addSeats).' },
    REMOVE: { description: 'Lowers the balance by count (removeSeats).' },
    SET: { description: 'Makes the balance exactly count (setSeats, bulkSetSeats, and the initialSeats of createSubscription).' },
  } as const,
});

export const SeatChangeTimingEnum = builder.enumType('SeatChangeTiming', {
  description:
    'When a decrease takes effect. An increase always applies now, with its prorated true-up, whatever the timing; so does a set to the current count.',
  values: {
    IMMEDIATELY: { description: 'The balance is lowered now and a SET or REMOVE event is recorded now; no credit is given for the rest of the period.' },
    AT_PERIOD_END: {
      description:
        "The balance keeps its seats, already paid for, until the subscription's currentPeriodEnd: the decrease shows as SeatBalance.scheduledChange, and the renewal applies it then, before billing the next advance, as a SET event at that instant.",
    },
  } as const satisfies Record<SeatChangeTiming, { description: string }>,
});

const maxBalanceText = formatCount(maxSeatBalance);
const maxCountText = formatCount(maxSeatCount);
/** The bounds every raise of a balance is held to, whatever the operation. */
const raiseLimits = `A balance holds at most ${maxBalanceText} seats, and billable seats × unitPrice at most 10^13 per feature and period: validation_error beyond.`;
const idempotencyKeyDescription =
  'Optional, 1–255 printable characters. The change applies at most once per key (per organization and mode, kept 24 hours at least): a repeat returns the original events and records nothing; the same key with another operation or input answers idempotency_key_mismatch. The Idempotency-Key header does the same; if both are given they must be equal.';
/** The errors every seat change can answer; each operation adds its own. */
const seatChangeErrors = 'validation_error, customer_not_found, feature_not_found, no_active_subscription, feature_not_in_plan';
const retryErrors = 'idempotency_key_mismatch, conflict (the subscription is renewing or catching up: retry)';
/** The plan limits every change is held to; PlanSeatFeature shows them. */
const seatLimitsText =
  "A balance outside the plan feature's minimumSeats–maximumSeats: seat_limit_exceeded, with details {featureCode, limit: MINIMUM or MAXIMUM, value: the limit}, and nothing changes.";

/** How a decrease's timing is chosen, for every input that takes one. */
const timingDescription =
  "When a decrease takes effect: IMMEDIATELY, or AT_PERIOD_END (scheduled for currentPeriodEnd, replacing any decrease already scheduled for this balance). Omitted: the organization's seatDecreaseTiming (organizationSettings), IMMEDIATELY unless changed. Ignored for an increase or a set to the current count, which apply now; either also cancels a scheduled decrease, as any change applied now does. A scheduled decrease is held to minimumSeats now (seat_limit_exceeded), and removeSeats counts it from the current balance, not from one already scheduled.";

export const ScheduledSeatChangeRef = builder.objectRef<ScheduledSeatChangeRecord>('ScheduledSeatChange').implement({
  description:
    'A decrease waiting for the period end. Cancel it with setSeats to the current count, replace it with another decrease AT_PERIOD_END, or apply a change now (which replaces it).',
  fields: (t) => ({
    count: t.exposeInt('count', { description: 'The balance the renewal sets, lower than current.' }),
    effectiveAt: t.expose('effectiveAt', {
      type: 'DateTime',
      description: "When it applies: the subscription's currentPeriodEnd, before the next period's advance is billed (which then bills this count).",
    }),
  }),
});

/**
 * A balance as a field shows it: read, or as the change an event records left it. The latter
 * holds what the event does, with no read; the plan's terms (and, for a scheduled decrease,
 * asOf) are read from the stored balance only when asked for.
 */
type ShownBalance = SeatBalanceRecord | LeftBalance;
type LeftBalance = Omit<SeatBalanceRecord, 'includedSeats' | 'unlimited' | 'asOf'> & { includedSeats?: undefined; unlimited?: undefined; asOf: Date | null };

/** The balance an event left: its count now, or for a scheduled decrease the count kept until then. */
const balanceLeftBy = (event: SeatEventRecord): LeftBalance => ({
  customerRowId: event.customerRowId,
  customerId: event.customerId,
  featureCode: event.featureCode,
  mode: event.mode,
  current: event.scheduled ? event.previousBalance : event.newBalance,
  asOf: event.scheduled ? null : event.ts,
  // A change applied now clears any scheduled decrease; a scheduled one is the decrease.
  scheduledChange: event.scheduled ? { count: event.newBalance, effectiveAt: event.ts } : null,
});

const balanceIdOf = (balance: { customerRowId: string; featureCode: string }) => seatBalanceId(balance.customerRowId, balance.featureCode);

/** What a shown balance lacks, from the balance as stored; null once its feature left the customer's plan. */
const storedBalance = (balance: ShownBalance, ctx: Context): SeatBalanceRecord | null | Promise<SeatBalanceRecord | null> =>
  balance.unlimited === undefined ? ctx.loaders.seatBalanceById.load(balanceIdOf(balance)) : balance;

export const SeatBalanceRef = builder
  .nodeRef<ShownBalance>('SeatBalance', {
    id: {
      resolve: (balance) => balanceIdOf(balance),
      description:
        "Its global id, prefixed sbal_: the same for a customer's balance of one feature wherever it shows (seatBalances, seatBalance, a change's SeatEvent.balance, notifications), so a normalised cache updates the one balance it holds. Pass it to node(id:).",
    },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.seatBalanceById, ids),
  })
  .implement({
    description:
      "The seats a customer holds of one seat feature of its plan. It starts at the subscription's initialSeats, or else at the feature's minimumSeats (0 unless the plan sets one), stays within the feature's minimumSeats and maximumSeats, and equals the newBalance of its latest event. After the subscription ended (Customer.subscription is CANCELED) it stays readable as it was when it ended, under that subscription's plan, and no longer changes: seat changes answer no_active_subscription until the customer subscribes again.",
    fields: (t) => ({
      customerId: t.exposeString('customerId', { description: describe.customerIdOut }),
      featureCode: t.exposeString('featureCode', { description: describe.featureCodeOut }),
      current: t.exposeInt('current', {
        description: `Seats held now, 0–${maxBalanceText}; for a subscription that ended, the seats held when it ended (nothing is billed for them).`,
      }),
      includedSeats: t.int({
        nullable: true,
        description: "Seats the plan includes; null when the feature is unlimited, or (on an old event's balance) no longer in the customer's plan.",
        resolve: async (balance, _args, ctx) => {
          const stored = await storedBalance(balance, ctx);
          return !stored || stored.unlimited ? null : stored.includedSeats;
        },
      }),
      unlimited: t.boolean({
        description: "True when the plan sets no cap for this feature and bills none of its seats; false too once the feature left the customer's plan.",
        resolve: async (balance, _args, ctx) => (await storedBalance(balance, ctx))?.unlimited ?? false,
      }),
      asOf: t.field({
        type: 'DateTime',
        description: 'When the balance last changed (the subscription start before any change).',
        resolve: async (balance, _args, ctx) => balance.asOf ?? (await storedBalance(balance, ctx))?.asOf ?? new Date(0),
      }),
      scheduledChange: t.field({
        type: ScheduledSeatChangeRef,
        nullable: true,
        description:
          'The decrease scheduled for the period end (timing AT_PERIOD_END); null when none is. current keeps its value until effectiveAt. A subscription cancelled at the same period end ends instead, and the decrease is not applied.',
        resolve: (balance) => balance.scheduledChange ?? null,
      }),
      livemode: t.boolean({ description: describe.livemode, resolve: (balance) => balance.mode === 'live' }),
    }),
  });

export const SeatEventRef = builder
  .nodeRef<SeatEventRecord>('SeatEvent', {
    id: {
      resolve: (event) => event.id,
      description: 'Opaque id, prefixed sev_. A repeat of an idempotent call returns the same id. Also its global id (node(id:)).',
    },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.seatEventById, ids),
  })
  .implement({
    description: 'One change of one balance. The ledger keeps every event forever, unchanged.',
    fields: (t) => ({
      customerId: t.exposeString('customerId', { description: describe.customerIdOut }),
      featureCode: t.exposeString('featureCode', { description: describe.featureCodeOut }),
      kind: t.field({ type: SeatEventKindEnum, description: 'The change made: ADD, REMOVE or SET.', resolve: (event) => event.kind }),
      count: t.exposeInt('quantity', { description: 'The count asked for: seats added or removed, or the target of a set.' }),
      previousBalance: t.exposeInt('previousBalance', {
        description: "The balance before the change: the newBalance of the balance's previous event (0 for its first).",
      }),
      newBalance: t.exposeInt('newBalance', { description: 'The balance after the change; equal to previousBalance for a no-op set.' }),
      ts: t.expose('ts', { type: 'DateTime', description: 'When the change took effect; for a scheduled decrease, when it will.' }),
      scheduled: t.boolean({
        description:
          'True for a decrease scheduled for ts, the period end (timing AT_PERIOD_END): it is not in the ledger (node and seatEvents do not find it) until the renewal records it then, under this id, with this count. Replaced or cancelled before, it never is. False for every event of the ledger.',
        resolve: (event) => event.scheduled === true,
      }),
      createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the event was recorded.' }),
      livemode: t.boolean({ description: describe.livemode, resolve: (event) => event.mode === 'live' }),
      balance: t.field({
        type: SeatBalanceRef,
        description:
          "The balance this event changed, under the id it has everywhere, so a normalised cache (Apollo, urql's Graphcache, Relay) shows the change without a refetch. In a change's answer (addSeats, removeSeats, setSeats, bulkSetSeats) and in a notification, as this event left it: `balance { id current }` costs no read. Read back later (seatEvents, node, the replay of an idempotent call), as it stands now, since a cache keeps one value per id and an older one would overwrite it; newBalance keeps what the event set. For a scheduled decrease, current is the count kept until ts, and scheduledChange is this decrease.",
        resolve: async (event, _args, ctx) =>
          event.latest ? balanceLeftBy(event) : ((await ctx.loaders.seatBalanceById.load(balanceIdOf(event))) ?? balanceLeftBy(event)),
      }),
      customer: t.field({
        type: CustomerRef,
        description: 'The customer whose balance changed, read when asked for (the events of one answer share one read).',
        resolve: async (event, _args, ctx) => {
          const customer = await loadOne(ctx.loaders.customersByRefs, event.customerRowId);
          if (!customer) throw customerNotFound(event.customerId);
          return customer;
        },
      }),
    }),
  });

const SeatEventConnectionRef = builder.connectionObject(
  {
    type: SeatEventRef,
    name: 'SeatEventConnection',
    description: 'One page of a ledger, newest event first, whichever way it was paged.',
    edgesField: { description: 'The events of the page with their cursors, newest first.' },
    fields: (t) => ({
      nodes: t.field({
        type: [SeatEventRef],
        description: 'The same events as edges, without cursors.',
        // Every page is built by connectionOf, with its edges as a plain array.
        resolve: (page) => nodesOf(page as Connection<SeatEventRecord>),
      }),
    }),
  },
  {
    name: 'SeatEventEdge',
    description: 'One event of a page of the ledger, with its cursor.',
    nodeField: { description: 'The event.' },
    fields: (t) => ({
      cursor: t.exposeString('cursor', {
        description:
          'Opaque, and valid for this list only: pass it as `after` (with first) to read the events older than this one, or as `before` (with last) to read the newer ones.',
      }),
    }),
  },
);

const seatChangeFields = (kind: SeatEventKind, countDescription: string) => (t: PothosInputFieldBuilder) => ({
  customerId: t.string({ description: describe.customerIdArg, validate: customerIdRule }),
  featureCode: t.string({ description: `${describe.featureCodeArg} It must be in the customer's plan.`, validate: featureCodeRule }),
  count: t.int({ description: countDescription, validate: { min: minSeatCount(kind), max: maxSeatCount } }),
  idempotencyKey: t.string({ required: false, description: idempotencyKeyDescription, validate: idempotencyKeyRule }),
});
/** The fields of a change that may lower a balance: those of every change, and its timing. */
const loweringFields = (kind: SeatEventKind, countDescription: string) => (t: PothosInputFieldBuilder) => ({
  ...seatChangeFields(kind, countDescription)(t),
  timing: t.field({ type: SeatChangeTimingEnum, required: false, description: timingDescription }),
});
type PothosInputFieldBuilder = Parameters<Parameters<typeof builder.inputType>[1]['fields']>[0];

const AddSeatsInput = builder.inputType('AddSeatsInput', {
  description: 'Seats to add to one balance.',
  fields: seatChangeFields(
    'ADD',
    `Seats to add, 1–${maxCountText}. ${raiseLimits} ${seatLimitsText} Above includedSeats without overage: seat_limit_exceeded.`,
  ),
});
const RemoveSeatsInput = builder.inputType('RemoveSeatsInput', {
  description: 'Seats to remove from one balance, now or at the period end.',
  fields: loweringFields(
    'REMOVE',
    `Seats to remove, 1–${maxCountText}; more than the balance holds answers insufficient_seats and changes nothing. ${seatLimitsText}`,
  ),
});
const SetSeatsInput = builder.inputType('SetSeatsInput', {
  description: 'The new value of one balance; a lower one now or at the period end.',
  fields: loweringFields(
    'SET',
    `The new balance, 0–${maxCountText}. ${raiseLimits} ${seatLimitsText} Raising it above includedSeats without overage: seat_limit_exceeded; lowering within the limits always works.`,
  ),
});

const BulkSeatEntryInput = builder.inputType('BulkSeatEntryInput', {
  description: 'The new value of one balance in a bulk set.',
  fields: (t) => ({
    featureCode: t.string({ description: `${describe.featureCodeArg} It must be in the customer's plan.`, validate: featureCodeRule }),
    count: t.int({
      description: `The new balance, 0–${maxCountText}; the rules of setSeats apply (seat_limit_exceeded outside minimumSeats–maximumSeats or above includedSeats without overage, and validation_error past the balance and amount maxima).`,
      validate: { min: 0, max: maxSeatCount },
    }),
  }),
});

const BulkSetSeatsInput = builder.inputType('BulkSetSeatsInput', {
  description: 'New values for several balances of one customer, applied all or none.',
  fields: (t) => ({
    customerId: t.string({ description: describe.customerIdArg, validate: customerIdRule }),
    seats: t.field({
      type: [BulkSeatEntryInput],
      description: `1–${maxBulkEntries} entries, each feature code once (validation_error naming seats.N.featureCode otherwise). Features not listed keep their balance.`,
      validate: { minLength: 1, maxLength: maxBulkEntries },
    }),
    timing: t.field({
      type: SeatChangeTimingEnum,
      required: false,
      description: `${timingDescription} Each entry is decided on its own: with AT_PERIOD_END, its decreases are scheduled and its other entries apply now, all in one call that passes or fails as a whole.`,
    }),
    idempotencyKey: t.string({ required: false, description: idempotencyKeyDescription, validate: idempotencyKeyRule }),
  }),
});

/**
 * The input with the Idempotency-Key header applied (a request holds one mutation at most: see
 * http/limits.ts); it must obey the argument's rules, and may not contradict the argument.
 */
export function withHeaderKey<T extends { idempotencyKey?: string | null }>(input: T, ctx: Context): T {
  const header = checkIdempotencyKeyHeader(ctx.idempotencyKeyHeader);
  if (header === null) return input;
  if (input.idempotencyKey && input.idempotencyKey !== header) {
    throw validationError('idempotencyKey', 'idempotencyKey differs from the Idempotency-Key header.');
  }
  return { ...input, idempotencyKey: header };
}

builder.objectFields(CustomerRef, (t) => ({
  seatBalances: t.field({
    type: [SeatBalanceRef],
    description:
      "Every seat feature of the customer's plan, zero balances included: of its active subscription, or else as they were when its last subscription ended; empty if it never had one.",
    resolve: (customer, _args, ctx) => seatBalancesOf(ctx.loaders, customer),
  }),
  seatBalance: t.field({
    type: SeatBalanceRef,
    nullable: true,
    description:
      "The customer's balance of one seat feature. feature_not_found, no_active_subscription and feature_not_in_plan fail only this field (null, with the error), not the rest of the query.",
    args: { featureCode: t.arg.string({ description: describe.featureCodeArg, validate: featureCodeRule }) },
    resolve: (customer, { featureCode }, ctx) => loadSeatBalance(ctx.loaders, customer, featureCode),
  }),
}));

builder.queryFields((t) => ({
  seatBalance: t.field({
    type: SeatBalanceRef,
    description:
      "A customer's balance of one seat feature: under its active subscription, or else as it was when its last subscription ended. Errors: validation_error, customer_not_found, feature_not_found, no_active_subscription (the customer never had a subscription), feature_not_in_plan (not in the plan of its active, else last ended, subscription).",
    args: {
      customerId: t.arg.string({ description: describe.customerIdArg, validate: customerIdRule }),
      featureCode: t.arg.string({ description: describe.featureCodeArg, validate: featureCodeRule }),
    },
    resolve: async (_root, args, ctx) => {
      return loadSeatBalance(ctx.loaders, await loadCustomerWithBalances(ctx.loaders, args.customerId), args.featureCode);
    },
  }),
  seatBalances: t.field({
    type: [SeatBalanceRef],
    description:
      "Every seat balance of a customer's plan, zero balances included: of its active subscription, or else as they were when its last subscription ended. Errors: validation_error, customer_not_found, no_active_subscription when it never had a subscription (Customer.seatBalances answers an empty list instead).",
    args: { customerId: t.arg.string({ description: describe.customerIdArg, validate: customerIdRule }) },
    resolve: async (_root, args, ctx) => {
      return loadSeatBalances(ctx.loaders, args.customerId);
    },
  }),
  seatEvents: t.field({
    type: SeatEventConnectionRef,
    description: `The ledger of a customer, newest first: every seat event recorded for it, ${defaultSeatEventsPerPage} per page unless first or last says otherwise. Page forwards (to older events) with first and after, backwards (to newer ones) with last and before; pages are newest first either way. Errors: validation_error (first and last together, a size out of range, or a cursor not of this list), customer_not_found, feature_not_found.`,
    args: {
      customerId: t.arg.string({ description: describe.customerIdArg, validate: customerIdRule }),
      featureCode: t.arg.string({
        required: false,
        description:
          'Only the events of this feature (^[a-z0-9_]+$, 1–50 characters); feature_not_found when no feature has this code. Omitted: every feature.',
        validate: featureCodeRule,
      }),
      ...pagingArgs(t, {
        noun: 'events',
        max: maxSeatEventsPerPage,
        defaultSize: defaultSeatEventsPerPage,
        cursorOf: 'this list',
        foreignCursor: 'A cursor this API did not return, or one of another customer, feature filter, organization or mode, answers validation_error.',
        cursorMaxLength: 100,
      }),
    },
    resolve: (_root, args, ctx) => listSeatEvents(ctx.em, ctx.tenant, args),
  }),
}));

builder.mutationFields((t) => ({
  addSeats: t.field({
    type: SeatEventRef,
    description: `Raises one balance by count and records one ADD event, with the true-up charge it causes (SeatEvent.charge). Errors: ${seatChangeErrors}, seat_limit_exceeded, ${retryErrors}.`,
    args: { input: t.arg({ type: AddSeatsInput, description: 'The balance and the seats to add.' }) },
    resolve: (_root, { input }, ctx) => changeSeats(ctx.seatChanges, ctx.tenant, ctx.now(), 'ADD', withHeaderKey(input, ctx)),
  }),
  removeSeats: t.field({
    type: SeatEventRef,
    description: `Lowers one balance by count and records one REMOVE event; no credit is given for the rest of the period. With timing AT_PERIOD_END (or that organization default) the decrease is scheduled instead: the balance keeps its seats until currentPeriodEnd (SeatBalance.scheduledChange), nothing is recorded or billed now, seat.change_scheduled is emitted, and the answer is the SET event the renewal will record then (scheduled true). Errors: ${seatChangeErrors}, insufficient_seats, seat_limit_exceeded (below minimumSeats), ${retryErrors}.`,
    args: { input: t.arg({ type: RemoveSeatsInput, description: 'The balance and the seats to remove.' }) },
    resolve: (_root, { input }, ctx) => changeSeats(ctx.seatChanges, ctx.tenant, ctx.now(), 'REMOVE', withHeaderKey(input, ctx)),
  }),
  setSeats: t.field({
    type: SeatEventRef,
    description: `Makes one balance exactly count and records one SET event, a no-op set included; a raise may cause a true-up charge. A set to the current count also cancels a scheduled decrease. A lower count with timing AT_PERIOD_END (or that organization default) is scheduled instead, as removeSeats describes: the answer is the SET event the renewal will record (scheduled true). Errors: ${seatChangeErrors}, seat_limit_exceeded, ${retryErrors}.`,
    args: { input: t.arg({ type: SetSeatsInput, description: 'The balance and its new value.' }) },
    resolve: (_root, { input }, ctx) => changeSeats(ctx.seatChanges, ctx.tenant, ctx.now(), 'SET', withHeaderKey(input, ctx)),
  }),
  bulkSetSeats: t.field({
    type: [SeatEventRef],
    description: `Sets several balances of one customer atomically; returns one SET event per entry, in order. Any failing entry fails the whole call, which then changes nothing. With timing AT_PERIOD_END (or that organization default), each lower count is scheduled as setSeats describes (its event has scheduled true) and the other entries apply now. Errors: ${seatChangeErrors}, seat_limit_exceeded, ${retryErrors}.`,
    args: { input: t.arg({ type: BulkSetSeatsInput, description: 'The customer and its new balances.' }) },
    resolve: (_root, { input }, ctx) => bulkSetSeats(ctx.seatChanges, ctx.tenant, ctx.now(), withHeaderKey(input, ctx)),
  }),
}));
