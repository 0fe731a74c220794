import { read, statement } from '../db/prepared.js';
import type { Mode } from '../model/tenant.js';
import type { SeatChargeKind } from '../model/billing.js';
import type { SeatChargeRecord } from './records.js';

// Charges are read joined with their feature and customer, so each comes back as callers see it.
const chargeColumns = `ch.id, ch.kind, ch.quantity, ch.unit_price, ch.days_remaining, ch.days_in_period, ch.period_start,
  ch.period_end, ch.amount, ch.currency, ch.event_id, ch.ts, ch.created_at, ch.mode, f.code as feature_code, c.id as customer_id, c.external_id`;
const chargeJoins = `seat_charge ch join feature f on f.id = ch.feature_id join customer c on c.id = ch.customer_id`;

const parseCharge = (row: Record<string, unknown>): SeatChargeRecord => ({
  id: read.text(row.id),
  customerId: read.nullableText(row.external_id) ?? read.text(row.customer_id),
  featureCode: read.text(row.feature_code),
  kind: row.kind as SeatChargeKind,
  quantity: read.int(row.quantity),
  unitPrice: read.int(row.unit_price),
  daysRemaining: read.int(row.days_remaining),
  daysInPeriod: read.int(row.days_in_period),
  periodStart: read.date(row.period_start),
  periodEnd: read.date(row.period_end),
  amount: read.bigint(row.amount),
  currency: read.text(row.currency),
  eventId: read.nullableText(row.event_id),
  ts: read.date(row.ts),
  createdAt: read.date(row.created_at),
  mode: row.mode as Mode,
});

/** `from` and `to` are optional bounds: null leaves that side open. */
export const CHARGES_OF_CUSTOMER = statement<{ customerId: string; from: Date | null; to: Date | null; limit: number }, SeatChargeRecord>(
  'charges_of_customer',
  `select ${chargeColumns}
     from ${chargeJoins}
    where ch.customer_id = :customerId
      and (:from::timestamptz is null or ch.ts >= :from::timestamptz)
      and (:to::timestamptz is null or ch.ts < :to::timestamptz)
    order by ch.ts, ch.seq
    limit :limit`,
  parseCharge,
);

export const CHARGES_BY_EVENT = statement<{ organizationId: string; mode: Mode; eventIds: string[] }, SeatChargeRecord>(
  'charges_by_event',
  `select ${chargeColumns}
     from ${chargeJoins}
    where ch.organization_id = :organizationId and ch.mode = :mode and ch.event_id = any(:eventIds::text[])`,
  parseCharge,
);

/** Charges by id (node(id:)); ids of other tenants match nothing. */
export const CHARGES_BY_ID = statement<{ organizationId: string; mode: Mode; ids: string[] }, SeatChargeRecord>(
  'charges_by_id',
  `select ${chargeColumns}
     from ${chargeJoins}
    where ch.id = any(:ids::text[]) and ch.organization_id = :organizationId and ch.mode = :mode`,
  parseCharge,
);

export const TRUE_UPS_OF_PERIOD = statement<{ subscriptionId: string; periodStart: Date }, SeatChargeRecord>(
  'true_ups_of_period',
  `select ${chargeColumns}
     from ${chargeJoins}
    where ch.subscription_id = :subscriptionId and ch.period_start = :periodStart and ch.kind = 'TRUE_UP'
    order by ch.seq`,
  parseCharge,
);

/** A subscription whose period has ended, with the tenant it renews for and the clock it runs on. */
/** `frozenAt`: the test clock it runs on, when its organization's test clock was advanced. */
export type DueSubscription = { id: string; customerId: string; organizationId: string; mode: Mode; frozenAt: Date | null };

const parseDue = (row: Record<string, unknown>): DueSubscription => ({
  id: read.text(row.id),
  customerId: read.text(row.customer_id),
  organizationId: read.text(row.organization_id),
  mode: row.mode as Mode,
  frozenAt: row.frozen_at ? read.date(row.frozen_at) : null,
});

/**
 * For the renewal sweeper: subscriptions whose period ended by real time (an index on the
 * period end serves it), but for test ones of an organization whose test clock stands still;
 * and those, whose period ended by that clock.
 */
type DueScope = { now: Date; limit: number; organizationId: string | null };

export const DUE_BY_REAL_TIME = statement<DueScope, DueSubscription>(
  'due_by_real_time',
  `select s.id, s.customer_id, s.organization_id, s.mode, null as frozen_at
     from subscription s
    where s.status = 'ACTIVE' and s.current_period_end <= :now::timestamptz
      and not (s.mode = 'test' and exists (select 1 from test_clock c where c.organization_id = s.organization_id and c.frozen_at is not null))
      and (:organizationId::text is null or s.organization_id = :organizationId::text)
    order by s.current_period_end
    limit :limit`,
  parseDue,
);

export const DUE_BY_TEST_CLOCK = statement<DueScope, DueSubscription>(
  'due_by_test_clock',
  `select s.id, s.customer_id, s.organization_id, s.mode, c.frozen_at
     from test_clock c
     join subscription s on s.organization_id = c.organization_id and s.mode = 'test' and s.status = 'ACTIVE'
    where c.frozen_at is not null and s.current_period_end <= c.frozen_at
      and (:organizationId::text is null or c.organization_id = :organizationId::text)
    order by s.current_period_end
    limit :limit`,
  parseDue,
);
