import type { EntityManager } from '@mikro-orm/postgresql';
import type { SeatChargeRecord } from '../billing/records.js';
import { findFeaturesByCode } from '../catalog/service.js';
import { customerDisplayId } from '../model/customers.js';
import { getCustomer } from '../customers/service.js';
import { run } from '../db/prepared.js';
import { type Connection, type ConnectionArgs, connectionOf, type CursorKind, foreignCursor, pageRequest } from '../common/relay.js';
import { DomainError } from '../common/errors.js';
import type { Mode, Tenant } from '../model/tenant.js';
import type { SeatEvent, SeatEventKind } from '../model/seats.js';
import {
  EVENTS_BY_ID,
  EVENTS_OF_BALANCE,
  EVENTS_OF_BALANCE_BACKWARD,
  EVENTS_OF_CUSTOMER,
  EVENTS_OF_CUSTOMER_BACKWARD,
  type EventPageRow,
  type EventRow,
} from './store.js';

export type SeatEventRecord = {
  id: string;
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
export const eventRecordOf = (event: SeatEvent, names: { customerId: string; featureCode: string }, charge: SeatChargeRecord | null): SeatEventRecord => ({
  id: event.id,
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

/** Cursors of a ledger: the event's own sev_ id (the v1 cursors held a table-wide sequence number). */
export const seatEventCursor: CursorKind = { tag: 'ledger.v2', idPrefix: 'sev' };

/** Events per page of seatEvents, and the default. */
export const maxSeatEventsPerPage = 100;
export const defaultSeatEventsPerPage = 25;

/**
 * A customer's ledger, newest first: `first` events after the `after` cursor, or the `last`
 * events before the `before` cursor, in one statement whatever the page (the customer, and the
 * feature when filtered, are read first). A cursor names an event of this very list; one of
 * another customer, feature filter, organization or mode answers validation_error.
 */
export async function listSeatEvents(
  em: EntityManager,
  tenant: Tenant,
  args: ConnectionArgs & { customerId: string; featureCode?: string | null },
): Promise<Connection<SeatEventRecord>> {
  const request = pageRequest(args, seatEventCursor, { default: defaultSeatEventsPerPage, max: maxSeatEventsPerPage });
  const customer = await getCustomer(em, tenant, args.customerId);
  const page = {
    organizationId: tenant.organizationId,
    mode: tenant.mode,
    customerId: customer.id,
    afterId: request.afterId,
    beforeId: request.beforeId,
    limit: request.limit,
  };
  let rows: EventPageRow[];
  if (args.featureCode) {
    const [feature] = await findFeaturesByCode(em, tenant, [args.featureCode]);
    if (!feature) {
      throw new DomainError('feature_not_found', `No feature with code '${args.featureCode}'.`, { param: 'featureCode' });
    }
    rows = await run(em, request.backward ? EVENTS_OF_BALANCE_BACKWARD : EVENTS_OF_BALANCE, { ...page, featureId: feature.id });
  } else {
    rows = await run(em, request.backward ? EVENTS_OF_CUSTOMER_BACKWARD : EVENTS_OF_CUSTOMER, page);
  }
  const verdict = rows[0]!;
  if (request.afterId && !verdict.afterFound) throw foreignCursor('after');
  if (request.beforeId && !verdict.beforeFound) throw foreignCursor('before');
  const events = rows.flatMap((row) => (row.event ? [eventRecordFromRow(row.event)] : []));
  return connectionOf(events, request, seatEventCursor, (event) => event.id);
}

/** The tenant's events among `ids`, by id, as they were recorded; ids of other tenants are absent. */
export async function findEventsById(em: EntityManager, tenant: Tenant, ids: readonly string[]): Promise<Map<string, SeatEventRecord>> {
  const rows = await run(em, EVENTS_BY_ID, { organizationId: tenant.organizationId, mode: tenant.mode, ids: [...ids] });
  return new Map(rows.map((row) => [row.id, eventRecordFromRow(row)]));
}

/** Events by id, in the order of `ids`, as they were recorded. */
export async function loadEvents(em: EntityManager, tenant: Tenant, ids: string[]): Promise<SeatEventRecord[]> {
  const byId = await findEventsById(em, tenant, ids);
  return ids.map((id) => byId.get(id)!);
}
