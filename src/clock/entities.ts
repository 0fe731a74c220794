import { BigIntType, EntitySchema, type Opt } from '@mikro-orm/core';
import { Organization } from '../auth/entities.js';

/**
 * An organization's test-mode clock: real time plus an offset that only grows. Live mode always
 * runs on real time.
 */
export class TestClock {
  organization!: Organization;
  offsetMs: Opt<number> = 0;
  updatedAt: Opt<Date> = new Date();
}

export const TestClockSchema = new EntitySchema<TestClock>({
  class: TestClock,
  tableName: 'test_clock',
  properties: {
    organization: { kind: 'm:1', entity: () => Organization, primary: true, deleteRule: 'restrict' },
    offsetMs: { type: new BigIntType('number'), columnType: 'bigint', defaultRaw: '0' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
  checks: [{ name: 'test_clock_offset_check', expression: 'offset_ms >= 0' }],
});
