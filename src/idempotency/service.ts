import type { EntityManager } from '@mikro-orm/postgresql';
import { periodic, type Worker } from '../common/workers.ts';
import { type Tenant, tenantWhere } from '../model/tenant.ts';
import { IdempotencyKey } from '../model/idempotency.ts';
import { claimId, type IdempotentCall, requestHash } from './fingerprint.ts';

/** The claims already committed for the given keys, by claimId; one query for a whole batch. */
export async function findClaims(em: EntityManager, calls: readonly { tenant: Tenant; key: string }[]): Promise<Map<string, IdempotencyKey>> {
  if (calls.length === 0) return new Map();
  const found = await em.find(IdempotencyKey, {
    $or: calls.map(({ tenant, key }) => ({ ...tenantWhere(tenant), key })),
  });
  return new Map(found.map((claim) => [claimId({ organizationId: claim.organization.id, mode: claim.mode }, claim.key), claim]));
}

/**
 * Records the claims of calls that succeeded, in the transaction of their change: a key exists
 * exactly when its change committed. Created in key order, so two transactions inserting the
 * same keys queue on them in the same order and cannot deadlock; a concurrent first call makes
 * this insert wait for it, then fail on the unique key, and the call is retried as a repeat.
 */
export function recordClaims(em: EntityManager, claims: { tenant: Tenant; call: IdempotentCall; eventIds: string[] }[]): void {
  const ordered = [...claims].sort((a, b) => (claimId(a.tenant, a.call.key) < claimId(b.tenant, b.call.key) ? -1 : 1));
  for (const { tenant, call, eventIds } of ordered) {
    em.create(IdempotencyKey, {
      organization: tenant.organizationId,
      mode: tenant.mode,
      key: call.key,
      operation: call.operation,
      requestHash: requestHash(call),
      eventIds,
    });
  }
}

/** Keys older than `before` are forgotten; the contract keeps them at least 24 hours. */
export async function deleteIdempotencyKeysBefore(em: EntityManager, before: Date): Promise<number> {
  return em.nativeDelete(IdempotencyKey, { createdAt: { $lt: before } });
}

/** Forgets keys older than the TTL at start and then every `everyMs`, as a background worker. */
export const idempotencyCleanup = (
  em: EntityManager,
  options: { ttlHours: number; everyMs?: number; onError: (error: unknown) => void; onDeleted?: (count: number) => void },
): Worker =>
  periodic(
    'idempotency-cleanup',
    options.everyMs ?? 3_600_000,
    async () => options.onDeleted?.(await deleteIdempotencyKeysBefore(em.fork(), new Date(Date.now() - options.ttlHours * 3_600_000))),
    options.onError,
  );
