import { createHash, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { newId } from '../ids.js';
import type { Mode, Tenant } from '../tenant.js';
import { ApiKey, Organization } from './entities.js';

const keyPattern = /^ck_(live|test)_[A-Za-z0-9]{32}$/;
const base62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export const hashApiKey = (key: string): string => createHash('sha256').update(key).digest('hex');

function randomBase62(length: number): string {
  let out = '';
  // Rejection sampling keeps every character equally likely (256 is not a multiple of 62).
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += base62[byte % 62];
    }
  }
  return out;
}

/** Creates the organization when it does not exist yet. Returns the key in clear text, once. */
export async function createApiKey(
  em: EntityManager,
  organizationName: string,
  mode: Mode,
): Promise<{ key: string; organization: Organization; apiKey: ApiKey }> {
  return em.transactional(async (tx) => {
    await tx.getConnection().execute(
      'insert into organization (id, name) values (?, ?) on conflict (name) do nothing',
      [newId('org'), organizationName],
    );
    const organization = await tx.findOneOrFail(Organization, { name: organizationName });
    const key = `ck_${mode}_${randomBase62(32)}`;
    const apiKey = tx.create(ApiKey, {
      id: newId('key'),
      organization,
      mode,
      keyHash: hashApiKey(key),
      keyPrefix: key.slice(0, 12),
    });
    await tx.flush();
    return { key, organization, apiKey };
  });
}

export type Authenticated = { tenant: Tenant; testClockOffsetMs: number };

/**
 * The tenant a key belongs to, or null, with the organization's test clock read in the same
 * query. Keys are looked up by their SHA-256: no comparison ever runs over the secret itself, and
 * how long the index takes to miss tells an attacker nothing about any key (a timing attack
 * would have to find hash prefixes, that is, break SHA-256).
 */
export async function authenticate(em: EntityManager, key: string | null | undefined): Promise<Authenticated | null> {
  if (!key || !keyPattern.test(key)) return null;
  const rows = await em.getConnection().execute<{ organization_id: string; mode: Mode; offset_ms: string | null }[]>(
    `select k.organization_id, k.mode, c.offset_ms
       from api_key k left join test_clock c on c.organization_id = k.organization_id
      where k.key_hash = ? and k.revoked_at is null`,
    [hashApiKey(key)],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    tenant: { organizationId: row.organization_id, mode: row.mode },
    testClockOffsetMs: row.mode === 'test' ? Number(row.offset_ms ?? 0) : 0,
  };
}

export async function countApiKeys(em: EntityManager): Promise<number> {
  return em.count(ApiKey, {});
}
