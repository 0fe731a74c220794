import type { EntityManager } from '@mikro-orm/postgresql';
import type { SeatChargeRecord } from '../billing/records.js';
import { findFeaturesByCode } from '../catalog/service.js';
import { customerDisplayId } from '../customers/entities.js';
import { getCustomer } from '../customers/service.js';
import { run } from '../db/prepared.js';
import { DomainError, validationError } from '../errors.js';
import type { Mode, Tenant } from '../tenant.js';
import type { SeatEvent, SeatEventKind } from './entities.js';
import { EVENTS_BY_ID, EVENTS_OF_BALANCE, EVENTS_OF_CUSTOMER, type EventRow } from './store.js';

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

/** An event just flushed, as callers see it; `customerId` is the customer's display id. */
export const eventRecordOf = (
  event: SeatEvent,
  names: { customerId: string; featureCode: string },
  charge: SeatChargeRecord | null,
): SeatEventRecord => ({
  id: event.id,
  seq: String(event.seq),
  customerId: names.customerId,
  featureCode: names.featureCode,
  kind: event.kind,
  quantity: event.quantity,
  previousBalance: event.previousBalance,
  newBalance: event.newBalance,
  ts: event.ts,
  createdAt: event.createdAt,
  mode: event.mode,
  charge,
});

const eventRecordFromRow = ({ customer, ...row }: EventRow): SeatEventRecord => ({ ...row, customerId: customerDisplayId(customer) });

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
  const beforeSeq = args.after ? decodeCursor(args.after) : String(maxBigint);
  const customer = await getCustomer(em, tenant, args.customerId);
  const page = { customerId: customer.id, beforeSeq, limit: args.first + 1 };
  let rows: EventRow[];
  if (args.featureCode) {
    const [feature] = await findFeaturesByCode(em, tenant, [args.featureCode]);
    if (!feature) {
      throw new DomainError('feature_not_found', `No feature with code '${args.featureCode}'.`, { param: 'featureCode' });
    }
    rows = await run(em, EVENTS_OF_BALANCE, { ...page, featureId: feature.id });
  } else {
    rows = await run(em, EVENTS_OF_CUSTOMER, page);
  }
  return { events: rows.slice(0, args.first).map(eventRecordFromRow), hasNextPage: rows.length > args.first };
}

/** Events by id, in the order of `ids`, as they were recorded. */
export async function loadEvents(em: EntityManager, tenant: Tenant, ids: string[]): Promise<SeatEventRecord[]> {
  const rows = await run(em, EVENTS_BY_ID, { organizationId: tenant.organizationId, mode: tenant.mode, ids });
  const byId = new Map(rows.map((row) => [row.id, eventRecordFromRow(row)]));
  return ids.map((id) => byId.get(id)!);
}
