import { statement } from '../db/prepared.ts';
import { type CustomerRefParams, customersNamedBy, parseCustomer } from '../model/customer-refs.ts';
import type { CustomerRecord } from '../model/records.ts';

// Batched reads resolve up to a hundred refs per request.
export const CUSTOMERS_BY_REF = statement<CustomerRefParams, CustomerRecord>(
  'customers_by_ref',
  customersNamedBy(':organizationId::text', ':mode::text', ':ids::text[]', ':externalIds::text[]'),
  parseCustomer,
);
