import DataLoader from 'dataloader';
import type { RequestScope } from '../context.js';
import { renewDueSubscriptions } from '../billing/service.js';
import { findActiveSubscriptions, findSubscriptionsById, type SubscriptionRecord } from './service.js';

export const createSubscriptionLoaders = (scope: RequestScope, now: () => Date) => ({
  /** Active subscriptions, renewed first when their period has ended, so periods are never stale. */
  activeSubscriptionByCustomerId: new DataLoader<string, SubscriptionRecord | null>(async (customerIds) => {
    let found = await findActiveSubscriptions(scope.em, scope.tenant, customerIds);
    const at = now();
    const due = [...found.values()].filter((subscription) => subscription.currentPeriodEnd <= at);
    if (due.length > 0) {
      await renewDueSubscriptions(scope.em, scope.tenant, at, due.map((subscription) => subscription.customer.id));
      found = await findActiveSubscriptions(scope.em, scope.tenant, customerIds);
    }
    return customerIds.map((id) => found.get(id) ?? null);
  }),
  /** By sub_ id, any status (node(id:)); active ones whose period has ended are renewed first, as above. */
  subscriptionById: new DataLoader<string, SubscriptionRecord | null>(async (ids) => {
    let found = await findSubscriptionsById(scope.em, scope.tenant, ids);
    const at = now();
    const due = [...found.values()].filter((subscription) => subscription.status === 'ACTIVE' && subscription.currentPeriodEnd <= at);
    if (due.length > 0) {
      await renewDueSubscriptions(scope.em, scope.tenant, at, due.map((subscription) => subscription.customer.id));
      found = await findSubscriptionsById(scope.em, scope.tenant, ids);
    }
    return ids.map((id) => found.get(id) ?? null);
  }),
});
