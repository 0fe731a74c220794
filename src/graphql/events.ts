import { builder } from './builder.ts';
import { describe } from './common.ts';
import { customerIdRule, featureCodeRule } from '../common/validation.ts';
import { SeatBalanceRef, SeatEventRef } from './seats.ts';
import { type SeatChangedPayload, seatBalanceFromPayload, seatEventFromPayload } from '../events/payloads.ts';
import { subscribeToEvents } from '../flows/live-events.ts';
import { paceOf } from '../http/fanout.ts';
import type { PublishedEvent } from '../model/records.ts';

const changeOf = (event: PublishedEvent) => event.payload as SeatChangedPayload;

const notificationId = 'This notification, prefixed evt_. Subscribe again with it as `after` to resume where you stopped.';

const SeatEventNotificationRef = builder.objectRef<PublishedEvent>('SeatEventNotification').implement({
  description: 'A seat change, as it is recorded.',
  fields: (t) => ({
    id: t.exposeID('id', { description: notificationId }),
    event: t.field({ type: SeatEventRef, description: 'The change.', resolve: (event) => seatEventFromPayload(changeOf(event).event) }),
  }),
});

const SeatBalanceNotificationRef = builder.objectRef<PublishedEvent>('SeatBalanceNotification').implement({
  description: 'A balance that changed, with the change.',
  fields: (t) => ({
    id: t.exposeID('id', { description: notificationId }),
    balance: t.field({
      type: SeatBalanceRef,
      description: 'The balance the change left.',
      resolve: (event) => seatBalanceFromPayload(changeOf(event).balance),
    }),
    event: t.field({ type: SeatEventRef, description: 'The change.', resolve: (event) => seatEventFromPayload(changeOf(event).event) }),
  }),
});

const afterArg = (t: Parameters<Parameters<typeof builder.subscriptionFields>[0]>[0]) =>
  t.arg.id({
    required: false,
    description:
      'The id of the last notification you received: the changes published since are sent first, from the outbox, then the live ones. Omitted: live ones only.',
  });

builder.subscriptionType({
  description:
    'Live updates over server-sent events: send the subscription to /graphql with Accept: text/event-stream and your x-api-key. Every change made by any server process is sent, in order; each notification has an id to resume after.',
});

builder.subscriptionFields((t) => ({
  seatBalanceChanged: t.field({
    type: SeatBalanceNotificationRef,
    description: "Each change of a customer's balances, or of one of them, with the balance it left. Errors: validation_error, customer_not_found.",
    args: {
      customerId: t.arg.string({ description: describe.customerIdArg, validate: customerIdRule }),
      featureCode: t.arg.string({ required: false, description: `${describe.featureCodeArg} Omitted: every seat feature.`, validate: featureCodeRule }),
      after: afterArg(t),
    },
    subscribe: (_root, args, ctx) =>
      subscribeToEvents(ctx.em, ctx.events, ctx.tenant, {
        types: ['seat.changed'],
        customerRef: args.customerId,
        featureCode: args.featureCode ?? null,
        after: args.after ?? null,
        pace: paceOf(ctx),
      }),
    resolve: (event) => event,
  }),
  seatEvents: t.field({
    type: SeatEventNotificationRef,
    description: 'Each seat change of one customer, or of every customer of your organization and mode. Errors: validation_error, customer_not_found.',
    args: {
      customerId: t.arg.string({ required: false, description: `${describe.customerIdArg} Omitted: every customer.`, validate: customerIdRule }),
      after: afterArg(t),
    },
    subscribe: (_root, args, ctx) =>
      subscribeToEvents(ctx.em, ctx.events, ctx.tenant, {
        types: ['seat.changed'],
        customerRef: args.customerId ?? null,
        featureCode: null,
        after: args.after ?? null,
        pace: paceOf(ctx),
      }),
    resolve: (event) => event,
  }),
}));
