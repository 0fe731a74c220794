import type { SeatChargeKind } from './billing.ts';
import type { OutboxEventType } from './events.ts';
import type { SeatEventKind } from './seats.ts';
import type { Mode } from './tenant.ts';

// The records: each concept as the API shows it, built from a store's rows in one place and
// turned into a payload (events/payloads.ts) by one function. Every floor above reads these.

/** A customer as callers see it. */
export type CustomerRecord = { id: string; externalId: string | null; name: string; createdAt: Date; mode: Mode };

/** A balance as the API shows it. */
export type SeatBalanceRecord = {
  /** The customer's own `cus_` id, whatever `customerId` shows: the balance's global id is made of it. */
  customerRowId: string;
  customerId: string;
  featureCode: string;
  current: number;
  includedSeats: number;
  unlimited: boolean;
  asOf: Date;
  mode: Mode;
  /** The decrease the renewal applies at the period end; null when none is scheduled. */
  scheduledChange: ScheduledSeatChangeRecord | null;
};

/** A decrease waiting for the period end: the count it sets, and when. */
export type ScheduledSeatChangeRecord = { count: number; effectiveAt: Date };

/** One change of one balance; `customerId` is the customer's display id. */
export type SeatEventRecord = {
  id: string;
  /** The customer's own `cus_` id, whatever `customerId` shows. */
  customerRowId: string;
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
  /** True for a decrease scheduled for `ts` and not in the ledger yet. */
  scheduled?: boolean;
  /**
   * True when the event is its balance's latest change as the reader gets it (just recorded, or
   * delivered in order as a notification), so the balance it left is the one to show.
   */
  latest?: boolean;
};

/** What explains a charge's amount: quantity × unitPrice × daysRemaining / daysInPeriod. */
export type ChargeTerms = {
  kind: SeatChargeKind;
  quantity: number;
  unitPrice: number;
  daysRemaining: number;
  daysInPeriod: number;
  periodStart: Date;
  periodEnd: Date;
  amount: number;
};

/** A charge as callers see it. */
export type SeatChargeRecord = ChargeTerms & {
  id: string;
  customerId: string;
  featureCode: string;
  currency: string;
  eventId: string | null;
  ts: Date;
  createdAt: Date;
  mode: Mode;
};

/** A published outbox row, as readers (subscriptions, webhooks) get it. */
export type PublishedEvent = {
  id: string;
  position: string;
  organizationId: string;
  mode: Mode;
  type: OutboxEventType;
  customerId: string;
  featureCode: string;
  payload: Record<string, unknown>;
  createdAt: Date;
};
