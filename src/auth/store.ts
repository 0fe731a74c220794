import { read, statement } from '../db/prepared.ts';
import { parseTestClock, type TestClockState } from '../model/clock.ts';
import type { Mode } from '../model/tenant.ts';

/** A key's tenant, with its organization's test clock as stored (none when it was never advanced). */
export type KeyOwner = { keyId: string; organizationId: string; mode: Mode; testClock: TestClockState | null };

/** The tenant of a live key, with its organization's test clock; runs for every key the cache lacks. */
export const KEY_OWNER = statement<{ keyHash: string }, KeyOwner>(
  'key_owner',
  `select k.id, k.organization_id, k.mode, c.frozen_at, c.updated_at
     from api_key k left join test_clock c on c.organization_id = k.organization_id
    where k.key_hash = :keyHash and k.revoked_at is null`,
  (row) => ({
    keyId: read.text(row.id),
    organizationId: read.text(row.organization_id),
    mode: row.mode as Mode,
    testClock: row.updated_at ? parseTestClock(row) : null,
  }),
);
