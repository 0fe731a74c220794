import DataLoader from 'dataloader';
import type { RequestScope } from '../model/tenant.ts';
import { findActiveSubscriptions, findLatestSubscriptions, findSubscriptionsById } from './service.ts';
import type { SubscriptionRecord } from './store.ts';

/** Renews the given customers' subscriptions whose period ended by `at` (flows/renewal.ts), so that reads never see a stale period. */
export type RenewDue = (scope: RequestScope, at: Date, customerIds: string[]) => Promise<unknown>;

export const createSubscriptionLoaders = (scope: RequestScope, now: () => Date, renewDue: RenewDue) => {
  /**
   * What `find` reads, with the active subscriptions among it whose period has ended renewed
   * first and read again, so periods are never stale.
   */
  const renewedFirst = async (find: () => Promise<Map<string, SubscriptionRecord>>) => {
    const found = await find();
    const at = now();
    const due = [...found.values()].filter((subscription) => subscription.status === 'ACTIVE' && subscription.currentPeriodEnd <= at);
    if (due.length === 0) return found;
    await renewDue(
      scope,
      at,
      due.map((subscription) => subscription.customer.id),
    );
    return find();
  };
  return {
    /** Active subscriptions, renewed first when their period has ended. */
    activeSubscriptionByCustomerId: new DataLoader<string, SubscriptionRecord | null>(async (customerIds) => {
      const found = await renewedFirst(() => findActiveSubscriptions(scope.em, scope.tenant, customerIds));
      return customerIds.map((id) => found.get(id) ?? null);
    }),
    /** The active subscription, renewed first when its period has ended, or else the one that ended most recently. */
    latestSubscriptionByCustomerId: new DataLoader<string, SubscriptionRecord | null>(async (customerIds) => {
      const found = await renewedFirst(() => findLatestSubscriptions(scope.em, scope.tenant, customerIds));
      return customerIds.map((id) => found.get(id) ?? null);
    }),
    /** By sub_ id, any status (node(id:)); active ones whose period has ended are renewed first. */
    subscriptionById: new DataLoader<string, SubscriptionRecord | null>(async (ids) => {
      const found = await renewedFirst(() => findSubscriptionsById(scope.em, scope.tenant, ids));
      return ids.map((id) => found.get(id) ?? null);
    }),
  };
};
