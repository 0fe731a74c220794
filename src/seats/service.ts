import type { EntityManager } from '@mikro-orm/postgresql';
import { type Period } from '../billing/periods.js';
import { type BillingTerms, trueUpFor } from '../billing/proration.js';
import { renewDueSubscriptions } from '../billing/service.js';
import { findFeaturesByCode } from '../catalog/service.js';
import { customerDisplayId } from '../customers/entities.js';
import { getCustomer, isOwnCustomerId } from '../customers/service.js';
import { DomainError, validationError } from '../errors.js';
import { claimIdempotencyKey, type IdempotentCall } from '../idempotency/service.js';
import type { Mode, Tenant } from '../tenant.js';
import type { SeatEventKind } from './entities.js';
import { appendSeatEvents, loadEvents, type PlannedChange, type SeatEventRecord } from './ledger.js';
import { assertDistinctFeatureCodes, nextBalance } from './rules.js';

export type SeatBalanceRecord = {
  customerId: string;
  featureCode: string;
  current: number;
  includedSeats: number;
  unlimited: boolean;
  asOf: Date;
  mode: Mode;
};

export type SeatChangeInput = { customerId: string; featureCode: string; count: number; idempotencyKey?: string | null };
export type BulkSetSeatsInput = {
  customerId: string;
  seats: { featureCode: string; count: number }[];
  idempotencyKey?: string | null;
};

const operationOf = { ADD: 'addSeats', REMOVE: 'removeSeats', SET: 'setSeats' } as const;

type LockedBalance = BillingTerms & {
  customerId: string;
  externalId: string | null;
  subscriptionId: string;
  period: Period;
  currency: string;
  featureId: string;
  featureCode: string;
  current: number;
  highWaterMark: number;
};

const customerClause = (ref: string) => (isOwnCustomerId(ref) ? 'c.id = ?' : 'c.external_id = ?');

/**
 * Locks the balances of `codes` for the customer's active subscription, in feature-id order so
 * that two calls locking several rows cannot deadlock. Rows come back fresh after any wait, with
 * the plan terms and the current period that price the change.
 */
async function lockBalances(tx: EntityManager, tenant: Tenant, customerRef: string, codes: string[]): Promise<LockedBalance[]> {
  const rows = await tx.execute<Record<string, unknown>[]>(
    `select c.id as customer_id, c.external_id, s.id as subscription_id, s.current_period_start, s.current_period_end, p.currency,
            f.id as feature_id, f.code as feature_code, pf.included_seats, pf.unlimited, pf.overage_enabled, pf.unit_price,
            b.current, b.high_water_mark
       from customer c
       join subscription s on s.customer_id = c.id and s.status = 'ACTIVE'
       join plan p on p.id = s.plan_id
       join plan_seat_feature pf on pf.plan_id = s.plan_id
       join feature f on f.id = pf.feature_id
       join seat_balance b on b.customer_id = c.id and b.feature_id = f.id
      where c.organization_id = ? and c.mode = ? and ${customerClause(customerRef)}
        and f.code in (select jsonb_array_elements_text(?::jsonb))
      order by f.id
        for update of b`,
    [tenant.organizationId, tenant.mode, customerRef, JSON.stringify(codes)],
  );
  return rows.map((row) => ({
    customerId: row.customer_id as string,
    externalId: row.external_id as string | null,
    subscriptionId: row.subscription_id as string,
    period: { start: new Date(row.current_period_start as string), end: new Date(row.current_period_end as string) },
    currency: row.currency as string,
    featureId: row.feature_id as string,
    featureCode: row.feature_code as string,
    includedSeats: row.included_seats as number,
    unlimited: row.unlimited as boolean,
    overageEnabled: row.overage_enabled as boolean,
    unitPrice: row.unit_price as number,
    current: row.current as number,
    highWaterMark: row.high_water_mark as number,
  }));
}

/** Why some of `codes` have no lockable balance, in the contract's order of checks. */
async function explainMissingBalances(em: EntityManager, tenant: Tenant, customerRef: string, codes: string[], params: string[]): Promise<DomainError> {
  const customer = await getCustomer(em, tenant, customerRef);
  const known = new Set((await findFeaturesByCode(em, tenant, codes)).map((f) => f.code));
  const unknown = codes.findIndex((code) => !known.has(code));
  if (unknown >= 0) {
    return new DomainError('feature_not_found', `No feature with code '${codes[unknown]}'.`, { param: params[unknown] });
  }
  const subscribed = await em.execute<unknown[]>(`select 1 from subscription where customer_id = ? and status = 'ACTIVE'`, [customer.id]);
  if (subscribed.length === 0) {
    return new DomainError('no_active_subscription', `Customer '${customerRef}' has no active subscription.`, {
      param: 'customerId',
    });
  }
  const planned = await em.execute<{ code: string }[]>(
    `select f.code from subscription s
       join plan_seat_feature pf on pf.plan_id = s.plan_id
       join feature f on f.id = pf.feature_id
      where s.customer_id = ? and s.status = 'ACTIVE'`,
    [customer.id],
  );
  const inPlan = new Set(planned.map((row) => row.code));
  const outside = codes.findIndex((code) => !inPlan.has(code));
  if (outside >= 0) {
    return new DomainError('feature_not_in_plan', `Feature '${codes[outside]}' is not in the customer's plan.`, {
      param: params[outside],
    });
  }
  // The balance rows appeared between the two reads (a subscription created meanwhile): retryable.
  return new DomainError('conflict', 'The subscription changed during the request; retry it.');
}

/** `at` is where the entry sits in the input ('' or 'seats.3.'), so errors name the right field. */
type Entry = { featureCode: string; kind: SeatEventKind; count: number; at: string };

/** Thrown inside the transaction of a preview, to roll it back and carry out its result. */
class PreviewRolledBack extends Error {
  constructor(readonly events: SeatEventRecord[]) {
    super('preview rolled back');
  }
}

/** Thrown when the locked period has ended: the change must wait for the renewal. */
class RenewalDue extends Error {
  constructor(readonly customerId: string) {
    super('renewal due');
  }
}

/**
 * Applies several changes to one customer's balances atomically: all or none. Each change is
 * priced against the period's high-water mark. With an idempotency key, a repeat returns the
 * original events and changes nothing. With `preview`, everything runs and is rolled back.
 */
async function applyChanges(
  em: EntityManager,
  tenant: Tenant,
  now: Date,
  customerRef: string,
  entries: Entry[],
  options: { idempotency?: IdempotentCall | null; preview?: boolean } = {},
): Promise<SeatEventRecord[]> {
  const codes = entries.map((entry) => entry.featureCode);
  const attempt = () =>
    em.transactional(async (tx) => {
      if (options.idempotency) {
        const claim = await claimIdempotencyKey(tx, tenant, options.idempotency);
        if (!claim.fresh) return loadEvents(tx, tenant, claim.eventIds);
      }
      const locked = await lockBalances(tx, tenant, customerRef, codes);
      if (locked.length !== new Set(codes).size) {
        throw await explainMissingBalances(tx, tenant, customerRef, codes, entries.map((entry) => `${entry.at}featureCode`));
      }
      const first = locked[0]!;
      // A change never straddles periods: when the period has ended, renew first (see below).
      if (now >= first.period.end) throw new RenewalDue(first.customerId);
      const byCode = new Map(locked.map((row) => [row.featureCode, row]));
      const changes = entries.map((entry): PlannedChange => {
        const row = byCode.get(entry.featureCode)!;
        const next = nextBalance(row.current, entry.kind, entry.count, row, entry.featureCode, `${entry.at}count`);
        const priced = trueUpFor({ newBalance: next, highWaterMark: row.highWaterMark, at: now }, row, row.period);
        return {
          featureId: row.featureId,
          featureCode: row.featureCode,
          kind: entry.kind,
          quantity: entry.count,
          previousBalance: row.current,
          newBalance: next,
          highWaterMark: priced.highWaterMark,
          charge: priced.charge,
        };
      });
      const events = await appendSeatEvents(
        tx,
        tenant,
        {
          customerId: first.customerId,
          displayId: customerDisplayId({ id: first.customerId, externalId: first.externalId }),
          subscriptionId: first.subscriptionId,
          currency: first.currency,
          ts: now,
          idempotencyKey: options.idempotency?.key,
        },
        changes,
      );
      if (options.preview) throw new PreviewRolledBack(events);
      return events;
    }).catch((error: unknown) => {
      if (error instanceof PreviewRolledBack) return error.events;
      throw error;
    });
  try {
    return await attempt();
  } catch (error) {
    if (!(error instanceof RenewalDue)) throw error;
    // Renewing records the advance in a transaction of its own (locking the subscription before
    // the balances, as every renewal does); then the change runs in the new period.
    await renewDueSubscriptions(em, tenant, now, [error.customerId]);
    return attempt();
  }
}

const idempotentCall = (operation: string, input: { idempotencyKey?: string | null }): IdempotentCall | null => {
  const { idempotencyKey, ...rest } = input;
  return idempotencyKey ? { key: idempotencyKey, operation, input: rest } : null;
};

export async function changeSeats(em: EntityManager, tenant: Tenant, now: Date, kind: SeatEventKind, input: SeatChangeInput): Promise<SeatEventRecord> {
  const [event] = await applyChanges(em, tenant, now, input.customerId, [{ featureCode: input.featureCode, kind, count: input.count, at: '' }], {
    idempotency: idempotentCall(operationOf[kind], input),
  });
  return event!;
}

export type SeatChangePreview = { ok: true; event: SeatEventRecord } | { ok: false; error: DomainError };

/**
 * What a change would do, computed by the same code in a transaction that is rolled back:
 * the event and charge it would record, or the contract error it would fail with.
 */
export async function previewSeatChange(em: EntityManager, tenant: Tenant, now: Date, kind: SeatEventKind, input: SeatChangeInput): Promise<SeatChangePreview> {
  if (kind !== 'SET' && input.count < 1) {
    return { ok: false, error: validationError('count', 'count must be at least 1 to add or remove seats.') };
  }
  try {
    const [event] = await applyChanges(em, tenant, now, input.customerId, [{ featureCode: input.featureCode, kind, count: input.count, at: '' }], {
      preview: true,
    });
    return { ok: true, event: event! };
  } catch (error) {
    if (error instanceof DomainError) return { ok: false, error };
    throw error;
  }
}

export async function bulkSetSeats(em: EntityManager, tenant: Tenant, now: Date, input: BulkSetSeatsInput): Promise<SeatEventRecord[]> {
  assertDistinctFeatureCodes(input.seats, 'seats');
  return applyChanges(
    em,
    tenant,
    now,
    input.customerId,
    input.seats.map((entry, index) => ({ featureCode: entry.featureCode, kind: 'SET', count: entry.count, at: `seats.${index}.` })),
    { idempotency: idempotentCall('bulkSetSeats', input) },
  );
}

/** Every seat balance of the given customers' active subscriptions, zero balances included. */
export async function readBalances(em: EntityManager, tenant: Tenant, customerIds: readonly string[]): Promise<Map<string, SeatBalanceRecord[]>> {
  const rows = await em.execute<Record<string, unknown>[]>(
    `select c.id as customer_id, c.external_id, f.code as feature_code, pf.included_seats, pf.unlimited, b.current, b.as_of
       from customer c
       join subscription s on s.customer_id = c.id and s.status = 'ACTIVE'
       join plan_seat_feature pf on pf.plan_id = s.plan_id
       join feature f on f.id = pf.feature_id
       join seat_balance b on b.customer_id = c.id and b.feature_id = f.id
      where c.organization_id = ? and c.mode = ? and c.id in (select jsonb_array_elements_text(?::jsonb))
      order by c.id, f.code`,
    [tenant.organizationId, tenant.mode, JSON.stringify(customerIds)],
  );
  const byCustomer = new Map<string, SeatBalanceRecord[]>(customerIds.map((id) => [id, []]));
  for (const row of rows) {
    byCustomer.get(row.customer_id as string)?.push({
      customerId: customerDisplayId({ id: row.customer_id as string, externalId: row.external_id as string | null }),
      featureCode: row.feature_code as string,
      current: row.current as number,
      includedSeats: row.included_seats as number,
      unlimited: row.unlimited as boolean,
      asOf: new Date(row.as_of as string),
      mode: tenant.mode,
    });
  }
  return byCustomer;
}

