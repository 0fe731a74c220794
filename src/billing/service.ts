import { LockMode, QueryOrder } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Customer, customerDisplayId } from '../model/customers.js';
import { getCustomer } from '../customers/service.js';
import { run } from '../db/prepared.js';
import { DomainError } from '../common/errors.js';
import { OutboxEvent } from '../model/events.js';
import { chargeCreatedPayload } from '../events/payloads.js';
import { outboxRow } from '../events/service.js';
import { newId } from '../common/ids.js';
import { SeatBalance, type SeatEvent } from '../model/seats.js';
import { READ_BALANCES } from '../seats/store.js';
import { Subscription } from '../model/subscriptions.js';
import { ACTIVE_SUBSCRIPTIONS } from '../subscriptions/store.js';
import type { Feature } from '../model/catalog.js';
import { type Mode, type Tenant, tenantWhere } from '../model/tenant.js';
import { SeatCharge } from '../model/billing.js';
import { type Period, periodContaining } from './periods.js';
import { advanceFor, billableSeats, type PlannedCharge } from './proration.js';
import { type ChargeTerms, chargeRecordOf, chargeTerms, type SeatChargeRecord } from './records.js';
import { CHARGES_BY_EVENT, CHARGES_BY_ID, CHARGES_OF_CUSTOMER, TRUE_UPS_OF_PERIOD } from './store.js';
import { PLAN_TERMS, planTermsFrom } from '../catalog/store.js';

type Ref<T> = T | string;

type ChargeData = ReturnType<typeof chargeData>;

/** Rows per insert statement of advances: building one holds the event loop about 5 ms per 100 rows. */
const rowsPerInsert = 200;

type ChargeRefs = { subscription: Ref<Subscription>; customer: Ref<Customer>; feature: Ref<Feature>; event: SeatEvent | null; currency: string; ts: Date };

/** A charge's row, with everything that explains its amount. */
function chargeData(tenant: Tenant, charge: PlannedCharge, on: ChargeRefs) {
  return {
    id: newId('chg'),
    organization: tenant.organizationId,
    mode: tenant.mode,
    subscription: on.subscription,
    customer: on.customer,
    feature: on.feature,
    event: on.event,
    kind: charge.kind,
    quantity: charge.quantity,
    unitPrice: charge.unitPrice,
    daysRemaining: charge.daysRemaining,
    daysInPeriod: charge.daysInPeriod,
    periodStart: charge.period.start,
    periodEnd: charge.period.end,
    amount: charge.amount,
    currency: on.currency,
    ts: on.ts,
    createdAt: new Date(),
  };
}

/** Adds a charge to the unit of work, with everything that explains its amount. */
export function recordCharge(em: EntityManager, tenant: Tenant, charge: PlannedCharge, on: ChargeRefs): SeatCharge {
  return em.create(SeatCharge, chargeData(tenant, charge, on));
}

/**
 * A renewal enters at most this many periods in one transaction (with at most 100 seat
 * features, at most 1,200 advances), so a long catch-up after the test clock jumped years ahead
 * proceeds in bounded steps rather than one unbounded transaction.
 */
export const maxPeriodsPerRenewal = 12;
/** The renewal steps one request may take; the sweeper (billing/sweeper.ts) takes the rest. */
export const maxRenewalStepsPerRequest = 4;
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
  const balances = await tx.find(SeatBalance, { customer: due.customerId }, { lockMode: LockMode.PESSIMISTIC_WRITE, orderBy: { feature: QueryOrder.ASC } });
  const subscription = await tx.findOne(Subscription, { id: due.id, ...tenantWhere(tenant), status: 'ACTIVE' }, { refresh: true });
  if (!subscription || subscription.currentPeriodEnd > now) return { entered: 0, caughtUp: true };
  const { interval, currency, features: termsByFeature } = planTermsFrom(await run(tx, PLAN_TERMS, { planId: subscription.plan.id }));

  let period: Period = { start: subscription.currentPeriodStart, end: subscription.currentPeriodEnd };
  let entered = 0;
  // Advances are written as plain rows, not managed entities: nothing changes them afterwards,
  // and the unit of work's bookkeeping for a thousand of them would hold the event loop. Each
  // insert is built synchronously, so they go in chunks as they come, the event loop free between.
  let advances: ChargeData[] = [];
  let announced: ReturnType<typeof outboxRow>[] = [];
  const customer = await tx.findOneOrFail(Customer, due.customerId, { fields: ['externalId'] });
  const insert = async () => {
    await tx.insertMany(SeatCharge, advances);
    // Each advance is told like every charge; same transaction, so both commit or neither.
    await tx.insertMany(OutboxEvent, announced);
    advances = [];
    announced = [];
  };
  while (period.end <= now && entered < maxPeriodsPerRenewal) {
    period = periodContaining(subscription.startAt, interval, period.end);
    entered++;
    for (const balance of balances) {
      const featureTerms = termsByFeature.get(balance.feature.id);
      const advance = featureTerms ? advanceFor(balance.current, featureTerms, period) : null;
      if (advance) {
        const on = { subscription: subscription.id, customer: due.customerId, feature: balance.feature.id, event: null, currency, ts: period.start };
        const data = chargeData(tenant, advance, on);
        advances.push(data);
        const names = { customerId: customerDisplayId({ id: due.customerId, externalId: customer.externalId }), featureCode: featureTerms!.featureCode };
        const payload = chargeCreatedPayload(chargeRecordOf(data, names));
        announced.push(outboxRow({ tenant, customerId: due.customerId, featureCode: names.featureCode, type: 'charge.created', payload }));
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
  return { entered, caughtUp: period.end > now };
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
  const due = await em.find(
    Subscription,
    {
      organization: tenant.organizationId,
      mode: tenant.mode,
      status: 'ACTIVE',
      currentPeriodEnd: { $lte: now },
      ...(customerIds ? { customer: { $in: [...customerIds] } } : {}),
    },
    // In customer order, the order seat changes lock balances in: a caller's transaction (a clock
    // advance) holds each customer's locks until it commits, so any other order could deadlock
    // with a batch of changes over several of them.
    { fields: ['customer'], orderBy: { customer: QueryOrder.ASC }, limit: maxSteps + 1, disableIdentityMap: true },
  );
  let periods = 0;
  let subscriptions = 0;
  let steps = 0;
  for (const subscription of due) {
    let entered = 0;
    let caughtUp = false;
    while (!caughtUp && steps < maxSteps) {
      // One transaction per step: a failure leaves earlier steps done, and a retry goes on from there.
      const renewal = await em.transactional((tx) => renewSubscription(tx, tenant, { id: subscription.id, customerId: subscription.customer.id }, now));
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
  return run(em, CHARGES_OF_CUSTOMER, { customerId: customer.id, from: args.from ?? null, to: args.to ?? null, limit: maxChargesPerQuery });
}

/** The charge each event caused, for any number of events in one query. */
export async function chargesByEventIds(em: EntityManager, tenant: Tenant, eventIds: readonly string[]): Promise<Map<string, SeatChargeRecord>> {
  const charges = await run(em, CHARGES_BY_EVENT, { organizationId: tenant.organizationId, mode: tenant.mode, eventIds: [...eventIds] });
  return new Map(charges.map((charge) => [charge.eventId!, charge]));
}

/** Charges by id, in one query; ids the tenant has none of are absent. */
export async function chargesById(em: EntityManager, tenant: Tenant, ids: readonly string[]): Promise<Map<string, SeatChargeRecord>> {
  const charges = await run(em, CHARGES_BY_ID, { organizationId: tenant.organizationId, mode: tenant.mode, ids: [...ids] });
  return new Map(charges.map((charge) => [charge.id, charge]));
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
  await renewBeforeUse(em, tenant, now, [customer.id]);
  const scope = { organizationId: tenant.organizationId, mode: tenant.mode, customerIds: [customer.id] };
  const [subscription] = await run(em, ACTIVE_SUBSCRIPTIONS, scope);
  if (!subscription) {
    throw new DomainError('no_active_subscription', `Customer '${customerRef}' has no active subscription.`, { param: 'customerId' });
  }
  const currentPeriod = { start: subscription.currentPeriodStart, end: subscription.currentPeriodEnd };
  const nextPeriod = periodContaining(subscription.startAt, subscription.plan.interval, currentPeriod.end);
  const trueUps = await run(em, TRUE_UPS_OF_PERIOD, { subscriptionId: subscription.id, periodStart: currentPeriod.start });
  const balances = await run(em, READ_BALANCES, scope);
  const advances = balances
    .flatMap(({ balance, terms }) => {
      const advance = advanceFor(balance.current, terms, nextPeriod);
      return advance ? [lineOf(chargeTerms(advance), balance.featureCode, null)] : [];
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
