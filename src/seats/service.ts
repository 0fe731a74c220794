import { LockMode, QueryOrder } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { run } from '../db/prepared.ts';
import { refsByKind } from '../model/customer-refs.ts';
import type { CustomerRecord, SeatBalanceRecord } from '../model/records.ts';
import { SeatBalance, SeatEvent } from '../model/seats.ts';
import { type Tenant, tenantWhere } from '../model/tenant.ts';
import {
  type BalanceState,
  CUSTOMERS_WITH_BALANCES,
  LOCK_BALANCES,
  type LockedBalance,
  type NewSeatEvent,
  type PricedBalance,
  READ_BALANCES,
  WRITE_SEAT_CHANGES,
} from './store.ts';

/** Names one balance of a batch, across tenants: the key `lockBalances` answers by. */
export const balanceKey = (tenant: Tenant, customerRef: string, featureCode: string) =>
  `${tenant.organizationId}\u0000${tenant.mode}\u0000${customerRef}\u0000${featureCode}`;

/**
 * Locks the named balances, of any tenants and customers, in one statement and in the one
 * global order every writer of balances follows; answers them by balanceKey. A balance that
 * cannot be locked (no such customer, feature, active subscription or plan feature) is absent.
 */
export async function lockBalances(
  tx: EntityManager,
  wanted: readonly { tenant: Tenant; customerRef: string; featureCode: string }[],
): Promise<Map<string, LockedBalance>> {
  const rows = await run(tx, LOCK_BALANCES, {
    organizationIds: wanted.map((t) => t.tenant.organizationId),
    modes: wanted.map((t) => t.tenant.mode),
    customerRefs: wanted.map((t) => t.customerRef),
    featureCodes: wanted.map((t) => t.featureCode),
  });
  return new Map(rows.map((row) => [balanceKey(row, row.customerRef, row.feature.code), row]));
}

/** A balance a batch changed: which one, and what it is now. */
export type ChangedBalanceState = { customerId: string; featureId: string; state: BalanceState };

/**
 * Writes a batch's new events, in ledger order, and the balances it changed, in one statement.
 * Fails when a balance was not there to update: a batch writes only balances it locked.
 */
export async function writeSeatChanges(tx: EntityManager, events: readonly NewSeatEvent[], balances: readonly ChangedBalanceState[]): Promise<void> {
  if (events.length === 0 && balances.length === 0) return;
  const [written] = await run(tx, WRITE_SEAT_CHANGES, {
    events: JSON.stringify(
      events.map((event) => ({
        id: event.id,
        organization_id: event.organizationId,
        mode: event.mode,
        customer_id: event.customer.id,
        feature_id: event.featureId,
        subscription_id: event.subscriptionId,
        kind: event.kind,
        quantity: event.quantity,
        previous_balance: event.previousBalance,
        new_balance: event.newBalance,
        ts: event.ts,
        created_at: event.createdAt,
      })),
    ),
    balances: JSON.stringify(
      balances.map(({ customerId, featureId, state }) => ({
        customer_id: customerId,
        feature_id: featureId,
        current: state.current,
        high_water_mark: state.highWaterMark,
        as_of: state.asOf,
        scheduled_count: state.scheduledCount,
        scheduled_effective_at: state.scheduledEffectiveAt,
        scheduled_event_id: state.scheduledEventId,
      })),
    ),
  });
  if (written!.balances !== balances.length) throw new Error(`wrote ${written!.balances} of ${balances.length} changed balances`);
}

/** Every balance of one customer, locked in feature order: the order of LOCK_BALANCES within a customer. */
export function lockBalancesOfCustomer(tx: EntityManager, customerId: string): Promise<SeatBalance[]> {
  return tx.find(SeatBalance, { customer: customerId }, { lockMode: LockMode.PESSIMISTIC_WRITE, orderBy: { feature: QueryOrder.ASC } });
}

/** Every balance of the given customers' active subscriptions, with the plan terms that price it. */
export function pricedBalances(em: EntityManager, tenant: Tenant, customerIds: readonly string[]): Promise<PricedBalance[]> {
  return run(em, READ_BALANCES, { organizationId: tenant.organizationId, mode: tenant.mode, customerIds: [...customerIds] });
}

/** Every seat balance of the given customers' active subscriptions, zero balances included. */
export async function readBalances(em: EntityManager, tenant: Tenant, customerIds: readonly string[]): Promise<Map<string, SeatBalanceRecord[]>> {
  const rows = await pricedBalances(em, tenant, customerIds);
  const byCustomer = new Map<string, SeatBalanceRecord[]>(customerIds.map((id) => [id, []]));
  for (const { customerRowId, balance } of rows) byCustomer.get(customerRowId)?.push(balance);
  return byCustomer;
}

/** A customer read together with its balances (none without an active subscription). */
export type CustomerWithSeatBalances = CustomerRecord & { seatBalances: SeatBalanceRecord[] };

/** Customers by `cus_` id or external id with all their balances, in one query; unknown refs are absent. */
export async function readCustomersWithBalances(em: EntityManager, tenant: Tenant, refs: readonly string[]): Promise<Map<string, CustomerWithSeatBalances>> {
  const rows = await run(em, CUSTOMERS_WITH_BALANCES, { organizationId: tenant.organizationId, mode: tenant.mode, ...refsByKind(new Set(refs)) });
  const byRef = new Map<string, CustomerWithSeatBalances>();
  for (const { customer, balance } of rows) {
    const found = byRef.get(customer.id) ?? customer;
    if (found === customer) {
      byRef.set(customer.id, customer);
      if (customer.externalId !== null) byRef.set(customer.externalId, customer);
    }
    // A customer named by both its ids comes back twice; each balance is kept once.
    if (balance && !found.seatBalances.some((known) => known.featureCode === balance.featureCode)) found.seatBalances.push(balance);
  }
  return byRef;
}

/** Forgets a balance's scheduled decrease: a change applied now replaces it. */
export function clearScheduledDecrease(balance: Pick<SeatBalance, 'scheduledCount' | 'scheduledEffectiveAt' | 'scheduledEventId'>): void {
  balance.scheduledCount = null;
  balance.scheduledEffectiveAt = null;
  balance.scheduledEventId = null;
}

/**
 * Applies, in `tx`'s unit of work, the decreases scheduled for `periodEnd` on the locked balances of
 * one subscription: each balance becomes its scheduled count, recorded as a SET event at
 * `periodEnd` under the id its caller was given. Any other scheduled decrease (one left by a
 * subscription that ended) is dropped. Answers the events recorded, with their balances.
 */
export function applyDueDecreases(
  tx: EntityManager,
  tenant: Tenant,
  subscriptionId: string,
  balances: readonly SeatBalance[],
  periodEnd: Date,
): { balance: SeatBalance; event: SeatEvent }[] {
  const applied: { balance: SeatBalance; event: SeatEvent }[] = [];
  for (const balance of balances) {
    if (balance.scheduledEventId === null) continue;
    const { scheduledCount: count, scheduledEffectiveAt: effectiveAt, scheduledEventId: id } = balance;
    clearScheduledDecrease(balance);
    if (effectiveAt!.getTime() !== periodEnd.getTime() || count! >= balance.current) continue;
    const event = tx.create(SeatEvent, {
      id,
      ...tenantWhere(tenant),
      customer: balance.customer,
      feature: balance.feature,
      subscription: subscriptionId,
      kind: 'SET',
      quantity: count!,
      previousBalance: balance.current,
      newBalance: count!,
      ts: periodEnd,
    });
    balance.current = count!;
    balance.asOf = periodEnd;
    applied.push({ balance, event });
  }
  return applied;
}
