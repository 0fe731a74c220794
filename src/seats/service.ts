import { LockMode, QueryOrder } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { run } from '../db/prepared.ts';
import { refsByKind } from '../model/customer-refs.ts';
import type { CustomerRecord, SeatBalanceRecord } from '../model/records.ts';
import { SeatBalance } from '../model/seats.ts';
import type { Tenant } from '../model/tenant.ts';
import { CUSTOMERS_WITH_BALANCES, LOCK_BALANCES, type LockedBalance, type PricedBalance, READ_BALANCES } from './store.ts';

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
