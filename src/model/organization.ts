import { EntitySchema, type Opt } from '@mikro-orm/core';

/** A customer of seatgate: every tenant row belongs to one, in live or test mode. */
export class Organization {
  id!: string;
  name!: string;
  createdAt: Opt<Date> = new Date();
}

export const OrganizationSchema = new EntitySchema<Organization>({
  class: Organization,
  tableName: 'organization',
  properties: {
    id: { type: 'text', primary: true },
    name: { type: 'text', unique: 'organization_name_unique' },
    createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
});
