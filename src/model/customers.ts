import { EntitySchema } from '@mikro-orm/core';
import { TenantEntity, TenantEntitySchema } from './base.ts';

export class Customer extends TenantEntity {
  id!: string;
  externalId?: string | null;
  name!: string;
}

/** What callers see as `customerId`: their own id when they gave one, else ours. */
export const customerDisplayId = (customer: { id: string; externalId?: string | null }): string => customer.externalId ?? customer.id;

export const CustomerSchema = new EntitySchema<Customer, TenantEntity>({
  class: Customer,
  extends: TenantEntitySchema,
  tableName: 'customer',
  properties: {
    id: { type: 'text', primary: true },
    externalId: { type: 'text', nullable: true },
    name: { type: 'text' },
  },
  uniques: [{ name: 'customer_tenant_external_id_unique', properties: ['organization', 'mode', 'externalId'] }],
});
