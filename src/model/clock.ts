import { EntitySchema, type Opt } from '@mikro-orm/core';
import { read } from '../db/prepared.ts';
import { Organization } from './organization.ts';

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
    organization: { kind: 'm:1', entity: () => Organization, primary: true, deleteRule: 'restrict', updateRule: 'cascade' },
    frozenAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    updatedAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
});

/** A test clock as callers and caches hold it: the instant it stands at (null: real time), and when it last changed, which orders its states. */
export type TestClockState = { frozenAt: Date | null; version: number };

/** A test_clock row (frozen_at, updated_at) as its state. */
export const parseTestClock = (row: Record<string, unknown>): TestClockState => ({
  frozenAt: row.frozen_at ? read.date(row.frozen_at) : null,
  version: read.date(row.updated_at).getTime(),
});
