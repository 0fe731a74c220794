import { customerByRef, type CustomerRecord, parseCustomer } from '../customers/store.js';
import { read, statement } from '../db/prepared.js';
import type { Mode } from '../tenant.js';
import type { SeatEventKind } from './entities.js';

/** A balance with the plan terms that bound and price it. */
export type BalanceTerms = { includedSeats: number; unlimited: boolean; overageEnabled: boolean; unitPrice: number };

/** One locked balance of a batch, with all a change needs to be decided and priced. */
export type LockedBalanceRow = {
  organizationId: string;
  mode: Mode;
  /** The customer reference the batch asked for (`cus_` id or external id). */
  customerRef: string;
  customer: { id: string; externalId: string | null };
  subscription: { id: string; periodStart: Date; periodEnd: Date; currency: string };
  feature: { id: string; code: string };
  terms: BalanceTerms;
  /** The seat_balance row as stored, for the unit of work to manage. */
  balance: Record<string, unknown>;
};

/**
 * Locks the balances of a whole batch, of any tenants and customers, in one statement and in the
 * one global order (customer id, feature id) that every writer of balances follows, so batches
 * of different processes never deadlock. The subscription is share-locked as well: that makes a
 * balance that waited for a renewal come back with the renewed period, not the one it started
 * with. Kept by hand: MikroORM cannot unnest a batch of (tenant, customer, feature) tuples, lock
 * two tables differently, or keep the six-table plan prepared.
 */
export const LOCK_BALANCES = statement<
  { organizationIds: string[]; modes: Mode[]; customerRefs: string[]; featureCodes: string[] },
  LockedBalanceRow
>(
  'lock_balances',
  `select w.organization_id, w.mode, w.customer_ref, c.external_id,
          s.id as subscription_id, s.current_period_start, s.current_period_end, p.currency,
          f.code as feature_code, pf.included_seats, pf.unlimited, pf.overage_enabled, pf.unit_price,
          b.customer_id, b.feature_id, b.current, b.high_water_mark, b.as_of
     from unnest(:organizationIds::text[], :modes::text[], :customerRefs::text[], :featureCodes::text[])
            as w(organization_id, mode, customer_ref, feature_code)
     cross join lateral (${customerByRef('w.organization_id', 'w.mode', 'w.customer_ref')}) c
     join subscription s on s.customer_id = c.id and s.status = 'ACTIVE'
     join plan p on p.id = s.plan_id
     join feature f on f.organization_id = w.organization_id and f.mode = w.mode and f.code = w.feature_code
     join plan_seat_feature pf on pf.plan_id = s.plan_id and pf.feature_id = f.id
     join seat_balance b on b.customer_id = c.id and b.feature_id = f.id
    order by b.customer_id, b.feature_id
      for update of b for key share of s`,
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
    terms: {
      includedSeats: read.int(row.included_seats),
      unlimited: read.bool(row.unlimited),
      overageEnabled: read.bool(row.overage_enabled),
      unitPrice: read.int(row.unit_price),
    },
    balance: {
      customer_id: row.customer_id,
      feature_id: row.feature_id,
      organization_id: row.organization_id,
      mode: row.mode,
      current: row.current,
      high_water_mark: row.high_water_mark,
      as_of: row.as_of,
    },
  }),
);

/** A balance as reads return it. */
export type BalanceRow = BalanceTerms & {
  customer: { id: string; externalId: string | null };
  featureCode: string;
  current: number;
  asOf: Date;
  mode: Mode;
};

/** Every balance of the given customers' active subscriptions, one query for any number of them. */
export const READ_BALANCES = statement<{ organizationId: string; mode: Mode; customerIds: string[] }, BalanceRow>(
  'read_balances',
  `select c.id as customer_id, c.external_id, f.code as feature_code, pf.included_seats, pf.unlimited, pf.overage_enabled,
          pf.unit_price, b.current, b.as_of, c.mode
     from unnest(:customerIds::text[]) as r(id)
     join customer c on c.id = r.id and c.organization_id = :organizationId and c.mode = :mode
     join subscription s on s.customer_id = c.id and s.status = 'ACTIVE'
     join plan_seat_feature pf on pf.plan_id = s.plan_id
     join feature f on f.id = pf.feature_id
     join seat_balance b on b.customer_id = c.id and b.feature_id = f.id
    order by c.id, f.code`,
  (row) => parseBalance(row, { id: read.text(row.customer_id), externalId: read.nullableText(row.external_id) }),
);

function parseBalance(row: Record<string, unknown>, customer: BalanceRow['customer']): BalanceRow {
  return {
    customer,
    featureCode: read.text(row.feature_code),
    includedSeats: read.int(row.included_seats),
    unlimited: read.bool(row.unlimited),
    overageEnabled: read.bool(row.overage_enabled),
    unitPrice: read.int(row.unit_price),
    current: read.int(row.current),
    asOf: read.date(row.as_of),
    mode: row.mode as Mode,
  };
}

/** A customer read with its balances: one row per balance, or one row with `balance` null. */
export type CustomerBalanceRow = { ref: string; customer: CustomerRecord; balance: BalanceRow | null };

/**
 * Customers by reference with every balance of their active subscriptions, in one statement: the
 * batched read that most queries of this service make (customers(ids) { seatBalances }).
 */
export const CUSTOMERS_WITH_BALANCES = statement<{ organizationId: string; mode: Mode; refs: string[] }, CustomerBalanceRow>(
  'customers_with_balances',
  `select r.ref, c.id, c.external_id, c.name, c.created_at, c.mode, x.feature_code, x.included_seats, x.unlimited,
          x.overage_enabled, x.unit_price, x.current, x.as_of
     from unnest(:refs::text[]) as r(ref)
     cross join lateral (${customerByRef(':organizationId::text', ':mode::text', 'r.ref')}) c
     left join lateral (
       select f.code as feature_code, pf.included_seats, pf.unlimited, pf.overage_enabled, pf.unit_price, b.current, b.as_of
         from subscription s
         join plan_seat_feature pf on pf.plan_id = s.plan_id
         join feature f on f.id = pf.feature_id
         join seat_balance b on b.customer_id = c.id and b.feature_id = f.id
        where s.customer_id = c.id and s.status = 'ACTIVE'
     ) x on true
    order by c.id, x.feature_code`,
  (row) => {
    const customer = parseCustomer(row);
    return { ref: read.text(row.ref), customer, balance: row.feature_code === null ? null : parseBalance(row, customer) };
  },
);

/** A recorded event, with the names callers know its customer and feature by. */
export type EventRow = {
  id: string;
  seq: string;
  customer: { id: string; externalId: string | null };
  featureCode: string;
  kind: SeatEventKind;
  quantity: number;
  previousBalance: number;
  newBalance: number;
  ts: Date;
  createdAt: Date;
  mode: Mode;
};

const eventColumns = `e.id, e.seq, e.kind, e.quantity, e.previous_balance, e.new_balance, e.ts, e.created_at, e.mode,
  f.code as feature_code, c.id as customer_id, c.external_id`;
const eventJoins = `seat_event e join feature f on f.id = e.feature_id join customer c on c.id = e.customer_id`;

const parseEvent = (row: Record<string, unknown>): EventRow => ({
  id: read.text(row.id),
  seq: String(row.seq),
  customer: { id: read.text(row.customer_id), externalId: read.nullableText(row.external_id) },
  featureCode: read.text(row.feature_code),
  kind: row.kind as SeatEventKind,
  quantity: read.int(row.quantity),
  previousBalance: read.int(row.previous_balance),
  newBalance: read.int(row.new_balance),
  ts: read.date(row.ts),
  createdAt: read.date(row.created_at),
  mode: row.mode as Mode,
});

/** A page of a customer's ledger, newest first, strictly before `beforeSeq`. */
export const EVENTS_OF_CUSTOMER = statement<{ customerId: string; beforeSeq: string; limit: number }, EventRow>(
  'events_of_customer',
  `select ${eventColumns} from ${eventJoins}
    where e.customer_id = :customerId and e.seq < :beforeSeq::bigint
    order by e.seq desc
    limit :limit`,
  parseEvent,
);

/** The same page restricted to one balance, with an index of its own. */
export const EVENTS_OF_BALANCE = statement<{ customerId: string; featureId: string; beforeSeq: string; limit: number }, EventRow>(
  'events_of_balance',
  `select ${eventColumns} from ${eventJoins}
    where e.customer_id = :customerId and e.feature_id = :featureId and e.seq < :beforeSeq::bigint
    order by e.seq desc
    limit :limit`,
  parseEvent,
);

export const EVENTS_BY_ID = statement<{ organizationId: string; mode: Mode; ids: string[] }, EventRow>(
  'events_by_id',
  `select ${eventColumns} from ${eventJoins}
    where e.organization_id = :organizationId and e.mode = :mode and e.id = any(:ids::text[])`,
  parseEvent,
);
