import { statement } from '../db/prepared.js';
import { type CustomerRefParams, customersNamedBy, parseCustomer } from '../model/customer-refs.js';
import type { CustomerRecord } from '../model/records.js';

// Batched reads resolve up to a hundred refs per request.
export const CUSTOMERS_BY_REF = statement<CustomerRefParams, CustomerRecord>(
  'customers_by_ref',
  customersNamedBy(':organizationId::text', ':mode::text', ':ids::text[]', ':externalIds::text[]'),
  parseCustomer,
);
