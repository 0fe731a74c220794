import type { RequestScope } from '../model/tenant.ts';
import { refListLoader } from '../common/list-loader.ts';
import type { CustomerRecord } from '../model/records.ts';
import { findCustomersByRefs } from './service.ts';

export const createCustomerLoaders = (scope: RequestScope) => ({
  /** By lists of `cus_` ids or external ids; null for each ref the tenant has no customer for. */
  customersByRefs: refListLoader<CustomerRecord>((refs) => findCustomersByRefs(scope.em, scope.tenant, refs)),
});
