import type { EntityManager } from '@mikro-orm/postgresql';
import { recordCharge } from '../billing/service.ts';
import { featureCodesOfPlan, findFeaturesByCode } from '../catalog/service.ts';
import { DomainError, validationError } from '../common/errors.ts';
import { newId } from '../common/ids.ts';
import { getCustomer } from '../customers/service.ts';
import { insertOutbox, type OutboxEntry } from '../events/service.ts';
import { claimId, type IdempotentCall, replayOf } from '../idempotency/fingerprint.ts';
import { findClaims, recordClaims } from '../idempotency/service.ts';
import { featureNotFound } from '../model/catalog.ts';
import { customerDisplayId } from '../model/customers.ts';
import type { SeatEventRecord } from '../model/records.ts';
import type { SeatChangeTiming } from '../model/organization.ts';
import { type SeatEventKind, SeatScheduledChange } from '../model/seats.ts';
import { type Tenant, tenantWhere } from '../model/tenant.ts';
import { eventRecordOf, loadEvents, scheduledEventRecord } from '../seats/ledger.ts';
import { assertDistinctFeatureCodes, minSeatCount, requestedBalance, type SeatChangeEntry } from '../seats/rules.ts';
import { balanceKey, type ChangedBalanceState, clearScheduledDecrease, lockBalances, writeSeatChanges } from '../seats/service.ts';
import type { BalanceState, LockedBalance, NewSeatEvent } from '../seats/store.ts';
import { findActiveSubscriptions } from '../subscriptions/service.ts';
import { type ChangedBalance, changeOutbox, limitRefusedOutbox, scheduledOutbox } from './announce.ts';
import { renewBeforeUse } from './renewal.ts';
import { billableBalance, type PlannedChange, planChange } from './seat-pricing.ts';

// A seat change: lock the balances, decide each change against them, write what it did, then
// settle each caller's outcome outside the transaction. The coalescer (seat-change-coalescer.ts)
// feeds it batches; a preview runs the same code and rolls it back.

/** `timing` applies to decreases only; omitted, the tenant's setting decides (IMMEDIATELY unless changed). */
export type SeatChangeInput = { customerId: string; featureCode: string; count: number; timing?: SeatChangeTiming | null; idempotencyKey?: string | null };
export type BulkSetSeatsInput = {
  customerId: string;
  seats: { featureCode: string; count: number }[];
  timing?: SeatChangeTiming | null;
  idempotencyKey?: string | null;
};

/** One caller's change: one entry for add, remove and set; a bulk set's entries apply all or none. */
export type SeatChangeRequest = {
  tenant: Tenant;
  now: Date;
  customerRef: string;
  entries: SeatChangeEntry[];
  /** When its decreases take effect; null for the tenant's setting. */
  timing: SeatChangeTiming | null;
  idempotency: IdempotentCall | null;
};

/** What a request does to one balance: a change now, or a decrease at the period end. */
type Decision = { at: 'now'; plan: PlannedChange } | { at: 'periodEnd'; count: number };

/** What a batch decided for one request; the last three need work outside its transaction. */
export type SeatChangeOutcome =
  | { kind: 'applied'; events: SeatEventRecord[] }
  | { kind: 'refused'; error: DomainError }
  | { kind: 'replay'; eventIds: string[] }
  | { kind: 'unexplained' }
  | { kind: 'renewalDue'; customerId: string };

/** Applies seat changes; the coalescer does it for many callers in one transaction. */
export type SeatChangeWriter = { submit(request: SeatChangeRequest): Promise<SeatEventRecord[]> };

const withCustomer = (call: IdempotentCall, customerId: string): IdempotentCall => ({
  ...call,
  input: { ...(call.input as Record<string, unknown>), customerId },
});

/** The balance a locked row is, as the outbox names it. */
const changedBalance = (tenant: Tenant, row: LockedBalance): ChangedBalance => ({
  tenant,
  customer: row.customer,
  featureCode: row.feature.code,
  terms: row.terms,
});

/** Every balance the requests name, each once, in one statement. */
function lockRequested(tx: EntityManager, requests: readonly SeatChangeRequest[]): Promise<Map<string, LockedBalance>> {
  const wanted = new Map<string, { tenant: Tenant; customerRef: string; featureCode: string }>();
  for (const { tenant, customerRef, entries } of requests) {
    for (const { featureCode } of entries) wanted.set(balanceKey(tenant, customerRef, featureCode), { tenant, customerRef, featureCode });
  }
  return lockBalances(tx, [...wanted.values()]);
}

/**
 * Applies a batch of changes, of any tenants and customers, in `tx`: balances are locked in one
 * ordered statement, each request is decided in arrival order against the balances its
 * predecessors left, then one statement writes every event and balance, one every outbox row,
 * and the unit of work's flush the rarer rows (charges, scheduled decreases, idempotency claims).
 * A plain add thus costs as many round trips as the hand-written baseline's, which writes no outbox.
 * Each request passes or fails on its own; a bulk set's entries pass or fail together.
 */
export async function applySeatChanges(tx: EntityManager, requests: readonly SeatChangeRequest[]): Promise<SeatChangeOutcome[]> {
  const locked = await lockRequested(tx, requests);
  const keyed = requests.flatMap((request) => (request.idempotency ? [{ tenant: request.tenant, key: request.idempotency.key }] : []));
  const claims = await findClaims(tx, keyed);

  // By primary key: a `cus_` id and an external id may name the same balance in one batch, and
  // each change must start from what the earlier one left.
  const balances = new Map<string, ChangedBalanceState & { changed: boolean }>();
  const balanceOf = (row: LockedBalance) => {
    const id = `${row.customer.id}\u0000${row.feature.id}`;
    let balance = balances.get(id);
    if (!balance) balances.set(id, (balance = { customerId: row.customer.id, featureId: row.feature.id, state: row.balance, changed: false }));
    return balance;
  };
  const newEvents: NewSeatEvent[] = [];
  const newClaims: Parameters<typeof recordClaims>[1] = [];
  const outbox: OutboxEntry[] = [];

  const outcomes = requests.map((request): SeatChangeOutcome => {
    const rows = request.entries.map((entry) => locked.get(balanceKey(request.tenant, request.customerRef, entry.featureCode)));
    // Fingerprinted with the customer it names, whatever form of its id the caller sent.
    const call = request.idempotency && withCustomer(request.idempotency, rows.find((row) => row)?.customer.id ?? request.customerRef);
    const claim = call && claims.get(claimId(request.tenant, call.key));
    if (claim) {
      try {
        return { kind: 'replay', eventIds: replayOf(claim, call!) };
      } catch (error) {
        return { kind: 'refused', error: error as DomainError };
      }
    }
    if (!rows.every((row) => row !== undefined)) return { kind: 'unexplained' };
    const { subscription, customer } = rows[0]!;
    // A change never straddles periods: the renewal runs first, in a transaction of its own.
    if (request.now >= subscription.periodEnd) return { kind: 'renewalDue', customerId: customer.id };

    const period = { start: subscription.periodStart, end: subscription.periodEnd };
    const decisions: Decision[] = [];
    for (const [i, entry] of request.entries.entries()) {
      const row = rows[i]!;
      try {
        decisions.push(decide(balanceOf(row).state, entry, row, period, request));
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        // A refusal at an upper limit is news for the back office (a customer wants more seats
        // than the plan allows), so it is told even though nothing changed. One at the minimum
        // is not: the customer wants fewer, and no limit was reached.
        if (error.code === 'seat_limit_exceeded' && error.details?.[0]?.limit !== 'MINIMUM') {
          const current = balanceOf(row).state.current;
          outbox.push(limitRefusedOutbox(changedBalance(request.tenant, row), current, requestedBalance(current, entry.kind, entry.count), request.now));
        }
        return { kind: 'refused', error };
      }
    }
    const events = decisions.map((decision, i) => {
      const row = rows[i]!;
      const entry = request.entries[i]!;
      const changed = balanceOf(row);
      const balance = changed.state;
      changed.changed = true;
      const names = { customerId: customerDisplayId(row.customer), featureCode: row.feature.code };
      if (decision.at === 'periodEnd') {
        // One scheduled decrease per balance: this one replaces any before it.
        const change = tx.create(SeatScheduledChange, {
          id: newId('sev'),
          ...tenantWhere(request.tenant),
          customer: customer.id,
          feature: row.feature.id,
          subscription: subscription.id,
          count: decision.count,
          previousBalance: balance.current,
          effectiveAt: period.end,
        });
        balance.scheduledCount = decision.count;
        balance.scheduledEffectiveAt = period.end;
        balance.scheduledEventId = change.id;
        outbox.push(
          scheduledOutbox(changedBalance(request.tenant, row), {
            current: balance.current,
            asOf: balance.asOf,
            count: decision.count,
            effectiveAt: period.end,
          }),
        );
        return scheduledEventRecord(change, names);
      }
      const { plan } = decision;
      clearScheduledDecrease(balance);
      balance.current = plan.newBalance;
      balance.highWaterMark = plan.highWaterMark;
      balance.asOf = request.now;
      const event: NewSeatEvent = {
        id: newId('sev'),
        organizationId: request.tenant.organizationId,
        mode: request.tenant.mode,
        customer: { id: customer.id },
        featureId: row.feature.id,
        subscriptionId: subscription.id,
        kind: entry.kind,
        quantity: entry.count,
        previousBalance: plan.previousBalance,
        newBalance: plan.newBalance,
        ts: request.now,
        createdAt: new Date(),
      };
      newEvents.push(event);
      const on = {
        subscription: subscription.id,
        customer: customer.id,
        feature: row.feature.id,
        event: event.id,
        currency: subscription.currency,
        ts: request.now,
        names,
      };
      const charge = plan.charge ? recordCharge(tx, request.tenant, plan.charge, on) : null;
      const record = eventRecordOf(event, names, charge);
      outbox.push(...changeOutbox(changedBalance(request.tenant, row), record, charge));
      return record;
    });
    if (call) newClaims.push({ tenant: request.tenant, call, eventIds: events.map((event) => event.id) });
    return { kind: 'applied', events };
  });

  // Events first: the charges the flush inserts refer to them.
  await writeSeatChanges(
    tx,
    newEvents,
    [...balances.values()].filter((balance) => balance.changed),
  );
  await insertOutbox(tx, outbox);
  recordClaims(tx, newClaims);
  await tx.flush();
  return outcomes;
}

/**
 * What one entry does to its balance. A decrease with timing AT_PERIOD_END (asked for, or the
 * tenant's setting) is scheduled, held to the plan's limits now as any change is; everything
 * else, increases and same-count sets included, applies now. Throws the refusal.
 */
function decide(balance: BalanceState, entry: SeatChangeEntry, row: LockedBalance, period: { start: Date; end: Date }, request: SeatChangeRequest): Decision {
  if ((request.timing ?? row.decreaseTiming) === 'AT_PERIOD_END') {
    // Counted from the balance now, whatever is already scheduled.
    const count = billableBalance(balance.current, entry.kind, entry.count, row.terms, entry.featureCode, `${entry.at}count`);
    if (count < balance.current) return { at: 'periodEnd', count };
  }
  return { at: 'now', plan: planChange(balance, entry, row.terms, period, request.now) };
}

/**
 * Why some balance of a request could not be locked, in the contract's order of checks; null
 * when nothing is missing any more: the subscription changed while the lock waited (another
 * plan, a new subscription), and the change can run again against it.
 */
async function explainMissingBalances(em: EntityManager, request: SeatChangeRequest): Promise<DomainError | null> {
  const { tenant, customerRef, entries } = request;
  const customer = await getCustomer(em, tenant, customerRef);
  const codes = entries.map((entry) => entry.featureCode);
  const known = new Set((await findFeaturesByCode(em, tenant, codes)).map((f) => f.code));
  const unknown = entries.find((entry) => !known.has(entry.featureCode));
  if (unknown) {
    return featureNotFound(unknown.featureCode, `${unknown.at}featureCode`);
  }
  const subscription = (await findActiveSubscriptions(em, tenant, [customer.id])).get(customer.id);
  if (!subscription) {
    return new DomainError('no_active_subscription', `Customer '${customerRef}' has no active subscription.`, { param: 'customerId' });
  }
  const inPlan = await featureCodesOfPlan(em, subscription.plan.id);
  const outside = entries.find((entry) => !inPlan.has(entry.featureCode));
  if (outside) {
    return new DomainError('feature_not_in_plan', `Feature '${outside.featureCode}' is not in the customer's plan.`, {
      param: `${outside.at}featureCode`,
    });
  }
  return null;
}

/**
 * Finishes an outcome outside the batch's transaction: the events of an applied change or of a
 * replay, the error of a refused or unexplained one, or `retry` once a due renewal has run or
 * when the subscription changed under the lock.
 * `em` is asked for only by the outcomes that read: most changes are applied and need none.
 */
export async function settleOutcome(em: () => EntityManager, request: SeatChangeRequest, outcome: SeatChangeOutcome): Promise<SeatEventRecord[] | 'retry'> {
  switch (outcome.kind) {
    case 'applied':
      return outcome.events;
    case 'refused':
      throw outcome.error;
    case 'replay':
      return loadEvents(em(), request.tenant, outcome.eventIds);
    case 'unexplained': {
      const error = await explainMissingBalances(em(), request);
      if (error) throw error;
      return 'retry';
    }
    case 'renewalDue':
      await renewBeforeUse(em(), request.tenant, request.now, [outcome.customerId]);
      return 'retry';
  }
}

const operationOf = { ADD: 'addSeats', REMOVE: 'removeSeats', SET: 'setSeats' } as const;

const idempotentCall = (operation: string, input: { idempotencyKey?: string | null }): IdempotentCall | null => {
  const { idempotencyKey, ...rest } = input;
  return idempotencyKey ? { key: idempotencyKey, operation, input: rest } : null;
};

const singleEntry = (kind: SeatEventKind, input: SeatChangeInput): SeatChangeEntry[] => [{ featureCode: input.featureCode, kind, count: input.count, at: '' }];

export async function changeSeats(writer: SeatChangeWriter, tenant: Tenant, now: Date, kind: SeatEventKind, input: SeatChangeInput): Promise<SeatEventRecord> {
  const [event] = await writer.submit({
    tenant,
    now,
    customerRef: input.customerId,
    entries: singleEntry(kind, input),
    timing: input.timing ?? null,
    idempotency: idempotentCall(operationOf[kind], input),
  });
  return event!;
}

export async function bulkSetSeats(writer: SeatChangeWriter, tenant: Tenant, now: Date, input: BulkSetSeatsInput): Promise<SeatEventRecord[]> {
  assertDistinctFeatureCodes(input.seats, 'seats');
  return writer.submit({
    tenant,
    now,
    customerRef: input.customerId,
    entries: input.seats.map((entry, index) => ({ featureCode: entry.featureCode, kind: 'SET', count: entry.count, at: `seats.${index}.` })),
    timing: input.timing ?? null,
    idempotency: idempotentCall('bulkSetSeats', input),
  });
}

export type SeatChangePreview = { ok: true; event: SeatEventRecord } | { ok: false; error: DomainError };

/** Thrown inside a preview's transaction, to roll it back and carry its outcome out. */
class PreviewRolledBack extends Error {
  readonly outcome: SeatChangeOutcome;

  constructor(outcome: SeatChangeOutcome) {
    super('preview rolled back');
    this.outcome = outcome;
  }
}

/**
 * What a change would do, computed by the same code in a transaction of its own that is rolled
 * back: the event and charge it would record, or the contract error it would fail with.
 */
export async function previewSeatChange(em: EntityManager, tenant: Tenant, now: Date, kind: SeatEventKind, input: SeatChangeInput): Promise<SeatChangePreview> {
  if (input.count < minSeatCount(kind)) {
    return { ok: false, error: validationError('count', `count must be at least ${minSeatCount(kind)} to ${kind.toLowerCase()} seats.`) };
  }
  const request: SeatChangeRequest = {
    tenant,
    now,
    customerRef: input.customerId,
    entries: singleEntry(kind, input),
    timing: input.timing ?? null,
    idempotency: null,
  };
  try {
    // A due renewal is carried out (as any operation would), and the preview then runs again.
    for (let attempt = 0; ; attempt++) {
      const outcome = await em
        .transactional(async (tx) => {
          const [outcome] = await applySeatChanges(tx, [request]);
          throw new PreviewRolledBack(outcome!);
        })
        .catch((error: unknown) => {
          if (error instanceof PreviewRolledBack) return error.outcome;
          throw error;
        });
      const settled = await settleOutcome(() => em, request, outcome);
      if (settled !== 'retry') return { ok: true, event: settled[0]! };
      if (attempt > 0) throw new DomainError('conflict', 'The subscription is renewing or changing plan; retry the request.');
    }
  } catch (error) {
    if (error instanceof DomainError) return { ok: false, error };
    throw error;
  }
}
