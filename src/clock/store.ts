import { statement } from '../db/prepared.ts';
import { parseTestClock, type TestClockState } from '../model/clock.ts';

// Kept by hand: MikroORM's upsert cannot keep the later of the stored and the new instant.
export const MOVE_TEST_CLOCK = statement<{ organizationId: string; frozenAt: Date }, TestClockState>(
  'move_test_clock',
  `insert into test_clock (organization_id, frozen_at) values (:organizationId, :frozenAt)
   on conflict (organization_id) do update set frozen_at = greatest(test_clock.frozen_at, excluded.frozen_at), updated_at = clock_timestamp()
   returning frozen_at, updated_at`,
  parseTestClock,
);

/** deleteTestData sets the clock back to real time: the one move back a clock makes. */
export const RESET_TEST_CLOCK = statement<{ organizationId: string }, TestClockState>(
  'reset_test_clock',
  `update test_clock set frozen_at = null, updated_at = clock_timestamp() where organization_id = :organizationId
   returning frozen_at, updated_at`,
  parseTestClock,
);
