import type { EntityManager } from '@mikro-orm/postgresql';
import { createBillingLoaders } from './billing/loaders.js';
import { createCatalogLoaders } from './catalog/loaders.js';
import { createCustomerLoaders } from './customers/loaders.js';
import type { Clock } from './clock/service.js';
import type { Orm } from './db/orm.js';
import type { EventHub } from './events/hub.js';
import type { Logger } from './common/logger.js';
import { createSeatLoaders } from './seats/loaders.js';
import type { SeatChangeWriter } from './seats/service.js';
import { createSubscriptionLoaders } from './subscriptions/loaders.js';
import type { Tenant } from './model/tenant.js';

export type Loaders = ReturnType<typeof createLoaders>;

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
};

/** What loaders read with: the request's unit of work (looked up when a batch runs) and tenant. */
export type RequestScope = { readonly em: EntityManager; readonly tenant: Tenant };

const createLoaders = (scope: RequestScope, now: () => Date) => ({
  ...createCatalogLoaders(scope),
  ...createCustomerLoaders(scope),
  ...createSubscriptionLoaders(scope, now),
  ...createSeatLoaders(scope),
  ...createBillingLoaders(scope),
});

export function createContext(options: {
  orm: Orm;
  tenant: Tenant;
  requestId: string;
  logger: Logger;
  idempotencyKeyHeader?: string | null;
  clock: Clock;
  seatChanges: SeatChangeWriter;
  events: EventHub;
}): Context {
  // Forked when first used: a fork costs about 20 µs (a unit of work, an identity map and their
  // helpers), and a seat change never uses the request's (the coalescer has its own).
  let em: EntityManager | undefined;
  const context: Omit<Context, 'loaders'> & { loaders?: Loaders } = {
    get em() {
      return (em ??= options.orm.em.fork());
    },
    tenant: options.tenant,
    clock: options.clock,
    now: () => options.clock.now(),
    requestId: options.requestId,
    logger: options.logger,
    idempotencyKeyHeader: options.idempotencyKeyHeader ?? null,
    seatChanges: options.seatChanges,
    events: options.events,
  };
  context.loaders = createLoaders(context, () => options.clock.now());
  return context as Context;
}
