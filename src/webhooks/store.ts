import { read, statement } from '../db/prepared.ts';
import type { OutboxEventType } from '../model/events.ts';
import type { Mode } from '../model/tenant.ts';
import type { WebhookDeliveryStatus } from '../model/webhooks.ts';

// Kept by hand: MikroORM has no word for SKIP LOCKED in an update's subquery, a batch of
// conditional updates and inserts in one round trip, an advisory lock, or a row-value
// comparison against a cursor row.

/**
 * Serializes endpoint creation within one tenant, held to commit, so two concurrent creations
 * cannot both see 15 enabled endpoints and make 17. A key of its own (two int4 halves: a space
 * apart from the outbox publisher's single bigint key), so other tenants never wait.
 */
export const LOCK_TENANT_ENDPOINTS = statement<{ organizationId: string; mode: Mode }, null>(
  'webhook_lock_tenant_endpoints',
  `select pg_advisory_xact_lock(730584, hashtext(cast(:organizationId as text) || '/' || cast(:mode as text)))`,
  () => null,
);

/** An enabled endpoint, as a publication needs it to owe and send deliveries. */
export type EndpointTarget = { id: string; organizationId: string; mode: Mode; events: OutboxEventType[]; url: string; secret: string };

/**
 * The enabled endpoints of the tenants a publication touches. It runs in every publication, one
 * per write transaction, so it is prepared: as a MikroORM find it was planned on each call, and
 * building and hydrating the query was a measurable share of an `addSeats`'s CPU.
 */
export const ENABLED_ENDPOINTS_OF_TENANTS = statement<{ organizationIds: string[]; modes: Mode[] }, EndpointTarget>(
  'webhook_enabled_endpoints_of_tenants',
  `select e.id, e.organization_id, e.mode, e.events, e.url, e.secret
     from unnest(:organizationIds::text[], :modes::text[]) as t(organization_id, mode)
     join webhook_endpoint e on e.organization_id = t.organization_id and e.mode = t.mode and e.disabled_at is null`,
  (row) => ({
    id: read.text(row.id),
    organizationId: read.text(row.organization_id),
    mode: row.mode as Mode,
    events: row.events as OutboxEventType[],
    url: read.text(row.url),
    secret: read.text(row.secret),
  }),
);

/**
 * A CTE that makes its statement's commit skip the wait for the WAL flush (synchronous_commit
 * off, for this transaction only); joined in, so that it runs. Claims and results are
 * bookkeeping of an at-least-once promise: should PostgreSQL itself crash, the last moments of
 * them may be forgotten, and those deliveries are sent again under the same webhook-id. Nothing
 * else is at stake, while waiting for a flush per claim and per result made the WAL the
 * bottleneck of every write, seat changes included. Seat changes and publications still wait.
 */
const unflushed = `unflushed as (select set_config('synchronous_commit', 'off', true))`;

/** A delivery a worker has claimed, with all it needs to send it. */
export type ClaimedDelivery = {
  id: string;
  endpointId: string;
  /** Attempts made, this one included (the claim counts it, so a process that dies mid-send still uses up an attempt). */
  attempts: number;
  /** The claim's lease end, also its token: the result is written only while next_attempt_at still holds it. */
  leasedUntil: Date;
  mode: Mode;
  url: string;
  secret: string;
  endpointDisabled: boolean;
  eventType: OutboxEventType;
  payload: Record<string, unknown>;
  eventCreatedAt: Date;
};

/**
 * Claims up to `limit` due deliveries in one statement: rows another worker is claiming are
 * skipped, not waited for, and each claimed row's next_attempt_at moves out by the lease, so no
 * other worker takes it while it is being sent, and a process that dies with it leaves it to
 * the others once the lease ends. The lease end is cut to milliseconds so that it comes back
 * from JavaScript's Date unchanged, as the token the result is written under. Oldest due first,
 * through webhook_delivery_due_index.
 */
export const CLAIM_DUE = statement<{ limit: number; leaseMs: number }, ClaimedDelivery>(
  'webhook_claim_due',
  `with due as (
     select id from webhook_delivery
      where status = 'pending' and next_attempt_at <= now()
      order by next_attempt_at
      limit :limit
      for update skip locked
   ), ${unflushed}
   update webhook_delivery d
      set next_attempt_at = date_trunc('milliseconds', now() + cast(:leaseMs as integer) * interval '1 millisecond'),
          attempts = d.attempts + 1
     from due, webhook_endpoint w, outbox_event o, unflushed
    where d.id = due.id and w.id = d.endpoint_id and o.id = d.event_id
   returning d.id, d.endpoint_id, d.attempts, d.next_attempt_at, d.mode, w.url, w.secret, w.disabled_at, o.type, o.payload, o.created_at`,
  (row) => ({
    id: read.text(row.id),
    endpointId: read.text(row.endpoint_id),
    attempts: read.int(row.attempts),
    leasedUntil: read.date(row.next_attempt_at),
    mode: row.mode as Mode,
    url: read.text(row.url),
    secret: read.text(row.secret),
    endpointDisabled: row.disabled_at !== null,
    eventType: row.type as OutboxEventType,
    payload: row.payload as Record<string, unknown>,
    eventCreatedAt: read.date(row.created_at),
  }),
);

/** What one attempt came to, and what becomes of its delivery. */
export type AttemptResult = {
  id: string;
  leasedUntil: Date;
  /** succeeded or failed end the delivery; pending schedules the next attempt in retryInMs. */
  status: WebhookDeliveryStatus;
  retryInMs: number | null;
  statusCode: number | null;
  error: string | null;
  /** False when nothing was sent (the endpoint was disabled): the delivery ends without an attempt. */
  recordAttempt: boolean;
  attemptId: string;
  attemptedAt: Date;
  latencyMs: number;
};

/**
 * Records attempts and settles their deliveries, a batch in one round trip; the results travel
 * as one JSON array of named fields. A delivery changes only if its claim still holds (still
 * pending, next_attempt_at still the lease end): one that was redelivered, disabled or taken
 * over after its lease ran out keeps its newer state. An attempt is recorded either way, since
 * it was made; `settled` says whether its delivery moved.
 */
export const SETTLE_ATTEMPTS = statement<{ results: string }, { id: string; settled: boolean }>(
  'webhook_settle_attempts',
  `with result as (
     select * from jsonb_to_recordset(cast(:results as jsonb)) as r(
       id text, leased_until timestamptz, status text, retry_in_ms double precision, status_code integer,
       error text, record_attempt boolean, attempt_id text, attempted_at timestamptz, latency_ms integer)
   ), ${unflushed}, settled as (
     update webhook_delivery d
        set status = r.status,
            next_attempt_at = case when r.status = 'pending' then now() + r.retry_in_ms * interval '1 millisecond' else d.next_attempt_at end,
            completed_at = case when r.status = 'pending' then null else now() end,
            last_status_code = r.status_code,
            last_error = r.error
       from result r
      where d.id = r.id and d.status = 'pending' and d.next_attempt_at = r.leased_until
     returning d.id
   ), recorded as (
     insert into webhook_attempt (id, delivery_id, attempted_at, status_code, latency_ms, error)
     select r.attempt_id, r.id, r.attempted_at, r.status_code, r.latency_ms, r.error
       from result r
      where r.record_attempt and exists (select 1 from webhook_delivery where id = r.id)
   )
   select r.id, exists (select 1 from settled s where s.id = r.id) as settled from result r, unflushed`,
  (row) => ({ id: read.text(row.id), settled: read.bool(row.settled) }),
);

/** The JSON SETTLE_ATTEMPTS reads: one object per result, named as its columns. */
export const attemptResultsJson = (results: readonly AttemptResult[]): string =>
  JSON.stringify(
    results.map((r) => ({
      id: r.id,
      leased_until: r.leasedUntil.toISOString(),
      status: r.status,
      retry_in_ms: r.retryInMs,
      status_code: r.statusCode,
      error: r.error,
      record_attempt: r.recordAttempt,
      attempt_id: r.attemptId,
      attempted_at: r.attemptedAt.toISOString(),
      latency_ms: r.latencyMs,
    })),
  );

/** Milliseconds until the next pending delivery is due (negative when one is due now), or null when none is pending. */
export const NEXT_DUE = statement<Record<string, never>, { waitMs: number | null }>(
  'webhook_next_due',
  `select extract(epoch from min(next_attempt_at) - now()) * 1000 as wait_ms from webhook_delivery where status = 'pending'`,
  (row) => ({ waitMs: row.wait_ms === null ? null : Number(row.wait_ms) }),
);

/** Deliveries still to be sent or retried, in every tenant. */
export const PENDING_DELIVERIES = statement<Record<string, never>, { pending: number }>(
  'webhook_pending_deliveries',
  `select count(*)::int as pending from webhook_delivery where status = 'pending'`,
  (row) => ({ pending: read.int(row.pending) }),
);

/** One HTTP attempt, as webhookDeliveries shows it. */
export type WebhookAttemptRecord = { id: string; attemptedAt: Date; statusCode: number | null; latencyMs: number; error: string | null };

/** A delivery as its endpoint's owner reads it: its attempts are read with a second statement (service.ts, withAttempts). */
export type WebhookDeliveryRecord = {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: OutboxEventType;
  status: WebhookDeliveryStatus;
  /** When the next attempt is due (the claim's lease end while one is in flight); null once it ended. */
  nextAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
  completedAt: Date | null;
  mode: Mode;
  attempts: WebhookAttemptRecord[];
};

const deliveryColumns = `d.id, d.endpoint_id, d.event_id, o.type as event_type, d.status,
  case when d.status = 'pending' then d.next_attempt_at end as next_attempt_at,
  d.last_status_code, d.last_error, d.created_at, d.completed_at, d.mode`;

const parseDelivery = (row: Record<string, unknown>): WebhookDeliveryRecord => ({
  id: read.text(row.id),
  endpointId: read.text(row.endpoint_id),
  eventId: read.text(row.event_id),
  eventType: row.event_type as OutboxEventType,
  status: row.status as WebhookDeliveryStatus,
  nextAttemptAt: row.next_attempt_at === null ? null : read.date(row.next_attempt_at),
  lastStatusCode: (row.last_status_code ?? null) as number | null,
  lastError: read.nullableText(row.last_error),
  createdAt: read.date(row.created_at),
  completedAt: row.completed_at === null ? null : read.date(row.completed_at),
  mode: row.mode as Mode,
  attempts: [],
});

/** A row of a page of deliveries: whether each cursor named a delivery of the list, and one delivery (null when the page is empty). */
type DeliveryPageRow = { afterFound: boolean; beforeFound: boolean; delivery: WebhookDeliveryRecord | null };

type DeliveryPageParams = { organizationId: string; mode: Mode; endpointId: string; afterId: string | null; beforeId: string | null; limit: number };

/**
 * One page of an endpoint's deliveries between the deliveries the cursors name: newest first from
 * `after` (forward), or oldest first from `before` (backward). Each cursor is looked up in the same
 * statement among this endpoint's deliveries of this tenant only, so a cursor of another endpoint
 * or tenant is not found: the row says so, and the caller refuses it. The first row always comes,
 * so the verdict comes with an empty page too. Rows are compared with the cursor's in the
 * database, at the precision times are stored with, through webhook_delivery_endpoint_index.
 */
const deliveryPage = (name: string, backward: boolean) => {
  const cursor = (alias: string, param: string) =>
    `left join webhook_delivery ${alias} on ${alias}.id = cast(:${param} as text) and ${alias}.endpoint_id = :endpointId and ${alias}.organization_id = :organizationId and ${alias}.mode = :mode`;
  const order = backward ? 'asc' : 'desc';
  return statement<DeliveryPageParams, DeliveryPageRow>(
    name,
    `select b.after_at is not null as after_found, b.before_at is not null as before_found, page.*
       from (select a.created_at as after_at, a.id as after_id, z.created_at as before_at, z.id as before_id
               from (select 1) one ${cursor('a', 'afterId')} ${cursor('z', 'beforeId')}) b
       left join lateral (
         select ${deliveryColumns}
           from webhook_delivery d join outbox_event o on o.id = d.event_id
          where d.endpoint_id = :endpointId and d.organization_id = :organizationId and d.mode = :mode
            and (d.created_at, d.id) < (coalesce(b.after_at, 'infinity'), coalesce(b.after_id, ''))
            and (d.created_at, d.id) > (coalesce(b.before_at, '-infinity'), coalesce(b.before_id, ''))
          order by d.created_at ${order}, d.id ${order}
          limit :limit
       ) page on true
      order by page.created_at ${order}, page.id ${order}`,
    (row) => ({ afterFound: read.bool(row.after_found), beforeFound: read.bool(row.before_found), delivery: row.id === null ? null : parseDelivery(row) }),
  );
};

export const DELIVERY_PAGE = deliveryPage('webhook_delivery_page', false);
export const DELIVERY_PAGE_BACKWARD = deliveryPage('webhook_delivery_page_backward', true);

/** A tenant's deliveries by id; ids of other tenants match nothing. */
export const DELIVERIES_BY_ID = statement<{ organizationId: string; mode: Mode; ids: string[] }, WebhookDeliveryRecord>(
  'webhook_deliveries_by_id',
  `select ${deliveryColumns}
     from webhook_delivery d join outbox_event o on o.id = d.event_id
    where d.id = any(:ids::text[]) and d.organization_id = :organizationId and d.mode = :mode`,
  parseDelivery,
);
