import type { EntityManager } from '@mikro-orm/postgresql';
import type { TestClockState } from '../model/clock.ts';
import type { Tenant } from '../model/tenant.ts';
import { run } from '../db/prepared.ts';
import { type Authenticated, hashApiKey, isApiKeyShaped, lookUpApiKey } from './service.ts';
import { KEY_OWNER } from './store.ts';

/** The staleness bound docs/api.md promises: keys and test clocks are at most 5 s out of date. */
export const defaultApiKeyCacheMs = 5000;

type Entry = { tenant: Tenant; keyId: string; expiresAt: number };

/**
 * Remembers the keys this process has looked up, so most requests reach the database only for
 * their work. The staleness rule: a key revoked in the database stops working within `ttlMs`, and
 * a test clock moved by another process is seen within `ttlMs`; one moved through this process is
 * seen at once. Unknown and revoked keys are never remembered, so a new key works at once.
 */
export class ApiKeyCache {
  private readonly entries = new Map<string, Entry>();
  /** Test clocks by organization, as last changed; the newest version seen wins. */
  private readonly testClocks = new Map<string, TestClockState>();
  private readonly lookups = new Map<string, Promise<Authenticated | null>>();

  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly maxEntries;

  constructor(ttlMs: number, now: () => number = Date.now, maxEntries = 10_000) {
    this.ttlMs = ttlMs;
    this.now = now;
    this.maxEntries = maxEntries;
  }

  /** `fork` gives the EntityManager of a lookup, made only when the key is not known here. */
  async authenticate(fork: () => EntityManager, key: string | null | undefined): Promise<Authenticated | null> {
    if (!isApiKeyShaped(key)) return null;
    const keyHash = hashApiKey(key);
    const entry = this.entries.get(keyHash);
    if (entry && entry.expiresAt > this.now()) return this.withClock(entry.tenant, entry.keyId);
    // Concurrent requests with one uncached key share a single lookup.
    let lookup = this.lookups.get(keyHash);
    if (!lookup) {
      lookup = lookUpApiKey(fork(), key).finally(() => this.lookups.delete(keyHash));
      this.lookups.set(keyHash, lookup);
    }
    const found = await lookup;
    if (!found) {
      this.entries.delete(keyHash);
      return null;
    }
    this.remember(keyHash, found);
    return this.withClock(found.tenant, found.keyId);
  }

  /**
   * Asks the database about a key again (by its hash: a caller that holds on to a key, as an open
   * subscription does, keeps only that), whatever is remembered, and remembers the answer: a
   * revoked key is forgotten and answers null.
   */
  async recheck(fork: () => EntityManager, keyHash: string): Promise<Authenticated | null> {
    const [owner] = await run(fork(), KEY_OWNER, { keyHash });
    if (!owner) {
      this.entries.delete(keyHash);
      return null;
    }
    const found = { tenant: { organizationId: owner.organizationId, mode: owner.mode }, keyId: owner.keyId, testClock: owner.testClock };
    this.remember(keyHash, found);
    return this.withClock(found.tenant, found.keyId);
  }

  /** The key as this process last found it, without asking the database; null when not known here. */
  known(key: string | null | undefined): Authenticated | null {
    if (!isApiKeyShaped(key)) return null;
    const entry = this.entries.get(hashApiKey(key));
    return entry && entry.expiresAt > this.now() ? this.withClock(entry.tenant, entry.keyId) : null;
  }

  /** A test clock as it was read or changed; this process's requests see the newest at once. */
  noteTestClock(organizationId: string, clock: TestClockState): void {
    const known = this.testClocks.get(organizationId);
    if (!known || clock.version >= known.version) this.testClocks.set(organizationId, clock);
  }

  private remember(keyHash: string, found: Authenticated): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(keyHash);
    this.entries.set(keyHash, { tenant: found.tenant, keyId: found.keyId, expiresAt: this.now() + this.ttlMs });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    if (found.testClock) this.noteTestClock(found.tenant.organizationId, found.testClock);
  }

  private withClock(tenant: Tenant, keyId: string): Authenticated {
    return { tenant, keyId, testClock: tenant.mode === 'test' ? (this.testClocks.get(tenant.organizationId) ?? null) : null };
  }
}
