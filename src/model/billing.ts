import { BigIntType, EntitySchema, type Opt } from '@mikro-orm/core';
import { TenantEntity, TenantEntitySchema } from './base.ts';
import { Feature } from './catalog.ts';
import { Customer } from './customers.ts';
import { SeatEvent } from './seats.ts';
import { Subscription } from './subscriptions.ts';

export type SeatChargeKind = 'ADVANCE' | 'TRUE_UP' | 'CREDIT' | 'PLAN_CHANGE';

/** One charge, with everything that explains its amount. Append-only, like the ledger. */
export class SeatCharge extends TenantEntity {
  id!: string;
  seq!: Opt<string>;
  subscription!: Subscription;
  customer!: Customer;
  feature!: Feature;
  /** The seat event that caused it; none for the advance of a renewal. */
  event?: SeatEvent | null;
  kind!: SeatChargeKind;
  quantity!: number;
  unitPrice!: number;
  daysRemaining!: number;
  daysInPeriod!: number;
  periodStart!: Date;
  periodEnd!: Date;
  /** Minor units of `currency`; negative for a CREDIT, which gives money back. */
  amount!: number;
  currency!: string;
  /** When the charge took effect: the change for a true-up, the period start for an advance. */
  ts!: Date;
}

export const SeatChargeSchema = new EntitySchema<SeatCharge, TenantEntity>({
  class: SeatCharge,
  extends: TenantEntitySchema,
  tableName: 'seat_charge',
  properties: {
    id: { type: 'text', primary: true },
    seq: { type: new BigIntType('string'), autoincrement: true, unique: 'seat_charge_seq_unique' },
    subscription: { kind: 'm:1', entity: () => Subscription, deleteRule: 'restrict', updateRule: 'cascade' },
    customer: { kind: 'm:1', entity: () => Customer, deleteRule: 'restrict', updateRule: 'cascade' },
    feature: { kind: 'm:1', entity: () => Feature, deleteRule: 'restrict', updateRule: 'cascade' },
    event: { kind: 'm:1', entity: () => SeatEvent, nullable: true, deleteRule: 'restrict', updateRule: 'cascade' },
    kind: { enum: true, items: ['ADVANCE', 'TRUE_UP', 'CREDIT', 'PLAN_CHANGE'] },
    quantity: { type: 'integer' },
    unitPrice: { type: 'integer' },
    daysRemaining: { type: 'integer' },
    daysInPeriod: { type: 'integer' },
    periodStart: { type: 'datetime', columnType: 'timestamptz' },
    periodEnd: { type: 'datetime', columnType: 'timestamptz' },
    amount: { type: new BigIntType('number'), columnType: 'bigint' },
    currency: { type: 'text' },
    ts: { type: 'datetime', columnType: 'timestamptz' },
  },
  indexes: [
    { name: 'seat_charge_customer_ts_index', properties: ['customer', 'ts'] },
    { name: 'seat_charge_subscription_period_index', properties: ['subscription', 'periodStart'] },
    { name: 'seat_charge_event_index', properties: ['event'] },
    {
      // One advance per feature and period, however many requests notice the same renewal.
      name: 'seat_charge_one_advance_per_period',
      expression: "create unique index seat_charge_one_advance_per_period on seat_charge (subscription_id, feature_id, period_start) where kind = 'ADVANCE'",
    },
  ],
  checks: [
    { name: 'seat_charge_amount_check', expression: "quantity > 0 and unit_price >= 0 and (kind = 'CREDIT') = (amount < 0)" },
    { name: 'seat_charge_days_check', expression: 'days_remaining between 1 and days_in_period' },
    { name: 'seat_charge_period_check', expression: 'period_start < period_end' },
  ],
});
