import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Tenant } from '../tenant.js';
import type { CustomerRecord } from './store.js';
import { findCustomersByRefs } from './service.js';

export const createCustomerLoaders = (em: EntityManager, tenant: Tenant) => ({
  /** By `cus_` id or external id; null when the tenant has no such customer. */
  customerByRef: new DataLoader<string, CustomerRecord | null>(async (refs) => {
    const found = await findCustomersByRefs(em, tenant, refs);
    return refs.map((ref) => found.get(ref) ?? null);
  }),
});
