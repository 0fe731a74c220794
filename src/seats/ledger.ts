import type { EntityManager } from '@mikro-orm/postgresql';
import type { PlannedCharge } from '../billing/proration.js';
import { chargeRecord, chargeRow, chargeRowColumns, type SeatChargeRecord } from '../billing/records.js';
import { findFeaturesByCode } from '../catalog/service.js';
import { customerDisplayId } from '../customers/entities.js';
import { getCustomer } from '../customers/service.js';
import { DomainError, validationError } from '../errors.js';
import { newId } from '../ids.js';
import type { Mode, Tenant } from '../tenant.js';
import type { SeatEventKind } from './entities.js';

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
  /** The charge the change caused: null for none, undefined when not loaded yet. */
  charge?: SeatChargeRecord | null;
};

export type PlannedChange = {
  featureId: string;
  featureCode: string;
  kind: SeatEventKind;
  quantity: number;
  previousBalance: number;
  newBalance: number;
  /** The period's high-water mark of billable seats after the change. */
  highWaterMark: number;
  charge: PlannedCharge | null;
};

export type LedgerTarget = {
  customerId: string;
  displayId: string;
  subscriptionId: string;
  currency: string;
  ts: Date;
  idempotencyKey?: string;
};

/**
 * Writes the planned changes of one customer in a single statement: each balance takes its new
 * value and high-water mark, one event per change is appended in the given order, each charge is
 * recorded against its event, and a claimed idempotency key learns the event ids. The caller
 * holds the balance locks.
 */
export async function appendSeatEvents(tx: EntityManager, tenant: Tenant, target: LedgerTarget, changes: PlannedChange[]): Promise<SeatEventRecord[]> {
  const planned = changes.map((change, ord) => ({ ...change, id: newId('sev'), ord }));
  const charges = planned.flatMap((change) =>
    change.charge ? [chargeRow(change.charge, { chargeId: newId('chg'), featureId: change.featureId, eventId: change.id }, target.ts)] : [],
  );
  const keyed = target.idempotencyKey
    ? `, keyed as (
         update idempotency_key set event_ids = (select array_agg(id order by ord) from changes)
          where organization_id = ? and mode = ? and key = ?
       )`
    : '';
  const rows = await tx.execute<{ id: string; seq: string; created_at: Date }[]>(
    `with changes as (
       select * from jsonb_to_recordset(?::jsonb)
         as c(id text, "featureId" text, kind text, quantity int, "previousBalance" int, "newBalance" int, "highWaterMark" int, ord int)
     ), updated as (
       update seat_balance b set current = c."newBalance", high_water_mark = c."highWaterMark", as_of = ?
         from changes c where b.customer_id = ? and b.feature_id = c."featureId"
     )${keyed}, charged as (
       insert into seat_charge (id, organization_id, mode, subscription_id, customer_id, feature_id, event_id, kind, quantity,
                                unit_price, days_remaining, days_in_period, period_start, period_end, amount, currency, ts)
       select ch."chargeId", ?, ?, ?, ?, ch."featureId", ch."eventId", ch.kind, ch.quantity, ch."unitPrice", ch."daysRemaining",
              ch."daysInPeriod", ch."periodStart", ch."periodEnd", ch.amount, ?, ch.ts
         from jsonb_to_recordset(?::jsonb) as ch(${chargeRowColumns})
     )
     insert into seat_event (id, organization_id, mode, customer_id, feature_id, subscription_id,
                             kind, quantity, previous_balance, new_balance, ts)
     select c.id, ?, ?, ?, c."featureId", ?, c.kind, c.quantity, c."previousBalance", c."newBalance", ?
       from changes c order by c.ord
     returning id, seq, created_at`,
    [
      JSON.stringify(planned.map(({ charge: _charge, ...change }) => change)),
      target.ts,
      target.customerId,
      ...(target.idempotencyKey ? [tenant.organizationId, tenant.mode, target.idempotencyKey] : []),
      tenant.organizationId,
      tenant.mode,
      target.subscriptionId,
      target.customerId,
      target.currency,
      JSON.stringify(charges),
      tenant.organizationId,
      tenant.mode,
      target.customerId,
      target.subscriptionId,
      target.ts,
    ],
  );
  const inserted = new Map(rows.map((row) => [row.id, row]));
  const chargeOf = new Map(charges.map((charge) => [charge.eventId, charge]));
  return planned.map((change) => {
    const row = inserted.get(change.id)!;
    const createdAt = new Date(row.created_at);
    const charge = chargeOf.get(change.id);
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
      createdAt,
      mode: tenant.mode,
      charge: charge
        ? chargeRecord(charge, { customerId: target.displayId, featureCode: change.featureCode, currency: target.currency, mode: tenant.mode, createdAt })
        : null,
    };
  });
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
export async function loadEvents(em: EntityManager, tenant: Tenant, ids: string[]): Promise<SeatEventRecord[]> {
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
