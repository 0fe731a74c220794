import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Tenant } from '../tenant.js';
import type { Subscription } from './entities.js';
import { renewDueSubscriptions } from '../billing/service.js';
import { findActiveSubscriptions } from './service.js';

export const createSubscriptionLoaders = (em: EntityManager, tenant: Tenant, now: () => Date) => ({
  /** Active subscriptions, renewed first when their period has ended, so periods are never stale. */
  activeSubscriptionByCustomerId: new DataLoader<string, Subscription | null>(async (customerIds) => {
    let found = await findActiveSubscriptions(em, tenant, customerIds);
    const at = now();
    const due = [...found.values()].filter((subscription) => subscription.currentPeriodEnd <= at);
    if (due.length > 0) {
      await renewDueSubscriptions(em, tenant, at, due.map((subscription) => subscription.customer.id));
      found = await findActiveSubscriptions(em, tenant, customerIds, { refresh: true });
    }
    return customerIds.map((id) => found.get(id) ?? null);
  }),
});
