import type { EntityManager } from '@mikro-orm/postgresql';
import { type Period, periodContaining } from '../billing/periods.ts';
import { billableSeats, planChangeChargeFor, withinAmountLimit } from '../billing/proration.ts';
import { insertCharges, newCharge } from '../billing/service.ts';
import { findPlanByCode, planTerms } from '../catalog/service.ts';
import { DomainError, type ErrorDetail, validationError } from '../common/errors.ts';
import { customerById } from '../customers/service.ts';
import type { PlanTerms } from '../catalog/store.ts';
import { Plan, type PlanInterval } from '../model/catalog.ts';
import { customerDisplayId } from '../model/customers.ts';
import type { SeatChargeRecord } from '../model/records.ts';
import type { SeatBalance } from '../model/seats.ts';
import type { Tenant } from '../model/tenant.ts';
import type { SeatLimitWarning, SubscriptionRecord } from '../subscriptions/store.ts';
import { chargeOutbox } from './announce.ts';
import { creditUnusedDays } from './cancel.ts';
import { dryRunLifecycleStep, idempotentCall, type LifecycleStepBody, lifecycleStep } from './lifecycle.ts';
import { effectiveMaximum, switchBalancesToPlan } from './plan-switch.ts';

// Moving a subscription to another plan: at once, with a credit for the old plan's unused days
// and the new plan's charge for the rest of the period; or at the period end, where the renewal
// applies it (plan-change-at-renewal.ts). Both are lifecycle steps (lifecycle.ts).

type PlanChangeTiming = 'AUTO' | 'IMMEDIATELY' | 'AT_PERIOD_END';
type AppliedTiming = Exclude<PlanChangeTiming, 'AUTO'>;

export type ChangePlanInput = { customerId: string; planCode: string; timing?: PlanChangeTiming | null; idempotencyKey?: string | null };
export type RevokeScheduledPlanChangeInput = { customerId: string; idempotencyKey?: string | null };

/** What a change did, or would do. */
type PlanChangeOutcome = {
  timing: AppliedTiming;
  /** The instant the new plan takes effect: now, or the period end. */
  effectiveAt: Date;
  /** The credits of the old plan, then the charges of the new one; none for a scheduled change. */
  charges: SeatChargeRecord[];
};

const monthsOf: Record<PlanInterval, number> = { MONTH: 1, YEAR: 12 };

/** What a plan's seats cost for one period at the given counts (features it lacks cost nothing). */
function pricePerPeriod(terms: PlanTerms, countOf: (featureId: string, minimumSeats: number) => number): bigint {
  let total = 0n;
  for (const [featureId, feature] of terms.features)
    total += BigInt(billableSeats(countOf(featureId, feature.minimumSeats), feature)) * BigInt(feature.unitPrice);
  return total;
}

/**
 * AUTO, as Commet decides it: a longer interval applies now and a shorter one at the period end;
 * at the same interval, a higher price at today's seats applies now, an equal or lower one at
 * the period end. Today's seats under the new plan are the balances carried over, and the
 * minimumSeats of features only it offers.
 */
function resolveTiming(timing: PlanChangeTiming, before: PlanTerms, after: PlanTerms, balances: readonly SeatBalance[]): AppliedTiming {
  if (timing !== 'AUTO') return timing;
  if (after.interval !== before.interval) return monthsOf[after.interval] > monthsOf[before.interval] ? 'IMMEDIATELY' : 'AT_PERIOD_END';
  const held = new Map(balances.map((balance) => [balance.feature.id, balance.current]));
  const priceBefore = pricePerPeriod(before, (featureId) => held.get(featureId) ?? 0);
  const priceAfter = pricePerPeriod(after, (featureId, minimumSeats) => held.get(featureId) ?? minimumSeats);
  return priceAfter > priceBefore ? 'IMMEDIATELY' : 'AT_PERIOD_END';
}

/**
 * Refuses an immediate change that the balances cannot follow: a feature holding seats that the
 * new plan lacks (feature_not_in_plan), or a balance outside the new plan's limits
 * (seat_limit_exceeded). Each error's details name every offending feature and bound.
 */
function assertBalancesFit(planCode: string, before: PlanTerms, after: PlanTerms, balances: readonly SeatBalance[]): void {
  const missing: ErrorDetail[] = [];
  const broken: ErrorDetail[] = [];
  for (const balance of balances) {
    const old = before.features.get(balance.feature.id)!;
    const terms = after.features.get(balance.feature.id);
    const featureCode = old.featureCode;
    if (!terms) {
      if (balance.current > 0) {
        missing.push({ field: 'planCode', featureCode, message: `Plan '${planCode}' has no feature '${featureCode}', which holds ${balance.current} seats.` });
      }
      continue;
    }
    const maximum = effectiveMaximum(terms);
    if (maximum !== null && balance.current > maximum) {
      const message = `Plan '${planCode}' allows at most ${maximum} seats of '${featureCode}'${maximum === terms.maximumSeats ? '' : ' (its included seats, without overage)'}; the balance holds ${balance.current}.`;
      broken.push({ field: 'planCode', featureCode, limit: 'MAXIMUM', value: maximum, message });
    }
    if (balance.current < terms.minimumSeats) {
      const message = `Plan '${planCode}' requires at least ${terms.minimumSeats} seats of '${featureCode}'; the balance holds ${balance.current}.`;
      broken.push({ field: 'planCode', featureCode, limit: 'MINIMUM', value: terms.minimumSeats, message });
    }
    if (!withinAmountLimit(balance.current, terms)) {
      throw validationError(
        'planCode',
        `${balance.current} seats of '${featureCode}' would bill more than one feature may per period under plan '${planCode}'.`,
      );
    }
  }
  if (missing.length > 0) {
    const codes = missing.map((detail) => `'${detail.featureCode}'`).join(', ');
    throw new DomainError('feature_not_in_plan', `Plan '${planCode}' lacks features holding seats: ${codes}. Set them to 0 first, or choose another plan.`, {
      param: 'planCode',
      details: missing,
    });
  }
  if (broken.length > 0) {
    throw new DomainError('seat_limit_exceeded', `Balances break the limits of plan '${planCode}': ${broken.map((detail) => detail.message).join(' ')}`, {
      param: 'planCode',
      details: broken,
    });
  }
}

/**
 * The step that changes the plan, for changePlan and its preview. `done` hears what it did.
 *
 * An immediate change credits each seat feature of the old plan as an immediate cancellation
 * would (its period's high-water mark, for the days from the day of the change), then charges
 * each of the new plan's features its billable seats under the new terms for the rest of the
 * period, from the same day (a PLAN_CHANGE charge), and makes those the high-water marks. At the
 * same interval the period stays; a change of interval starts the new plan's first period now
 * (the billing anchor moves here), so its charge covers that whole period.
 */
function planChangeStep(tenant: Tenant, now: Date, plan: Plan, input: ChangePlanInput, done: (outcome: PlanChangeOutcome) => void): LifecycleStepBody {
  return async (tx, subscription, balances, outbox) => {
    const before = await planTerms(tx, subscription.plan.id);
    if (subscription.plan.id === plan.id) {
      const hint = subscription.scheduledPlan ? ' To keep it past the period end, revoke the scheduled change (revokeScheduledPlanChange).' : '';
      throw validationError('planCode', `The subscription is already on plan '${plan.code}'.${hint}`);
    }
    if (plan.currency !== before.currency) {
      throw validationError(
        'planCode',
        `Plan '${plan.code}' bills in ${plan.currency}, the subscription in ${before.currency}; a plan change keeps the currency. Cancel and subscribe anew to change it.`,
      );
    }
    if (subscription.cancelAtPeriodEnd) {
      throw new DomainError(
        'conflict',
        `Customer '${input.customerId}' has a cancellation scheduled; resume the subscription first (resumeSubscription), then change its plan.`,
        { param: 'customerId' },
      );
    }
    const after = await planTerms(tx, plan.id);
    const onPlan = balances.filter((balance) => before.features.has(balance.feature.id));
    const timing = resolveTiming(input.timing ?? 'AUTO', before, after, onPlan);

    if (timing === 'AT_PERIOD_END') {
      done({ timing, effectiveAt: subscription.currentPeriodEnd, charges: [] });
      // Asked again for the same plan, it changes nothing; another plan replaces the one scheduled.
      if (subscription.scheduledPlan?.id === plan.id) return null;
      subscription.scheduledPlan = tx.getReference(Plan, plan.id);
      subscription.scheduledPlanRequestedAt = now;
      return 'subscription.plan_change_scheduled';
    }

    assertBalancesFit(plan.code, before, after, onPlan);
    const credits = await creditUnusedDays(tx, tenant, subscription, before, balances, now, outbox);
    outbox.push(...(await switchBalancesToPlan(tx, tenant, { subscription, balances, oldFeatures: before.features, newFeatures: after.features, at: now })));
    const period: Period =
      after.interval === before.interval
        ? { start: subscription.currentPeriodStart, end: subscription.currentPeriodEnd }
        : periodContaining(now, after.interval, now);
    const customerId = customerDisplayId(await customerById(tx, subscription.customer.id));
    const written = balances.flatMap((balance) => {
      const terms = after.features.get(balance.feature.id);
      if (!terms) return [];
      balance.highWaterMark = billableSeats(balance.current, terms);
      const charge = planChangeChargeFor(balance.current, terms, period, now);
      if (!charge) return [];
      const names = { customerId, featureCode: terms.featureCode };
      const on = {
        subscription: subscription.id,
        customer: subscription.customer.id,
        feature: balance.feature.id,
        event: null,
        currency: after.currency,
        ts: now,
        names,
      };
      return [newCharge(tenant, charge, on)];
    });
    // Plain rows, as the credits and the renewal's advances are.
    if (written.length > 0)
      await insertCharges(
        tx,
        written.map(({ row }) => row),
      );
    const charges = written.map(({ record }) => record);
    outbox.push(...charges.map((record) => chargeOutbox(tenant, subscription.customer.id, record)));
    subscription.plan = tx.getReference(Plan, plan.id);
    subscription.scheduledPlan = null;
    subscription.scheduledPlanRequestedAt = null;
    if (after.interval !== before.interval) {
      subscription.billingAnchor = now;
      subscription.currentPeriodStart = period.start;
      subscription.currentPeriodEnd = period.end;
    }
    done({ timing, effectiveAt: now, charges: [...credits, ...charges.sort((a, b) => a.featureCode.localeCompare(b.featureCode))] });
    return 'subscription.plan_changed';
  };
}

async function planNamed(em: EntityManager, tenant: Tenant, code: string): Promise<Plan> {
  const plan = await findPlanByCode(em, tenant, code);
  if (!plan) throw new DomainError('plan_not_found', `No plan with code '${code}'.`, { param: 'planCode' });
  return plan;
}

/**
 * Moves the customer's active subscription to another plan of the same currency, now or at the
 * period end (timing; AUTO decides as resolveTiming says). See planChangeStep for the money.
 * A scheduled change replaces one scheduled before; an immediate one drops it. A change while a
 * cancellation is scheduled answers conflict: resume first.
 */
export async function changePlan(em: EntityManager, tenant: Tenant, now: Date, input: ChangePlanInput): Promise<SubscriptionRecord> {
  const plan = await planNamed(em, tenant, input.planCode);
  // Fingerprinted with the timing it resolves to when omitted, so leaving it out repeats AUTO.
  const call = idempotentCall('changePlan', { ...input, timing: input.timing ?? 'AUTO' } as ChangePlanInput);
  return lifecycleStep(
    em,
    tenant,
    now,
    input.customerId,
    call,
    planChangeStep(tenant, now, plan, input, () => {}),
  );
}

/** Removes the plan change scheduled for the period end: the subscription renews on its plan. */
export async function revokeScheduledPlanChange(
  em: EntityManager,
  tenant: Tenant,
  now: Date,
  input: RevokeScheduledPlanChangeInput,
): Promise<SubscriptionRecord> {
  return lifecycleStep(em, tenant, now, input.customerId, idempotentCall('revokeScheduledPlanChange', input), async (_tx, subscription) => {
    if (!subscription.scheduledPlan) {
      throw new DomainError('conflict', `Customer '${input.customerId}' has no plan change scheduled; nothing to revoke.`, { param: 'customerId' });
    }
    subscription.scheduledPlan = null;
    subscription.scheduledPlanRequestedAt = null;
    return 'subscription.plan_change_revoked';
  });
}

export type PlanChangePreview = PlanChangeOutcome & {
  customerId: string;
  currentPlanCode: string;
  planCode: string;
  currency: string;
  total: number;
  seatLimitWarnings: SeatLimitWarning[];
};

/**
 * What changePlan would do now, computed by the same step under the same locks and rolled back:
 * the timing AUTO resolves to, the instant it takes effect, the credits and charges with their
 * inputs, their total, and the seat-limit warnings of a change scheduled for the period end. A
 * change changePlan would refuse throws the same error. Records nothing (a renewal already due
 * is carried out first, as by any call).
 */
export async function previewPlanChange(
  em: EntityManager,
  tenant: Tenant,
  now: Date,
  input: Omit<ChangePlanInput, 'idempotencyKey'>,
): Promise<PlanChangePreview> {
  const plan = await planNamed(em, tenant, input.planCode);
  // The step reports what it did through `done`; a step that answers at all has called it.
  const seen: { outcome?: PlanChangeOutcome } = {};
  const { before, after } = await dryRunLifecycleStep(
    em,
    tenant,
    now,
    input.customerId,
    planChangeStep(tenant, now, plan, input, (done) => (seen.outcome = done)),
  );
  const { timing, effectiveAt, charges } = seen.outcome!;
  return {
    timing,
    effectiveAt,
    charges,
    customerId: customerDisplayId(before.customer),
    currentPlanCode: before.plan.code,
    planCode: plan.code,
    currency: before.plan.currency,
    total: charges.reduce((sum, charge) => sum + charge.amount, 0),
    seatLimitWarnings: after.scheduledPlanChange?.plan.id === plan.id ? after.scheduledPlanChange.seatLimitWarnings : [],
  };
}
