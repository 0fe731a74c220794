import { builder } from './builder.ts';
import { describe } from './common.ts';
import { customerIdRule, featureCodeRule } from '../common/validation.ts';
import { SeatBalanceRef, SeatEventRef } from './seats.ts';
import { PlanSubscriptionRef } from './subscriptions.ts';
import {
  type SeatChangedPayload,
  type SeatChangeScheduledPayload,
  type SubscriptionPayload,
  seatBalanceFromPayload,
  seatEventFromPayload,
} from '../events/payloads.ts';
import { subscribeToEvents } from '../flows/live-events.ts';
import { paceOf } from '../http/fanout.ts';
import type { OutboxEventType } from '../model/events.ts';
import type { PublishedEvent } from '../model/records.ts';

const changeOf = (event: PublishedEvent) => event.payload as SeatChangedPayload;

/** A notification's change: delivered in order, so the balance it left is the balance's latest. */
const changeEventOf = (event: PublishedEvent) => ({ ...seatEventFromPayload(changeOf(event).event, event.customerId), latest: true });

const notificationId = 'This notification, prefixed evt_. Subscribe again with it as `after` to resume where you stopped.';

const SeatEventNotificationRef = builder.objectRef<PublishedEvent>('SeatEventNotification').implement({
  description: 'A seat change, as it is recorded.',
  fields: (t) => ({
    id: t.exposeID('id', { description: notificationId }),
    event: t.field({ type: SeatEventRef, description: 'The change.', resolve: changeEventOf }),
  }),
});

const SeatBalanceNotificationRef = builder.objectRef<PublishedEvent>('SeatBalanceNotification').implement({
  description: 'A balance that changed, with the change.',
  fields: (t) => ({
    id: t.exposeID('id', { description: notificationId }),
    balance: t.field({
      type: SeatBalanceRef,
      description:
        'The balance the change left, under the id it has everywhere (SeatBalance.id): written into a normalised cache, it updates the balance any query shows.',
      resolve: (event) => seatBalanceFromPayload(changeOf(event).balance, event.customerId),
    }),
    event: t.field({ type: SeatEventRef, description: 'The change.', resolve: changeEventOf }),
  }),
});

/** The lifecycle events, by the name GraphQL gives them. */
const lifecycleEventTypes = {
  CANCELLATION_SCHEDULED: 'subscription.cancellation_scheduled',
  CANCELLATION_REVOKED: 'subscription.cancellation_revoked',
  CANCELED: 'subscription.canceled',
  PLAN_CHANGED: 'subscription.plan_changed',
  PLAN_CHANGE_SCHEDULED: 'subscription.plan_change_scheduled',
  PLAN_CHANGE_REVOKED: 'subscription.plan_change_revoked',
  SEAT_CHANGE_SCHEDULED: 'seat.change_scheduled',
} as const satisfies Record<string, OutboxEventType>;
type LifecycleEventType = keyof typeof lifecycleEventTypes;
const lifecycleEventTypeOf = new Map(Object.entries(lifecycleEventTypes).map(([name, type]) => [type as OutboxEventType, name as LifecycleEventType]));

const LifecycleEventTypeEnum = builder.enumType('LifecycleEventType', {
  description: "A step of a subscription's life; webhooks name the same steps subscription.cancellation_scheduled, …, seat.change_scheduled.",
  values: {
    CANCELLATION_SCHEDULED: { description: 'cancelSubscription AT_PERIOD_END: the subscription ends at currentPeriodEnd unless resumed.' },
    CANCELLATION_REVOKED: { description: 'resumeSubscription took a scheduled cancellation back.' },
    CANCELED: { description: 'The subscription ended: cancelled IMMEDIATELY, or at the period end a cancellation was scheduled for.' },
    PLAN_CHANGED: { description: 'The subscription moved to another plan: changePlan applied now, or the renewal applying a scheduled change.' },
    PLAN_CHANGE_SCHEDULED: { description: 'changePlan scheduled a change for the period end (or replaced the one scheduled).' },
    PLAN_CHANGE_REVOKED: { description: 'revokeScheduledPlanChange removed a scheduled plan change.' },
    SEAT_CHANGE_SCHEDULED: { description: 'A seat decrease was scheduled for the period end; balance shows it as scheduledChange.' },
  } as const satisfies Record<LifecycleEventType, { description: string }>,
});

const LifecycleNotificationRef = builder.objectRef<PublishedEvent>('LifecycleNotification').implement({
  description: "A step of a customer's subscription life, as webhooks tell it.",
  fields: (t) => ({
    id: t.exposeID('id', { description: notificationId }),
    type: t.field({ type: LifecycleEventTypeEnum, description: 'Which step.', resolve: (event) => lifecycleEventTypeOf.get(event.type)! }),
    subscription: t.field({
      type: PlanSubscriptionRef,
      nullable: true,
      description:
        'The subscription the step acted on, read when the notification is sent (so a cache keyed by its id shows it as it is now); null for SEAT_CHANGE_SCHEDULED. The webhook payload holds it as the step left it.',
      resolve: (event, _args, ctx) =>
        event.type === 'seat.change_scheduled'
          ? null
          : // A subscription's loaders live as long as it does: read afresh for each notification.
            ctx.loaders.subscriptionById.clear((event.payload as SubscriptionPayload).id).load((event.payload as SubscriptionPayload).id),
    }),
    balance: t.field({
      type: SeatBalanceRef,
      nullable: true,
      description: 'For SEAT_CHANGE_SCHEDULED, the balance as the step left it, with its scheduledChange; null for the other steps.',
      resolve: (event) =>
        event.type === 'seat.change_scheduled' ? seatBalanceFromPayload((event.payload as SeatChangeScheduledPayload).balance, event.customerId) : null,
    }),
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
  lifecycleEvents: t.field({
    type: LifecycleNotificationRef,
    description:
      'Each step of the subscription lifecycle of one customer, or of every customer of your organization and mode: cancellations scheduled, revoked and carried out, plan changes applied, scheduled and revoked, and seat decreases scheduled for the period end. Seat changes applied (a scheduled decrease included, once the renewal applies it) come through seatBalanceChanged and seatEvents. Errors: validation_error, customer_not_found.',
    args: {
      customerId: t.arg.string({ required: false, description: `${describe.customerIdArg} Omitted: every customer.`, validate: customerIdRule }),
      after: afterArg(t),
    },
    subscribe: (_root, args, ctx) =>
      subscribeToEvents(ctx.em, ctx.events, ctx.tenant, {
        types: Object.values(lifecycleEventTypes),
        customerRef: args.customerId ?? null,
        featureCode: null,
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
