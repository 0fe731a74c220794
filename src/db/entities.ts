import { ApiKeySchema, OrganizationSchema } from '../auth/entities.js';
import { FeatureSchema, PlanSchema, PlanSeatFeatureSchema } from '../catalog/entities.js';
import { CustomerSchema } from '../customers/entities.js';
import { SubscriptionSchema } from '../subscriptions/entities.js';
import { SeatChargeSchema } from '../billing/entities.js';
import { TestClockSchema } from '../clock/entities.js';
import { IdempotencyKeySchema } from '../idempotency/entities.js';
import { SeatBalanceSchema, SeatEventSchema } from '../seats/entities.js';
import { OutboxEventSchema } from '../events/entities.js';
import { WebhookAttemptSchema, WebhookDeliverySchema, WebhookEndpointSchema } from '../webhooks/entities.js';

export const entities = [
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
