import type { Mode } from '../tenant.js';
import type { SeatChargeKind } from './entities.js';
import type { PlannedCharge } from './proration.js';

/** What explains a charge's amount: quantity × unitPrice × daysRemaining / daysInPeriod. */
export type ChargeTerms = {
  kind: SeatChargeKind;
  quantity: number;
  unitPrice: number;
  daysRemaining: number;
  daysInPeriod: number;
  periodStart: Date;
  periodEnd: Date;
  amount: number;
};

/** A charge as callers see it. */
export type SeatChargeRecord = ChargeTerms & {
  id: string;
  customerId: string;
  featureCode: string;
  currency: string;
  eventId: string | null;
  ts: Date;
  createdAt: Date;
  mode: Mode;
};

export const chargeTerms = (charge: PlannedCharge): ChargeTerms => ({
  kind: charge.kind,
  quantity: charge.quantity,
  unitPrice: charge.unitPrice,
  daysRemaining: charge.daysRemaining,
  daysInPeriod: charge.daysInPeriod,
  periodStart: charge.period.start,
  periodEnd: charge.period.end,
  amount: charge.amount,
});

/** The columns of a seat_charge row, as jsonb_to_recordset reads them in one insert. */
export type ChargeRow = {
  chargeId: string;
  kind: SeatChargeKind;
  featureId: string;
  eventId: string | null;
  quantity: number;
  unitPrice: number;
  daysRemaining: number;
  daysInPeriod: number;
  periodStart: string;
  periodEnd: string;
  amount: number;
  ts: string;
};

export const chargeRowColumns = `"chargeId" text, kind text, "featureId" text, "eventId" text, quantity int, "unitPrice" int,
  "daysRemaining" int, "daysInPeriod" int, "periodStart" timestamptz, "periodEnd" timestamptz, amount bigint, ts timestamptz`;

export function chargeRow(charge: PlannedCharge, ids: { chargeId: string; featureId: string; eventId: string | null }, ts: Date): ChargeRow {
  return {
    ...ids,
    kind: charge.kind,
    quantity: charge.quantity,
    unitPrice: charge.unitPrice,
    daysRemaining: charge.daysRemaining,
    daysInPeriod: charge.daysInPeriod,
    periodStart: charge.period.start.toISOString(),
    periodEnd: charge.period.end.toISOString(),
    amount: charge.amount,
    ts: ts.toISOString(),
  };
}

export function chargeRecord(
  row: ChargeRow,
  context: { customerId: string; featureCode: string; currency: string; mode: Mode; createdAt: Date },
): SeatChargeRecord {
  return {
    id: row.chargeId,
    customerId: context.customerId,
    featureCode: context.featureCode,
    kind: row.kind,
    quantity: row.quantity,
    unitPrice: row.unitPrice,
    daysRemaining: row.daysRemaining,
    daysInPeriod: row.daysInPeriod,
    periodStart: new Date(row.periodStart),
    periodEnd: new Date(row.periodEnd),
    amount: row.amount,
    currency: context.currency,
    eventId: row.eventId,
    ts: new Date(row.ts),
    createdAt: context.createdAt,
    mode: context.mode,
  };
}

/** Maps a seat_charge row joined with its feature code and customer. */
export function chargeFromRow(row: Record<string, unknown>, mode: Mode): SeatChargeRecord {
  return {
    id: row.id as string,
    customerId: (row.external_id as string | null) ?? (row.customer_id as string),
    featureCode: row.feature_code as string,
    kind: row.kind as SeatChargeKind,
    quantity: row.quantity as number,
    unitPrice: row.unit_price as number,
    daysRemaining: row.days_remaining as number,
    daysInPeriod: row.days_in_period as number,
    periodStart: new Date(row.period_start as string),
    periodEnd: new Date(row.period_end as string),
    amount: Number(row.amount),
    currency: row.currency as string,
    eventId: row.event_id as string | null,
    ts: new Date(row.ts as string),
    createdAt: new Date(row.created_at as string),
    mode,
  };
}

export const chargeColumns = `ch.id, ch.kind, ch.quantity, ch.unit_price, ch.days_remaining, ch.days_in_period, ch.period_start,
  ch.period_end, ch.amount, ch.currency, ch.event_id, ch.ts, ch.created_at, f.code as feature_code, c.id as customer_id, c.external_id`;
