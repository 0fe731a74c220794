import { EntitySchema, type Opt, PrimaryKeyProp } from '@mikro-orm/core';
import { Organization } from './organization.ts';
import type { Mode } from './tenant.ts';

/**
 * A claimed idempotency key. It is written in the same transaction as the change it guards, so
 * a key exists exactly when its change committed; a concurrent repeat waits on the row's lock.
 */
export class IdempotencyKey {
  [PrimaryKeyProp]?: ['organization', 'mode', 'key'];
  organization!: Organization;
  mode!: Mode;
  key!: string;
  operation!: string;
  /** sha256 of the operation's canonical input, to tell a true repeat from a reused key. */
  requestHash!: string;
  /** The events the original call returned, in its order. */
  eventIds: Opt<string[]> = [];
  createdAt: Opt<Date> = new Date();
}

export const IdempotencyKeySchema = new EntitySchema<IdempotencyKey>({
  class: IdempotencyKey,
  tableName: 'idempotency_key',
  properties: {
    organization: { kind: 'm:1', entity: () => Organization, primary: true, deleteRule: 'restrict', updateRule: 'cascade' },
    mode: { enum: true, items: ['live', 'test'], primary: true },
    key: { type: 'text', primary: true },
    operation: { type: 'text' },
    requestHash: { type: 'text' },
    eventIds: { type: 'text[]', defaultRaw: "'{}'" },
    createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
  indexes: [{ name: 'idempotency_key_created_at_index', properties: ['createdAt'] }],
});
