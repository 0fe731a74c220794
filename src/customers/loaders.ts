import type { RequestScope } from '../model/tenant.js';
import { refListLoader } from '../common/list-loader.js';
import type { CustomerRecord } from '../model/records.js';
import { findCustomersByRefs } from './service.js';

export const createCustomerLoaders = (scope: RequestScope) => ({
  /** By lists of `cus_` ids or external ids; null for each ref the tenant has no customer for. */
  customersByRefs: refListLoader<CustomerRecord>((refs) => findCustomersByRefs(scope.em, scope.tenant, refs)),
});
