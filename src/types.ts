import type { EntityManager } from '@mikro-orm/postgresql';
import type { createBillingLoaders } from './billing/loaders.ts';
import type { createCatalogLoaders } from './catalog/loaders.ts';
import type { Clock } from './clock/service.ts';
import type { WebhookSettings } from './config.ts';
import type { Logger } from './common/logger.ts';
import type { createCustomerLoaders } from './customers/loaders.ts';
import type { EventHub } from './events/hub.ts';
import type { SeatChangeWriter } from './flows/seat-change.ts';
import type { createSeatLoaders } from './seats/loaders.ts';
import type { createSubscriptionLoaders } from './subscriptions/loaders.ts';
import type { Tenant } from './model/tenant.ts';

// The types every door shares (Pothos's app layout: src/types.ts). Types only: nothing here
// runs, so any file may import them without pulling in what builds them (context.ts).

/** Every domain's DataLoaders of one request. */
export type Loaders = ReturnType<typeof createCatalogLoaders> &
  ReturnType<typeof createCustomerLoaders> &
  ReturnType<typeof createSubscriptionLoaders> &
  ReturnType<typeof createSeatLoaders> &
  ReturnType<typeof createBillingLoaders>;

/** One request's context, for GraphQL resolvers and REST routes alike. */
export type Context = {
  /** A fork of the ORM's EntityManager: one unit of work per request, forked when first used. */
  readonly em: EntityManager;
  tenant: Tenant;
  /** The request's clock (the test clock for test keys); every time-dependent rule reads it. */
  clock: Clock;
  now(): Date;
  loaders: Loaders;
  requestId: string;
  logger: Logger;
  /** The request's Idempotency-Key header, for a request holding one mutation. */
  idempotencyKeyHeader: string | null;
  /** Where seat changes go: the process's coalescer, which applies them in shared transactions. */
  seatChanges: SeatChangeWriter;
  /** The process's event hub, which subscriptions read. */
  events: EventHub;
  /** Whether test keys' webhook URLs may be loopback, and on which ports (WEBHOOK_ALLOW_LOOPBACK, WEBHOOK_LOOPBACK_PORTS). */
  webhookLoopback: WebhookSettings['loopback'];
};
