import { EntitySchema, type Opt } from '@mikro-orm/core';
import type { Mode } from './tenant.js';

export class Organization {
  id!: string;
  name!: string;
  createdAt: Opt<Date> = new Date();
}

export class ApiKey {
  id!: string;
  organization!: Organization;
  mode!: Mode;
  /** sha256 of the whole key; the key itself is shown once and never stored. */
  keyHash!: string;
  /** The first characters, so an operator can tell keys apart. */
  keyPrefix!: string;
  createdAt: Opt<Date> = new Date();
  revokedAt?: Date | null;
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

export const ApiKeySchema = new EntitySchema<ApiKey>({
  class: ApiKey,
  tableName: 'api_key',
  properties: {
    id: { type: 'text', primary: true },
    organization: { kind: 'm:1', entity: () => Organization, deleteRule: 'restrict' },
    mode: { enum: true, items: ['live', 'test'] },
    keyHash: { type: 'text', unique: 'api_key_key_hash_unique' },
    keyPrefix: { type: 'text' },
    createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
    revokedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});
