import { read, statement } from '../db/prepared.js';
import type { Mode } from '../tenant.js';

/** `testClockVersion` orders a test clock's states (its last change, in ms): the newest one wins. */
export type KeyOwner = { organizationId: string; mode: Mode; testClockOffsetMs: number; testClockVersion: number };

/** The tenant of a live key, with its organization's test clock; runs for every key the cache lacks. */
export const KEY_OWNER = statement<{ keyHash: string }, KeyOwner>(
  'key_owner',
  `select k.organization_id, k.mode, c.offset_ms, c.updated_at
     from api_key k left join test_clock c on c.organization_id = k.organization_id
    where k.key_hash = :keyHash and k.revoked_at is null`,
  (row) => ({
    organizationId: read.text(row.organization_id),
    mode: row.mode as Mode,
    testClockOffsetMs: read.bigint(row.offset_ms ?? 0),
    testClockVersion: row.updated_at ? read.date(row.updated_at).getTime() : 0,
  }),
);
