import { EntitySchema } from '@mikro-orm/core';
import { TenantEntity, TenantEntitySchema } from './base.ts';

export class ApiKey extends TenantEntity {
  id!: string;
  /** sha256 of the whole key; the key itself is shown once and never stored. */
  keyHash!: string;
  /** The first characters, so an operator can tell keys apart. */
  keyPrefix!: string;
  revokedAt?: Date | null;
}

export const ApiKeySchema = new EntitySchema<ApiKey, TenantEntity>({
  class: ApiKey,
  extends: TenantEntitySchema,
  tableName: 'api_key',
  properties: {
    id: { type: 'text', primary: true },
    keyHash: { type: 'text', unique: 'api_key_key_hash_unique' },
    keyPrefix: { type: 'text' },
    revokedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});
