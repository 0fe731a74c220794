import type { EntityManager } from '@mikro-orm/postgresql';
import { validationError } from '../common/errors.ts';
import { newId } from '../common/ids.ts';
import { periodic, type Worker } from '../common/workers.ts';
import { run } from '../db/prepared.ts';
import { OutboxEvent, type OutboxEventType } from '../model/events.ts';
import type { Tenant } from '../model/tenant.ts';
import type { Pace } from './feed.ts';
import type { EventHub } from './hub.ts';
import type { ChargeCreatedPayload, LimitReachedPayload, SeatChangedPayload, SeatChangeScheduledPayload, SubscriptionPayload } from './payloads.ts';
import { INSERT_OUTBOX, OUTBOX_BACKLOG, POSITION_OF, PRUNE_PUBLISHED } from './store.ts';

/** A step of a subscription's life, told with the PlanSubscription it left. */
export type SubscriptionOutboxEntry = {
  type:
    | 'subscription.cancellation_scheduled'
    | 'subscription.cancellation_revoked'
    | 'subscription.canceled'
    | 'subscription.plan_changed'
    | 'subscription.plan_change_scheduled'
    | 'subscription.plan_change_revoked';
  payload: SubscriptionPayload;
};

/** What the outbox is told: one thing that happened to one balance, with its public payload. */
export type OutboxEntry = { tenant: Tenant; customerId: string; featureCode: string } & (
  | { type: 'seat.changed'; payload: SeatChangedPayload }
  | { type: 'charge.created'; payload: ChargeCreatedPayload }
  | { type: 'seat.limit_reached'; payload: LimitReachedPayload }
  | SubscriptionOutboxEntry
  | { type: 'seat.change_scheduled'; payload: SeatChangeScheduledPayload }
);

/** An outbox row's data, for the unit of work or for a plain insert. */
const outboxRow = (entry: OutboxEntry) => ({
  id: newId('evt'),
  organization: entry.tenant.organizationId,
  mode: entry.tenant.mode,
  type: entry.type as OutboxEventType,
  customer: entry.customerId,
  featureCode: entry.featureCode,
  payload: entry.payload,
  createdAt: new Date(),
});

/**
 * Adds outbox rows to the unit of work, so the flush that writes a change writes what it tells
 * the world about it: both commit, or neither does.
 */
export function recordOutbox(em: EntityManager, entries: readonly OutboxEntry[]): void {
  for (const entry of entries) em.create(OutboxEvent, outboxRow(entry));
}

/** Writes outbox rows as plain rows, in one statement, in the caller's transaction. */
export async function insertOutbox(em: EntityManager, entries: readonly OutboxEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const rows = entries.map(outboxRow).map((row) => ({
    id: row.id,
    organization_id: row.organization,
    mode: row.mode,
    type: row.type,
    customer_id: row.customer,
    feature_code: row.featureCode,
    payload: row.payload,
    created_at: row.createdAt,
  }));
  await run(em, INSERT_OUTBOX, { rows: JSON.stringify(rows) });
}

/**
 * What a subscription asks for: one tenant's events of some types, maybe of one customer (by its
 * own id) or feature, resumed after an event it saw; `pace` holds the replay to its reader's pace.
 */
export type LiveEventsRequest = {
  types: readonly OutboxEventType[];
  customerId: string | null;
  featureCode: string | null;
  after: string | null;
  pace?: Pace;
};

/**
 * A tenant's events as they are published, each process's changes included; with `after` (the
 * id of the last event the subscriber saw), those published since first, from the outbox.
 */
export async function liveEvents(em: EntityManager, hub: EventHub, tenant: Tenant, request: LiveEventsRequest) {
  let resumeAfter: string | null = null;
  if (request.after !== null) {
    const [seen] = await run(em, POSITION_OF, { organizationId: tenant.organizationId, mode: tenant.mode, id: request.after });
    if (!seen?.position) throw validationError('after', `'${request.after}' is not the id of an event this key has been sent.`);
    resumeAfter = seen.position;
  }
  await hub.start();
  return hub.feed.subscribe(
    { organizationId: tenant.organizationId, mode: tenant.mode, types: request.types, customerId: request.customerId, featureCode: request.featureCode },
    resumeAfter,
    request.pace,
  );
}

/** How long published events are kept: the window a subscriber can resume in, and webhook history. */
const outboxRetentionDays = 7;

/**
 * Forgets published events older than the retention, in bounded passes; returns how many went.
 * `organizationId` limits it to one organization (tests share a database).
 */
export async function pruneOutbox(em: EntityManager, now: Date, organizationId: string | null = null): Promise<number> {
  const before = new Date(now.getTime() - outboxRetentionDays * 86_400_000);
  let pruned = 0;
  for (;;) {
    const gone = await run(em, PRUNE_PUBLISHED, { before, limit: 5000, organizationId });
    pruned += gone.length;
    if (gone.length < 5000) return pruned;
  }
}

/** Prunes the outbox at start and then every hour, as a background worker. */
export const outboxPruning = (
  em: EntityManager,
  options: { everyMs?: number; onError: (error: unknown) => void; onPruned?: (count: number) => void },
): Worker =>
  periodic('outbox-pruning', options.everyMs ?? 3_600_000, async () => options.onPruned?.(await pruneOutbox(em.fork(), new Date())), options.onError);

/** The relay's backlog, for metrics: unpublished rows and the age of the oldest, in seconds. */
export async function outboxBacklog(em: EntityManager): Promise<{ unpublished: number; oldestSeconds: number }> {
  const [backlog] = await run(em, OUTBOX_BACKLOG, {});
  return backlog!;
}
