import { DomainError } from '../common/errors.ts';
import { epochMs, read } from '../db/prepared.ts';
import type { CustomerRecord } from './records.ts';
import type { Mode } from './tenant.ts';

// How a customer is named, in code and in SQL: every store that takes a customer reference
// (a `cus_` id or the caller's external id) resolves it the same way.

export const customerIdPrefix = 'cus_';

/** A `customerId` argument names our id when it has our prefix, else the caller's external id. */
const isOwnCustomerId = (ref: string): boolean => ref.startsWith(customerIdPrefix);

/** A batch of references split by what each names: our `cus_` id, or else the caller's external id. */
export function refsByKind(refs: Iterable<string>): { ids: string[]; externalIds: string[] } {
  const ids: string[] = [];
  const externalIds: string[] = [];
  for (const ref of refs) (isOwnCustomerId(ref) ? ids : externalIds).push(ref);
  return { ids, externalIds };
}

export const customerNotFound = (ref: string): DomainError => new DomainError('customer_not_found', `No customer with id '${ref}'.`, { param: 'customerId' });

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

/** The parameters of a statement that reads customers by `customersNamedBy`. */
export type CustomerRefParams = { organizationId: string; mode: Mode; ids: string[]; externalIds: string[] };

/** A customer row as its record. */
export const parseCustomer = (row: Record<string, unknown>): CustomerRecord => ({
  id: read.text(row.id),
  externalId: read.nullableText(row.external_id),
  name: read.text(row.name),
  createdAt: read.date(row.created_at),
  mode: row.mode as Mode,
});
