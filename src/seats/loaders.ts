import DataLoader from 'dataloader';
import type { RequestScope } from '../model/tenant.js';
import { loadOne, refListLoader } from '../common/list-loader.js';
import { customerNotFound } from '../customers/service.js';
import { DomainError } from '../common/errors.js';
import { findEventsById, type SeatEventRecord } from './ledger.js';
import { type CustomerWithSeatBalances, readBalances, readCustomersWithBalances, type SeatBalanceRecord } from './service.js';

export const createSeatLoaders = (scope: RequestScope) => {
  /** Every balance of a customer's active subscription, for any number of customers in one query. */
  const seatBalancesByCustomerId = new DataLoader<string, SeatBalanceRecord[]>(async (customerIds) => {
    const found = await readBalances(scope.em, scope.tenant, customerIds);
    return customerIds.map((id) => found.get(id) ?? []);
  });
  return {
    seatBalancesByCustomerId,
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

type ReadLoaders = ReturnType<typeof createSeatLoaders> &
  ReturnType<typeof import('../catalog/loaders.js').createCatalogLoaders> &
  ReturnType<typeof import('../subscriptions/loaders.js').createSubscriptionLoaders>;

/** A customer with its balances, or customer_not_found. */
export async function loadCustomerWithBalances(loaders: ReadLoaders, ref: string): Promise<CustomerWithSeatBalances> {
  const customer = await loadOne(loaders.customersWithSeatBalancesByRefs, ref);
  if (!customer) throw customerNotFound(ref);
  return customer;
}

/** Every balance of a customer's plan, or the contract error saying why there are none. */
export async function loadSeatBalances(loaders: ReadLoaders, ref: string): Promise<SeatBalanceRecord[]> {
  const customer = await loadCustomerWithBalances(loaders, ref);
  // Balances exist only under an active subscription; none may also mean a plan without seat features.
  if (customer.seatBalances.length === 0 && !(await loaders.activeSubscriptionByCustomerId.load(customer.id))) {
    throw new DomainError('no_active_subscription', `Customer '${ref}' has no active subscription.`, { param: 'customerId' });
  }
  return customer.seatBalances;
}

/** A customer's balances: those read with it, else through the batched loader. */
export const seatBalancesOf = (loaders: ReadLoaders, customer: { id: string; seatBalances?: SeatBalanceRecord[] }) =>
  customer.seatBalances ?? loaders.seatBalancesByCustomerId.load(customer.id);

/** One balance through the batched loaders, or the contract error saying why there is none. */
export async function loadSeatBalance(
  loaders: ReadLoaders,
  customer: { id: string; seatBalances?: SeatBalanceRecord[] },
  featureCode: string,
): Promise<SeatBalanceRecord> {
  const customerId = customer.id;
  const balances = await seatBalancesOf(loaders, customer);
  const balance = balances.find((b) => b.featureCode === featureCode);
  if (balance) return balance;
  if (!(await loaders.featureByCode.load(featureCode))) {
    throw new DomainError('feature_not_found', `No feature with code '${featureCode}'.`, { param: 'featureCode' });
  }
  if (!(await loaders.activeSubscriptionByCustomerId.load(customerId))) {
    throw new DomainError('no_active_subscription', 'The customer has no active subscription.', { param: 'customerId' });
  }
  throw new DomainError('feature_not_in_plan', `Feature '${featureCode}' is not in the customer's plan.`, { param: 'featureCode' });
}
