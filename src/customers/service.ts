import type { EntityManager } from '@mikro-orm/postgresql';
import { flushUnique } from '../db/errors.js';
import { run } from '../db/prepared.js';
import { DomainError } from '../common/errors.js';
import { newId } from '../common/ids.js';
import type { Tenant } from '../model/tenant.js';
import { Customer } from '../model/customers.js';
import { CUSTOMERS_BY_REF, type CustomerRecord } from './store.js';

export type { CustomerRecord } from './store.js';

export const customerIdPrefix = 'cus_';

/** A `customerId` argument names our id when it has our prefix, else the caller's external id. */
export const isOwnCustomerId = (ref: string): boolean => ref.startsWith(customerIdPrefix);

export type CreateCustomerInput = { externalId?: string | null; name: string };

export async function createCustomer(em: EntityManager, tenant: Tenant, input: CreateCustomerInput): Promise<CustomerRecord> {
  const customer = em.create(Customer, {
    id: newId('cus'),
    organization: tenant.organizationId,
    mode: tenant.mode,
    externalId: input.externalId ?? null,
    name: input.name,
  });
  await flushUnique(em, {
    customer_tenant_external_id_unique: () =>
      new DomainError('conflict', `A customer with external id '${input.externalId}' already exists.`, { param: 'externalId' }),
  });
  return { id: customer.id, externalId: customer.externalId ?? null, name: customer.name, createdAt: customer.createdAt, mode: customer.mode };
}

/** A batch of references split by what each names: our `cus_` id, or else the caller's external id. */
export function refsByKind(refs: Iterable<string>): { ids: string[]; externalIds: string[] } {
  const ids: string[] = [];
  const externalIds: string[] = [];
  for (const ref of refs) (isOwnCustomerId(ref) ? ids : externalIds).push(ref);
  return { ids, externalIds };
}

/** Customers by `cus_` id or external id, in one query; refs that match nothing are absent. */
export async function findCustomersByRefs(em: EntityManager, tenant: Tenant, refs: readonly string[]): Promise<Map<string, CustomerRecord>> {
  const found = refs.length ? await run(em, CUSTOMERS_BY_REF, { organizationId: tenant.organizationId, mode: tenant.mode, ...refsByKind(refs) }) : [];
  const byRef = new Map<string, CustomerRecord>();
  for (const customer of found) {
    byRef.set(customer.id, customer);
    if (customer.externalId) byRef.set(customer.externalId, customer);
  }
  return byRef;
}

export async function getCustomer(em: EntityManager, tenant: Tenant, ref: string): Promise<CustomerRecord> {
  const customer = (await findCustomersByRefs(em, tenant, [ref])).get(ref);
  if (!customer) throw customerNotFound(ref);
  return customer;
}

export const customerNotFound = (ref: string): DomainError => new DomainError('customer_not_found', `No customer with id '${ref}'.`, { param: 'customerId' });
