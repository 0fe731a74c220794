import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { DomainError } from '../errors.js';
import type { Tenant } from '../tenant.js';

export type IdempotentCall = { key: string; operation: string; input: unknown };

export type Claim = { fresh: true } | { fresh: false; eventIds: string[] };

/** JSON with object keys sorted, so equal inputs hash equally whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined && v !== null)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export const requestHash = (call: IdempotentCall): string =>
  createHash('sha256').update(`${call.operation}\n${canonical(call.input)}`).digest('hex');

/**
 * Claims `call.key` inside the caller's transaction. A first call gets `fresh` and must record
 * its events with `recordIdempotentResult` before committing. A repeat of a committed call gets
 * the original event ids; a repeat while the first is still running waits for it (PostgreSQL
 * holds the conflicting insert until the first transaction ends), and if the first failed, the
 * repeat runs afresh. The same key with another operation or input is refused.
 */
export async function claimIdempotencyKey(tx: EntityManager, tenant: Tenant, call: IdempotentCall): Promise<Claim> {
  const hash = requestHash(call);
  const inserted = await tx.execute<unknown[]>(
    `insert into idempotency_key (organization_id, mode, key, operation, request_hash)
     values (?, ?, ?, ?, ?) on conflict do nothing returning key`,
    [tenant.organizationId, tenant.mode, call.key, call.operation, hash],
  );
  if (inserted.length > 0) return { fresh: true };
  const [existing] = await tx.execute<{ operation: string; request_hash: string; event_ids: string[] }[]>(
    `select operation, request_hash, event_ids from idempotency_key where organization_id = ? and mode = ? and key = ?`,
    [tenant.organizationId, tenant.mode, call.key],
  );
  if (!existing) {
    // Removed by the cleanup between the two statements: the key is free again, but not in this transaction.
    throw new DomainError('idempotency_in_progress', 'The idempotency key is being released; retry the request.', { param: 'idempotencyKey' });
  }
  if (existing.operation !== call.operation || existing.request_hash !== hash) {
    throw new DomainError(
      'idempotency_key_mismatch',
      `Idempotency key '${call.key}' was used for a different ${existing.operation === call.operation ? 'input' : `operation (${existing.operation})`}.`,
      { param: 'idempotencyKey' },
    );
  }
  return { fresh: false, eventIds: existing.event_ids };
}

/** Keys older than `before` are forgotten; the contract keeps them at least 24 hours. */
export async function deleteIdempotencyKeysBefore(em: EntityManager, before: Date): Promise<number> {
  const result = await em.execute<{ affectedRows: number }>(`delete from idempotency_key where created_at < ?`, [before], 'run');
  return result.affectedRows;
}

/**
 * Forgets keys older than the TTL now and then every `everyMs`, for as long as the process runs.
 * Returns a function that stops it.
 */
export function scheduleIdempotencyCleanup(
  em: EntityManager,
  options: { ttlHours: number; everyMs?: number; onError: (error: unknown) => void; onDeleted?: (count: number) => void },
): () => void {
  const run = () => {
    const before = new Date(Date.now() - options.ttlHours * 3_600_000);
    deleteIdempotencyKeysBefore(em.fork(), before).then((count) => options.onDeleted?.(count), options.onError);
  };
  run();
  const timer = setInterval(run, options.everyMs ?? 3_600_000);
  timer.unref();
  return () => clearInterval(timer);
}
