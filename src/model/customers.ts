import { EntitySchema, type Opt } from '@mikro-orm/core';
import { Organization } from './auth.js';
import type { Mode } from './tenant.js';

export class Customer {
  id!: string;
  organization!: Organization;
  mode!: Mode;
  externalId?: string | null;
  name!: string;
  createdAt: Opt<Date> = new Date();
}

/** What callers see as `customerId`: their own id when they gave one, else ours. */
export const customerDisplayId = (customer: { id: string; externalId?: string | null }): string => customer.externalId ?? customer.id;

export const CustomerSchema = new EntitySchema<Customer>({
  class: Customer,
  tableName: 'customer',
  properties: {
    id: { type: 'text', primary: true },
    organization: { kind: 'm:1', entity: () => Organization, deleteRule: 'restrict' },
    mode: { enum: true, items: ['live', 'test'] },
    externalId: { type: 'text', nullable: true },
    name: { type: 'text' },
    createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
  uniques: [{ name: 'customer_tenant_external_id_unique', properties: ['organization', 'mode', 'externalId'] }],
});
