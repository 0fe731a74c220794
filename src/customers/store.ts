import { read, statement } from '../db/prepared.js';
import type { Mode } from '../tenant.js';

/** A customer as callers see it; reads build these straight from rows, without entities. */
export type CustomerRecord = { id: string; externalId: string | null; name: string; createdAt: Date; mode: Mode };

// Batched reads resolve up to a hundred refs per request; kept prepared so the OR of two index
// lookups is planned once per connection.
export const CUSTOMERS_BY_REF = statement<{ organizationId: string; mode: Mode; refs: string[] }, CustomerRecord>(
  'customers_by_ref',
  `select id, external_id, name, created_at, mode
     from customer
    where organization_id = :organizationId and mode = :mode
      and (id = any(:refs::text[]) or external_id = any(:refs::text[]))`,
  (row) => ({
    id: read.text(row.id),
    externalId: read.nullableText(row.external_id),
    name: read.text(row.name),
    createdAt: read.date(row.created_at),
    mode: row.mode as Mode,
  }),
);
