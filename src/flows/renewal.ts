import type { EntityManager } from '@mikro-orm/postgresql';
import { type Period, periodContaining } from '../billing/periods.ts';
import { advanceFor, billableSeats } from '../billing/proration.ts';
import { insertCharges, newCharge } from '../billing/service.ts';
import { planTerms } from '../catalog/service.ts';
import { DomainError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { singleFlight, type Worker } from '../common/workers.ts';
import { customerById } from '../customers/service.ts';
import type { Orm } from '../db/orm.ts';
import { insertOutbox, type OutboxEntry } from '../events/service.ts';
import { customerDisplayId } from '../model/customers.ts';
import type { Tenant } from '../model/tenant.ts';
import { eventRecordOf } from '../seats/ledger.ts';
import { applyDueDecreases, lockBalancesOfCustomer } from '../seats/service.ts';
import { findActiveForRenewal, findDueForSweep, findDueSubscriptions, findSubscriptionsById } from '../subscriptions/service.ts';
import { type ChangedBalance, changeOutbox, chargeOutbox, subscriptionOutbox } from './announce.ts';
import { applyScheduledPlanChange } from './plan-change-at-renewal.ts';

// A renewal: a subscription whose period ended enters the next one, billing each period it
// enters in advance for the seats held, in a transaction per bounded step. Requests renew what
// they touch; the sweeper renews the rest.

/** Advance rows per insert statement: building one holds the event loop in proportion to its rows. */
const rowsPerInsert = 200;

/**
 * A renewal enters at most this many periods in one transaction (with at most 100 seat
 * features, at most 1,200 advances), so a long catch-up after the test clock jumped years ahead
 * proceeds in bounded steps rather than one unbounded transaction.
 */
export const maxPeriodsPerRenewal = 12;
/** The renewal steps one request may take; the sweeper (below) takes the rest. */
const maxRenewalStepsPerRequest = 4;
/** The steps of one call of the renewDueSubscriptions mutation, or of one clock advance. */
export const maxRenewalStepsPerCall = 10;

export type Renewal = { entered: number; caughtUp: boolean };

/**
 * Rolls a subscription whose period has ended towards the period containing `now`, by at most
 * maxPeriodsPerRenewal periods, recording the advance of every period it enters for the
 * billable seats held then, and resetting each high-water mark to them.
 *
 * The customer's balances are locked first, in the global order of every seat change: a renewal
 * and a change of one customer queue on the same rows, never on each other's in reverse. The
 * subscription is read after the lock, so a renewal that waited finds the work done.
 */
export async function renewSubscription(tx: EntityManager, tenant: Tenant, due: { id: string; customerId: string }, now: Date): Promise<Renewal> {
  const balances = await lockBalancesOfCustomer(tx, due.customerId);
  const subscription = await findActiveForRenewal(tx, tenant, due.id);
  if (!subscription || subscription.currentPeriodEnd > now) return { entered: 0, caughtUp: true };
  if (subscription.cancelAtPeriodEnd) {
    // A cancellation was scheduled: the period's end ends the subscription, and nothing more is billed.
    subscription.status = 'CANCELED';
    subscription.cancelAtPeriodEnd = false;
    subscription.endedAt = subscription.currentPeriodEnd;
    await tx.flush();
    const ended = (await findSubscriptionsById(tx, tenant, [subscription.id])).get(subscription.id)!;
    await insertOutbox(tx, [subscriptionOutbox(tenant, 'subscription.canceled', ended)]);
    return { entered: 0, caughtUp: true };
  }
  const customer = await customerById(tx, due.customerId);
  const customerId = customerDisplayId(customer);
  // What was scheduled for this period end applies before the advance, in the order it was
  // asked for under the plan in force: seat decreases, then a plan change, which brings the
  // balances within the new plan's limits. The advance then bills the new plan's terms.
  const terms = await planTerms(tx, subscription.plan.id);
  await applyScheduledDecreases(tx, tenant, subscription.id, balances, subscription.currentPeriodEnd, (featureId) => {
    const featureTerms = terms.features.get(featureId);
    return featureTerms && { tenant, customer, featureCode: featureTerms.featureCode, terms: featureTerms };
  });
  const planChanged = subscription.scheduledPlan !== null;
  const { interval, currency, features: termsByFeature } = planChanged ? await applyScheduledPlanChange(tx, tenant, subscription, balances, terms) : terms;

  let period: Period = { start: subscription.currentPeriodStart, end: subscription.currentPeriodEnd };
  let entered = 0;
  // Advances are written as plain rows, not managed entities: nothing changes them afterwards,
  // and the unit of work's bookkeeping for a thousand of them would hold the event loop. Each
  // insert is built synchronously, so they go in chunks as they come, the event loop free between.
  let advances: ReturnType<typeof newCharge>['row'][] = [];
  let announced: OutboxEntry[] = [];
  const insert = async () => {
    await insertCharges(tx, advances);
    // Each advance is told like every charge; same transaction, so both commit or neither.
    await insertOutbox(tx, announced);
    advances = [];
    announced = [];
  };
  while (period.end <= now && entered < maxPeriodsPerRenewal) {
    period = periodContaining(subscription.billingAnchor, interval, period.end);
    entered++;
    for (const balance of balances) {
      const featureTerms = termsByFeature.get(balance.feature.id);
      const advance = featureTerms ? advanceFor(balance.current, featureTerms, period) : null;
      if (advance) {
        const names = { customerId, featureCode: featureTerms!.featureCode };
        const on = { subscription: subscription.id, customer: due.customerId, feature: balance.feature.id, event: null, currency, ts: period.start, names };
        const { row, record } = newCharge(tenant, advance, on);
        advances.push(row);
        announced.push(chargeOutbox(tenant, due.customerId, record));
      }
    }
    if (advances.length >= rowsPerInsert) await insert();
  }
  if (advances.length > 0) await insert();
  for (const balance of balances) {
    const terms = termsByFeature.get(balance.feature.id);
    if (terms) balance.highWaterMark = billableSeats(balance.current, terms);
  }
  subscription.currentPeriodStart = period.start;
  subscription.currentPeriodEnd = period.end;
  await tx.flush();
  if (planChanged) {
    const changed = (await findSubscriptionsById(tx, tenant, [subscription.id])).get(subscription.id)!;
    await insertOutbox(tx, [subscriptionOutbox(tenant, 'subscription.plan_changed', changed)]);
  }
  return { entered, caughtUp: period.end > now };
}

/**
 * The decreases scheduled for the end of the period being left apply first, at that instant, so
 * the advance of the next period bills the lower count. Each is told as a seat.changed.
 */
async function applyScheduledDecreases(
  tx: EntityManager,
  tenant: Tenant,
  subscriptionId: string,
  balances: Parameters<typeof applyDueDecreases>[3],
  periodEnd: Date,
  changedBalanceOf: (featureId: string) => ChangedBalance | undefined,
): Promise<void> {
  const applied = applyDueDecreases(tx, tenant, subscriptionId, balances, periodEnd);
  const told = applied.flatMap(({ balance, event }) => {
    const changed = changedBalanceOf(balance.feature.id);
    return changed
      ? changeOutbox(changed, eventRecordOf(event, { customerId: customerDisplayId(changed.customer), featureCode: changed.featureCode }, null), null)
      : [];
  });
  await insertOutbox(tx, told);
}

export type RenewalSummary = { subscriptions: number; periods: number; caughtUp: boolean };

/**
 * Renews the subscriptions of the tenant (or of the given customers) whose period has ended, in
 * at most `maxSteps` renewal transactions; `caughtUp` is false when some are still behind.
 */
export async function renewDueSubscriptions(
  em: EntityManager,
  tenant: Tenant,
  now: Date,
  customerIds?: readonly string[],
  maxSteps = maxRenewalStepsPerRequest,
): Promise<RenewalSummary> {
  const due = await findDueSubscriptions(em, tenant, now, customerIds, maxSteps + 1);
  let periods = 0;
  let subscriptions = 0;
  let steps = 0;
  for (const subscription of due) {
    let entered = 0;
    let caughtUp = false;
    while (!caughtUp && steps < maxSteps) {
      // One transaction per step: a failure leaves earlier steps done, and a retry goes on from there.
      const renewal = await em.transactional((tx) => renewSubscription(tx, tenant, subscription, now));
      steps++;
      entered += renewal.entered;
      caughtUp = renewal.caughtUp;
    }
    periods += entered;
    if (entered > 0) subscriptions++;
    if (!caughtUp) return { subscriptions, periods, caughtUp: false };
  }
  return { subscriptions, periods, caughtUp: true };
}

/** Renews what a request needs current; answers `conflict` when a long catch-up is still under way. */
export async function renewBeforeUse(em: EntityManager, tenant: Tenant, now: Date, customerIds: readonly string[]): Promise<void> {
  const { caughtUp } = await renewDueSubscriptions(em, tenant, now, customerIds);
  if (!caughtUp) {
    throw new DomainError('conflict', 'The subscription is catching up on periods after the clock jumped ahead; retry in a few seconds.');
  }
}

/** Subscriptions one sweep looks at; each gets one renewal step. */
const sweepSize = 50;

/**
 * One sweep: renews, by one bounded step each, up to `sweepSize` subscriptions whose period has
 * ended, of every tenant or of one organization. A subscription that fails to renew is logged
 * and left for the next sweep. Returns how many advanced, so a caller knows whether more may be due.
 */
export async function sweepDueRenewals(orm: Orm, logger: Logger, options: { realNow?: () => number; organizationId?: string } = {}): Promise<number> {
  const now = new Date((options.realNow ?? Date.now)());
  const due = await findDueForSweep(orm.em.fork(), { now, limit: sweepSize, organizationId: options.organizationId ?? null });
  const seen = new Set<string>();
  let advanced = 0;
  for (const subscription of due) {
    if (seen.has(subscription.id)) continue;
    seen.add(subscription.id);
    const tenant = { organizationId: subscription.organizationId, mode: subscription.mode };
    const at = subscription.frozenAt ?? now;
    try {
      const renewal = await orm.em.transactional((tx) => renewSubscription(tx, tenant, { id: subscription.id, customerId: subscription.customerId }, at));
      if (renewal.entered > 0) advanced++;
    } catch (error) {
      logger.warn('a subscription failed to renew; the next sweep tries again', { subscriptionId: subscription.id, error });
    }
  }
  return advanced;
}

/**
 * Renews in the background what no request has: long catch-ups after a test clock jumped ahead
 * (requests take only a few steps), and subscriptions nobody touched when their period ended.
 * Every server process runs one; several are safe, since renewals lock the balances they touch
 * and find the work done when they waited. Sweeps every `everyMs`, and back to back while work
 * remains. Stopping waits for a sweep under way, so the database is not closed beneath it.
 */
export function renewalSweeper(orm: Orm, logger: Logger, options: { everyMs?: number } = {}): Worker {
  const everyMs = options.everyMs ?? 5000;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const sweeping = singleFlight(async () => {
    for (let busy = true; busy && !stopped; ) {
      try {
        busy = (await sweepDueRenewals(orm, logger)) > 0;
      } catch (error) {
        logger.warn('renewal sweep failed; retrying later', { error });
        busy = false;
      }
    }
  });
  return {
    name: 'renewal-sweeper',
    start() {
      timer = setInterval(() => void sweeping.kick(), everyMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await sweeping.idle();
    },
  };
}
