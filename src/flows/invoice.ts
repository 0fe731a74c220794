import type { EntityManager } from '@mikro-orm/postgresql';
import { type Period, periodContaining } from '../billing/periods.ts';
import { advanceFor } from '../billing/proration.ts';
import { chargesOfCustomer, chargeTerms, trueUpsOfPeriod } from '../billing/service.ts';
import { DomainError } from '../common/errors.ts';
import { getCustomer } from '../customers/service.ts';
import { customerDisplayId } from '../model/customers.ts';
import type { ChargeTerms, SeatChargeRecord } from '../model/records.ts';
import type { Mode, Tenant } from '../model/tenant.ts';
import { pricedBalances } from '../seats/service.ts';
import type { PricedBalance } from '../seats/store.ts';
import type { SubscriptionRecord } from '../subscriptions/store.ts';
import { planTerms } from '../catalog/service.ts';
import { boundedCount } from './plan-switch.ts';
import { findActiveSubscriptions } from '../subscriptions/service.ts';
import { renewBeforeUse, renewDueSubscriptions } from './renewal.ts';

// What a customer is billed: the charges recorded, and what the next renewal will bill. Both
// renew the subscription first, so a period that ended unnoticed is billed before it is read.

/** A customer's charges with `from <= ts < to`, oldest first, at most maxChargesPerQuery; its subscription renewed first. */
export async function listCharges(
  em: EntityManager,
  tenant: Tenant,
  now: Date,
  args: { customerId: string; from?: Date | null; to?: Date | null },
): Promise<SeatChargeRecord[]> {
  const customer = await getCustomer(em, tenant, args.customerId);
  await renewDueSubscriptions(em, tenant, now, [customer.id]);
  return chargesOfCustomer(em, customer.id, args);
}

export type InvoiceLine = ChargeTerms & {
  featureCode: string;
  /** The recorded charge; null for the advance the renewal will record. */
  chargeId: string | null;
};

export type UpcomingInvoice = {
  customerId: string;
  currency: string;
  /** When the renewal bills: the end of the current period. */
  billingDate: Date;
  currentPeriod: Period;
  nextPeriod: Period;
  lines: InvoiceLine[];
  total: number;
  mode: Mode;
};

const lineOf = (terms: ChargeTerms, featureCode: string, chargeId: string | null): InvoiceLine => ({
  kind: terms.kind,
  quantity: terms.quantity,
  unitPrice: terms.unitPrice,
  daysRemaining: terms.daysRemaining,
  daysInPeriod: terms.daysInPeriod,
  periodStart: terms.periodStart,
  periodEnd: terms.periodEnd,
  amount: terms.amount,
  featureCode,
  chargeId,
});

/** A balance as the renewal will bill it: a decrease scheduled for the period end applies before the advance. */
const countAtRenewal = (balance: PricedBalance['balance']): number => balance.scheduledChange?.count ?? balance.current;

/**
 * The next period and the balances its advance bills, as the renewal will find them: on the
 * plan in force, or, when a plan change is scheduled, on the new plan's terms and interval with
 * the balances brought within its limits (plan-change-at-renewal.ts).
 */
async function nextPeriodTerms(em: EntityManager, subscription: SubscriptionRecord, balances: PricedBalance[]) {
  const end = subscription.currentPeriodEnd;
  const scheduled = subscription.scheduledPlanChange;
  if (!scheduled || subscription.cancelAtPeriodEnd) {
    return {
      nextPeriod: periodContaining(subscription.billingAnchor, subscription.plan.interval, end),
      nextBalances: balances.map(({ balance, terms }) => ({ featureCode: balance.featureCode, count: countAtRenewal(balance), terms })),
    };
  }
  const anchor = scheduled.plan.interval === subscription.plan.interval ? subscription.billingAnchor : end;
  const held = new Map(balances.map(({ balance }) => [balance.featureCode, countAtRenewal(balance)]));
  const { features } = await planTerms(em, scheduled.plan.id);
  return {
    nextPeriod: periodContaining(anchor, scheduled.plan.interval, end),
    nextBalances: [...features.values()].map((terms) => {
      const current = held.get(terms.featureCode);
      return { featureCode: terms.featureCode, count: current === undefined ? terms.minimumSeats : boundedCount(current, terms), terms };
    }),
  };
}

/**
 * What the next renewal will bill: the true-ups recorded in the current period, plus the advance
 * for the next period at today's balances.
 */
export async function upcomingInvoice(em: EntityManager, tenant: Tenant, now: Date, customerRef: string): Promise<UpcomingInvoice> {
  const customer = await getCustomer(em, tenant, customerRef);
  await renewBeforeUse(em, tenant, now, [customer.id]);
  const subscription = (await findActiveSubscriptions(em, tenant, [customer.id])).get(customer.id);
  if (!subscription) {
    throw new DomainError('no_active_subscription', `Customer '${customerRef}' has no active subscription.`, { param: 'customerId' });
  }
  const currentPeriod = { start: subscription.currentPeriodStart, end: subscription.currentPeriodEnd };
  const trueUps = await trueUpsOfPeriod(em, subscription.id, currentPeriod.start);
  // A subscription cancelled at period end is not renewed: no next advance is coming.
  const balances = subscription.cancelAtPeriodEnd ? [] : await pricedBalances(em, tenant, [customer.id]);
  const { nextPeriod, nextBalances } = await nextPeriodTerms(em, subscription, balances);
  const advances = nextBalances
    .flatMap(({ featureCode, count, terms }) => {
      const advance = advanceFor(count, terms, nextPeriod);
      return advance ? [lineOf(chargeTerms(advance), featureCode, null)] : [];
    })
    .sort((a, b) => a.featureCode.localeCompare(b.featureCode));
  const lines: InvoiceLine[] = [...trueUps.map((charge) => lineOf(charge, charge.featureCode, charge.id)), ...advances];
  return {
    customerId: customerDisplayId(customer),
    currency: subscription.plan.currency,
    billingDate: currentPeriod.end,
    currentPeriod,
    nextPeriod,
    lines,
    total: lines.reduce((sum, line) => sum + line.amount, 0),
    mode: tenant.mode,
  };
}
