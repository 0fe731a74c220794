import DataLoader from 'dataloader';
import { DomainError } from '../errors.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Tenant } from '../tenant.js';
import { readBalances, type SeatBalanceRecord } from './service.js';

export const createSeatLoaders = (em: EntityManager, tenant: Tenant) => ({
  /** Every balance of a customer's active subscription, for any number of customers in one query. */
  seatBalancesByCustomerId: new DataLoader<string, SeatBalanceRecord[]>(async (customerIds) => {
    const found = await readBalances(em, tenant, customerIds);
    return customerIds.map((id) => found.get(id) ?? []);
  }),
});

type ReadLoaders = ReturnType<typeof createSeatLoaders> &
  ReturnType<typeof import('../catalog/loaders.js').createCatalogLoaders> &
  ReturnType<typeof import('../subscriptions/loaders.js').createSubscriptionLoaders>;

/** One balance through the batched loaders, or the contract error saying why there is none. */
export async function loadSeatBalance(loaders: ReadLoaders, customerId: string, featureCode: string): Promise<SeatBalanceRecord> {
  const balances = await loaders.seatBalancesByCustomerId.load(customerId);
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
