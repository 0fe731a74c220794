import { ApiKeySchema } from './auth.ts';
import { TenantEntitySchema, TenantScopedSchema } from './base.ts';
import { OrganizationSchema, OrganizationSettingsSchema } from './organization.ts';
import { FeatureSchema, PlanSchema, PlanSeatFeatureSchema } from './catalog.ts';
import { CustomerSchema } from './customers.ts';
import { SubscriptionSchema } from './subscriptions.ts';
import { SeatChargeSchema } from './billing.ts';
import { TestClockSchema } from './clock.ts';
import { IdempotencyKeySchema } from './idempotency.ts';
import { SeatBalanceSchema, SeatEventSchema, SeatScheduledChangeSchema } from './seats.ts';
import { OutboxEventSchema } from './events.ts';
import { WebhookAttemptSchema, WebhookDeliverySchema, WebhookEndpointSchema } from './webhooks.ts';

export const entities = [
  TenantScopedSchema,
  TenantEntitySchema,
  OrganizationSchema,
  OrganizationSettingsSchema,
  ApiKeySchema,
  FeatureSchema,
  PlanSchema,
  PlanSeatFeatureSchema,
  CustomerSchema,
  SubscriptionSchema,
  SeatBalanceSchema,
  SeatEventSchema,
  SeatScheduledChangeSchema,
  IdempotencyKeySchema,
  SeatChargeSchema,
  TestClockSchema,
  OutboxEventSchema,
  WebhookEndpointSchema,
  WebhookDeliverySchema,
  WebhookAttemptSchema,
];
