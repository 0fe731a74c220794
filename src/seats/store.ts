import { epochMs, read, statement } from '../db/prepared.ts';
import type { SeatTerms } from '../model/catalog.ts';
import { customerByRef, type CustomerRefParams, customersNamedBy, parseCustomer } from '../model/customer-refs.ts';
import { customerDisplayId } from '../model/customers.ts';
import type { CustomerRecord, SeatBalanceRecord, SeatEventRecord } from '../model/records.ts';
import type { SeatChangeTiming } from '../model/organization.ts';
import type { SeatBalance, SeatEvent, SeatEventKind } from '../model/seats.ts';
import type { Mode } from '../model/tenant.ts';

const parseTerms = (row: Record<string, unknown>): SeatTerms => ({
  includedSeats: read.int(row.included_seats),
  unlimited: read.bool(row.unlimited),
  overageEnabled: read.bool(row.overage_enabled),
  unitPrice: read.int(row.unit_price),
  minimumSeats: read.int(row.minimum_seats),
  maximumSeats: read.nullableInt(row.maximum_seats),
});

/** One locked balance of a batch, with all a change needs to be decided and priced. */
export type LockedBalance = {
  organizationId: string;
  mode: Mode;
  /** The customer reference the batch asked for (`cus_` id or external id). */
  customerRef: string;
  customer: { id: string; externalId: string | null };
  subscription: { id: string; periodStart: Date; periodEnd: Date; currency: string };
  feature: { id: string; code: string };
  terms: SeatTerms;
  /** The timing of a decrease whose request names none: the tenant's setting. */
  decreaseTiming: SeatChangeTiming;
  /** The balance as locked; a change updates it, and writeSeatChanges stores it. */
  balance: BalanceState;
};

/** What a change reads and writes of a balance row (as SeatBalance names it). */
export type BalanceState = Pick<SeatBalance, 'current' | 'highWaterMark' | 'asOf' | 'scheduledCount' | 'scheduledEffectiveAt' | 'scheduledEventId'>;

/**
 * Locks the balances of a whole batch, of any tenants and customers, in one statement and in the
 * one global order (customer id, feature id) that every writer of balances follows, so batches
 * of different processes never deadlock. The subscription is share-locked as well, in a mode
 * its updates conflict with: a batch that waited for a renewal, a cancel or a plan change then
 * reads the subscription as that writer left it (renewed, ended, on its new plan), not as its
 * statement first saw it. A key-share lock would not conflict with those updates and would keep
 * the stale row. Kept by hand: MikroORM cannot unnest a batch of (tenant, customer, feature) tuples, lock
 * two tables differently, or keep the six-table plan prepared.
 */
export const LOCK_BALANCES = statement<{ organizationIds: string[]; modes: Mode[]; customerRefs: string[]; featureCodes: string[] }, LockedBalance>(
  'lock_balances',
  `select w.organization_id, w.mode, w.customer_ref, c.external_id,
          s.id as subscription_id, s.current_period_start, s.current_period_end, p.currency,
          f.code as feature_code, pf.included_seats, pf.unlimited, pf.overage_enabled, pf.unit_price,
          pf.minimum_seats, pf.maximum_seats, b.customer_id, b.feature_id, b.current, b.high_water_mark, b.as_of,
          b.scheduled_count, b.scheduled_effective_at, b.scheduled_event_id,
          coalesce(os.seat_decrease_timing, 'IMMEDIATELY') as seat_decrease_timing
     from unnest(:organizationIds::text[], :modes::text[], :customerRefs::text[], :featureCodes::text[])
            as w(organization_id, mode, customer_ref, feature_code)
     cross join lateral (${customerByRef('w.organization_id', 'w.mode', 'w.customer_ref')}) c
     join subscription s on s.customer_id = c.id and s.status = 'ACTIVE'
     join plan p on p.id = s.plan_id
     join feature f on f.organization_id = w.organization_id and f.mode = w.mode and f.code = w.feature_code
     join plan_seat_feature pf on pf.plan_id = s.plan_id and pf.feature_id = f.id
     join seat_balance b on b.customer_id = c.id and b.feature_id = f.id
     left join organization_settings os on os.organization_id = w.organization_id and os.mode = w.mode
    order by b.customer_id, b.feature_id
      for update of b for share of s`,
  (row) => ({
    organizationId: read.text(row.organization_id),
    mode: row.mode as Mode,
    customerRef: read.text(row.customer_ref),
    customer: { id: read.text(row.customer_id), externalId: read.nullableText(row.external_id) },
    subscription: {
      id: read.text(row.subscription_id),
      periodStart: read.date(row.current_period_start),
      periodEnd: read.date(row.current_period_end),
      currency: read.text(row.currency),
    },
    feature: { id: read.text(row.feature_id), code: read.text(row.feature_code) },
    terms: parseTerms(row),
    decreaseTiming: row.seat_decrease_timing as SeatChangeTiming,
    balance: {
      current: read.int(row.current),
      highWaterMark: read.int(row.high_water_mark),
      asOf: read.date(row.as_of),
      scheduledCount: read.nullableInt(row.scheduled_count),
      scheduledEffectiveAt: row.scheduled_effective_at === null ? null : read.date(row.scheduled_effective_at),
      scheduledEventId: read.nullableText(row.scheduled_event_id),
    },
  }),
);

/** A seat event to write, as plain data: the ledger row SeatEvent maps (its `customer` as a SeatEvent's, so eventRecordOf takes either). */
export type NewSeatEvent = Pick<SeatEvent, 'id' | 'mode' | 'kind' | 'quantity' | 'previousBalance' | 'newBalance' | 'ts' | 'createdAt'> & {
  organizationId: string;
  customer: { id: string };
  featureId: string;
  subscriptionId: string;
};

/**
 * Writes a batch of seat changes in one round trip: inserts their events in the order given
 * (the ledger's order, which seq keeps) and updates the balances they changed. Kept by hand: the
 * unit of work would send an insert and an update, each with its values written into the text.
 * Both come as JSON arrays.
 */
export const WRITE_SEAT_CHANGES = statement<{ events: string; balances: string }, { events: number; balances: number }>(
  'write_seat_changes',
  `with written as (
     insert into seat_event (id, organization_id, mode, customer_id, feature_id, subscription_id, kind, quantity, previous_balance, new_balance, ts, created_at)
     select e.id, e.organization_id, e.mode, e.customer_id, e.feature_id, e.subscription_id, e.kind, e.quantity, e.previous_balance, e.new_balance, e.ts, e.created_at
       from rows from (jsonb_to_recordset(:events::jsonb) as (
              id text, organization_id text, mode text, customer_id text, feature_id text, subscription_id text,
              kind text, quantity int, previous_balance int, new_balance int, ts timestamptz, created_at timestamptz
            )) with ordinality as e
      order by e.ordinality
     returning 1
   ), updated as (
     update seat_balance b
        set current = x.current, high_water_mark = x.high_water_mark, as_of = x.as_of, scheduled_count = x.scheduled_count,
            scheduled_effective_at = x.scheduled_effective_at, scheduled_event_id = x.scheduled_event_id
       from jsonb_to_recordset(:balances::jsonb) as x(
              customer_id text, feature_id text, current int, high_water_mark int, as_of timestamptz,
              scheduled_count int, scheduled_effective_at timestamptz, scheduled_event_id text
            )
      where b.customer_id = x.customer_id and b.feature_id = x.feature_id
     returning 1
   )
   select (select count(*) from written)::int as events, (select count(*) from updated)::int as balances`,
  (row) => ({ events: read.int(row.events), balances: read.int(row.balances) }),
);

/** A balance row's record; `customer` gives the id the API shows (customerDisplayId). */
function parseBalance(row: Record<string, unknown>, customer: { id: string; externalId: string | null }, mode: Mode): SeatBalanceRecord {
  return {
    customerRowId: customer.id,
    customerId: customerDisplayId(customer),
    featureCode: read.text(row.feature_code),
    current: read.int(row.current),
    includedSeats: read.int(row.included_seats),
    unlimited: read.bool(row.unlimited),
    asOf: read.date(row.as_of),
    mode,
    scheduledChange:
      row.scheduled_count === null || row.scheduled_count === undefined
        ? null
        : { count: read.int(row.scheduled_count), effectiveAt: read.date(row.scheduled_effective_at) },
  };
}

/**
 * The plan a customer's balances are read under: its active subscription's, or else the one that
 * ended most recently (its balances stay readable as they were when it ended). Through
 * subscription_customer_latest_index, one row per customer.
 */
const latestSubscriptionOf = (customerId: string) =>
  `select s.plan_id, s.status, s.current_period_end from subscription s where s.customer_id = ${customerId} order by s.ended_at desc nulls first, s.created_at desc limit 1`;

/**
 * A balance's scheduled decrease, as its reads show it: only one for the end of its active
 * subscription's current period counts. One left by a subscription that ended is never applied.
 */
const scheduledColumns = (balance: string, subscription: string) => {
  const live = `${subscription}.status = 'ACTIVE' and ${balance}.scheduled_effective_at = ${subscription}.current_period_end`;
  return `case when ${live} then ${balance}.scheduled_count end as scheduled_count,
          ${epochMs(`case when ${live} then ${balance}.scheduled_effective_at end`, 'scheduled_effective_at')}`;
};

/** A balance of READ_BALANCES, under its customer's own id, with all its plan terms for what bills it. */
export type PricedBalance = { customerRowId: string; balance: SeatBalanceRecord; terms: SeatTerms };

/** Every balance of the given customers' active (else last ended) subscriptions, one query for any number of them. */
export const READ_BALANCES = statement<{ organizationId: string; mode: Mode; customerIds: string[] }, PricedBalance>(
  'read_balances',
  `select c.id as customer_id, c.external_id, f.code as feature_code, pf.included_seats, pf.unlimited, pf.overage_enabled,
          pf.unit_price, pf.minimum_seats, pf.maximum_seats, b.current, ${epochMs('b.as_of', 'as_of')}, c.mode,
          ${scheduledColumns('b', 's')}
     from unnest(:customerIds::text[]) as r(id)
     join customer c on c.id = r.id and c.organization_id = :organizationId and c.mode = :mode
     cross join lateral (${latestSubscriptionOf('c.id')}) s
     join plan_seat_feature pf on pf.plan_id = s.plan_id
     join feature f on f.id = pf.feature_id
     join seat_balance b on b.customer_id = c.id and b.feature_id = f.id
    order by c.id, f.code`,
  (row) => {
    const customer = { id: read.text(row.customer_id), externalId: read.nullableText(row.external_id) };
    return { customerRowId: customer.id, balance: parseBalance(row, customer, row.mode as Mode), terms: parseTerms(row) };
  },
);

/**
 * A customer read with its balances: one row per balance, or one row with `balance` null. Each
 * row's customer is a new object, to which the reader adds the balances of its other rows.
 */
export type CustomerBalanceRow = { customer: CustomerRecord & { seatBalances: SeatBalanceRecord[] }; balance: SeatBalanceRecord | null };

/**
 * Customers by reference with every balance of their active (else last ended) subscriptions, in one statement: the
 * batched read that most queries of this service make (customers(ids) { seatBalances }).
 */
export const CUSTOMERS_WITH_BALANCES = statement<CustomerRefParams, CustomerBalanceRow>(
  'customers_with_balances',
  `select c.id, c.external_id, c.name, c.created_at, c.mode, x.feature_code, x.included_seats, x.unlimited, x.current, x.as_of,
          x.scheduled_count, x.scheduled_effective_at
     from (${customersNamedBy(':organizationId::text', ':mode::text', ':ids::text[]', ':externalIds::text[]')}) c
     left join lateral (
       select f.code as feature_code, pf.included_seats, pf.unlimited, b.current, ${epochMs('b.as_of', 'as_of')},
              ${scheduledColumns('b', 's')}
         from (${latestSubscriptionOf('c.id')}) s
         join plan_seat_feature pf on pf.plan_id = s.plan_id
         join feature f on f.id = pf.feature_id
         join seat_balance b on b.customer_id = c.id and b.feature_id = f.id
        -- A fence: the balances of one customer at a time, by index, so a customer costs the
        -- same however many are asked for. Flattened, the one plan made for any number of refs
        -- hashes all the tenant's subscriptions and balances: a little cheaper for a hundred
        -- refs on a small tenant, much dearer for one, the commonest read (docs/performance.md).
        offset 0
     ) x on true
    order by c.id, x.feature_code`,
  (row) => {
    // Built in their final shape, fields spelled out (a spread is several times slower): a
    // hundred customers per request.
    const { id, externalId, name, createdAt, mode } = parseCustomer(row);
    const customer = { id, externalId, name, createdAt, mode, seatBalances: [] as SeatBalanceRecord[] };
    const balance = row.feature_code === null ? null : parseBalance(row, customer, mode);
    return { customer, balance };
  },
);

const eventColumns = `e.id, e.seq, e.kind, e.quantity, e.previous_balance, e.new_balance, e.ts, e.created_at, e.mode,
  f.code as feature_code, c.id as customer_id, c.external_id`;
const eventJoins = `seat_event e join feature f on f.id = e.feature_id join customer c on c.id = e.customer_id`;

/** A recorded event, under the names callers know its customer and feature by. */
const parseEvent = (row: Record<string, unknown>): SeatEventRecord => ({
  id: read.text(row.id),
  customerRowId: read.text(row.customer_id),
  customerId: customerDisplayId({ id: read.text(row.customer_id), externalId: read.nullableText(row.external_id) }),
  featureCode: read.text(row.feature_code),
  kind: row.kind as SeatEventKind,
  quantity: read.int(row.quantity),
  previousBalance: read.int(row.previous_balance),
  newBalance: read.int(row.new_balance),
  ts: read.date(row.ts),
  createdAt: read.date(row.created_at),
  mode: row.mode as Mode,
});

/** A row of a ledger page: whether each cursor named an event of the list, and one event of the page (null when it is empty). */
type EventPageRow = { afterFound: boolean; beforeFound: boolean; event: SeatEventRecord | null };

type EventPageParams = {
  organizationId: string;
  mode: Mode;
  customerId: string;
  featureId?: string;
  /** The events the cursors name (sev_ ids), or null. */
  afterId: string | null;
  beforeId: string | null;
  limit: number;
};

/**
 * One page of a customer's ledger (or of one balance of it), between the events the cursors
 * name: newest first from `after` (forward), or oldest first from `before` (backward). Each cursor
 * is looked up in the same statement, among the list's own events only (this organization, mode,
 * customer and, filtered, feature), so a cursor of any other list is not found: the row says so,
 * and the caller refuses it. The first row always comes, so the verdict comes with an empty page
 * too. Ordering key and bounds are the ledger's own column, read through
 * seat_event_customer_seq_index (or _customer_feature_seq_index) from the cursor on: no offset.
 */
const eventPage = (name: string, { byFeature, backward }: { byFeature: boolean; backward: boolean }) => {
  const ofList = (alias: string) => `${alias}.customer_id = :customerId${byFeature ? ` and ${alias}.feature_id = :featureId` : ''}`;
  const cursor = (param: string) =>
    `(select c.seq from seat_event c where c.id = cast(:${param} as text) and c.organization_id = :organizationId and c.mode = :mode and ${ofList('c')})`;
  const order = backward ? 'asc' : 'desc';
  return statement<EventPageParams, EventPageRow>(
    name,
    `select b.after_seq is not null as after_found, b.before_seq is not null as before_found, page.*
       from (select ${cursor('afterId')} as after_seq, ${cursor('beforeId')} as before_seq) b
       left join lateral (
         select ${eventColumns} from ${eventJoins}
          where ${ofList('e')}
            and e.seq < coalesce(b.after_seq, 9223372036854775807) and e.seq > coalesce(b.before_seq, 0)
          order by e.seq ${order}
          limit :limit
       ) page on true
      order by page.seq ${order}`,
    (row) => ({ afterFound: read.bool(row.after_found), beforeFound: read.bool(row.before_found), event: row.id === null ? null : parseEvent(row) }),
  );
};

export const EVENTS_OF_CUSTOMER = eventPage('events_of_customer', { byFeature: false, backward: false });
export const EVENTS_OF_CUSTOMER_BACKWARD = eventPage('events_of_customer_backward', { byFeature: false, backward: true });
/** The same pages restricted to one balance, with an index of its own. */
export const EVENTS_OF_BALANCE = eventPage('events_of_balance', { byFeature: true, backward: false });
export const EVENTS_OF_BALANCE_BACKWARD = eventPage('events_of_balance_backward', { byFeature: true, backward: true });

export const EVENTS_BY_ID = statement<{ organizationId: string; mode: Mode; ids: string[] }, SeatEventRecord>(
  'events_by_id',
  `select ${eventColumns} from ${eventJoins}
    where e.organization_id = :organizationId and e.mode = :mode and e.id = any(:ids::text[])`,
  parseEvent,
);

/**
 * Scheduled decreases by id, as their callers were told: the SET event each would record at its
 * effectiveAt. Replays of the calls that scheduled them read these.
 */
export const SCHEDULED_CHANGES_BY_ID = statement<{ organizationId: string; mode: Mode; ids: string[] }, SeatEventRecord>(
  'scheduled_changes_by_id',
  `select x.id, x.count, x.previous_balance, x.effective_at, x.created_at, x.mode, f.code as feature_code, c.id as customer_id, c.external_id
     from seat_scheduled_change x join feature f on f.id = x.feature_id join customer c on c.id = x.customer_id
    where x.organization_id = :organizationId and x.mode = :mode and x.id = any(:ids::text[])`,
  (row) => ({
    id: read.text(row.id),
    customerRowId: read.text(row.customer_id),
    customerId: customerDisplayId({ id: read.text(row.customer_id), externalId: read.nullableText(row.external_id) }),
    featureCode: read.text(row.feature_code),
    kind: 'SET',
    quantity: read.int(row.count),
    previousBalance: read.int(row.previous_balance),
    newBalance: read.int(row.count),
    ts: read.date(row.effective_at),
    createdAt: read.date(row.created_at),
    mode: row.mode as Mode,
    charge: null,
    scheduled: true,
  }),
);
