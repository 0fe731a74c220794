import { z } from 'zod';
import { customerIdRule, featureCodeRule, zodString } from '../common/validation.ts';
import type { Context } from '../types.ts';
import { DomainError } from '../common/errors.ts';
import type { SeatEventKind } from '../model/seats.ts';
import { bulkSetSeats, changeSeats, type SeatChangeInput } from '../flows/seat-change.ts';
import { loadCustomerWithBalances, loadSeatBalance, loadSeatBalances } from '../flows/seat-reads.ts';
import type { SeatBalanceRecord, SeatEventRecord } from '../model/records.ts';
import { maxBulkEntries, maxSeatCount, minSeatCount } from '../seats/rules.ts';

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

export type Route<Input = unknown> = {
  method: Method;
  path: string;
  summary: string;
  /** The GraphQL field doing the same through the same service; idempotency keys are shared under its name. */
  graphql: string;
  /** Where the input comes from and the schema that validates it. */
  from: 'body' | 'query';
  input: z.ZodObject & z.ZodType<Input>;
  output: z.ZodType;
  /** `keyOrder(field)`: the keys of a top-level object of the body, in the order written. */
  run(ctx: Context, input: Input, keyOrder: (field: string) => string[] | undefined): Promise<unknown>;
};

// The Idempotency-Key header reaches the service through the request context, as for GraphQL.
const change = (kind: SeatEventKind) => async (ctx: Context, input: SeatChangeInput) =>
  seatOf(await changeSeats(ctx.seatChanges, ctx.tenant, ctx.now(), kind, { ...input, idempotencyKey: ctx.idempotencyKeyHeader }));

const route = <Input>(definition: Route<Input>): Route<Input> => definition;
const seatsPath = `${restPrefix}/seats`;

export const routes: Route[] = [
  route({
    method: 'POST',
    path: seatsPath,
    summary: 'Add seats',
    graphql: 'addSeats',
    from: 'body',
    input: seatChange('ADD'),
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
  cancelSubscription: 'not yet: Commet’s route, POST /subscriptions/{id}/cancel, takes a path parameter, which this door does not match yet',
  resumeSubscription: 'not yet: idem, POST /subscriptions/{id}/uncancel',
  features: 'the catalog is kept through GraphQL',
  plans: 'idem',
  createFeature: 'idem',
  createPlan: 'idem',
  testClock: 'test-mode tools are GraphQL only',
  advanceTestClock: 'idem',
  deleteTestData: 'idem',
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
