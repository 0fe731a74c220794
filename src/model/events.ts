import { BigIntType, EntitySchema, type Opt } from '@mikro-orm/core';
import { TenantEntity, TenantEntitySchema } from './base.ts';
import { Customer } from './customers.ts';

export const outboxEventTypes = [
  'seat.changed',
  'charge.created',
  'seat.limit_reached',
  'subscription.cancellation_scheduled',
  'subscription.cancellation_revoked',
  'subscription.canceled',
  'subscription.plan_changed',
  'subscription.plan_change_scheduled',
  'subscription.plan_change_revoked',
  'seat.change_scheduled',
] as const;
export type OutboxEventType = (typeof outboxEventTypes)[number];

/**
 * One thing that happened, written in the transaction that made it happen, so it exists exactly
 * when the change committed. Subscriptions and webhooks read it, never the tables it describes.
 */
export class OutboxEvent extends TenantEntity {
  id!: string;
  /** Insertion order, for the relay to find what it has not published yet. */
  seq!: Opt<string>;
  /**
   * Publication order, given by the relay after commit (one relay at a time): readers follow it,
   * so an event committed late is never skipped by a reader that is already past its `seq`.
   */
  position: string | null = null;
  type!: OutboxEventType;
  customer!: Customer;
  /** The seat feature it is about; the empty string for an event about a whole subscription. */
  featureCode!: string;
  /** The public shape of what happened, as GraphQL and webhooks show it. */
  payload!: Record<string, unknown>;
}

export const OutboxEventSchema = new EntitySchema<OutboxEvent, TenantEntity>({
  class: OutboxEvent,
  extends: TenantEntitySchema,
  tableName: 'outbox_event',
  properties: {
    id: { type: 'text', primary: true },
    seq: { type: new BigIntType('string'), autoincrement: true, unique: 'outbox_event_seq_unique' },
    // Unique where given: a partial index of the migration's.
    position: { type: new BigIntType('string'), nullable: true },
    type: { enum: true, items: [...outboxEventTypes] },
    customer: { kind: 'm:1', entity: () => Customer, deleteRule: 'restrict', updateRule: 'cascade' },
    featureCode: { type: 'text' },
    payload: { type: 'json' },
  },
});
