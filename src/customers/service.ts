import type { EntityManager } from '@mikro-orm/postgresql';
import { flushUnique } from '../db/errors.ts';
import { run } from '../db/prepared.ts';
import { DomainError } from '../common/errors.ts';
import { newId } from '../common/ids.ts';
import type { Tenant } from '../model/tenant.ts';
import { customerNotFound, refsByKind } from '../model/customer-refs.ts';
import { Customer } from '../model/customers.ts';
import type { CustomerRecord } from '../model/records.ts';
import { CUSTOMERS_BY_REF } from './store.ts';

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

/** A customer's two ids, by its own id: what a charge or an event needs to name it. */
export async function customerById(em: EntityManager, id: string): Promise<{ id: string; externalId: string | null }> {
  const customer = await em.findOneOrFail(Customer, id, { fields: ['externalId'] });
  return { id, externalId: customer.externalId ?? null };
}
