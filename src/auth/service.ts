import { createHash, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { run } from '../db/prepared.ts';
import { newId } from '../common/ids.ts';
import type { Mode, Tenant } from '../model/tenant.ts';
import type { TestClockState } from '../model/clock.ts';
import { ApiKey } from '../model/auth.ts';
import { Organization } from '../model/organization.ts';
import { KEY_OWNER } from './store.ts';

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
    await tx.getConnection().execute('insert into organization (id, name) values (?, ?) on conflict (name) do nothing', [newId('org'), organizationName]);
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

/** `testClock`: the organization's test clock for a test key, null for real time. */
/** Who a valid key speaks for; `keyId` names the key in logs (never the key itself). */
export type Authenticated = { tenant: Tenant; keyId: string; testClock: TestClockState | null };

/** Whether `key` has the shape of a key at all; anything else is refused without a lookup. */
export const isApiKeyShaped = (key: string | null | undefined): key is string => !!key && keyPattern.test(key);

/**
 * The tenant a key belongs to, or null, with the organization's test clock read in the same
 * query. Keys are looked up by their SHA-256: no comparison ever runs over the secret itself, and
 * how long the index takes to miss tells an attacker nothing about any key (a timing attack
 * would have to find hash prefixes, that is, break SHA-256).
 */
export async function lookUpApiKey(em: EntityManager, key: string | null | undefined): Promise<Authenticated | null> {
  if (!isApiKeyShaped(key)) return null;
  const [owner] = await run(em, KEY_OWNER, { keyHash: hashApiKey(key) });
  if (!owner) return null;
  return {
    tenant: { organizationId: owner.organizationId, mode: owner.mode },
    keyId: owner.keyId,
    testClock: owner.testClock,
  };
}

/** Refuses further use of a key. Servers that remembered it stop accepting it within their cache's lifetime. */
export async function revokeApiKey(em: EntityManager, key: string): Promise<boolean> {
  if (!isApiKeyShaped(key)) return false;
  const revoked = await em.nativeUpdate(ApiKey, { keyHash: hashApiKey(key), revokedAt: null }, { revokedAt: new Date() });
  return revoked > 0;
}

export async function countApiKeys(em: EntityManager): Promise<number> {
  return em.count(ApiKey, {});
}
