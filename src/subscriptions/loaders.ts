import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import { renewDueSubscriptions } from '../billing/service.js';
import type { Tenant } from '../tenant.js';
import { findActiveSubscriptions, findSubscriptionsById, type SubscriptionRecord } from './service.js';

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
  /** By sub_ id, any status (node(id:)); active ones whose period has ended are renewed first, as above. */
  subscriptionById: new DataLoader<string, SubscriptionRecord | null>(async (ids) => {
    let found = await findSubscriptionsById(em, tenant, ids);
    const at = now();
    const due = [...found.values()].filter((subscription) => subscription.status === 'ACTIVE' && subscription.currentPeriodEnd <= at);
    if (due.length > 0) {
      await renewDueSubscriptions(em, tenant, at, due.map((subscription) => subscription.customer.id));
      found = await findSubscriptionsById(em, tenant, ids);
    }
    return ids.map((id) => found.get(id) ?? null);
  }),
});
