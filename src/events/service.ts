import type { EntityManager } from '@mikro-orm/postgresql';
import type { SeatCharge } from '../model/billing.js';
import { chargeRecordOf } from '../billing/records.js';
import { customerDisplayId } from '../model/customers.js';
import { every } from '../common/schedule.js';
import { getCustomer } from '../customers/service.js';
import { run } from '../db/prepared.js';
import { validationError } from '../common/errors.js';
import { newId } from '../common/ids.js';
import type { SeatEvent } from '../model/seats.js';
import { eventRecordOf } from '../seats/ledger.js';
import { reachesLimit, type SeatTerms } from '../seats/rules.js';
import type { Tenant } from '../model/tenant.js';
import { OutboxEvent, type OutboxEventType } from '../model/events.js';
import type { EventHub } from './hub.js';
import { OUTBOX_BACKLOG, POSITION_OF, PRUNE_PUBLISHED } from './store.js';
import {
  type ChargeCreatedPayload,
  chargeCreatedPayload,
  type LimitReachedPayload,
  type SeatChangedPayload,
  seatBalancePayload,
  seatEventPayload,
} from './payloads.js';

export type OutboxEntry = { tenant: Tenant; customerId: string; featureCode: string } & (
  | { type: 'seat.changed'; payload: SeatChangedPayload }
  | { type: 'charge.created'; payload: ChargeCreatedPayload }
  | { type: 'seat.limit_reached'; payload: LimitReachedPayload }
);

/** An outbox row's data, for the unit of work or for a plain insert. */
export const outboxRow = (entry: OutboxEntry) => ({
  id: newId('evt'),
  organization: entry.tenant.organizationId,
  mode: entry.tenant.mode,
  type: entry.type as OutboxEventType,
  customer: entry.customerId,
  featureCode: entry.featureCode,
  payload: entry.payload,
  createdAt: new Date(),
});

/**
 * Adds outbox rows to the unit of work, so the flush that writes a change writes what it tells
 * the world about it: both commit, or neither does.
 */
export function recordOutbox(em: EntityManager, entries: readonly OutboxEntry[]): void {
  for (const entry of entries) em.create(OutboxEvent, outboxRow(entry));
}

/** The balance an outbox entry is about. */
export type BalanceFacts = { tenant: Tenant; customer: { id: string; externalId: string | null }; featureCode: string; terms: SeatTerms };

const on = (facts: BalanceFacts) => ({ tenant: facts.tenant, customerId: facts.customer.id, featureCode: facts.featureCode });
const namesOf = (facts: BalanceFacts) => ({ customerId: customerDisplayId(facts.customer), featureCode: facts.featureCode });

function limitPayload(
  facts: BalanceFacts,
  current: number,
  what: Pick<LimitReachedPayload, 'reason' | 'eventId' | 'requested'>,
  at: Date,
): LimitReachedPayload {
  return { ...namesOf(facts), includedSeats: facts.terms.includedSeats, current, ...what, at: at.toISOString(), livemode: facts.tenant.mode === 'live' };
}

/** What the outbox says about one recorded change: the change, its charge, and a limit it reached. */
export function changeOutbox(facts: BalanceFacts & { event: SeatEvent; charge: SeatCharge | null }): OutboxEntry[] {
  const { tenant, terms, event, charge } = facts;
  const names = namesOf(facts);
  const balance = { ...names, current: event.newBalance, includedSeats: terms.includedSeats, unlimited: terms.unlimited, asOf: event.ts, mode: tenant.mode };
  const entries: OutboxEntry[] = [
    { ...on(facts), type: 'seat.changed', payload: { event: seatEventPayload(eventRecordOf(event, names, null)), balance: seatBalancePayload(balance) } },
  ];
  if (charge) entries.push({ ...on(facts), type: 'charge.created', payload: chargeCreatedPayload(chargeRecordOf(charge, names)) });
  if (reachesLimit(terms, event.previousBalance, event.newBalance)) {
    entries.push({
      ...on(facts),
      type: 'seat.limit_reached',
      payload: limitPayload(facts, event.newBalance, { reason: 'reached', eventId: event.id, requested: null }, event.ts),
    });
  }
  return entries;
}

/**
 * A change refused for going above a capped feature's included seats: nothing changed, but the
 * back office learns that a customer wants more than the plan allows.
 */
export const limitRefusedOutbox = (facts: BalanceFacts, current: number, requested: number, at: Date): OutboxEntry => ({
  ...on(facts),
  type: 'seat.limit_reached',
  payload: limitPayload(facts, current, { reason: 'refused', eventId: null, requested }, at),
});

/** What a subscription asks for: one tenant's events of some types, maybe of one customer or feature, resumed after an event it saw. */
export type LiveEventsRequest = { types: readonly OutboxEventType[]; customerRef: string | null; featureCode: string | null; after: string | null };

/**
 * A tenant's events as they are published, each process's changes included; with `after` (the
 * id of the last event the subscriber saw), those published since first, from the outbox.
 */
export async function liveEvents(em: EntityManager, hub: EventHub, tenant: Tenant, request: LiveEventsRequest) {
  const customer = request.customerRef === null ? null : await getCustomer(em, tenant, request.customerRef);
  let resumeAfter: string | null = null;
  if (request.after !== null) {
    const [seen] = await run(em, POSITION_OF, { organizationId: tenant.organizationId, mode: tenant.mode, id: request.after });
    if (!seen?.position) throw validationError('after', `'${request.after}' is not the id of an event this key has been sent.`);
    resumeAfter = seen.position;
  }
  await hub.start();
  return hub.feed.subscribe(
    { organizationId: tenant.organizationId, mode: tenant.mode, types: request.types, customerId: customer?.id ?? null, featureCode: request.featureCode },
    resumeAfter,
  );
}

/** How long published events are kept: the window a subscriber can resume in, and webhook history. */
export const outboxRetentionDays = 7;

/**
 * Forgets published events older than the retention, in bounded passes; returns how many went.
 * `organizationId` limits it to one organization (tests share a database).
 */
export async function pruneOutbox(em: EntityManager, now: Date, organizationId: string | null = null): Promise<number> {
  const before = new Date(now.getTime() - outboxRetentionDays * 86_400_000);
  let pruned = 0;
  for (;;) {
    const gone = await run(em, PRUNE_PUBLISHED, { before, limit: 5000, organizationId });
    pruned += gone.length;
    if (gone.length < 5000) return pruned;
  }
}

/** Prunes the outbox now and every hour after; returns the function that stops it. */
export function scheduleOutboxPruning(
  em: EntityManager,
  options: { everyMs?: number; onError: (error: unknown) => void; onPruned?: (count: number) => void },
): () => void {
  return every(options.everyMs ?? 3_600_000, async () => options.onPruned?.(await pruneOutbox(em.fork(), new Date())), options.onError);
}

/** The relay's backlog, for metrics: unpublished rows and the age of the oldest, in seconds. */
export async function outboxBacklog(em: EntityManager): Promise<{ unpublished: number; oldestSeconds: number }> {
  const [backlog] = await run(em, OUTBOX_BACKLOG, {});
  return backlog!;
}
