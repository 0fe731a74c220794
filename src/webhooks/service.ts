import type { EntityManager } from '@mikro-orm/postgresql';
import { run } from '../db/prepared.ts';
import { outboxEventTypes, type OutboxEventType } from '../model/events.ts';
import type { PublishedEvent } from '../model/records.ts';
import { type Connection, type ConnectionArgs, connectionOf, type CursorKind, foreignCursor, pageRequest } from '../common/relay.ts';
import { DomainError, validationError } from '../common/errors.ts';
import { newId } from '../common/ids.ts';
import { type Tenant, tenantWhere } from '../model/tenant.ts';
import { WebhookAttempt, WebhookDelivery, WebhookEndpoint } from '../model/webhooks.ts';
import { newWebhookSecret } from './signature.ts';
import {
  type ClaimedDelivery,
  DELIVERIES_BY_ID,
  DELIVERY_PAGE,
  DELIVERY_PAGE_BACKWARD,
  ENABLED_ENDPOINTS_OF_TENANTS,
  LOCK_TENANT_ENDPOINTS,
  PENDING_DELIVERIES,
  type WebhookAttemptRecord,
  type WebhookDeliveryRecord,
} from './store.ts';
import { checkWebhookUrl, type LoopbackPolicy } from './url.ts';

/** Deliveries per insert statement. */
const rowsPerInsert = 500;

/**
 * A worker that takes deliveries straight from the publication that queues them, already
 * claimed for it: no claim statement, and no wait for a poll.
 */
export type DeliveryTaker = {
  /** How long a claim keeps other workers away (WebhookSettings.leaseMs). */
  readonly leaseMs: number;
  /**
   * Holds a send slot for this delivery if the worker's limits leave room for it now (free
   * slots, and its endpoint's and organization's in-flight limits); false leaves it due, for any
   * worker. The slot is the delivery's until `take` gets it, or its lease ends.
   */
  reserve(delivery: { id: string; endpointId: string; organizationId: string }): boolean;
  /** Starts sending deliveries claimed for it; called once their publication committed. */
  take(claimed: ClaimedDelivery[]): void;
};

/** What a publication queued: deliveries claimed for the publishing process's worker, and how many are left due for any worker. */
export type QueuedDeliveries = { claimed: ClaimedDelivery[]; due: number };

/**
 * Queues a delivery of each published event to every enabled endpoint of its tenant that asked
 * for its type, in the publishing transaction: an event is owed to its endpoints exactly when
 * it is published. Those the publishing process's worker has room for (`taker.reserve`) are
 * queued already claimed, leased to it (it sends them once the transaction commits; if it dies
 * first, the lease ends and any worker takes them). They are offered to it organization by
 * organization in turn, as CLAIM_DUE takes them, so one tenant's burst does not take the slots
 * of the others published with it. The rest are due at once, for any worker to claim.
 */
async function queueDeliveries(tx: EntityManager, published: readonly PublishedEvent[], taker: DeliveryTaker | null): Promise<QueuedDeliveries> {
  const tenants = [...new Map(published.map((event) => [`${event.organizationId}\u0000${event.mode}`, event])).values()];
  const endpoints = await run(tx, ENABLED_ENDPOINTS_OF_TENANTS, {
    organizationIds: tenants.map((event) => event.organizationId),
    modes: tenants.map((event) => event.mode),
  });
  if (endpoints.length === 0) return { claimed: [], due: 0 };
  const now = new Date();
  // The claim's token, as CLAIM_DUE makes it: whole milliseconds, which a Date keeps exactly.
  const leasedUntil = new Date(now.getTime() + (taker?.leaseMs ?? 0));
  const owed = published.flatMap((event) =>
    endpoints
      .filter((endpoint) => endpoint.organizationId === event.organizationId && endpoint.mode === event.mode && endpoint.events.includes(event.type))
      .map((endpoint) => ({ id: newId('msg'), event, endpoint, handedOff: false })),
  );
  if (taker) {
    // Each organization's first delivery, then each one's second, and so on (a stable sort keeps publication order within a turn).
    const turns = new Map<string, number>();
    const inTurns = owed
      .map((delivery) => {
        const turn = turns.get(delivery.event.organizationId) ?? 0;
        turns.set(delivery.event.organizationId, turn + 1);
        return { delivery, turn };
      })
      .sort((a, b) => a.turn - b.turn);
    for (const { delivery } of inTurns) {
      delivery.handedOff = taker.reserve({ id: delivery.id, endpointId: delivery.endpoint.id, organizationId: delivery.event.organizationId });
    }
  }
  const claimed: ClaimedDelivery[] = owed
    .filter((delivery) => delivery.handedOff)
    .map(({ id, event, endpoint }) => ({
      id,
      endpointId: endpoint.id,
      organizationId: event.organizationId,
      attempts: 1,
      leasedUntil,
      mode: event.mode,
      url: endpoint.url,
      secret: endpoint.secret,
      endpointDisabled: false,
      eventType: event.type,
      payload: event.payload,
      eventCreatedAt: event.createdAt,
    }));
  const rows = owed.map(({ id, event, endpoint, handedOff }) => ({
    id,
    endpoint: endpoint.id,
    event: event.id,
    organization: event.organizationId,
    mode: event.mode,
    status: 'pending' as const,
    attempts: handedOff ? 1 : 0,
    nextAttemptAt: handedOff ? leasedUntil : now,
    createdAt: now,
  }));
  for (let i = 0; i < rows.length; i += rowsPerInsert) await tx.insertMany(WebhookDelivery, rows.slice(i, i + rowsPerInsert));
  return { claimed, due: rows.length - claimed.length };
}

/**
 * What each publication (events/relay.ts) owes webhooks: the deliveries its events owe, queued
 * in its transaction; those `taker` has room for claimed for it, and handed over once the
 * publication committed.
 */
export const deliveryQueue =
  (taker: DeliveryTaker | null) =>
  async (tx: EntityManager, published: readonly PublishedEvent[]): Promise<{ due: boolean; afterCommit: (() => void) | null }> => {
    const queued = await queueDeliveries(tx, published, taker);
    return { due: queued.due > 0, afterCommit: queued.claimed.length > 0 ? () => taker!.take(queued.claimed) : null };
  };

/** Enabled endpoints one tenant may have: each event costs a delivery per endpoint. */
export const maxEnabledEndpoints = 16;
export const maxEndpointDescriptionLength = 500;
/** Deliveries per page of webhookDeliveries, and the default. */
export const maxDeliveriesPerPage = 100;
export const defaultDeliveriesPerPage = 25;
/** The lastError of the pending deliveries an endpoint had when it was disabled. */
export const endpointDisabledError = 'endpoint disabled';
/** The disabledReason of an endpoint its owner disabled. */
const disabledByOwnerReason = 'Disabled with disableWebhookEndpoint. enableWebhookEndpoint turns it back on.';

export type CreateEndpointInput = { url: string; events: readonly OutboxEventType[]; description?: string | null };

/** An endpoint with its signing secret, which the caller sees only now. */
export type EndpointWithSecret = { endpoint: WebhookEndpoint; secret: string };

/**
 * Creates an endpoint and its signing secret. The URL must pass checkWebhookUrl for the key's
 * mode and the operator's loopback policy (SSRF: https to public hosts; test mode also http to
 * loopback, when allowed); at most `maxEnabledEndpoints` may be enabled per organization and
 * mode, counted under a tenant lock so concurrent creations cannot pass it together.
 */
export async function createEndpoint(em: EntityManager, tenant: Tenant, input: CreateEndpointInput, loopback: LoopbackPolicy): Promise<EndpointWithSecret> {
  const checked = checkWebhookUrl(input.url, tenant.mode, loopback);
  if (!checked.ok) throw validationError('url', `${checked.message}.`);
  if (input.events.length === 0) throw validationError('events', 'Name at least one event type.');
  if (new Set(input.events).size !== input.events.length) throw validationError('events', 'Name each event type once.');
  const description = input.description ?? '';
  if (description.length > maxEndpointDescriptionLength) {
    throw validationError('description', `The description is longer than ${maxEndpointDescriptionLength} characters.`);
  }
  // Stored in one order, so an endpoint reads the same however its events were listed.
  const events = outboxEventTypes.filter((type) => input.events.includes(type));
  return em.transactional(async (tx) => {
    await roomForOneMore(tx, tenant);
    const secret = newWebhookSecret();
    const endpoint = tx.create(WebhookEndpoint, {
      id: newId('we'),
      ...tenantWhere(tenant),
      url: checked.url.href,
      events,
      description,
      secret,
      disabledAt: null,
      createdAt: new Date(),
    });
    return { endpoint, secret };
  });
}

/** Takes the tenant's endpoint lock (held to commit), and refuses when it already has its most enabled endpoints. */
async function roomForOneMore(tx: EntityManager, tenant: Tenant): Promise<void> {
  await run(tx, LOCK_TENANT_ENDPOINTS, { organizationId: tenant.organizationId, mode: tenant.mode });
  const enabled = await tx.count(WebhookEndpoint, { ...tenantWhere(tenant), disabledAt: null });
  if (enabled >= maxEnabledEndpoints) {
    throw validationError(null, `An organization may have at most ${maxEnabledEndpoints} enabled webhook endpoints per mode; disable one first.`);
  }
}

/** Every endpoint of the tenant, disabled ones included, newest first. */
export async function listEndpoints(em: EntityManager, tenant: Tenant): Promise<WebhookEndpoint[]> {
  return em.find(WebhookEndpoint, tenantWhere(tenant), { orderBy: { createdAt: 'desc', id: 'desc' } });
}

/** One of the tenant's endpoints; another tenant's id answers webhook_endpoint_not_found, as an unknown one does. */
async function getEndpoint(em: EntityManager, tenant: Tenant, id: string, param = 'id'): Promise<WebhookEndpoint> {
  const endpoint = await em.findOne(WebhookEndpoint, { id, ...tenantWhere(tenant) });
  if (!endpoint) throw new DomainError('webhook_endpoint_not_found', `No webhook endpoint with id '${id}'.`, { param });
  return endpoint;
}

/** The tenant's endpoints among `ids`, by id (node(id:)); ids of other tenants are absent. */
export async function findEndpointsById(em: EntityManager, tenant: Tenant, ids: readonly string[]): Promise<Map<string, WebhookEndpoint>> {
  const endpoints = await em.find(WebhookEndpoint, { id: { $in: [...ids] }, ...tenantWhere(tenant) });
  return new Map(endpoints.map((endpoint) => [endpoint.id, endpoint]));
}

/**
 * Disables an endpoint until enableEndpoint: no new deliveries are queued for it, and the
 * deliveries it still had pending end as failed with lastError 'endpoint disabled' in the same
 * transaction. (A delivery queued by a publication racing this one is failed the same way by the
 * worker that claims it; an attempt in flight finishes, but its result no longer changes the
 * delivery.) Disabling a disabled endpoint changes nothing, its reason included.
 */
export async function disableEndpoint(em: EntityManager, tenant: Tenant, id: string): Promise<WebhookEndpoint> {
  return em.transactional(async (tx) => {
    const endpoint = await getEndpoint(tx, tenant, id);
    if (endpoint.disabledAt) return endpoint;
    const now = new Date();
    endpoint.disabledAt = now;
    endpoint.disabledReason = disabledByOwnerReason;
    await tx.nativeUpdate(
      WebhookDelivery,
      { endpoint: endpoint.id, status: 'pending' },
      { status: 'failed', lastError: endpointDisabledError, completedAt: now },
    );
    return endpoint;
  });
}

/**
 * Turns a disabled endpoint back on, whoever disabled it, with a fresh failure streak: events
 * published from now on are sent to it (those published while it was disabled are not; their
 * deliveries can be sent with redeliver). It counts against `maxEnabledEndpoints` again, and its
 * URL must still pass checkWebhookUrl (conflict when the rules now refuse it). Enabling an
 * enabled endpoint changes nothing.
 */
export async function enableEndpoint(em: EntityManager, tenant: Tenant, id: string, loopback: LoopbackPolicy): Promise<WebhookEndpoint> {
  return em.transactional(async (tx) => {
    const endpoint = await getEndpoint(tx, tenant, id);
    if (!endpoint.disabledAt) return endpoint;
    const checked = checkWebhookUrl(endpoint.url, tenant.mode, loopback);
    if (!checked.ok) {
      throw new DomainError('conflict', `The endpoint's URL is no longer accepted: ${checked.message}. Create an endpoint with an accepted URL instead.`, {
        param: 'id',
      });
    }
    await roomForOneMore(tx, tenant);
    endpoint.disabledAt = null;
    endpoint.disabledReason = null;
    endpoint.consecutiveFailures = 0;
    endpoint.failingSince = null;
    return endpoint;
  });
}

/**
 * Gives an enabled endpoint a new signing secret, returned this once. The old secret stops at
 * once: every attempt from now on, retries of older deliveries included, is signed with the new
 * one (an attempt already in flight was signed with the old one).
 */
export async function rotateSecret(em: EntityManager, tenant: Tenant, id: string): Promise<EndpointWithSecret> {
  const endpoint = await getEndpoint(em, tenant, id);
  if (endpoint.disabledAt) throw new DomainError('conflict', 'The endpoint is disabled and sends nothing; create a new one instead.', { param: 'id' });
  const secret = newWebhookSecret();
  endpoint.secret = secret;
  await em.flush();
  return { endpoint, secret };
}

/** Cursors of an endpoint's deliveries: the delivery's own msg_ id (its webhook-id), which its owner sees anyway. */
const deliveryCursor: CursorKind = { tag: 'whd', idPrefix: 'msg' };

/** Deliveries with their attempts, oldest attempt first: one query for the whole list. */
async function withAttempts(em: EntityManager, deliveries: WebhookDeliveryRecord[]): Promise<WebhookDeliveryRecord[]> {
  if (deliveries.length === 0) return deliveries;
  const attempts = await em.find(
    WebhookAttempt,
    { delivery: { $in: deliveries.map((delivery) => delivery.id) } },
    { orderBy: { attemptedAt: 'asc', id: 'asc' }, disableIdentityMap: true },
  );
  const byDelivery = new Map<string, WebhookAttemptRecord[]>();
  for (const attempt of attempts) {
    const list = byDelivery.get(attempt.delivery.id) ?? [];
    list.push({ id: attempt.id, attemptedAt: attempt.attemptedAt, statusCode: attempt.statusCode, latencyMs: attempt.latencyMs, error: attempt.error });
    byDelivery.set(attempt.delivery.id, list);
  }
  for (const delivery of deliveries) delivery.attempts = byDelivery.get(delivery.id) ?? [];
  return deliveries;
}

/**
 * An endpoint's deliveries, newest first, each with its attempts: `first` after the `after`
 * cursor, or the `last` before the `before` cursor. A cursor is accepted only for the endpoint
 * it came from: one of another endpoint or tenant answers validation_error, exactly as a
 * made-up one does, so it tells nothing. The endpoint, the page with its cursors, and the
 * attempts: three statements, whatever the page.
 */
export async function listDeliveries(
  em: EntityManager,
  tenant: Tenant,
  args: ConnectionArgs & { endpointId: string },
): Promise<Connection<WebhookDeliveryRecord>> {
  const request = pageRequest(args, deliveryCursor, { default: defaultDeliveriesPerPage, max: maxDeliveriesPerPage });
  const endpoint = await getEndpoint(em, tenant, args.endpointId, 'endpointId');
  const rows = await run(em, request.backward ? DELIVERY_PAGE_BACKWARD : DELIVERY_PAGE, {
    organizationId: tenant.organizationId,
    mode: tenant.mode,
    endpointId: endpoint.id,
    afterId: request.afterId,
    beforeId: request.beforeId,
    limit: request.limit,
  });
  const verdict = rows[0]!;
  if (request.afterId && !verdict.afterFound) throw foreignCursor('after');
  if (request.beforeId && !verdict.beforeFound) throw foreignCursor('before');
  const deliveries = rows.flatMap((row) => (row.delivery ? [row.delivery] : []));
  return connectionOf(await withAttempts(em, deliveries), request, deliveryCursor, (delivery) => delivery.id);
}

/** The tenant's deliveries among `ids`, with their attempts, by id (node(id:)): two statements for any number. */
export async function findDeliveriesById(em: EntityManager, tenant: Tenant, ids: readonly string[]): Promise<Map<string, WebhookDeliveryRecord>> {
  const records = await run(em, DELIVERIES_BY_ID, { organizationId: tenant.organizationId, mode: tenant.mode, ids: [...ids] });
  return new Map((await withAttempts(em, records)).map((delivery) => [delivery.id, delivery]));
}

/**
 * Sends a delivery again, now, under the same id (so the same webhook-id: receivers that
 * deduplicate see a repeat). Whatever its state, it becomes pending with a fresh retry schedule;
 * its attempts so far stay listed. An attempt in flight finishes, but no longer settles it.
 * A delivery of a disabled endpoint answers conflict.
 */
export async function redeliver(em: EntityManager, tenant: Tenant, deliveryId: string): Promise<WebhookDeliveryRecord> {
  const delivery = await em.findOne(WebhookDelivery, { id: deliveryId, ...tenantWhere(tenant) }, { populate: ['endpoint'] });
  if (!delivery) throw new DomainError('webhook_delivery_not_found', `No webhook delivery with id '${deliveryId}'.`, { param: 'deliveryId' });
  if (delivery.endpoint.disabledAt) throw new DomainError('conflict', 'The endpoint of this delivery is disabled and sends nothing.', { param: 'deliveryId' });
  delivery.status = 'pending';
  delivery.attempts = 0;
  delivery.nextAttemptAt = new Date();
  delivery.completedAt = null;
  await em.flush();
  const [record] = await run(em, DELIVERIES_BY_ID, { organizationId: tenant.organizationId, mode: tenant.mode, ids: [delivery.id] });
  const [redelivered] = await withAttempts(em, [record!]);
  return redelivered!;
}

/** Deliveries still to be sent or retried, in every tenant, for metrics. */
export async function pendingDeliveries(em: EntityManager): Promise<number> {
  const [row] = await run(em, PENDING_DELIVERIES, {});
  return row!.pending;
}
