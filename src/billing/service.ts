import type { EntityManager } from '@mikro-orm/postgresql';
import type { PlanInterval } from '../catalog/entities.js';
import { customerDisplayId } from '../customers/entities.js';
import { getCustomer } from '../customers/service.js';
import { DomainError } from '../errors.js';
import { newId } from '../ids.js';
import type { Mode, Tenant } from '../tenant.js';
import { type Period, periodContaining } from './periods.js';
import { advanceFor, billableSeats, type BillingTerms } from './proration.js';
import {
  chargeColumns,
  chargeFromRow,
  chargeRow,
  chargeRowColumns,
  type ChargeRow,
  type ChargeTerms,
  chargeTerms,
  type SeatChargeRecord,
} from './records.js';

type BalanceTermsRow = {
  feature_id: string;
  feature_code: string;
  current: number;
  included_seats: number;
  unlimited: boolean;
  overage_enabled: boolean;
  unit_price: number;
};

/** A customer's balances with their plan terms, in feature-id order; locked for update if asked. */
function balancesWithTerms(em: EntityManager, planId: string, customerId: string, options: { lock: boolean }): Promise<BalanceTermsRow[]> {
  return em.execute<BalanceTermsRow[]>(
    `select b.feature_id, f.code as feature_code, b.current, pf.included_seats, pf.unlimited, pf.overage_enabled, pf.unit_price
       from seat_balance b
       join plan_seat_feature pf on pf.feature_id = b.feature_id and pf.plan_id = ?
       join feature f on f.id = b.feature_id
      where b.customer_id = ?
      order by b.feature_id
      ${options.lock ? 'for update of b' : ''}`,
    [planId, customerId],
  );
}

const termsOf = (row: BalanceTermsRow): BillingTerms => ({
  includedSeats: row.included_seats,
  unlimited: row.unlimited,
  overageEnabled: row.overage_enabled,
  unitPrice: row.unit_price,
});

/**
 * Rolls a subscription whose period has ended into the period containing `now`, recording the
 * advance of every period it enters for the billable seats held then, and resetting each
 * high-water mark to them. Locks the subscription, then its balances, so concurrent renewals
 * wait and find nothing left to do; a unique index keeps one advance per feature and period.
 * Returns the number of periods entered.
 */
export async function renewSubscription(tx: EntityManager, tenant: Tenant, subscriptionId: string, now: Date): Promise<number> {
  const [subscription] = await tx.execute<
    { customer_id: string; plan_id: string; start_at: Date; current_period_start: Date; current_period_end: Date; interval: PlanInterval; currency: string }[]
  >(
    `select s.customer_id, s.plan_id, s.start_at, s.current_period_start, s.current_period_end, p.interval, p.currency
       from subscription s join plan p on p.id = s.plan_id
      where s.id = ? and s.organization_id = ? and s.mode = ? and s.status = 'ACTIVE'
        for update of s`,
    [subscriptionId, tenant.organizationId, tenant.mode],
  );
  if (!subscription || new Date(subscription.current_period_end) > now) return 0;
  const balances = await balancesWithTerms(tx, subscription.plan_id, subscription.customer_id, { lock: true });

  const anchor = new Date(subscription.start_at);
  let period: Period = { start: new Date(subscription.current_period_start), end: new Date(subscription.current_period_end) };
  const charges: ChargeRow[] = [];
  let entered = 0;
  while (period.end <= now) {
    period = periodContaining(anchor, subscription.interval, period.end);
    entered++;
    for (const balance of balances) {
      const advance = advanceFor(balance.current, termsOf(balance), period);
      if (advance) charges.push(chargeRow(advance, { chargeId: newId('chg'), featureId: balance.feature_id, eventId: null }, period.start));
    }
  }
  const marks = balances.map((balance) => ({ featureId: balance.feature_id, mark: billableSeats(balance.current, termsOf(balance)) }));
  await tx.execute(
    `with charged as (
       insert into seat_charge (id, organization_id, mode, subscription_id, customer_id, feature_id, event_id, kind, quantity,
                                unit_price, days_remaining, days_in_period, period_start, period_end, amount, currency, ts)
       select ch."chargeId", ?, ?, ?, ?, ch."featureId", ch."eventId", ch.kind, ch.quantity, ch."unitPrice", ch."daysRemaining",
              ch."daysInPeriod", ch."periodStart", ch."periodEnd", ch.amount, ?, ch.ts
         from jsonb_to_recordset(?::jsonb) as ch(${chargeRowColumns})
       on conflict do nothing
     ), marked as (
       update seat_balance b set high_water_mark = m.mark
         from jsonb_to_recordset(?::jsonb) as m("featureId" text, mark int)
        where b.customer_id = ? and b.feature_id = m."featureId"
     )
     update subscription set current_period_start = ?, current_period_end = ? where id = ?`,
    [
      tenant.organizationId,
      tenant.mode,
      subscriptionId,
      subscription.customer_id,
      subscription.currency,
      JSON.stringify(charges),
      JSON.stringify(marks),
      subscription.customer_id,
      period.start,
      period.end,
      subscriptionId,
    ],
  );
  return entered;
}

/** Renews every subscription of the tenant (or of the given customers) whose period has ended. */
export async function renewDueSubscriptions(
  em: EntityManager,
  tenant: Tenant,
  now: Date,
  customerIds?: readonly string[],
): Promise<{ subscriptions: number; periods: number }> {
  const due = await em.execute<{ id: string }[]>(
    `select id from subscription
      where organization_id = ? and mode = ? and status = 'ACTIVE' and current_period_end <= ?
        ${customerIds ? 'and customer_id in (select jsonb_array_elements_text(?::jsonb))' : ''}
      order by id`,
    [tenant.organizationId, tenant.mode, now, ...(customerIds ? [JSON.stringify(customerIds)] : [])],
  );
  let periods = 0;
  let subscriptions = 0;
  for (const { id } of due) {
    // One transaction each: a failure leaves the others renewed, and a retry finishes the rest.
    const entered = await em.transactional((tx) => renewSubscription(tx, tenant, id, now));
    if (entered > 0) subscriptions++;
    periods += entered;
  }
  return { subscriptions, periods };
}

export const maxChargesPerQuery = 1000;

/** A customer's charges with `from <= ts < to`, oldest first, at most maxChargesPerQuery. */
export async function listCharges(
  em: EntityManager,
  tenant: Tenant,
  now: Date,
  args: { customerId: string; from?: Date | null; to?: Date | null },
): Promise<SeatChargeRecord[]> {
  const customer = await getCustomer(em, tenant, args.customerId);
  await renewDueSubscriptions(em, tenant, now, [customer.id]);
  const rows = await em.execute<Record<string, unknown>[]>(
    `select ${chargeColumns}
       from seat_charge ch join feature f on f.id = ch.feature_id join customer c on c.id = ch.customer_id
      where ch.customer_id = ? ${args.from ? 'and ch.ts >= ?' : ''} ${args.to ? 'and ch.ts < ?' : ''}
      order by ch.ts, ch.seq
      limit ${maxChargesPerQuery}`,
    [customer.id, ...(args.from ? [args.from] : []), ...(args.to ? [args.to] : [])],
  );
  return rows.map((row) => chargeFromRow(row, tenant.mode));
}

/** The charge each event caused, for any number of events in one query. */
export async function chargesByEventIds(em: EntityManager, tenant: Tenant, eventIds: readonly string[]): Promise<Map<string, SeatChargeRecord>> {
  const rows = await em.execute<Record<string, unknown>[]>(
    `select ${chargeColumns}
       from seat_charge ch join feature f on f.id = ch.feature_id join customer c on c.id = ch.customer_id
      where ch.organization_id = ? and ch.mode = ? and ch.event_id in (select jsonb_array_elements_text(?::jsonb))`,
    [tenant.organizationId, tenant.mode, JSON.stringify(eventIds)],
  );
  return new Map(rows.map((row) => [row.event_id as string, chargeFromRow(row, tenant.mode)]));
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

/**
 * What the next renewal will bill: the true-ups recorded in the current period, plus the advance
 * for the next period at today's balances.
 */
export async function upcomingInvoice(em: EntityManager, tenant: Tenant, now: Date, customerRef: string): Promise<UpcomingInvoice> {
  const customer = await getCustomer(em, tenant, customerRef);
  await renewDueSubscriptions(em, tenant, now, [customer.id]);
  const [subscription] = await em.execute<
    { id: string; plan_id: string; start_at: Date; current_period_start: Date; current_period_end: Date; interval: PlanInterval; currency: string }[]
  >(
    `select s.id, s.plan_id, s.start_at, s.current_period_start, s.current_period_end, p.interval, p.currency
       from subscription s join plan p on p.id = s.plan_id
      where s.customer_id = ? and s.status = 'ACTIVE'`,
    [customer.id],
  );
  if (!subscription) {
    throw new DomainError('no_active_subscription', `Customer '${customerRef}' has no active subscription.`, { param: 'customerId' });
  }
  const currentPeriod = { start: new Date(subscription.current_period_start), end: new Date(subscription.current_period_end) };
  const nextPeriod = periodContaining(new Date(subscription.start_at), subscription.interval, currentPeriod.end);
  const trueUps = await em.execute<Record<string, unknown>[]>(
    `select ${chargeColumns}
       from seat_charge ch join feature f on f.id = ch.feature_id join customer c on c.id = ch.customer_id
      where ch.subscription_id = ? and ch.period_start = ? and ch.kind = 'TRUE_UP'
      order by ch.seq`,
    [subscription.id, currentPeriod.start],
  );
  const balances = await balancesWithTerms(em, subscription.plan_id, customer.id, { lock: false });
  const advances = balances
    .flatMap((balance) => {
      const advance = advanceFor(balance.current, termsOf(balance), nextPeriod);
      return advance ? [lineOf(chargeTerms(advance), balance.feature_code, null)] : [];
    })
    .sort((a, b) => a.featureCode.localeCompare(b.featureCode));
  const lines: InvoiceLine[] = [
    ...trueUps.map((row) => {
      const charge = chargeFromRow(row, tenant.mode);
      return lineOf(charge, charge.featureCode, charge.id);
    }),
    ...advances,
  ];
  return {
    customerId: customerDisplayId(customer),
    currency: subscription.currency,
    billingDate: currentPeriod.end,
    currentPeriod,
    nextPeriod,
    lines,
    total: lines.reduce((sum, line) => sum + line.amount, 0),
    mode: tenant.mode,
  };
}
