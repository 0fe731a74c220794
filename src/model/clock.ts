import { EntitySchema, type Opt } from '@mikro-orm/core';
import { Organization } from './auth.js';

/**
 * An organization's test-mode clock. Until it is first advanced it is real time; an advance
 * stops it at the instant advanced to, where it stays until the next advance. Live mode always
 * runs on real time.
 */
export class TestClock {
  organization!: Organization;
  /** The instant the clock stands at; null: real time. */
  frozenAt?: Date | null;
  updatedAt: Opt<Date> = new Date();
}

export const TestClockSchema = new EntitySchema<TestClock>({
  class: TestClock,
  tableName: 'test_clock',
  properties: {
    organization: { kind: 'm:1', entity: () => Organization, primary: true, deleteRule: 'restrict' },
    frozenAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    updatedAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
});
