import { EntitySchema, type Opt } from '@mikro-orm/core';
import { TenantEntity, TenantEntitySchema } from './base.ts';
import { OutboxEvent, type OutboxEventType } from './events.ts';

/** Where an organization wants its events sent, signed with a secret only it and seatgate know. */
export class WebhookEndpoint extends TenantEntity {
  id!: string;
  url!: string;
  events!: OutboxEventType[];
  description: Opt<string> = '';
  /** whsec_…: shown once, at creation and at each rotation; kept to sign deliveries. */
  secret!: string;
  disabledAt: Date | null = null;
  /** Why it was disabled, in words for its owner: by disableWebhookEndpoint, or automatically for failing; null while enabled. */
  disabledReason: string | null = null;
  /** Attempts failed in a row since its last success (or since it was created or enabled). */
  consecutiveFailures: Opt<number> = 0;
  /** When the first of those failed attempts was made; null while the streak is empty. */
  failingSince: Date | null = null;
}

export type WebhookDeliveryStatus = 'pending' | 'succeeded' | 'failed';

/** One event owed to one endpoint; its id is the `webhook-id` every attempt carries. */
export class WebhookDelivery extends TenantEntity {
  id!: string;
  endpoint!: WebhookEndpoint;
  event!: OutboxEvent;
  status: Opt<WebhookDeliveryStatus> = 'pending';
  attempts: Opt<number> = 0;
  /** When a worker may next take it; a claimed delivery is pushed out by the claim's lease. */
  nextAttemptAt!: Date;
  lastStatusCode: number | null = null;
  lastError: string | null = null;
  completedAt: Date | null = null;
}

/** One HTTP attempt of a delivery. */
export class WebhookAttempt {
  id!: string;
  delivery!: WebhookDelivery;
  attemptedAt!: Date;
  statusCode: number | null = null;
  latencyMs!: number;
  error: string | null = null;
}

export const WebhookEndpointSchema = new EntitySchema<WebhookEndpoint, TenantEntity>({
  class: WebhookEndpoint,
  extends: TenantEntitySchema,
  tableName: 'webhook_endpoint',
  properties: {
    id: { type: 'text', primary: true },
    url: { type: 'text' },
    events: { type: 'text[]' },
    description: { type: 'text', defaultRaw: `''` },
    secret: { type: 'text' },
    disabledAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    disabledReason: { type: 'text', nullable: true },
    consecutiveFailures: { type: 'integer', defaultRaw: '0' },
    failingSince: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});

export const WebhookDeliverySchema = new EntitySchema<WebhookDelivery, TenantEntity>({
  class: WebhookDelivery,
  extends: TenantEntitySchema,
  tableName: 'webhook_delivery',
  properties: {
    id: { type: 'text', primary: true },
    endpoint: { kind: 'm:1', entity: () => WebhookEndpoint, deleteRule: 'cascade', updateRule: 'cascade' },
    event: { kind: 'm:1', entity: () => OutboxEvent, deleteRule: 'cascade', updateRule: 'cascade' },
    status: { enum: true, items: ['pending', 'succeeded', 'failed'], defaultRaw: `'pending'` },
    attempts: { type: 'integer', defaultRaw: '0' },
    nextAttemptAt: { type: 'datetime', columnType: 'timestamptz' },
    lastStatusCode: { type: 'integer', nullable: true },
    lastError: { type: 'text', nullable: true },
    completedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
  uniques: [{ name: 'webhook_delivery_endpoint_event_unique', properties: ['endpoint', 'event'] }],
  indexes: [
    { name: 'webhook_delivery_event_index', properties: ['event'] },
    // The workers' fair claim walks the endpoints that have pending deliveries through it (CLAIM_DUE).
    { name: 'webhook_delivery_pending_endpoint_index', properties: ['endpoint', 'nextAttemptAt'], where: `status = 'pending'` },
  ],
});

export const WebhookAttemptSchema = new EntitySchema<WebhookAttempt>({
  class: WebhookAttempt,
  tableName: 'webhook_attempt',
  properties: {
    id: { type: 'text', primary: true },
    delivery: { kind: 'm:1', entity: () => WebhookDelivery, deleteRule: 'cascade', updateRule: 'cascade' },
    attemptedAt: { type: 'datetime', columnType: 'timestamptz' },
    statusCode: { type: 'integer', nullable: true },
    latencyMs: { type: 'integer' },
    error: { type: 'text', nullable: true },
  },
  indexes: [{ name: 'webhook_attempt_delivery_index', properties: ['delivery', 'attemptedAt'] }],
});
