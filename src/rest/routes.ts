import { z } from 'zod';
import { customerIdRule, featureCodeRule, opaqueIdRule, zodString } from '../common/validation.ts';
import type { Context } from '../types.ts';
import { DomainError, type ErrorCode } from '../common/errors.ts';
import type { SeatEventKind } from '../model/seats.ts';
import { bulkSetSeats, changeSeats, type SeatChangeInput } from '../flows/seat-change.ts';
import { loadCustomerWithBalances, loadSeatBalance, loadSeatBalances } from '../flows/seat-reads.ts';
import type { SeatBalanceRecord, SeatEventRecord } from '../model/records.ts';
import { maxBulkEntries, maxSeatCount, minSeatCount } from '../seats/rules.ts';
import { pathParameterNames } from './paths.ts';
import { cancelById, cancelSubscriptionInput, canceledSubscription, uncancelById, uncanceledSubscription } from './subscriptions.ts';
import { changePlanById, changePlanInput, planChange, previewChange, previewChangeById, previewChangeInput } from './plan-changes.ts';

/**
 * The Commet-compatible REST door (SEAT-CONTRACT.md §7): one table mapping each route to the
 * GraphQL operation it twins and the service call both make. A test fails when a GraphQL
 * operation has neither a route here nor a place in `graphqlOnly`, or a route names no GraphQL
 * operation: a seat operation cannot be added to one door and forgotten in the other.
 */

// The same rules as the GraphQL arguments (common/validation.ts), as zod schemas for JSON.
const customerId = zodString(customerIdRule).describe('The customer: its cus_ id or your own external id.');
const featureCode = zodString(featureCodeRule).describe('The code of a seat feature.');
const count = (kind: SeatEventKind) => z.number().int().min(minSeatCount(kind)).max(maxSeatCount);

const seatChange = (kind: SeatEventKind) =>
  z.object({
    customerId,
    featureCode,
    count: count(kind).describe(kind === 'SET' ? `The exact balance, 0 to ${maxSeatCount}.` : `Seats, 1 to ${maxSeatCount}.`),
  });

const timestamp = z.string().describe('An ISO 8601 instant in UTC.');
const seat = z.object({
  id: z.string().describe('The seat event, sev_…'),
  customerId: z.string().describe('The external id when the customer has one, else its cus_ id.'),
  featureCode: z.string(),
  previousBalance: z.number().int(),
  newBalance: z.number().int(),
  ts: timestamp.describe('When the change took effect.'),
  createdAt: timestamp.describe('When it was recorded.'),
  object: z.literal('seat'),
  livemode: z.boolean(),
});
const bulkSeat = seat.omit({ customerId: true }).meta({ id: 'BulkSeat', description: 'One event of a bulk set.' });
const seatEvent = seat.meta({ id: 'Seat', description: 'The event a seat change recorded.' });
const balance = z
  .object({ current: z.number().int(), asOf: timestamp.describe('When the balance last changed.'), object: z.literal('seat'), livemode: z.boolean() })
  .meta({ id: 'SeatBalance', description: 'One balance.' });
const balances = z
  .object({ object: z.literal('seat'), livemode: z.boolean() })
  .catchall(z.object({ current: z.number().int(), asOf: timestamp }))
  .meta({ id: 'SeatBalances', description: 'One entry per seat feature of the plan, by feature code.' });

const iso = (date: Date) => date.toISOString();
const seatOf = (event: SeatEventRecord) => ({
  id: event.id,
  customerId: event.customerId,
  featureCode: event.featureCode,
  previousBalance: event.previousBalance,
  newBalance: event.newBalance,
  ts: iso(event.ts),
  createdAt: iso(event.createdAt),
  object: 'seat' as const,
  livemode: event.mode === 'live',
});
const balanceOf = (record: SeatBalanceRecord) => ({
  current: record.current,
  asOf: iso(record.asOf),
  object: 'seat' as const,
  livemode: record.mode === 'live',
});

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export const restPrefix = '/api/v1';

export type Route<Input = unknown, Params = unknown> = {
  method: Method;
  /** As OpenAPI writes it: each `{name}` segment takes one segment of the request's path, validated by `params`. */
  path: string;
  summary: string;
  /** The GraphQL field doing the same through the same service; idempotency keys are shared under its name. */
  graphql: string;
  /**
   * A POST that records nothing (Commet sends its previews as POST): it twins a Query field, and
   * an Idempotency-Key (the SDK sends one with every POST it may retry) is ignored.
   */
  readOnly?: true;
  /** The path parameters, one per `{name}` of the path; none when it has none. */
  params?: z.ZodObject & z.ZodType<Params>;
  /** Where the rest of the input comes from and the schema that validates it. */
  from: 'body' | 'query';
  input: z.ZodObject & z.ZodType<Input>;
  /**
   * Inputs (path parameters included) named otherwise than in the GraphQL twin: each → the twin's
   * input fields it becomes; none for an input only checked against the others, or accepted and ignored.
   */
  graphqlFields?: Record<string, string[]>;
  /** The contract errors the route answers beyond those every route and every body can (openapi.ts lists those). */
  errors: ErrorCode[];
  output: z.ZodType;
  /** `input` holds the path parameters too. `keyOrder(field)`: the keys of a top-level object of the body, in the order written. */
  run(ctx: Context, input: Input & Params, keyOrder: (field: string) => string[] | undefined): Promise<unknown>;
};

// The Idempotency-Key header reaches the service through the request context, as for GraphQL.
const change = (kind: SeatEventKind) => async (ctx: Context, input: SeatChangeInput) =>
  seatOf(await changeSeats(ctx.seatChanges, ctx.tenant, ctx.now(), kind, { ...input, idempotencyKey: ctx.idempotencyKeyHeader }));

/** A route of the table, its path parameters checked against its path once, as the module loads. */
const route = <Input, Params = object>(definition: Route<Input, Params>): Route<Input, Params> => {
  const named = pathParameterNames(definition.path);
  const declared = Object.keys(definition.params?.shape ?? {});
  if (named.join() !== declared.join()) throw new Error(`${definition.path}: path parameters ${named} but params ${declared}`);
  const both = declared.filter((name) => Object.hasOwn(definition.input.shape, name));
  if (both.length > 0) throw new Error(`${definition.path}: ${both} is both a path parameter and an input field`);
  return definition;
};
const seatsPath = `${restPrefix}/seats`;
const subscriptionPath = `${restPrefix}/subscriptions/{id}`;
// Commet's subscription routes name the subscription; the GraphQL twins name its customer.
const subscriptionId = z.object({ id: zodString(opaqueIdRule).describe('The subscription, sub_… (subscription_not_found otherwise).') });
const bySubscription = { id: ['customerId'] };

// The codes of a seat change or read beyond those every route answers.
const seatLookupErrors: ErrorCode[] = ['customer_not_found', 'feature_not_found', 'no_active_subscription', 'feature_not_in_plan'];
const seatChangeErrors: ErrorCode[] = [...seatLookupErrors, 'insufficient_seats', 'seat_limit_exceeded'];
// A plan change refused: the plan, the subscription, or a balance the new plan cannot hold.
const planChangeErrors: ErrorCode[] = [
  'subscription_not_found',
  'no_active_subscription',
  'plan_not_found',
  'feature_not_in_plan',
  'seat_limit_exceeded',
  'conflict',
];

export const routes: Route[] = [
  route({
    method: 'POST',
    path: seatsPath,
    summary: 'Add seats',
    graphql: 'addSeats',
    from: 'body',
    input: seatChange('ADD'),
    errors: seatChangeErrors,
    output: seatEvent,
    run: change('ADD'),
  }),
  route({
    method: 'DELETE',
    path: seatsPath,
    summary: 'Remove seats',
    graphql: 'removeSeats',
    from: 'body',
    input: seatChange('REMOVE'),
    errors: seatChangeErrors,
    output: seatEvent,
    run: change('REMOVE'),
  }),
  route({
    method: 'POST',
    path: `${seatsPath}/remove`,
    summary: 'Remove seats (for clients that cannot send a body with DELETE)',
    graphql: 'removeSeats',
    from: 'body',
    input: seatChange('REMOVE'),
    errors: seatChangeErrors,
    output: seatEvent,
    run: change('REMOVE'),
  }),
  route({
    method: 'PUT',
    path: seatsPath,
    summary: 'Set seats',
    graphql: 'setSeats',
    from: 'body',
    input: seatChange('SET'),
    errors: seatChangeErrors,
    output: seatEvent,
    run: change('SET'),
  }),
  route({
    method: 'PUT',
    path: `${seatsPath}/bulk`,
    summary: 'Set several seat balances of one customer at once: all or none',
    graphql: 'bulkSetSeats',
    from: 'body',
    input: z.object({
      customerId,
      seats: z
        .record(featureCode, count('SET'))
        .refine((seats) => Object.keys(seats).length >= 1 && Object.keys(seats).length <= maxBulkEntries, `must name 1 to ${maxBulkEntries} features`)
        .describe(`Feature code → the exact balance, 0 to ${maxSeatCount}; 1 to ${maxBulkEntries} features.`),
    }),
    errors: seatChangeErrors,
    output: z.array(bulkSeat),
    run: async (ctx, input, keyOrder) => {
      // In the order written (an object would list codes such as "10" first): the same entries
      // as GraphQL's, so a key sent through either door is one call.
      const codes = keyOrder('seats') ?? Object.keys(input.seats);
      const seats = codes.map((code) => ({ featureCode: code, count: input.seats[code]! }));
      const events = await bulkSetSeats(ctx.seatChanges, ctx.tenant, ctx.now(), {
        customerId: input.customerId,
        seats,
        idempotencyKey: ctx.idempotencyKeyHeader,
      }).catch((error: unknown) => {
        // The service names an entry by its index (seats.1.count); here entries are named by their code.
        const entry = error instanceof DomainError ? /^seats\.(\d+)\./.exec(error.param ?? '') : null;
        if (!entry) throw error;
        const { code, message, details, param: indexed } = error as DomainError;
        const param = `seats.${seats[Number(entry[1])]!.featureCode}`;
        const named = details?.map((detail) => (detail.field === indexed ? { ...detail, field: param } : detail)) ?? null;
        throw new DomainError(code, message, { param, details: named });
      });
      return events.map((event) => {
        const { customerId: _customerId, ...bulk } = seatOf(event);
        return bulk;
      });
    },
  }),
  route({
    method: 'GET',
    path: `${seatsPath}/balance`,
    summary: 'One seat balance',
    graphql: 'seatBalance',
    from: 'query',
    input: z.object({ customerId, featureCode }),
    errors: seatLookupErrors,
    output: balance,
    run: async (ctx, input) => balanceOf(await loadSeatBalance(ctx.loaders, await loadCustomerWithBalances(ctx.loaders, input.customerId), input.featureCode)),
  }),
  route({
    method: 'GET',
    path: `${seatsPath}/balances`,
    summary: 'Every seat balance of a customer (features coded object or livemode: read them one at a time)',
    graphql: 'seatBalances',
    from: 'query',
    input: z.object({ customerId }),
    errors: ['customer_not_found', 'no_active_subscription'],
    output: balances,
    run: async (ctx, input) => {
      const all = await loadSeatBalances(ctx.loaders, input.customerId);
      // Commet's shape shares one object between the envelope and the codes; the envelope wins.
      return {
        ...Object.fromEntries(all.map((b) => [b.featureCode, { current: b.current, asOf: iso(b.asOf) }])),
        object: 'seat',
        livemode: ctx.tenant.mode === 'live',
      };
    },
  }),
  route({
    method: 'POST',
    path: `${subscriptionPath}/cancel`,
    summary: 'Cancel a subscription at its period end, or at once with a credit for the unused days',
    graphql: 'cancelSubscription',
    params: subscriptionId,
    from: 'body',
    input: cancelSubscriptionInput,
    graphqlFields: { ...bySubscription, immediate: ['timing'], reason: ['reason', 'comment'] },
    errors: ['subscription_not_found', 'no_active_subscription'],
    output: canceledSubscription,
    run: cancelById,
  }),
  route({
    method: 'POST',
    path: `${subscriptionPath}/uncancel`,
    summary: 'Revoke a cancellation scheduled for the period end',
    graphql: 'resumeSubscription',
    params: subscriptionId,
    from: 'body',
    input: z.object({}),
    graphqlFields: bySubscription,
    errors: ['subscription_not_found', 'no_active_subscription'],
    output: uncanceledSubscription,
    run: uncancelById,
  }),
  route({
    method: 'POST',
    path: `${subscriptionPath}/change-plan`,
    summary: 'Move a subscription to another plan: a dearer one or a longer interval now, with a credit and a prorated charge; otherwise at the period end',
    graphql: 'changePlan',
    params: subscriptionId,
    from: 'body',
    input: changePlanInput,
    graphqlFields: { ...bySubscription, newPlanId: ['planCode'], newBillingInterval: [], successUrl: [] },
    errors: planChangeErrors,
    output: planChange,
    run: changePlanById,
  }),
  route({
    method: 'POST',
    path: `${subscriptionPath}/preview-change`,
    summary: 'What a plan change would credit and charge now, recording nothing',
    graphql: 'previewPlanChange',
    readOnly: true,
    params: subscriptionId,
    from: 'body',
    input: previewChangeInput,
    graphqlFields: { ...bySubscription, planId: ['planCode'], billingInterval: [] },
    errors: [...planChangeErrors, 'plan_change_scheduled'],
    output: previewChange,
    run: previewChangeById,
  }),
];

/** GraphQL operations with no REST route: Commet's seats API has none for them. */
export const graphqlOnly: Record<string, string> = {
  seatEvents: 'the ledger; Commet has no ledger route',
  previewSeatChange: 'previews; Commet has none',
  seatCharges: 'charges; billing is not part of Commet’s seats API',
  upcomingInvoice: 'invoices; idem',
  renewDueSubscriptions: 'renewals; idem',
  customer: 'customers are read and made through GraphQL',
  customers: 'idem',
  createCustomer: 'idem',
  createSubscription: 'subscriptions are made through GraphQL',
  features: 'the catalog is kept through GraphQL',
  plans: 'idem',
  createFeature: 'idem',
  createPlan: 'idem',
  testClock: 'test-mode tools are GraphQL only',
  advanceTestClock: 'idem',
  deleteTestData: 'idem',
  revokeScheduledPlanChange: 'Commet’s SDK has no call to revoke a scheduled plan change',
  organizationSettings: 'organization settings are kept through GraphQL; Commet has no route for them',
  updateOrganizationSettings: 'idem',
  webhookEndpoints: 'webhooks are managed through GraphQL; Commet’s seats API has none',
  webhookDeliveries: 'idem',
  createWebhookEndpoint: 'idem',
  disableWebhookEndpoint: 'idem',
  enableWebhookEndpoint: 'idem',
  rotateWebhookSecret: 'idem',
  redeliverWebhook: 'idem',
  node: 'Relay refetching by global id, for client caches; Commet has nothing like it',
  nodes: 'idem',
};
