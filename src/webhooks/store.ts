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

/**
 * Whether an endpoint's streak, as SETTLE_ATTEMPTS's update computes it from `w` (the endpoint
 * row) and `s` (the batch's streak), has reached either limit.
 */
const failingTooLong = `(case when s.reset then 0 else w.consecutive_failures end + s.failures) >= :disableAfterFailures
  or (s.failures > 0 and (case when s.reset then s.first_failure else coalesce(w.failing_since, s.first_failure) end)
      <= now() - cast(:disableAfterHours as int) * interval '1 hour')`;

/** A delivery a worker has claimed, with all it needs to send it. */
export type ClaimedDelivery = {
  id: string;
  endpointId: string;
  organizationId: string;
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

/** What CLAIM_DUE is told: the free slots, the lease, the limits, and what this process already has in flight. */
export type ClaimParams = {
  limit: number;
  leaseMs: number;
  perEndpoint: number;
  perOrganization: number;
  /** This process's sends in flight (and slots held for a hand-off), by endpoint and by organization: two parallel arrays each. */
  busyEndpoints: string[];
  busyEndpointCounts: number[];
  busyOrganizations: string[];
  busyOrganizationCounts: number[];
};

/**
 * Claims up to `limit` due deliveries in one statement, fairly: at most `perEndpoint` in flight
 * per endpoint and `perOrganization` per organization in this process (counting what it already
 * sends), and round-robin: an organization's turn is the number of sends it would then have in
 * flight, so the one with fewest goes first (oldest first among equals), every organization with
 * due deliveries gets its first before any gets a second, and within an organization its
 * endpoints take turns the same way. So one tenant's backlog, however old and however large,
 * cannot take the slots another tenant's delivery needs, not even one freed slot after another.
 *
 * It walks the endpoints that have pending deliveries (a loose index scan of
 * webhook_delivery_pending_endpoint_index: one probe per endpoint, never one per delivery),
 * and takes each one's oldest due deliveries, as many as the endpoint has room for. Rows another
 * worker is claiming are skipped, not waited for, and each claimed row's next_attempt_at moves
 * out by the lease, so no other worker takes it while it is being sent, and a process that dies
 * with it leaves it to the others once the lease ends. The lease end is cut to milliseconds so
 * that it comes back from JavaScript's Date unchanged, as the token the result is written under.
 */
export const CLAIM_DUE = statement<ClaimParams, ClaimedDelivery>(
  'webhook_claim_due',
  `with recursive endpoint as (
     (select endpoint_id from webhook_delivery where status = 'pending' order by endpoint_id limit 1)
     union all
     select (select d.endpoint_id from webhook_delivery d where d.status = 'pending' and d.endpoint_id > e.endpoint_id order by d.endpoint_id limit 1)
       from endpoint e where e.endpoint_id is not null
   ), busy_endpoint as (
     select * from unnest(cast(:busyEndpoints as text[]), cast(:busyEndpointCounts as int[])) as b(endpoint_id, busy)
   ), busy_organization as (
     select * from unnest(cast(:busyOrganizations as text[]), cast(:busyOrganizationCounts as int[])) as b(organization_id, busy)
   ), candidate as (
     select c.* from endpoint e
       left join busy_endpoint be on be.endpoint_id = e.endpoint_id
      cross join lateral (
        select d.id, d.endpoint_id, d.organization_id, d.next_attempt_at
          from webhook_delivery d
         where d.endpoint_id = e.endpoint_id and d.status = 'pending' and d.next_attempt_at <= now()
           and d.organization_id not in (select organization_id from busy_organization where busy >= :perOrganization)
         order by d.next_attempt_at
         limit greatest(cast(:perEndpoint as int) - coalesce(be.busy, 0), 0)
         for update skip locked
      ) c
      where e.endpoint_id is not null
   ), turn as (
     select c.*, coalesce(bo.busy, 0) + row_number() over (partition by c.organization_id order by c.endpoint_turn, c.next_attempt_at, c.id) as organization_turn
       from (select c.*, coalesce(be.busy, 0) + row_number() over (partition by c.endpoint_id order by c.next_attempt_at, c.id) as endpoint_turn
               from candidate c left join busy_endpoint be on be.endpoint_id = c.endpoint_id) c
       left join busy_organization bo on bo.organization_id = c.organization_id
   ), due as (
     select t.id from turn t
      where t.organization_turn <= :perOrganization
      order by t.organization_turn, t.next_attempt_at, t.id
      limit :limit
   ), ${unflushed}
   update webhook_delivery d
      set next_attempt_at = date_trunc('milliseconds', now() + cast(:leaseMs as integer) * interval '1 millisecond'),
          attempts = d.attempts + 1
     from due, webhook_endpoint w, outbox_event o, unflushed
    where d.id = due.id and w.id = d.endpoint_id and o.id = d.event_id
   returning d.id, d.endpoint_id, d.organization_id, d.attempts, d.next_attempt_at, d.mode, w.url, w.secret, w.disabled_at, o.type, o.payload, o.created_at`,
  (row) => ({
    id: read.text(row.id),
    endpointId: read.text(row.endpoint_id),
    organizationId: read.text(row.organization_id),
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
  endpointId: string;
  /** Whose endpoint it is, for what is said when the endpoint is disabled (not written). */
  organizationId: string;
  mode: Mode;
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

/** When an endpoint is disabled for failing (WebhookSettings.disableAfterFailures, disableAfterHours). */
export type DisablePolicy = { disableAfterFailures: number; disableAfterHours: number };

/** What SETTLE_ATTEMPTS answers per result: whether its delivery moved, and whether its endpoint was disabled by this very statement, and why. */
export type SettledResult = { id: string; settled: boolean; endpointDisabled: boolean; disabledReason: string | null };

/**
 * Records attempts and settles their deliveries, a batch in one round trip; the results travel
 * as one JSON array of named fields. A delivery changes only if its claim still holds (still
 * pending, next_attempt_at still the lease end): one that was redelivered, disabled or taken
 * over after its lease ran out keeps its newer state. An attempt is recorded either way, since
 * it was made; `settled` says whether its delivery moved.
 *
 * It also keeps each enabled endpoint's failure streak: a success ends it; failures after the
 * batch's last success lengthen it (consecutive_failures, and failing_since: the first failure
 * of the streak). An endpoint whose streak reaches `disableAfterFailures`, or whose failures have
 * lasted `disableAfterHours`, is disabled here, with its reason. The streak is computed in the
 * update's own SET, from the row as it is when locked, so workers settling the same endpoint at
 * once add up rather than overwrite each other. An endpoint whose streak is and stays empty (the
 * usual success) is not written at all.
 */
export const SETTLE_ATTEMPTS = statement<{ results: string } & DisablePolicy, SettledResult>(
  'webhook_settle_attempts',
  `with result as (
     select * from jsonb_to_recordset(cast(:results as jsonb)) as r(
       id text, endpoint_id text, leased_until timestamptz, status text, retry_in_ms double precision, status_code integer,
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
   ), outcome as (
     select r.endpoint_id, r.attempted_at, r.status = 'succeeded' as ok,
            coalesce(r.error, 'HTTP ' || r.status_code) as failure,
            max(r.attempted_at) filter (where r.status = 'succeeded') over (partition by r.endpoint_id) as last_success
       from result r
      where r.record_attempt
   ), streak as (
     select endpoint_id, bool_or(ok) as reset,
            count(*) filter (where not ok and attempted_at > coalesce(last_success, '-infinity')) as failures,
            min(attempted_at) filter (where not ok and attempted_at > coalesce(last_success, '-infinity')) as first_failure,
            (array_agg(failure order by attempted_at desc) filter (where not ok))[1] as last_failure
       from outcome
      group by endpoint_id
   ), streaked as (
     update webhook_endpoint w
        set consecutive_failures = case when s.reset then 0 else w.consecutive_failures end + s.failures,
            failing_since = case when s.reset then s.first_failure else coalesce(w.failing_since, s.first_failure) end,
            disabled_at = case when ${failingTooLong} then now() end,
            disabled_reason = case
              when (case when s.reset then 0 else w.consecutive_failures end + s.failures) >= :disableAfterFailures
                then format('Disabled automatically: %s attempts in a row failed (the last: %s). Fix the receiver, then call enableWebhookEndpoint.',
                            case when s.reset then 0 else w.consecutive_failures end + s.failures, s.last_failure)
              when ${failingTooLong}
                then format('Disabled automatically: every attempt failed for %s hours (the last: %s). Fix the receiver, then call enableWebhookEndpoint.',
                            cast(:disableAfterHours as int), s.last_failure)
            end
       from streak s
      where w.id = s.endpoint_id and w.disabled_at is null
        and (s.failures > 0 or w.consecutive_failures > 0 or w.failing_since is not null)
     returning w.id, w.disabled_at is not null as disabled, w.disabled_reason
   )
   select r.id, exists (select 1 from settled s where s.id = r.id) as settled,
          coalesce(x.disabled, false) as endpoint_disabled, x.disabled_reason
     from result r cross join unflushed left join streaked x on x.id = r.endpoint_id`,
  (row) => ({
    id: read.text(row.id),
    settled: read.bool(row.settled),
    endpointDisabled: read.bool(row.endpoint_disabled),
    disabledReason: read.nullableText(row.disabled_reason),
  }),
);

/** The JSON SETTLE_ATTEMPTS reads: one object per result, named as its columns. */
export const attemptResultsJson = (results: readonly AttemptResult[]): string =>
  JSON.stringify(
    results.map((r) => ({
      id: r.id,
      endpoint_id: r.endpointId,
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

/**
 * Ends the pending deliveries of endpoints that were just disabled, as disableEndpoint does in
 * its transaction: FAILED with lastError 'endpoint disabled'. An attempt of one still in flight
 * finishes, but no longer settles it.
 */
export const FAIL_PENDING_OF_ENDPOINTS = statement<{ endpointIds: string[]; error: string }, { failed: number }>(
  'webhook_fail_pending_of_endpoints',
  `with failed as (
     update webhook_delivery set status = 'failed', last_error = :error, completed_at = now()
      where endpoint_id = any(cast(:endpointIds as text[])) and status = 'pending'
     returning 1
   )
   select count(*)::int as failed from failed`,
  (row) => ({ failed: read.int(row.failed) }),
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
