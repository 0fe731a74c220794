import DataLoader from 'dataloader';
import type { RequestScope } from '../model/tenant.ts';
import { refListLoader } from '../common/list-loader.ts';
import type { SeatBalanceRecord, SeatEventRecord } from '../model/records.ts';
import { parseSeatBalanceId } from './balance-id.ts';
import { findEventsById } from './ledger.ts';
import { type CustomerWithSeatBalances, readBalances, readCustomersWithBalances } from './service.ts';

export const createSeatLoaders = (scope: RequestScope) => {
  /** Every balance of a customer's active subscription, for any number of customers in one query. */
  const seatBalancesByCustomerId = new DataLoader<string, SeatBalanceRecord[]>(async (customerIds) => {
    const found = await readBalances(scope.em, scope.tenant, customerIds);
    return customerIds.map((id) => found.get(id) ?? []);
  });
  return {
    seatBalancesByCustomerId,
    /**
     * By global id (node(id:)), through the customer's balances: the ids of one request cost one
     * query. Null for an id of another tenant, or of a feature no longer in the customer's plan.
     */
    seatBalanceById: new DataLoader<string, SeatBalanceRecord | null>((ids) =>
      Promise.all(
        ids.map(async (id) => {
          const named = parseSeatBalanceId(id);
          if (!named) return null;
          const balances = await seatBalancesByCustomerId.load(named.customerRowId);
          return balances.find((balance) => balance.featureCode === named.featureCode) ?? null;
        }),
      ),
    ),
    /**
     * Customers by lists of `cus_` ids or external ids, with their balances, in one query; null for
     * each ref the tenant has no customer for. Not primed into seatBalancesByCustomerId: the
     * customers carry their balances (seatBalancesOf).
     */
    customersWithSeatBalancesByRefs: refListLoader<CustomerWithSeatBalances>((refs) => readCustomersWithBalances(scope.em, scope.tenant, refs)),
    /** By sev_ id (node(id:)); null when the tenant has no such event. */
    seatEventById: new DataLoader<string, SeatEventRecord | null>(async (ids) => {
      const found = await findEventsById(scope.em, scope.tenant, ids);
      return ids.map((id) => found.get(id) ?? null);
    }),
  };
};
