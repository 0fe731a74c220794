import { createHash } from 'node:crypto';
import { DomainError } from '../common/errors.ts';
import type { IdempotencyKey } from '../model/idempotency.ts';
import type { Tenant } from '../model/tenant.ts';

// An idempotent call's fingerprint, and what a repeat of it gets: pure, so the rules are
// tested, and mutation-tested, without a database.

export type IdempotentCall = { key: string; operation: string; input: unknown };

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
  createHash('sha256')
    .update(`${call.operation}\n${canonical(call.input)}`)
    .digest('hex');

/** Identifies a key across tenants, as the batch that looks keys up needs. */
export const claimId = (tenant: Tenant, key: string): string => `${tenant.organizationId}\u0000${tenant.mode}\u0000${key}`;

/**
 * What a repeat of a committed call gets: the original event ids, or idempotency_key_mismatch
 * when the same key came with another operation or input.
 */
export function replayOf(claim: IdempotencyKey, call: IdempotentCall): string[] {
  if (claim.operation !== call.operation || claim.requestHash !== requestHash(call)) {
    throw new DomainError(
      'idempotency_key_mismatch',
      `Idempotency key '${call.key}' was used for a different ${claim.operation === call.operation ? 'input' : `operation (${claim.operation})`}.`,
      { param: 'idempotencyKey' },
    );
  }
  return claim.eventIds;
}
