import type { EntityManager } from '@mikro-orm/postgresql';
import { newId } from '../common/ids.ts';
import { run } from '../db/prepared.ts';
import { SeatCharge } from '../model/billing.ts';
import type { Customer } from '../model/customers.ts';
import type { Feature } from '../model/catalog.ts';
import type { ChargeTerms, SeatChargeRecord } from '../model/records.ts';
import type { SeatEvent } from '../model/seats.ts';
import type { Subscription } from '../model/subscriptions.ts';
import type { Tenant } from '../model/tenant.ts';
import type { PlannedCharge } from './proration.ts';
import { CHARGES_BY_EVENT, CHARGES_BY_ID, CHARGES_OF_CUSTOMER, TRUE_UPS_OF_PERIOD } from './store.ts';

type Ref<T> = T | string;

/** What a charge is for: the rows it points at, when it took effect, and the names callers know them by. */
export type ChargeRefs = {
  subscription: Ref<Subscription>;
  customer: Ref<Customer>;
  feature: Ref<Feature>;
  /** The seat event that caused the charge, if one did: written before, or by the same flush. */
  event: Ref<SeatEvent> | null;
  currency: string;
  ts: Date;
  names: { customerId: string; featureCode: string };
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

/**
 * A planned charge made ready to write: its row, with everything that explains its amount, and
 * its record, as callers and the outbox see it. Both come from the one planned charge.
 */
export function newCharge(tenant: Tenant, charge: PlannedCharge, on: ChargeRefs) {
  const terms = chargeTerms(charge);
  const id = newId('chg');
  const createdAt = new Date();
  const row = {
    ...terms,
    id,
    organization: tenant.organizationId,
    mode: tenant.mode,
    subscription: on.subscription,
    customer: on.customer,
    feature: on.feature,
    event: on.event,
    currency: on.currency,
    ts: on.ts,
    createdAt,
  };
  const record: SeatChargeRecord = {
    ...terms,
    id,
    ...on.names,
    currency: on.currency,
    eventId: typeof on.event === 'string' ? on.event : (on.event?.id ?? null),
    ts: on.ts,
    createdAt,
    mode: tenant.mode,
  };
  return { row, record };
}

/** Adds a charge to the unit of work, and answers its record. */
export function recordCharge(em: EntityManager, tenant: Tenant, charge: PlannedCharge, on: ChargeRefs): SeatChargeRecord {
  const { row, record } = newCharge(tenant, charge, on);
  em.create(SeatCharge, row);
  return record;
}

/** Writes charges as plain rows, in one statement: nothing changes them afterwards, so the unit of work need not track them. */
export async function insertCharges(em: EntityManager, rows: ReturnType<typeof newCharge>['row'][]): Promise<void> {
  await em.insertMany(SeatCharge, rows);
}

export const maxChargesPerQuery = 1000;

/** A customer's charges (by its own id) with `from <= ts < to`, oldest first, at most maxChargesPerQuery. */
export function chargesOfCustomer(em: EntityManager, customerId: string, range: { from?: Date | null; to?: Date | null }): Promise<SeatChargeRecord[]> {
  return run(em, CHARGES_OF_CUSTOMER, { customerId, from: range.from ?? null, to: range.to ?? null, limit: maxChargesPerQuery });
}

/** The true-ups a subscription recorded in the period starting at `periodStart`, oldest first. */
export function trueUpsOfPeriod(em: EntityManager, subscriptionId: string, periodStart: Date): Promise<SeatChargeRecord[]> {
  return run(em, TRUE_UPS_OF_PERIOD, { subscriptionId, periodStart });
}

/** The charge each event caused, for any number of events in one query. */
export async function chargesByEventIds(em: EntityManager, tenant: Tenant, eventIds: readonly string[]): Promise<Map<string, SeatChargeRecord>> {
  const charges = await run(em, CHARGES_BY_EVENT, { organizationId: tenant.organizationId, mode: tenant.mode, eventIds: [...eventIds] });
  return new Map(charges.map((charge) => [charge.eventId!, charge]));
}

/** Charges by id, in one query; ids the tenant has none of are absent. */
export async function chargesById(em: EntityManager, tenant: Tenant, ids: readonly string[]): Promise<Map<string, SeatChargeRecord>> {
  const charges = await run(em, CHARGES_BY_ID, { organizationId: tenant.organizationId, mode: tenant.mode, ids: [...ids] });
  return new Map(charges.map((charge) => [charge.id, charge]));
}
