import { ApiKeySchema } from './auth.js';
import { TenantEntitySchema, TenantScopedSchema } from './base.js';
import { OrganizationSchema } from './organization.js';
import { FeatureSchema, PlanSchema, PlanSeatFeatureSchema } from './catalog.js';
import { CustomerSchema } from './customers.js';
import { SubscriptionSchema } from './subscriptions.js';
import { SeatChargeSchema } from './billing.js';
import { TestClockSchema } from './clock.js';
import { IdempotencyKeySchema } from './idempotency.js';
import { SeatBalanceSchema, SeatEventSchema } from './seats.js';
import { OutboxEventSchema } from './events.js';
import { WebhookAttemptSchema, WebhookDeliverySchema, WebhookEndpointSchema } from './webhooks.js';

export const entities = [
  TenantScopedSchema,
  TenantEntitySchema,
  OrganizationSchema,
  ApiKeySchema,
  FeatureSchema,
  PlanSchema,
  PlanSeatFeatureSchema,
  CustomerSchema,
  SubscriptionSchema,
  SeatBalanceSchema,
  SeatEventSchema,
  IdempotencyKeySchema,
  SeatChargeSchema,
  TestClockSchema,
  OutboxEventSchema,
  WebhookEndpointSchema,
  WebhookDeliverySchema,
  WebhookAttemptSchema,
];
