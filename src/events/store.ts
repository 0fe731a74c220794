import { read, statement } from '../db/prepared.ts';
import type { Mode } from '../model/tenant.ts';
import type { OutboxEventType } from '../model/events.ts';
import type { PublishedEvent } from '../model/records.ts';

const publishedEvent = (row: Record<string, unknown>): PublishedEvent => ({
  id: read.text(row.id),
  position: String(row.position),
  organizationId: read.text(row.organization_id),
  mode: row.mode as Mode,
  type: row.type as OutboxEventType,
  customerId: read.text(row.customer_id),
  featureCode: read.text(row.feature_code),
  payload: row.payload as Record<string, unknown>,
  createdAt: read.date(row.created_at),
});

const columns = 'id, position, organization_id, mode, type, customer_id, feature_code, payload, created_at';

// Kept by hand: MikroORM has no word for an advisory lock, a window-numbered update, or the
// prepared plans these run on every notification.

/**
 * Writes outbox rows, given as a JSON array, in one statement and in the order given (seq keeps
 * it, and publication follows seq). Kept by hand: MikroORM would write each payload into the
 * SQL text.
 */
export const INSERT_OUTBOX = statement<{ rows: string }, unknown>(
  'outbox_insert',
  `insert into outbox_event (id, organization_id, mode, type, customer_id, feature_code, payload, created_at)
   select r.id, r.organization_id, r.mode, r.type, r.customer_id, r.feature_code, r.payload, r.created_at
     from rows from (jsonb_to_recordset(:rows::jsonb) as (
            id text, organization_id text, mode text, type text, customer_id text, feature_code text, payload jsonb, created_at timestamptz
          )) with ordinality as r
    order by r.ordinality`,
  () => null,
);

/**
 * One publisher at a time, held to commit: positions are then handed out in commit order, so a
 * reader past position P never later meets a smaller one. It also turns bitmap scans off for
 * the publication: the unpublished index keeps an entry for each published row until vacuum
 * comes, and only a plain index scan marks those dead as it passes, so that the next
 * publication skips them instead of visiting each one's heap page again.
 */
export const LOCK_PUBLISHER = statement<Record<string, never>, unknown>(
  'outbox_lock_publisher',
  `select pg_advisory_xact_lock(7305840001), set_config('enable_bitmapscan', 'off', true)`,
  () => null,
);

/**
 * Gives the oldest unpublished rows the next positions, in insertion order, and tells every
 * process's feed the last of them, delivered at commit (PostgreSQL folds a transaction's
 * identical notifications into one; nothing published, no notice).
 */
export const PUBLISH_PENDING = statement<{ limit: number }, PublishedEvent>(
  'outbox_publish_pending',
  `with pending as (
     select id, row_number() over (order by seq) as n from outbox_event where position is null order by seq limit :limit
   ), base as (
     select coalesce(max(position), 0) as top from outbox_event where position is not null
   ), published as (
     update outbox_event o set position = base.top + pending.n
       from pending, base
      where o.id = pending.id
     returning o.${columns.split(', ').join(', o.')}
   )
   select published.*, pg_notify('seatgate_published', cast(max(position) over () as text)) from published`,
  publishedEvent,
);

/**
 * Tells every process that a publication left webhook deliveries due for any worker (" due"
 * after its last position), so that workers look only then; delivered at commit, after the
 * publication's own notice.
 */
export const NOTIFY_DUE = statement<{ position: string }, unknown>(
  'outbox_notify_due',
  `select pg_notify('seatgate_published', cast(:position as text) || ' due')`,
  () => null,
);

/** What a seatgate_published notification says. */
export type PublishedNotice = { position: string | undefined; due: boolean };

export function parsePublishedNotice(payload: string): PublishedNotice {
  const [position, due] = payload.split(' ');
  return { position: position || undefined, due: due === 'due' };
}

export const LAST_POSITION = statement<Record<string, never>, string>(
  'outbox_last_position',
  `select coalesce(max(position), 0) as position from outbox_event where position is not null`,
  (row) => String(row.position),
);

/** Published rows after a position, of every tenant: what a feed hands its subscribers. */
export const PUBLISHED_AFTER = statement<{ after: string; upTo: string; limit: number }, PublishedEvent>(
  'outbox_published_after',
  `select ${columns} from outbox_event where position > :after and position <= :upTo order by position limit :limit`,
  publishedEvent,
);

/** One tenant's published rows after a position: a resuming subscriber's replay. */
export const TENANT_PUBLISHED_AFTER = statement<
  { organizationId: string; mode: Mode; customerId: string | null; after: string; upTo: string; limit: number },
  PublishedEvent
>(
  'outbox_tenant_published_after',
  `select ${columns} from outbox_event
    where organization_id = :organizationId and mode = :mode and position > :after and position <= :upTo
      and (cast(:customerId as text) is null or customer_id = :customerId)
    order by position limit :limit`,
  publishedEvent,
);

/** Where one of a tenant's events stands, to resume after it. */
export const POSITION_OF = statement<{ organizationId: string; mode: Mode; id: string }, { position: string | null }>(
  'outbox_position_of',
  `select position from outbox_event where organization_id = :organizationId and mode = :mode and id = :id`,
  (row) => ({ position: row.position === null ? null : String(row.position) }),
);

/**
 * Forgets published rows written before `before`, at most `limit` at a time (their webhook
 * deliveries go with them), so one pass never holds many locks for long. A row with a delivery
 * still pending (redelivered late) stays until that delivery ends, but two days past `before` at
 * most: a delivery's retries span about a day, and a redelivery starts them again, so a tenant
 * that kept redelivering could otherwise keep its rows, and the outbox, growing without end.
 */
export const PRUNE_PUBLISHED = statement<{ before: Date; limit: number; organizationId: string | null }, { id: string }>(
  'outbox_prune_published',
  `delete from outbox_event where id in (
     select id from outbox_event
      where created_at < :before and position is not null and (:organizationId::text is null or organization_id = :organizationId::text)
        and (created_at < cast(:before as timestamptz) - interval '2 days'
             or not exists (select 1 from webhook_delivery d where d.event_id = outbox_event.id and d.status = 'pending'))
      limit :limit
   ) returning id`,
  (row) => ({ id: read.text(row.id) }),
);

/** What the relay has yet to publish: how many rows, and how long the oldest has waited. */
export const OUTBOX_BACKLOG = statement<Record<string, never>, { unpublished: number; oldestSeconds: number }>(
  'outbox_backlog',
  `select count(*)::int as unpublished, coalesce(extract(epoch from clock_timestamp() - min(created_at)), 0) as oldest_seconds
     from outbox_event where position is null`,
  (row) => ({ unpublished: read.int(row.unpublished), oldestSeconds: Number(row.oldest_seconds) }),
);
