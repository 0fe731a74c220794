import type { EntityManager } from '@mikro-orm/postgresql';
import { findFeaturesByCode } from '../catalog/service.js';
import { customerDisplayId } from '../customers/entities.js';
import { getCustomer, isOwnCustomerId } from '../customers/service.js';
import { DomainError, validationError } from '../errors.js';
import { claimIdempotencyKey, type IdempotentCall } from '../idempotency/service.js';
import { newId } from '../ids.js';
import type { Mode, Tenant } from '../tenant.js';
import type { SeatEventKind } from './entities.js';
import { nextBalance, type SeatTerms } from './rules.js';

export type SeatEventRecord = {
  id: string;
  seq: string;
  customerId: string;
  featureCode: string;
  kind: SeatEventKind;
  quantity: number;
  previousBalance: number;
  newBalance: number;
  ts: Date;
  createdAt: Date;
  mode: Mode;
};

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

type LockedBalance = SeatTerms & {
  customerId: string;
  externalId: string | null;
  subscriptionId: string;
  featureId: string;
  featureCode: string;
  current: number;
};

export type PlannedChange = {
  featureId: string;
  featureCode: string;
  kind: SeatEventKind;
  quantity: number;
  previousBalance: number;
  newBalance: number;
};

const customerClause = (ref: string) => (isOwnCustomerId(ref) ? 'c.id = ?' : 'c.external_id = ?');

/**
 * Locks the balances of `codes` for the customer's active subscription, in feature-id order so
 * that two calls locking several rows cannot deadlock. Rows come back fresh after any wait.
 */
async function lockBalances(tx: EntityManager, tenant: Tenant, customerRef: string, codes: string[]): Promise<LockedBalance[]> {
  const rows = await tx.execute<Record<string, unknown>[]>(
    `select c.id as customer_id, c.external_id, s.id as subscription_id, f.id as feature_id, f.code as feature_code,
            pf.included_seats, pf.unlimited, pf.overage_enabled, b.current
       from customer c
       join subscription s on s.customer_id = c.id and s.status = 'ACTIVE'
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
    featureId: row.feature_id as string,
    featureCode: row.feature_code as string,
    includedSeats: row.included_seats as number,
    unlimited: row.unlimited as boolean,
    overageEnabled: row.overage_enabled as boolean,
    current: row.current as number,
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

/**
 * Writes the planned changes of one customer: each balance takes its new value and one event
 * per change is appended, in the given order, in a single statement. The caller holds the locks.
 */
export async function appendSeatEvents(
  tx: EntityManager,
  tenant: Tenant,
  target: { customerId: string; displayId: string; subscriptionId: string; ts: Date; idempotencyKey?: string },
  changes: PlannedChange[],
): Promise<SeatEventRecord[]> {
  const planned = changes.map((change, ord) => ({ ...change, id: newId('sev'), ord }));
  // The claimed idempotency key learns its result in the same statement as the change.
  const keyed = target.idempotencyKey
    ? `, keyed as (
         update idempotency_key set event_ids = (select array_agg(id order by ord) from changes)
          where organization_id = ? and mode = ? and key = ?
       )`
    : '';
  const keyedParams = target.idempotencyKey ? [tenant.organizationId, tenant.mode, target.idempotencyKey] : [];
  const rows = await tx.execute<{ id: string; seq: string; created_at: Date }[]>(
    `with changes as (
       select * from jsonb_to_recordset(?::jsonb)
         as c(id text, "featureId" text, kind text, quantity int, "previousBalance" int, "newBalance" int, ord int)
     ), updated as (
       update seat_balance b set current = c."newBalance", as_of = ?
         from changes c where b.customer_id = ? and b.feature_id = c."featureId"
     )${keyed}
     insert into seat_event (id, organization_id, mode, customer_id, feature_id, subscription_id,
                             kind, quantity, previous_balance, new_balance, ts)
     select c.id, ?, ?, ?, c."featureId", ?, c.kind, c.quantity, c."previousBalance", c."newBalance", ?
       from changes c order by c.ord
     returning id, seq, created_at`,
    [
      JSON.stringify(planned),
      target.ts,
      target.customerId,
      ...keyedParams,
      tenant.organizationId,
      tenant.mode,
      target.customerId,
      target.subscriptionId,
      target.ts,
    ],
  );
  const inserted = new Map(rows.map((row) => [row.id, row]));
  return planned.map((change) => {
    const row = inserted.get(change.id)!;
    return {
      id: change.id,
      seq: String(row.seq),
      customerId: target.displayId,
      featureCode: change.featureCode,
      kind: change.kind,
      quantity: change.quantity,
      previousBalance: change.previousBalance,
      newBalance: change.newBalance,
      ts: target.ts,
      createdAt: new Date(row.created_at),
      mode: tenant.mode,
    };
  });
}

/** `at` is where the entry sits in the input ('' or 'seats.3.'), so errors name the right field. */
type Entry = { featureCode: string; kind: SeatEventKind; count: number; at: string };

/**
 * Applies several changes to one customer's balances atomically: all or none. With an
 * idempotency key, a repeat returns the original events and changes nothing.
 */
async function applyChanges(
  em: EntityManager,
  tenant: Tenant,
  now: Date,
  customerRef: string,
  entries: Entry[],
  idempotency: IdempotentCall | null,
): Promise<SeatEventRecord[]> {
  const codes = entries.map((entry) => entry.featureCode);
  return em.transactional(async (tx) => {
    if (idempotency) {
      const claim = await claimIdempotencyKey(tx, tenant, idempotency);
      if (!claim.fresh) return loadEvents(tx, tenant, claim.eventIds);
    }
    const locked = await lockBalances(tx, tenant, customerRef, codes);
    if (locked.length !== new Set(codes).size) {
      throw await explainMissingBalances(tx, tenant, customerRef, codes, entries.map((entry) => `${entry.at}featureCode`));
    }
    const byCode = new Map(locked.map((row) => [row.featureCode, row]));
    const changes = entries.map((entry): PlannedChange => {
      const row = byCode.get(entry.featureCode)!;
      const next = nextBalance(row.current, entry.kind, entry.count, row, entry.featureCode, `${entry.at}count`);
      return {
        featureId: row.featureId,
        featureCode: row.featureCode,
        kind: entry.kind,
        quantity: entry.count,
        previousBalance: row.current,
        newBalance: next,
      };
    });
    const first = locked[0]!;
    return appendSeatEvents(
      tx,
      tenant,
      {
        customerId: first.customerId,
        displayId: customerDisplayId({ id: first.customerId, externalId: first.externalId }),
        subscriptionId: first.subscriptionId,
        ts: now,
        idempotencyKey: idempotency?.key,
      },
      changes,
    );
  });
}

const idempotentCall = (operation: string, input: { idempotencyKey?: string | null }): IdempotentCall | null => {
  const { idempotencyKey, ...rest } = input;
  return idempotencyKey ? { key: idempotencyKey, operation, input: rest } : null;
};

export async function changeSeats(em: EntityManager, tenant: Tenant, now: Date, kind: SeatEventKind, input: SeatChangeInput): Promise<SeatEventRecord> {
  const [event] = await applyChanges(
    em,
    tenant,
    now,
    input.customerId,
    [{ featureCode: input.featureCode, kind, count: input.count, at: '' }],
    idempotentCall(operationOf[kind], input),
  );
  return event!;
}

export async function bulkSetSeats(em: EntityManager, tenant: Tenant, now: Date, input: BulkSetSeatsInput): Promise<SeatEventRecord[]> {
  const seen = new Set<string>();
  input.seats.forEach((entry, index) => {
    if (seen.has(entry.featureCode)) {
      throw validationError(`seats.${index}.featureCode`, `Feature code '${entry.featureCode}' appears more than once.`);
    }
    seen.add(entry.featureCode);
  });
  return applyChanges(
    em,
    tenant,
    now,
    input.customerId,
    input.seats.map((entry, index) => ({
      featureCode: entry.featureCode,
      kind: 'SET',
      count: entry.count,
      at: `seats.${index}.`,
    })),
    idempotentCall('bulkSetSeats', input),
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

export type SeatEventPage = { events: SeatEventRecord[]; hasNextPage: boolean };

const maxBigint = 2n ** 63n - 1n;

export const encodeCursor = (seq: string): string => Buffer.from(`sev:${seq}`).toString('base64url');

function decodeCursor(cursor: string): string {
  const match = /^sev:(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || BigInt(match[1]!) > maxBigint) throw validationError('after', 'The cursor is not one this API returned.');
  return match[1]!;
}

/** A customer's ledger, newest first, `first` events after the cursor. */
export async function listSeatEvents(
  em: EntityManager,
  tenant: Tenant,
  args: { customerId: string; featureCode?: string | null; first: number; after?: string | null },
): Promise<SeatEventPage> {
  const before = args.after ? decodeCursor(args.after) : null;
  const customer = await getCustomer(em, tenant, args.customerId);
  let featureId: string | null = null;
  if (args.featureCode) {
    const [feature] = await findFeaturesByCode(em, tenant, [args.featureCode]);
    if (!feature) {
      throw new DomainError('feature_not_found', `No feature with code '${args.featureCode}'.`, { param: 'featureCode' });
    }
    featureId = feature.id;
  }
  const rows = await em.execute<Record<string, unknown>[]>(
    `select e.id, e.seq, f.code as feature_code, e.kind, e.quantity, e.previous_balance, e.new_balance, e.ts, e.created_at
       from seat_event e join feature f on f.id = e.feature_id
      where e.customer_id = ? ${featureId ? 'and e.feature_id = ?' : ''} ${before ? 'and e.seq < ?' : ''}
      order by e.seq desc
      limit ?`,
    [customer.id, ...(featureId ? [featureId] : []), ...(before ? [before] : []), args.first + 1],
  );
  const displayId = customerDisplayId(customer);
  const events = rows.slice(0, args.first).map((row) => eventFromRow(row, displayId, tenant.mode));
  return { events, hasNextPage: rows.length > args.first };
}

const eventFromRow = (row: Record<string, unknown>, customerId: string, mode: Mode): SeatEventRecord => ({
  id: row.id as string,
  seq: String(row.seq),
  customerId,
  featureCode: row.feature_code as string,
  kind: row.kind as SeatEventKind,
  quantity: row.quantity as number,
  previousBalance: row.previous_balance as number,
  newBalance: row.new_balance as number,
  ts: new Date(row.ts as string),
  createdAt: new Date(row.created_at as string),
  mode,
});

/** Events by id, in the order of `ids`, as they were recorded. */
async function loadEvents(em: EntityManager, tenant: Tenant, ids: string[]): Promise<SeatEventRecord[]> {
  const rows = await em.execute<Record<string, unknown>[]>(
    `select e.id, e.seq, f.code as feature_code, e.kind, e.quantity, e.previous_balance, e.new_balance, e.ts, e.created_at,
            c.id as customer_id, c.external_id
       from seat_event e join feature f on f.id = e.feature_id join customer c on c.id = e.customer_id
      where e.organization_id = ? and e.mode = ? and e.id in (select jsonb_array_elements_text(?::jsonb))`,
    [tenant.organizationId, tenant.mode, JSON.stringify(ids)],
  );
  const byId = new Map(
    rows.map((row) => [
      row.id as string,
      eventFromRow(row, customerDisplayId({ id: row.customer_id as string, externalId: row.external_id as string | null }), tenant.mode),
    ]),
  );
  return ids.map((id) => byId.get(id)!);
}
