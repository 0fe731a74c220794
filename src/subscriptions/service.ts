import type { EntityManager } from '@mikro-orm/postgresql';
import { QueryOrder } from '@mikro-orm/core';
import { run } from '../db/prepared.ts';
import { Subscription } from '../model/subscriptions.ts';
import { type Tenant, tenantWhere } from '../model/tenant.ts';
import {
  ACTIVE_SUBSCRIPTIONS,
  DUE_BY_REAL_TIME,
  LOCK_ACTIVE_SUBSCRIPTION,
  DUE_BY_TEST_CLOCK,
  type DueSubscription,
  LATEST_SUBSCRIPTIONS,
  SUBSCRIPTIONS_BY_ID,
  type SubscriptionRecord,
} from './store.ts';

/** The active subscriptions of the given customers, by customer id, in one query. */
export async function findActiveSubscriptions(em: EntityManager, tenant: Tenant, customerIds: readonly string[]): Promise<Map<string, SubscriptionRecord>> {
  const found = await run(em, ACTIVE_SUBSCRIPTIONS, { organizationId: tenant.organizationId, mode: tenant.mode, customerIds: [...customerIds] });
  return new Map(found.map((subscription) => [subscription.customer.id, subscription]));
}

/** Each given customer's active subscription, or else the one that ended most recently, by customer id, in one query. */
export async function findLatestSubscriptions(em: EntityManager, tenant: Tenant, customerIds: readonly string[]): Promise<Map<string, SubscriptionRecord>> {
  const found = await run(em, LATEST_SUBSCRIPTIONS, { organizationId: tenant.organizationId, mode: tenant.mode, customerIds: [...customerIds] });
  return new Map(found.map((subscription) => [subscription.customer.id, subscription]));
}

/** Subscriptions by id, any status, in one query; ids the tenant has none of are absent. */
export async function findSubscriptionsById(em: EntityManager, tenant: Tenant, ids: readonly string[]): Promise<Map<string, SubscriptionRecord>> {
  const found = await run(em, SUBSCRIPTIONS_BY_ID, { organizationId: tenant.organizationId, mode: tenant.mode, ids: [...ids] });
  return new Map(found.map((subscription) => [subscription.id, subscription]));
}

/** An active subscription to renew, read again after its balances were locked: a renewal that waited finds the work done. */
export function findActiveForRenewal(tx: EntityManager, tenant: Tenant, id: string): Promise<Subscription | null> {
  return tx.findOne(Subscription, { id, ...tenantWhere(tenant), status: 'ACTIVE' }, { refresh: true });
}

/**
 * The tenant's active subscriptions (or the given customers') whose period ended by `now`, at
 * most `limit`, in customer order: the order seat changes lock balances in. A caller's
 * transaction (a clock advance) holds each customer's locks until it commits, so any other order
 * could deadlock with a batch of changes over several of them.
 */
export async function findDueSubscriptions(
  em: EntityManager,
  tenant: Tenant,
  now: Date,
  customerIds: readonly string[] | undefined,
  limit: number,
): Promise<{ id: string; customerId: string }[]> {
  const due = await em.find(
    Subscription,
    { ...tenantWhere(tenant), status: 'ACTIVE', currentPeriodEnd: { $lte: now }, ...(customerIds ? { customer: { $in: [...customerIds] } } : {}) },
    { fields: ['customer'], orderBy: { customer: QueryOrder.ASC }, limit, disableIdentityMap: true },
  );
  return due.map((subscription) => ({ id: subscription.id, customerId: subscription.customer.id }));
}

/** For the renewal sweeper: up to `limit` subscriptions of every tenant (or one organization) whose period ended, by real time or by their test clock. */
export async function findDueForSweep(em: EntityManager, scope: { now: Date; limit: number; organizationId: string | null }): Promise<DueSubscription[]> {
  return [...(await run(em, DUE_BY_REAL_TIME, scope)), ...(await run(em, DUE_BY_TEST_CLOCK, scope))];
}

/**
 * The customer's active subscription, locked for a lifecycle step: the caller has locked the
 * customer's balances first, as renewals do. Null when the customer has none.
 */
export async function lockActiveSubscription(tx: EntityManager, tenant: Tenant, customerId: string): Promise<Subscription | null> {
  const [locked] = await run(tx, LOCK_ACTIVE_SUBSCRIPTION, { organizationId: tenant.organizationId, mode: tenant.mode, customerId });
  return locked ? tx.findOne(Subscription, { id: locked.id }, { refresh: true }) : null;
}
