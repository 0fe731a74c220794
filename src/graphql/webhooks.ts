import { builder } from './builder.ts';
import { type Connection, loadAll, nodesOf } from '../common/relay.ts';
import { describe, pagingArgs } from './common.ts';
import { noteRule, opaqueIdRule } from '../common/validation.ts';
import type { OutboxEventType } from '../model/events.ts';
import type { WebhookDeliveryStatus, WebhookEndpoint } from '../model/webhooks.ts';
import { webhookLoaders } from '../webhooks/loaders.ts';
import { retrySchedule } from '../webhooks/retry.ts';
import {
  createEndpoint,
  defaultDeliveriesPerPage,
  disableEndpoint,
  enableEndpoint,
  type EndpointWithSecret,
  listDeliveries,
  listEndpoints,
  maxDeliveriesPerPage,
  maxEnabledEndpoints,
  maxEndpointDescriptionLength,
  redeliver,
  rotateSecret,
} from '../webhooks/service.ts';
import type { WebhookAttemptRecord, WebhookDeliveryRecord } from '../webhooks/store.ts';
import { maxWebhookUrlLength } from '../webhooks/url.ts';
import { pokeWebhookWorkers } from '../webhooks/worker.ts';

const WebhookEventTypeEnum = builder.enumType('WebhookEventType', {
  description: "What an endpoint can be sent. The delivery body's `type` carries the dotted name given with each value.",
  values: {
    SEAT_CHANGED: {
      value: 'seat.changed',
      description: 'seat.changed: a seat change was recorded. `data` is { event, balance }: the SeatEvent and the SeatBalance it left, as GraphQL shows them.',
    },
    CHARGE_CREATED: {
      value: 'charge.created',
      description:
        'charge.created: a charge was recorded (a true-up, a renewal advance, or the CREDIT of an immediate cancellation). `data` is the SeatCharge, as GraphQL shows it.',
    },
    SEAT_LIMIT_REACHED: {
      value: 'seat.limit_reached',
      description:
        'seat.limit_reached: a balance of a feature without overage reached its includedSeats (`reason: reached`), or a change was refused with seat_limit_exceeded for going above includedSeats or maximumSeats (`reason: refused`, with the balance it asked for in `requested`, and its maximum in `maximumSeats`). A refusal below minimumSeats sends none.',
    },
    SUBSCRIPTION_CANCELLATION_SCHEDULED: {
      value: 'subscription.cancellation_scheduled',
      description:
        'subscription.cancellation_scheduled: cancelSubscription with timing AT_PERIOD_END. `data` is the PlanSubscription, as GraphQL shows it (cancelAtPeriodEnd true, cancellation set); it stays ACTIVE until currentPeriodEnd.',
    },
    SUBSCRIPTION_CANCELLATION_REVOKED: {
      value: 'subscription.cancellation_revoked',
      description:
        'subscription.cancellation_revoked: resumeSubscription revoked a scheduled cancellation. `data` is the PlanSubscription, which renews as usual again.',
    },
    SUBSCRIPTION_CANCELED: {
      value: 'subscription.canceled',
      description:
        'subscription.canceled: a subscription ended, cancelled IMMEDIATELY (its CREDIT charges come as charge.created) or at the end of the period a scheduled cancellation named. `data` is the PlanSubscription (status CANCELED, endedAt set).',
    },
    SUBSCRIPTION_PLAN_CHANGED: {
      value: 'subscription.plan_changed',
      description:
        'subscription.plan_changed: a subscription moved to another plan, by changePlan applied IMMEDIATELY (its CREDIT and PLAN_CHANGE charges come as charge.created) or by the renewal at the period end a scheduled change named. `data` is the PlanSubscription on its new plan.',
    },
    SUBSCRIPTION_PLAN_CHANGE_SCHEDULED: {
      value: 'subscription.plan_change_scheduled',
      description:
        'subscription.plan_change_scheduled: changePlan scheduled a change for the period end (or replaced the one scheduled). `data` is the PlanSubscription, with scheduledPlanChange set; the plan in force is unchanged until then.',
    },
    SUBSCRIPTION_PLAN_CHANGE_REVOKED: {
      value: 'subscription.plan_change_revoked',
      description:
        'subscription.plan_change_revoked: revokeScheduledPlanChange removed a scheduled plan change. `data` is the PlanSubscription, which renews on its plan again.',
    },
    SEAT_CHANGE_SCHEDULED: {
      value: 'seat.change_scheduled',
      description:
        'seat.change_scheduled: a decrease was scheduled for the period end (removeSeats, setSeats or bulkSetSeats with timing AT_PERIOD_END, or the organization default), replacing any scheduled before. `data` is { balance }: the SeatBalance, as GraphQL shows it, with scheduledChange set. When the renewal applies it, a seat.changed follows.',
    },
  } as const satisfies Record<string, { value: OutboxEventType; description: string }>,
});

const WebhookDeliveryStatusEnum = builder.enumType('WebhookDeliveryStatus', {
  description: 'Where a delivery stands.',
  values: {
    PENDING: { value: 'pending', description: 'Not delivered yet: an attempt is due at nextAttemptAt, or in flight.' },
    SUCCEEDED: { value: 'succeeded', description: 'The endpoint answered an attempt with a 2xx status.' },
    FAILED: {
      value: 'failed',
      description:
        'Given up: every retry failed, the endpoint was disabled (lastError "endpoint disabled"), or its URL is no longer accepted. redeliverWebhook sends it again.',
    },
  } as const satisfies Record<string, { value: WebhookDeliveryStatus; description: string }>,
});

const WebhookEndpointRef = builder
  .nodeRef<WebhookEndpoint>('WebhookEndpoint', {
    id: { resolve: (endpoint) => endpoint.id, description: 'Opaque id, prefixed we_. Also its global id (node(id:)).' },
    loadMany: (ids, ctx) => loadAll(webhookLoaders(ctx).endpointById, ids),
  })
  .implement({
    description:
      "A URL seatgate sends your events to, signed with the endpoint's secret (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature). The secret is shown only by createWebhookEndpoint and rotateWebhookSecret.",
    fields: (t) => ({
      url: t.exposeString('url', { description: 'Where deliveries are POSTed, as normalized when registered.' }),
      events: t.field({
        type: [WebhookEventTypeEnum],
        description: 'The event types sent to it.',
        resolve: (endpoint) => endpoint.events,
      }),
      description: t.exposeString('description', { description: 'Your note about it; empty when none was given.' }),
      enabled: t.boolean({
        description: 'False once disabled (see disabledReason): it is then sent nothing until enableWebhookEndpoint.',
        resolve: (endpoint) => endpoint.disabledAt === null,
      }),
      disabledAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When it was disabled, by disableWebhookEndpoint or automatically for failing (see disabledReason); null while enabled.',
        resolve: (endpoint) => endpoint.disabledAt,
      }),
      disabledReason: t.string({
        nullable: true,
        description:
          'Why it is disabled, in words: you called disableWebhookEndpoint, or seatgate disabled it because its attempts kept failing (this many in a row, or every one for this many hours, with the last error). Fix the receiver, then call enableWebhookEndpoint. Null while enabled.',
        resolve: (endpoint) => endpoint.disabledReason,
      }),
      consecutiveFailures: t.int({
        description:
          'Attempts that failed in a row since its last success (or since it was created or enabled); 0 while it is healthy. Watch it: at the limit (100 by default) the endpoint is disabled.',
        resolve: (endpoint) => endpoint.consecutiveFailures,
      }),
      failingSince: t.field({
        type: 'DateTime',
        nullable: true,
        description:
          'When the first of those failed attempts was made; null while consecutiveFailures is 0. An endpoint whose attempts all fail for long enough (24 hours by default) is disabled.',
        resolve: (endpoint) => endpoint.failingSince,
      }),
      createdAt: t.field({ type: 'DateTime', description: describe.createdAt, resolve: (endpoint) => endpoint.createdAt }),
      livemode: t.boolean({
        description: `${describe.livemode} An endpoint gets the events of its own mode only.`,
        resolve: (endpoint) => endpoint.mode === 'live',
      }),
    }),
  });

const CreatedWebhookEndpointRef = builder.objectRef<EndpointWithSecret>('CreatedWebhookEndpoint').implement({
  description: 'An endpoint with its signing secret. This is the only time the secret is shown: store it now.',
  fields: (t) => ({
    endpoint: t.field({ type: WebhookEndpointRef, description: 'The endpoint.', resolve: (created) => created.endpoint }),
    secret: t.exposeString('secret', {
      description:
        'The signing secret, whsec_ followed by base64: verify each delivery\'s webhook-signature with it (HMAC-SHA256 over "webhook-id.webhook-timestamp.body", keyed by the base64-decoded part after whsec_). It cannot be read again; rotateWebhookSecret makes a new one.',
    }),
  }),
});

const WebhookAttemptRef = builder.objectRef<WebhookAttemptRecord>('WebhookAttempt').implement({
  description: 'One HTTP attempt of a delivery.',
  fields: (t) => ({
    attemptedAt: t.expose('attemptedAt', { type: 'DateTime', description: 'When the request was started.' }),
    statusCode: t.exposeInt('statusCode', {
      nullable: true,
      description: 'The HTTP status the endpoint answered; null when it did not answer (see error). 2xx counts as delivered.',
    }),
    latencyMs: t.exposeInt('latencyMs', { description: 'Milliseconds from the start of the request to the end of the answer (or until seatgate gave up).' }),
    error: t.exposeString('error', {
      nullable: true,
      description:
        'Why the attempt failed without an answer (no answer within the timeout; "Could not connect to the endpoint." for a refused, reset or unreachable connection; a private address; a name that does not resolve; a refused TLS certificate), or that a 3xx redirect was not followed; null when the endpoint answered.',
    }),
  }),
});

const WebhookDeliveryRef = builder
  .nodeRef<WebhookDeliveryRecord>('WebhookDelivery', {
    id: {
      resolve: (delivery) => delivery.id,
      description:
        'Opaque id, prefixed msg_: the webhook-id header of every attempt, redeliveries included. Deduplicate on it. Also its global id (node(id:)).',
    },
    loadMany: (ids, ctx) => loadAll(webhookLoaders(ctx).deliveryById, ids),
  })
  .implement({
    description: 'One event owed to one endpoint, with every attempt to send it.',
    fields: (t) => ({
      eventId: t.exposeID('eventId', { description: 'The event sent, prefixed evt_: the id a GraphQL subscription shows for it.' }),
      eventType: t.field({ type: WebhookEventTypeEnum, description: 'What happened.', resolve: (delivery) => delivery.eventType }),
      status: t.field({ type: WebhookDeliveryStatusEnum, description: 'PENDING, SUCCEEDED or FAILED.', resolve: (delivery) => delivery.status }),
      attemptCount: t.int({ description: 'Attempts made so far: the length of attempts.', resolve: (delivery) => delivery.attempts.length }),
      nextAttemptAt: t.expose('nextAttemptAt', {
        type: 'DateTime',
        nullable: true,
        description:
          'While PENDING: when the next attempt is due (while one is in flight, when it is given up on and sent again). Null once SUCCEEDED or FAILED.',
      }),
      lastStatusCode: t.exposeInt('lastStatusCode', {
        nullable: true,
        description: 'The status of the latest answered attempt; null when the latest attempt got no answer, or none was made.',
      }),
      lastError: t.exposeString('lastError', {
        nullable: true,
        description: 'Why the latest attempt failed, or "endpoint disabled"; null after a success or before any attempt.',
      }),
      createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the event was published and the delivery queued.' }),
      completedAt: t.expose('completedAt', { type: 'DateTime', nullable: true, description: 'When it became SUCCEEDED or FAILED; null while PENDING.' }),
      attempts: t.field({ type: [WebhookAttemptRef], description: 'Every attempt, oldest first.', resolve: (delivery) => delivery.attempts }),
      livemode: t.boolean({ description: describe.livemode, resolve: (delivery) => delivery.mode === 'live' }),
    }),
  });

const WebhookDeliveryConnectionRef = builder.connectionObject(
  {
    type: WebhookDeliveryRef,
    name: 'WebhookDeliveryConnection',
    description: "One page of an endpoint's deliveries, newest first, whichever way it was paged.",
    edgesField: { description: 'The deliveries of the page with their cursors, newest first.' },
    fields: (t) => ({
      nodes: t.field({
        type: [WebhookDeliveryRef],
        description: 'The same deliveries as edges, without cursors.',
        // Every page is built by connectionOf, with its edges as a plain array.
        resolve: (page) => nodesOf(page as Connection<WebhookDeliveryRecord>),
      }),
    }),
  },
  {
    name: 'WebhookDeliveryEdge',
    description: 'One delivery of a page, with its cursor.',
    nodeField: { description: 'The delivery.' },
    fields: (t) => ({
      cursor: t.exposeString('cursor', {
        description:
          'Opaque, and valid for this endpoint only: pass it as `after` (with first) to read the deliveries older than this one, or as `before` (with last) to read the newer ones.',
      }),
    }),
  },
);

const hours = Math.round(retrySchedule.reduce((sum, seconds) => sum + seconds, 0) / 3600);

const CreateWebhookEndpointInput = builder.inputType('CreateWebhookEndpointInput', {
  description: 'Where to send which events.',
  fields: (t) => ({
    url: t.string({
      description: `Where to POST deliveries, at most ${maxWebhookUrlLength} characters: https to a public host (live keys), or also http://localhost, http://127.0.0.1 and http://[::1] (test keys, when the server allows loopback, maybe on listed ports only). Private and reserved addresses, port 0, user names and passwords, and fragments answer validation_error. Redirects are never followed.`,
    }),
    events: t.field({
      type: [WebhookEventTypeEnum],
      description: 'The event types to send, 1–3 of them, each once.',
      validate: { minLength: 1, maxLength: 3 },
    }),
    description: t.string({
      required: false,
      description: `Your note about the endpoint, at most ${maxEndpointDescriptionLength} characters.`,
      validate: noteRule(maxEndpointDescriptionLength),
    }),
  }),
});

const idArg = (t: Parameters<Parameters<typeof builder.mutationFields>[0]>[0], description: string) => t.arg.id({ description, validate: opaqueIdRule });

builder.queryFields((t) => ({
  webhookEndpoints: t.field({
    type: [WebhookEndpointRef],
    description: 'Every webhook endpoint of your organization and mode, disabled ones included, newest first.',
    resolve: (_root, _args, ctx) => listEndpoints(ctx.em, ctx.tenant),
  }),
  webhookDeliveries: t.field({
    type: WebhookDeliveryConnectionRef,
    description: `An endpoint's deliveries, newest first, each with every attempt (status code, latency, error); ${defaultDeliveriesPerPage} per page unless first or last says otherwise. Page forwards (to older deliveries) with first and after, backwards (to newer ones) with last and before. Errors: validation_error (first and last together, a size out of range, or a cursor not of this endpoint), webhook_endpoint_not_found.`,
    args: {
      endpointId: t.arg.id({ description: 'The endpoint (we_…); webhook_endpoint_not_found when it is not one of yours.', validate: opaqueIdRule }),
      ...pagingArgs(t, {
        noun: 'deliveries',
        max: maxDeliveriesPerPage,
        defaultSize: defaultDeliveriesPerPage,
        cursorOf: 'this endpoint',
        foreignCursor: 'A cursor of another endpoint answers validation_error.',
        cursorMaxLength: 200,
      }),
    },
    resolve: (_root, args, ctx) => listDeliveries(ctx.em, ctx.tenant, { ...args, endpointId: String(args.endpointId) }),
  }),
}));

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.field({
    type: CreatedWebhookEndpointRef,
    description: `Registers an endpoint and answers its signing secret, shown this once. Each event of a chosen type published from then on is POSTed to it as JSON {"type", "timestamp", "data"}, signed, at least once: retried with exponential backoff for about ${hours} hours while it does not answer 2xx within the timeout. At most ${maxEnabledEndpoints} enabled endpoints per organization and mode. Errors: validation_error (naming url, events or description).`,
    args: { input: t.arg({ type: CreateWebhookEndpointInput, description: 'The URL, the event types and a note.' }) },
    resolve: (_root, { input }, ctx) =>
      createEndpoint(ctx.em, ctx.tenant, { url: input.url, events: input.events, description: input.description }, ctx.webhookLoopback),
  }),
  disableWebhookEndpoint: t.field({
    type: WebhookEndpointRef,
    description:
      'Stops sending to an endpoint until enableWebhookEndpoint: nothing new is queued for it, and its pending deliveries become FAILED with lastError "endpoint disabled". Calling it again changes nothing. Errors: webhook_endpoint_not_found.',
    args: { id: idArg(t, 'The endpoint (we_…).') },
    resolve: (_root, { id }, ctx) => disableEndpoint(ctx.em, ctx.tenant, String(id)),
  }),
  enableWebhookEndpoint: t.field({
    type: WebhookEndpointRef,
    description: `Turns a disabled endpoint back on, whether you disabled it or seatgate did for failing (see disabledReason), with consecutiveFailures back at 0. Events published from now on are sent to it; deliveries that ended FAILED while it was disabled are not, unless you redeliverWebhook them. Calling it on an enabled endpoint changes nothing. Errors: webhook_endpoint_not_found, validation_error (the organization already has ${maxEnabledEndpoints} enabled endpoints in this mode), conflict (its URL is no longer accepted: create a new endpoint).`,
    args: { id: idArg(t, 'The endpoint (we_…).') },
    resolve: (_root, { id }, ctx) => enableEndpoint(ctx.em, ctx.tenant, String(id), ctx.webhookLoopback),
  }),
  rotateWebhookSecret: t.field({
    type: CreatedWebhookEndpointRef,
    description:
      'Gives an endpoint a new signing secret, shown this once. The old secret stops at once: every attempt from now on, retries of older deliveries included, is signed with the new one, so give your receiver the new one right away: deliveries it refuses meanwhile are retried, signed with the new secret (an attempt already in flight carries the old signature). Errors: webhook_endpoint_not_found, conflict (the endpoint is disabled).',
    args: { id: idArg(t, 'The endpoint (we_…).') },
    resolve: (_root, { id }, ctx) => rotateSecret(ctx.em, ctx.tenant, String(id)),
  }),
  redeliverWebhook: t.field({
    type: WebhookDeliveryRef,
    description:
      'Sends a delivery again now, whatever its status, with the same id (so the same webhook-id) and a fresh retry schedule; it answers the delivery as PENDING. Errors: webhook_delivery_not_found, conflict (its endpoint is disabled).',
    args: { deliveryId: idArg(t, 'The delivery (msg_…): its id in webhookDeliveries, or the webhook-id header it was sent with.') },
    resolve: async (_root, { deliveryId }, ctx) => {
      const delivery = await redeliver(ctx.em, ctx.tenant, String(deliveryId));
      // This process's worker takes it at once; the others would find it by their timers.
      pokeWebhookWorkers();
      return delivery;
    },
  }),
}));
