import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Tenant } from '../tenant.js';
import type { Subscription } from './entities.js';
import { findActiveSubscriptions } from './service.js';

export const createSubscriptionLoaders = (em: EntityManager, tenant: Tenant) => ({
  activeSubscriptionByCustomerId: new DataLoader<string, Subscription | null>(async (customerIds) => {
    const found = await findActiveSubscriptions(em, tenant, customerIds);
    return customerIds.map((id) => found.get(id) ?? null);
  }),
});
