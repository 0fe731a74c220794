import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import { renewDueSubscriptions } from '../billing/service.js';
import type { Tenant } from '../tenant.js';
import { findActiveSubscriptions, type SubscriptionRecord } from './service.js';

export const createSubscriptionLoaders = (em: EntityManager, tenant: Tenant, now: () => Date) => ({
  /** Active subscriptions, renewed first when their period has ended, so periods are never stale. */
  activeSubscriptionByCustomerId: new DataLoader<string, SubscriptionRecord | null>(async (customerIds) => {
    let found = await findActiveSubscriptions(em, tenant, customerIds);
    const at = now();
    const due = [...found.values()].filter((subscription) => subscription.currentPeriodEnd <= at);
    if (due.length > 0) {
      await renewDueSubscriptions(em, tenant, at, due.map((subscription) => subscription.customer.id));
      found = await findActiveSubscriptions(em, tenant, customerIds);
    }
    return customerIds.map((id) => found.get(id) ?? null);
  }),
});
