import type { EntityManager } from '@mikro-orm/postgresql';
import { type Connection, type ConnectionArgs, connectionOf, type CursorKind, foreignCursor, type PageRequest, pageRequest } from '../common/relay.ts';
import { run } from '../db/prepared.ts';
import type { SeatChargeRecord, SeatEventRecord } from '../model/records.ts';
import type { SeatEvent, SeatScheduledChange } from '../model/seats.ts';
import type { Tenant } from '../model/tenant.ts';
import {
  EVENTS_BY_ID,
  EVENTS_OF_BALANCE,
  EVENTS_OF_BALANCE_BACKWARD,
  EVENTS_OF_CUSTOMER,
  EVENTS_OF_CUSTOMER_BACKWARD,
  SCHEDULED_CHANGES_BY_ID,
} from './store.ts';

/** What a record of a seat event takes from it: a SeatEvent, or one about to be written. */
type LedgerEntry = Pick<SeatEvent, 'id' | 'kind' | 'quantity' | 'previousBalance' | 'newBalance' | 'ts' | 'createdAt' | 'mode'> & { customer: { id: string } };

/** An event just written, as callers see it; `customerId` is the customer's display id. */
export const eventRecordOf = (event: LedgerEntry, names: { customerId: string; featureCode: string }, charge: SeatChargeRecord | null): SeatEventRecord => ({
  id: event.id,
  customerRowId: event.customer.id,
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
  latest: true,
});

/**
 * A decrease just scheduled, as its caller sees it: the SET event the renewal will record at its
 * effectiveAt, under the same id, unless it is replaced or cancelled first.
 */
export const scheduledEventRecord = (change: SeatScheduledChange, names: { customerId: string; featureCode: string }): SeatEventRecord => ({
  id: change.id,
  customerRowId: change.customer.id,
  customerId: names.customerId,
  featureCode: names.featureCode,
  kind: 'SET',
  quantity: change.count,
  previousBalance: change.previousBalance,
  newBalance: change.count,
  ts: change.effectiveAt,
  createdAt: change.createdAt,
  mode: change.mode,
  charge: null,
  scheduled: true,
  latest: true,
});

/** Cursors of a ledger: the event's own sev_ id (the v1 cursors held a table-wide sequence number). */
const seatEventCursor: CursorKind = { tag: 'ledger.v2', idPrefix: 'sev' };

/** Events per page of seatEvents, and the default. */
export const maxSeatEventsPerPage = 100;
export const defaultSeatEventsPerPage = 25;

/** The page a ledger read asks for; a malformed cursor or size answers validation_error before anything is read. */
export const ledgerPageRequest = (args: ConnectionArgs): PageRequest =>
  pageRequest(args, seatEventCursor, { default: defaultSeatEventsPerPage, max: maxSeatEventsPerPage });

/**
 * A customer's ledger (by its own id), or one balance of it, newest first: `first` events after
 * the `after` cursor, or the `last` events before the `before` cursor, in one statement whatever
 * the page. A cursor names an event of this very list; one of another customer, feature filter,
 * organization or mode answers validation_error.
 */
export async function ledgerPage(
  em: EntityManager,
  tenant: Tenant,
  ofBalance: { customerId: string; featureId: string | null },
  request: PageRequest,
): Promise<Connection<SeatEventRecord>> {
  const page = {
    organizationId: tenant.organizationId,
    mode: tenant.mode,
    customerId: ofBalance.customerId,
    afterId: request.afterId,
    beforeId: request.beforeId,
    limit: request.limit,
  };
  const rows =
    ofBalance.featureId === null
      ? await run(em, request.backward ? EVENTS_OF_CUSTOMER_BACKWARD : EVENTS_OF_CUSTOMER, page)
      : await run(em, request.backward ? EVENTS_OF_BALANCE_BACKWARD : EVENTS_OF_BALANCE, { ...page, featureId: ofBalance.featureId });
  const verdict = rows[0]!;
  if (request.afterId && !verdict.afterFound) throw foreignCursor('after');
  if (request.beforeId && !verdict.beforeFound) throw foreignCursor('before');
  const events = rows.flatMap((row) => (row.event ? [row.event] : []));
  return connectionOf(events, request, seatEventCursor, (event) => event.id);
}

/** The tenant's events among `ids`, by id, as they were recorded; ids of other tenants are absent. */
export async function findEventsById(em: EntityManager, tenant: Tenant, ids: readonly string[]): Promise<Map<string, SeatEventRecord>> {
  const rows = await run(em, EVENTS_BY_ID, { organizationId: tenant.organizationId, mode: tenant.mode, ids: [...ids] });
  return new Map(rows.map((event) => [event.id, event]));
}

/**
 * Events by id, in the order of `ids`, as they were recorded; a decrease scheduled for the period
 * end as it was scheduled, until the renewal records it under its id.
 */
export async function loadEvents(em: EntityManager, tenant: Tenant, ids: string[]): Promise<SeatEventRecord[]> {
  const byId = await findEventsById(em, tenant, ids);
  const pending = ids.filter((id) => !byId.has(id));
  if (pending.length > 0) {
    const scheduled = await run(em, SCHEDULED_CHANGES_BY_ID, { organizationId: tenant.organizationId, mode: tenant.mode, ids: pending });
    for (const event of scheduled) byId.set(event.id, event);
  }
  return ids.map((id) => byId.get(id)!);
}
