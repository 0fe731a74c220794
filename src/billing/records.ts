import type { Mode } from '../model/tenant.js';
import type { SeatCharge, SeatChargeKind } from '../model/billing.js';
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

type ChargeFields = Pick<
  SeatCharge,
  | 'id'
  | 'kind'
  | 'quantity'
  | 'unitPrice'
  | 'daysRemaining'
  | 'daysInPeriod'
  | 'periodStart'
  | 'periodEnd'
  | 'amount'
  | 'currency'
  | 'ts'
  | 'createdAt'
  | 'mode'
> & { event?: { id: string } | null };

/** A charge just recorded (an entity, or a row about to be inserted), as callers see it; `customerId` is the customer's display id. */
export const chargeRecordOf = (charge: ChargeFields, names: { customerId: string; featureCode: string }): SeatChargeRecord => ({
  id: charge.id,
  customerId: names.customerId,
  featureCode: names.featureCode,
  kind: charge.kind,
  quantity: charge.quantity,
  unitPrice: charge.unitPrice,
  daysRemaining: charge.daysRemaining,
  daysInPeriod: charge.daysInPeriod,
  periodStart: charge.periodStart,
  periodEnd: charge.periodEnd,
  amount: charge.amount,
  currency: charge.currency,
  eventId: charge.event?.id ?? null,
  ts: charge.ts,
  createdAt: charge.createdAt,
  mode: charge.mode,
});
