import { read, statement } from '../db/prepared.js';

// Kept by hand: MikroORM's upsert cannot keep the larger of the stored and the new offset.
/** A test clock's offset and the instant it last changed, which orders its states (a version). */
export type TestClockState = { offsetMs: number; version: number };

const parseState = (row: Record<string, unknown>): TestClockState => ({ offsetMs: read.bigint(row.offset_ms), version: read.date(row.updated_at).getTime() });

export const MOVE_TEST_CLOCK = statement<{ organizationId: string; offsetMs: number }, TestClockState>(
  'move_test_clock',
  `insert into test_clock (organization_id, offset_ms) values (:organizationId, :offsetMs)
   on conflict (organization_id) do update set offset_ms = greatest(test_clock.offset_ms, excluded.offset_ms), updated_at = clock_timestamp()
   returning offset_ms, updated_at`,
  parseState,
);

/** deleteTestData sets the clock back to real time: the one move back a clock makes. */
export const RESET_TEST_CLOCK = statement<{ organizationId: string }, TestClockState>(
  'reset_test_clock',
  `update test_clock set offset_ms = 0, updated_at = clock_timestamp() where organization_id = :organizationId
   returning offset_ms, updated_at`,
  parseState,
);
