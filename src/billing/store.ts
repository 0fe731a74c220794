import { read, statement } from '../db/prepared.ts';
import { customerDisplayId } from '../model/customers.ts';
import type { Mode } from '../model/tenant.ts';
import type { SeatChargeKind } from '../model/billing.ts';
import type { SeatChargeRecord } from '../model/records.ts';

// Charges are read joined with their feature and customer, so each comes back as callers see it.
const chargeColumns = `ch.id, ch.kind, ch.quantity, ch.unit_price, ch.days_remaining, ch.days_in_period, ch.period_start,
  ch.period_end, ch.amount, ch.currency, ch.event_id, ch.ts, ch.created_at, ch.mode, f.code as feature_code, c.id as customer_id, c.external_id`;
const chargeJoins = `seat_charge ch join feature f on f.id = ch.feature_id join customer c on c.id = ch.customer_id`;

const parseCharge = (row: Record<string, unknown>): SeatChargeRecord => ({
  id: read.text(row.id),
  customerId: customerDisplayId({ id: read.text(row.customer_id), externalId: read.nullableText(row.external_id) }),
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
