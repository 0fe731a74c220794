import type { EntityManager } from '@mikro-orm/postgresql';
import { createBillingLoaders } from './billing/loaders.ts';
import { createCatalogLoaders } from './catalog/loaders.ts';
import { createCustomerLoaders } from './customers/loaders.ts';
import type { Clock } from './clock/service.ts';
import type { WebhookSettings } from './config.ts';
import type { Orm } from './db/orm.ts';
import type { EventHub } from './events/hub.ts';
import type { Logger } from './common/logger.ts';
import { createSeatLoaders } from './seats/loaders.ts';
import type { SeatChangeWriter } from './flows/seat-change.ts';
import { createSubscriptionLoaders } from './subscriptions/loaders.ts';
import type { RequestScope, Tenant } from './model/tenant.ts';
import type { Context, Loaders } from './types.ts';
import { renewDueSubscriptions } from './flows/renewal.ts';

const renewDue = (scope: RequestScope, at: Date, customerIds: string[]) => renewDueSubscriptions(scope.em, scope.tenant, at, customerIds);

const createLoaders = (scope: RequestScope, now: () => Date): Loaders => ({
  ...createCatalogLoaders(scope),
  ...createCustomerLoaders(scope),
  ...createSubscriptionLoaders(scope, now, renewDue),
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
  webhookLoopback: WebhookSettings['loopback'];
}): Context {
  // Forked when first used: a fork builds a unit of work, an identity map and their helpers,
  // and a seat change never uses the request's (the coalescer has its own).
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
    webhookLoopback: options.webhookLoopback,
  };
  context.loaders = createLoaders(context, () => options.clock.now());
  return context as Context;
}
