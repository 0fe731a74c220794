import { EntitySchema, type Opt } from '@mikro-orm/core';
import { Organization } from './organization.ts';
import type { Mode } from './tenant.ts';

// The columns every tenant's row has, declared once: the organization it belongs to and the
// mode (live or test) it was written in, and, for rows that record something, when.

/** A row of one tenant: one organization, in one mode. */
export abstract class TenantScoped {
  organization!: Organization;
  mode!: Mode;
}

export const TenantScopedSchema = new EntitySchema<TenantScoped>({
  name: 'TenantScoped',
  abstract: true,
  properties: {
    organization: { kind: 'm:1', entity: () => Organization, deleteRule: 'restrict', updateRule: 'cascade' },
    mode: { enum: true, items: ['live', 'test'] },
  },
});

/** A tenant's row that records something, with when it was created. */
export abstract class TenantEntity extends TenantScoped {
  createdAt: Opt<Date> = new Date();
}

export const TenantEntitySchema = new EntitySchema<TenantEntity, TenantScoped>({
  name: 'TenantEntity',
  abstract: true,
  extends: TenantScopedSchema,
  properties: {
    createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
});
