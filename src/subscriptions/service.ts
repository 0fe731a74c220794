import type { EntityManager } from '@mikro-orm/postgresql';
import { periodContaining } from '../billing/periods.js';
import { findFeaturesByCode, findPlanByCode } from '../catalog/service.js';
import { customerDisplayId } from '../customers/entities.js';
import { getCustomer } from '../customers/service.js';
import { flushUnique } from '../db/errors.js';
import { DomainError, validationError } from '../errors.js';
import { newId } from '../ids.js';
import { SeatBalance } from '../seats/entities.js';
import { assertDistinctFeatureCodes, nextBalance } from '../seats/rules.js';
import { appendSeatEvents, type PlannedChange } from '../seats/ledger.js';
import { advanceFor } from '../billing/proration.js';
import { renewSubscription } from '../billing/service.js';
import type { Tenant } from '../tenant.js';
import { Subscription } from './entities.js';

export type CreateSubscriptionInput = {
  customerId: string;
  planCode: string;
  startAt?: Date | null;
  initialSeats?: { featureCode: string; count: number }[] | null;
};

const activeSubscriptionConflict = (ref: string) =>
  new DomainError('conflict', `Customer '${ref}' already has an active subscription.`, { param: 'customerId' });

/**
 * Subscribes a customer to a plan. Every seat feature of the plan gets a balance (0 unless
 * `initialSeats` says otherwise); each initial count is recorded as a SET event at the start.
 */
export async function createSubscription(em: EntityManager, tenant: Tenant, now: Date, input: CreateSubscriptionInput): Promise<Subscription> {
  const startAt = input.startAt ?? now;
  if (startAt > now) throw validationError('startAt', 'startAt may not lie in the future.');
  const initialSeats = input.initialSeats ?? [];
  assertDistinctFeatureCodes(initialSeats, 'initialSeats');

  const customer = await getCustomer(em, tenant, input.customerId);
  const plan = await findPlanByCode(em, tenant, input.planCode);
  if (!plan) throw new DomainError('plan_not_found', `No plan with code '${input.planCode}'.`, { param: 'planCode' });
  const terms = new Map(plan.seatFeatures.getItems().map((terms) => [terms.feature.code, terms]));

  // The first period runs from the start; if that lies far enough back, renewal catches up below.
  const firstPeriod = periodContaining(startAt, plan.interval, startAt);
  const changes: PlannedChange[] = [];
  for (const [index, entry] of initialSeats.entries()) {
    const seatTerms = terms.get(entry.featureCode);
    const param = `initialSeats.${index}.featureCode`;
    if (!seatTerms) {
      const [exists] = await findFeaturesByCode(em, tenant, [entry.featureCode]);
      throw exists
        ? new DomainError('feature_not_in_plan', `Feature '${entry.featureCode}' is not in plan '${plan.code}'.`, { param })
        : new DomainError('feature_not_found', `No feature with code '${entry.featureCode}'.`, { param });
    }
    const count = nextBalance(0, 'SET', entry.count, seatTerms, entry.featureCode, `initialSeats.${index}.count`);
    // Initial seats are billed in advance for the first period, like every period start.
    const advance = advanceFor(count, seatTerms, firstPeriod);
    changes.push({
      featureId: seatTerms.feature.id,
      featureCode: entry.featureCode,
      kind: 'SET',
      quantity: entry.count,
      previousBalance: 0,
      newBalance: count,
      highWaterMark: advance?.quantity ?? 0,
      charge: advance,
    });
  }

  return em.transactional(async (tx) => {
    const subscription = tx.create(Subscription, {
      id: newId('sub'),
      organization: tenant.organizationId,
      mode: tenant.mode,
      customer,
      plan,
      status: 'ACTIVE',
      startAt,
      currentPeriodStart: firstPeriod.start,
      currentPeriodEnd: firstPeriod.end,
    });
    for (const seatTerms of plan.seatFeatures) {
      tx.create(SeatBalance, {
        customer,
        feature: seatTerms.feature,
        organization: tenant.organizationId,
        mode: tenant.mode,
        current: 0,
        asOf: startAt,
      });
    }
    await flushUnique(tx, {
      subscription_one_active_per_customer: () => activeSubscriptionConflict(input.customerId),
      seat_balance_pkey: () => activeSubscriptionConflict(input.customerId),
    });
    if (changes.length > 0) {
      await appendSeatEvents(
        tx,
        tenant,
        { customerId: customer.id, displayId: customerDisplayId(customer), subscriptionId: subscription.id, currency: plan.currency, ts: startAt },
        changes,
      );
    }
    if (firstPeriod.end <= now) {
      await renewSubscription(tx, tenant, subscription.id, now);
      const current = periodContaining(startAt, plan.interval, now);
      subscription.currentPeriodStart = current.start;
      subscription.currentPeriodEnd = current.end;
    }
    return subscription;
  });
}

/** `refresh` reloads subscriptions this unit of work already holds (after a renewal changed them). */
export async function findActiveSubscriptions(
  em: EntityManager,
  tenant: Tenant,
  customerIds: readonly string[],
  options: { refresh?: boolean } = {},
): Promise<Map<string, Subscription>> {
  const found = await em.find(
    Subscription,
    { organization: tenant.organizationId, mode: tenant.mode, status: 'ACTIVE', customer: { $in: [...customerIds] } },
    { populate: ['plan', 'customer'], refresh: options.refresh },
  );
  return new Map(found.map((subscription) => [subscription.customer.id, subscription]));
}
