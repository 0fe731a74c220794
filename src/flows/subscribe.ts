import type { EntityManager } from '@mikro-orm/postgresql';
import { periodBoundary, periodContaining } from '../billing/periods.ts';
import { advanceFor } from '../billing/proration.ts';
import { recordCharge } from '../billing/service.ts';
import { findFeaturesByCode, findPlanByCode } from '../catalog/service.ts';
import { DomainError, validationError } from '../common/errors.ts';
import { newId } from '../common/ids.ts';
import { getCustomer } from '../customers/service.ts';
import { flushUnique } from '../db/errors.ts';
import { recordOutbox } from '../events/service.ts';
import { featureNotFound, type PlanSeatFeature } from '../model/catalog.ts';
import { customerDisplayId } from '../model/customers.ts';
import { SeatBalance, SeatEvent } from '../model/seats.ts';
import { Subscription } from '../model/subscriptions.ts';
import type { Tenant } from '../model/tenant.ts';
import { eventRecordOf } from '../seats/ledger.ts';
import { assertDistinctFeatureCodes } from '../seats/rules.ts';
import { lockBalancesOfCustomer } from '../seats/service.ts';
import { findLatestSubscriptions } from '../subscriptions/service.ts';
import type { SubscriptionRecord } from '../subscriptions/store.ts';
import { changeOutbox } from './announce.ts';
import { renewSubscription } from './renewal.ts';
import { billableBalance } from './seat-pricing.ts';

export type CreateSubscriptionInput = {
  customerId: string;
  planCode: string;
  startAt?: Date | null;
  initialSeats?: { featureCode: string; count: number }[] | null;
};

const activeSubscriptionConflict = (ref: string) =>
  new DomainError('conflict', `Customer '${ref}' already has an active subscription.`, { param: 'customerId' });

/**
 * Subscribes a customer to a plan. Every seat feature of the plan gets a balance: its count in
 * `initialSeats`, which must lie within the feature's limits, or else its minimumSeats. Each
 * listed count, and each minimum above 0, is recorded as a SET event at the start and billed in
 * advance for the first period, like every period start. One flush writes it all.
 *
 * A customer whose last subscription ended subscribes again from its end on: a balance is one row
 * per customer and feature, so the balances it kept carry on. Each is set to its new starting
 * count by a SET event from the count it held (the ledger chain of a balance runs across
 * subscriptions), unless both are 0; its period mark starts afresh.
 */
export async function createSubscription(em: EntityManager, tenant: Tenant, now: Date, input: CreateSubscriptionInput): Promise<SubscriptionRecord> {
  const startAt = input.startAt ?? now;
  if (startAt > now) throw validationError('startAt', 'startAt may not lie in the future.');
  const initialSeats = input.initialSeats ?? [];
  assertDistinctFeatureCodes(initialSeats, 'initialSeats');

  const customer = await getCustomer(em, tenant, input.customerId);
  const previous = (await findLatestSubscriptions(em, tenant, [customer.id])).get(customer.id);
  if (previous?.status === 'ACTIVE') throw activeSubscriptionConflict(input.customerId);
  // The ledger runs forward: the new life of a balance starts after the old one ended.
  if (previous?.endedAt && startAt < previous.endedAt) {
    throw validationError('startAt', `startAt may not lie before the end of the customer's previous subscription: ${previous.endedAt.toISOString()}.`);
  }
  const plan = await findPlanByCode(em, tenant, input.planCode);
  if (!plan) throw new DomainError('plan_not_found', `No plan with code '${input.planCode}'.`, { param: 'planCode' });
  // A start further back would make one request record an advance for every period since.
  const earliest = periodBoundary(now, plan.interval, -1);
  if (startAt < earliest) {
    throw validationError(
      'startAt',
      `startAt may lie at most one billing period (one ${plan.interval === 'MONTH' ? 'month' : 'year'}) before now: ${earliest.toISOString()} at the earliest.`,
    );
  }
  const offered = new Map(plan.seatFeatures.getItems().map((terms) => [terms.feature.code, terms]));

  // The first period runs from the start; if that lies far enough back, renewal catches up below.
  const firstPeriod = periodContaining(startAt, plan.interval, startAt);
  const initial = new Map<string, { count: number; terms: PlanSeatFeature }>();
  for (const [index, entry] of initialSeats.entries()) {
    const terms = offered.get(entry.featureCode);
    if (!terms) {
      const param = `initialSeats.${index}.featureCode`;
      const [exists] = await findFeaturesByCode(em, tenant, [entry.featureCode]);
      throw exists
        ? new DomainError('feature_not_in_plan', `Feature '${entry.featureCode}' is not in plan '${plan.code}'.`, { param })
        : featureNotFound(entry.featureCode, param);
    }
    initial.set(entry.featureCode, { count: billableBalance(0, 'SET', entry.count, terms, entry.featureCode, `initialSeats.${index}.count`), terms });
  }
  // A balance not listed starts at its feature's minimum, recorded and billed like a listed one
  // (the ledger of every balance starts from 0). The plan's own rules keep the minimum valid.
  for (const terms of offered.values()) {
    if (terms.minimumSeats > 0 && !initial.has(terms.feature.code)) {
      initial.set(terms.feature.code, { count: billableBalance(0, 'SET', terms.minimumSeats, terms, terms.feature.code, 'initialSeats'), terms });
    }
  }

  return em.transactional(async (tx) => {
    // Balances kept from an ended subscription, locked in the order every writer of balances follows.
    const kept = new Map((await lockBalancesOfCustomer(tx, customer.id)).map((balance) => [balance.feature.id, balance]));
    const subscription = tx.create(Subscription, {
      id: newId('sub'),
      organization: tenant.organizationId,
      mode: tenant.mode,
      customer: customer.id,
      plan,
      status: 'ACTIVE',
      startAt,
      billingAnchor: startAt,
      currentPeriodStart: firstPeriod.start,
      currentPeriodEnd: firstPeriod.end,
    });
    const previousCounts = new Map<string, number>();
    for (const terms of offered.values()) {
      const count = initial.get(terms.feature.code)?.count ?? 0;
      const highWaterMark = advanceFor(count, terms, firstPeriod)?.quantity ?? 0;
      const balance = kept.get(terms.feature.id);
      if (!balance) {
        tx.create(SeatBalance, {
          customer: customer.id,
          feature: terms.feature,
          organization: tenant.organizationId,
          mode: tenant.mode,
          current: count,
          asOf: startAt,
          highWaterMark,
        });
        continue;
      }
      previousCounts.set(terms.feature.code, balance.current);
      // A kept balance that starts where it stood, at 0, needs no event, as a new one at 0 has none.
      if (balance.current !== count && !initial.has(terms.feature.code)) initial.set(terms.feature.code, { count, terms });
      balance.current = count;
      balance.asOf = startAt;
      balance.highWaterMark = highWaterMark;
    }
    for (const { count, terms } of initial.values()) {
      const previousBalance = previousCounts.get(terms.feature.code) ?? 0;
      const event = tx.create(SeatEvent, {
        id: newId('sev'),
        organization: tenant.organizationId,
        mode: tenant.mode,
        customer: customer.id,
        feature: terms.feature,
        subscription,
        kind: 'SET',
        quantity: count,
        previousBalance,
        newBalance: count,
        ts: startAt,
      });
      const names = { customerId: customerDisplayId(customer), featureCode: terms.feature.code };
      const advance = advanceFor(count, terms, firstPeriod);
      const charge = advance
        ? recordCharge(tx, tenant, advance, { subscription, customer: customer.id, feature: terms.feature, event, currency: plan.currency, ts: startAt, names })
        : null;
      recordOutbox(tx, changeOutbox({ tenant, customer, featureCode: names.featureCode, terms }, eventRecordOf(event, names, charge), charge));
    }
    await flushUnique(tx, {
      subscription_one_active_per_customer: () => activeSubscriptionConflict(input.customerId),
      seat_balance_pkey: () => activeSubscriptionConflict(input.customerId),
    });
    if (firstPeriod.end <= now) await renewSubscription(tx, tenant, { id: subscription.id, customerId: customer.id }, now);
    return {
      id: subscription.id,
      customer: { id: customer.id, externalId: customer.externalId },
      plan: { id: plan.id, code: plan.code, currency: plan.currency, interval: plan.interval },
      status: subscription.status,
      startAt,
      billingAnchor: startAt,
      currentPeriodStart: subscription.currentPeriodStart,
      currentPeriodEnd: subscription.currentPeriodEnd,
      cancelAtPeriodEnd: false,
      scheduledPlanChange: null,
      cancellation: null,
      endedAt: null,
      createdAt: subscription.createdAt,
      mode: tenant.mode,
    };
  });
}
