import type { EntityManager } from '@mikro-orm/postgresql';
import { createCatalogLoaders } from './catalog/loaders.js';
import { createCustomerLoaders } from './customers/loaders.js';
import type { Orm } from './db/orm.js';
import type { Logger } from './logger.js';
import { createSeatLoaders } from './seats/loaders.js';
import { createSubscriptionLoaders } from './subscriptions/loaders.js';
import type { Tenant } from './tenant.js';

export type Loaders = ReturnType<typeof createLoaders>;

export type Context = {
  /** A fork of the ORM's EntityManager: one unit of work per request. */
  em: EntityManager;
  tenant: Tenant;
  /** The request's clock; every time-dependent rule reads it. */
  now(): Date;
  loaders: Loaders;
  requestId: string;
  logger: Logger;
  /** The request's Idempotency-Key header, for a request holding one mutation. */
  idempotencyKeyHeader: string | null;
};

const createLoaders = (em: EntityManager, tenant: Tenant) => ({
  ...createCatalogLoaders(em, tenant),
  ...createCustomerLoaders(em, tenant),
  ...createSubscriptionLoaders(em, tenant),
  ...createSeatLoaders(em, tenant),
});

export function createContext(options: {
  orm: Orm;
  tenant: Tenant;
  requestId: string;
  logger: Logger;
  idempotencyKeyHeader?: string | null;
  now?: () => Date;
}): Context {
  const em = options.orm.em.fork();
  return {
    em,
    tenant: options.tenant,
    now: options.now ?? (() => new Date()),
    loaders: createLoaders(em, options.tenant),
    requestId: options.requestId,
    logger: options.logger,
    idempotencyKeyHeader: options.idempotencyKeyHeader ?? null,
  };
}
