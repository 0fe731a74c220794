import DataLoader from 'dataloader';
import type { RequestScope } from '../context.js';
import type { CustomerRecord } from './store.js';
import { findCustomersByRefs } from './service.js';

export const createCustomerLoaders = (scope: RequestScope) => ({
  /** By `cus_` id or external id; null when the tenant has no such customer. */
  customerByRef: new DataLoader<string, CustomerRecord | null>(async (refs) => {
    const found = await findCustomersByRefs(scope.em, scope.tenant, refs);
    return refs.map((ref) => found.get(ref) ?? null);
  }),
});
