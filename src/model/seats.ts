import { BigIntType, EntitySchema, type Opt, PrimaryKeyProp } from '@mikro-orm/core';
import { TenantEntity, TenantEntitySchema, TenantScoped, TenantScopedSchema } from './base.ts';
import { Feature } from './catalog.ts';
import { Customer } from './customers.ts';
import { Subscription } from './subscriptions.ts';

export type SeatEventKind = 'ADD' | 'REMOVE' | 'SET';

/** The current number of seats a customer holds of one feature. Changed only under a row lock. */
export class SeatBalance extends TenantScoped {
  [PrimaryKeyProp]?: ['customer', 'feature'];
  customer!: Customer;
  feature!: Feature;
  current!: number;
  /** Time of the last change (the subscription start before any change). */
  asOf!: Date;
  /** Billable seats already charged for the subscription's current period. */
  highWaterMark: Opt<number> = 0;
  /**
   * A decrease scheduled for the period end: the count the renewal sets, when, and the id of
   * the SET event it records then (the id callers were given). All three or none.
   */
  scheduledCount: number | null = null;
  scheduledEffectiveAt: Date | null = null;
  scheduledEventId: string | null = null;
}

/**
 * A decrease as it was scheduled, kept so that a repeat of the idempotent call answers what the
 * first was told even after the change was replaced or cancelled. Never updated.
 */
export class SeatScheduledChange extends TenantEntity {
  /** The id of the SET event the renewal records if the change is still scheduled then. */
  id!: string;
  customer!: Customer;
  feature!: Feature;
  subscription!: Subscription;
  count!: number;
  previousBalance!: number;
  effectiveAt!: Date;
}

/** One change of one balance. Append-only: the ledger is never updated or deleted. */
export class SeatEvent extends TenantEntity {
  id!: string;
  /** Insertion order; newest-first paging and cursors use it. */
  seq!: Opt<string>;
  customer!: Customer;
  feature!: Feature;
  subscription!: Subscription;
  kind!: SeatEventKind;
  /** The count the caller asked for (the target for SET). */
  quantity!: number;
  previousBalance!: number;
  newBalance!: number;
  ts!: Date;
}

export const SeatBalanceSchema = new EntitySchema<SeatBalance, TenantScoped>({
  class: SeatBalance,
  extends: TenantScopedSchema,
  tableName: 'seat_balance',
  properties: {
    customer: { kind: 'm:1', entity: () => Customer, primary: true, deleteRule: 'restrict', updateRule: 'cascade' },
    feature: { kind: 'm:1', entity: () => Feature, primary: true, deleteRule: 'restrict', updateRule: 'cascade' },
    current: { type: 'integer' },
    asOf: { type: 'datetime', columnType: 'timestamptz' },
    highWaterMark: { type: 'integer', defaultRaw: '0' },
    scheduledCount: { type: 'integer', nullable: true },
    scheduledEffectiveAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    scheduledEventId: { type: 'text', nullable: true },
  },
  checks: [
    { name: 'seat_balance_current_check', expression: 'current >= 0' },
    { name: 'seat_balance_high_water_mark_check', expression: 'high_water_mark >= 0' },
    {
      name: 'seat_balance_scheduled_check',
      expression:
        '(scheduled_count is null and scheduled_effective_at is null and scheduled_event_id is null) or ' +
        '(scheduled_count >= 0 and scheduled_effective_at is not null and scheduled_event_id is not null)',
    },
  ],
});

export const SeatScheduledChangeSchema = new EntitySchema<SeatScheduledChange, TenantEntity>({
  class: SeatScheduledChange,
  extends: TenantEntitySchema,
  tableName: 'seat_scheduled_change',
  properties: {
    id: { type: 'text', primary: true },
    // Deleting test data deletes customers and subscriptions; their scheduling history goes with them.
    customer: { kind: 'm:1', entity: () => Customer, deleteRule: 'cascade', updateRule: 'cascade' },
    feature: { kind: 'm:1', entity: () => Feature, deleteRule: 'restrict', updateRule: 'cascade' },
    subscription: { kind: 'm:1', entity: () => Subscription, deleteRule: 'cascade', updateRule: 'cascade' },
    count: { type: 'integer' },
    previousBalance: { type: 'integer' },
    effectiveAt: { type: 'datetime', columnType: 'timestamptz' },
  },
  checks: [{ name: 'seat_scheduled_change_count_check', expression: 'count >= 0 and count < previous_balance' }],
});

export const SeatEventSchema = new EntitySchema<SeatEvent, TenantEntity>({
  class: SeatEvent,
  extends: TenantEntitySchema,
  tableName: 'seat_event',
  properties: {
    id: { type: 'text', primary: true },
    seq: { type: new BigIntType('string'), autoincrement: true, unique: 'seat_event_seq_unique' },
    customer: { kind: 'm:1', entity: () => Customer, deleteRule: 'restrict', updateRule: 'cascade' },
    feature: { kind: 'm:1', entity: () => Feature, deleteRule: 'restrict', updateRule: 'cascade' },
    subscription: { kind: 'm:1', entity: () => Subscription, deleteRule: 'restrict', updateRule: 'cascade' },
    kind: { enum: true, items: ['ADD', 'REMOVE', 'SET'] },
    quantity: { type: 'integer' },
    previousBalance: { type: 'integer' },
    newBalance: { type: 'integer' },
    ts: { type: 'datetime', columnType: 'timestamptz' },
  },
  indexes: [
    { name: 'seat_event_customer_seq_index', properties: ['customer', 'seq'] },
    { name: 'seat_event_customer_feature_seq_index', properties: ['customer', 'feature', 'seq'] },
  ],
  checks: [
    { name: 'seat_event_balances_check', expression: 'previous_balance >= 0 and new_balance >= 0' },
    {
      name: 'seat_event_change_check',
      expression:
        "(kind = 'ADD' and quantity > 0 and new_balance = previous_balance + quantity) or " +
        "(kind = 'REMOVE' and quantity > 0 and new_balance = previous_balance - quantity) or " +
        "(kind = 'SET' and quantity >= 0 and new_balance = quantity)",
    },
  ],
});
