import { epochMs, read, statement } from '../db/prepared.js';
import type { Mode } from '../model/tenant.js';

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

/**
 * The customers a batch of references names, as SQL to select from: `cus_` ids and external ids,
 * each list joined to its own index. Which list a reference belongs to is decided by its prefix
 * (`refsByKind`). Joined rather than compared with `= any(...)`: PostgreSQL compares a parameter
 * array element by element with every row it scans, and cannot hash it.
 */
export const customersNamedBy = (organizationId: string, mode: string, ids: string, externalIds: string) => `
  select id, external_id, name, ${epochMs('created_at', 'created_at')}, mode from customer join unnest(${ids}) as r(ref) on id = r.ref
   where organization_id = ${organizationId} and mode = ${mode}
  union all
  select id, external_id, name, ${epochMs('created_at', 'created_at')}, mode from customer join unnest(${externalIds}) as r(ref) on external_id = r.ref
   where organization_id = ${organizationId} and mode = ${mode}`;

export type CustomerRefParams = { organizationId: string; mode: Mode; ids: string[]; externalIds: string[] };

// Batched reads resolve up to a hundred refs per request.
export const CUSTOMERS_BY_REF = statement<CustomerRefParams, CustomerRecord>(
  'customers_by_ref',
  customersNamedBy(':organizationId::text', ':mode::text', ':ids::text[]', ':externalIds::text[]'),
  (row) => parseCustomer(row),
);

export const parseCustomer = (row: Record<string, unknown>): CustomerRecord => ({
  id: read.text(row.id),
  externalId: read.nullableText(row.external_id),
  name: read.text(row.name),
  createdAt: read.date(row.created_at),
  mode: row.mode as Mode,
});
