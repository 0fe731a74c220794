import { read, statement } from '../db/prepared.js';
import type { Mode } from '../tenant.js';

/** A customer as callers see it; reads build these straight from rows, without entities. */
export type CustomerRecord = { id: string; externalId: string | null; name: string; createdAt: Date; mode: Mode };

/**
 * The customer a reference names, as SQL to join laterally: by `cus_` id or by external id, each
 * through its own index. (A join on `id = ref or external_id = ref` scans the whole tenant.) The
 * two never both match: external ids may not start with `cus_`.
 */
export const customerByRef = (organizationId: string, mode: string, ref: string) => `
  select id, external_id, name, created_at, mode from customer where id = ${ref} and organization_id = ${organizationId} and mode = ${mode}
  union all
  select id, external_id, name, created_at, mode from customer where organization_id = ${organizationId} and mode = ${mode} and external_id = ${ref}`;

// Batched reads resolve up to a hundred refs per request, driven by the refs so each is an index lookup.
export const CUSTOMERS_BY_REF = statement<{ organizationId: string; mode: Mode; refs: string[] }, CustomerRecord>(
  'customers_by_ref',
  `select c.id, c.external_id, c.name, c.created_at, c.mode
     from unnest(:refs::text[]) as r(ref)
     cross join lateral (${customerByRef(':organizationId::text', ':mode::text', 'r.ref')}) c`,
  (row) => parseCustomer(row),
);

export const parseCustomer = (row: Record<string, unknown>): CustomerRecord => ({
  id: read.text(row.id),
  externalId: read.nullableText(row.external_id),
  name: read.text(row.name),
  createdAt: read.date(row.created_at),
  mode: row.mode as Mode,
});
