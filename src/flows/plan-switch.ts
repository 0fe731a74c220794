import type { EntityManager } from '@mikro-orm/postgresql';
import { newId } from '../common/ids.ts';
import { customerById } from '../customers/service.ts';
import type { OutboxEntry } from '../events/service.ts';
import type { SeatTerms } from '../model/catalog.ts';
import { customerDisplayId } from '../model/customers.ts';
import { SeatBalance, SeatEvent } from '../model/seats.ts';
import type { Subscription } from '../model/subscriptions.ts';
import type { Tenant } from '../model/tenant.ts';
import { eventRecordOf } from '../seats/ledger.ts';
import { isCapped } from '../seats/rules.ts';
import { changeOutbox } from './announce.ts';

// Moving a customer's balances onto another plan's features, at the instant a plan change takes
// effect: at once (plan-change.ts) or at the period end (plan-change-at-renewal.ts).

type FeatureTerms = Map<string, SeatTerms & { featureCode: string }>;

/**
 * The most seats a plan lets a balance hold: 0 for a feature it lacks; else the least of its
 * maximumSeats and, for a feature without overage (not unlimited), its includedSeats; null for
 * no bound. The subscriptions store's seat-limit warnings read the same bound in SQL.
 */
export function effectiveMaximum(terms: SeatTerms | undefined): number | null {
  if (!terms) return 0;
  const bounds = [terms.maximumSeats, isCapped(terms) ? terms.includedSeats : null].filter((bound): bound is number => bound !== null);
  return bounds.length === 0 ? null : Math.min(...bounds);
}

/** A count brought within a plan feature's limits: lowered to its effective maximum, raised to its minimum. */
export function boundedCount(current: number, terms: SeatTerms): number {
  const maximum = effectiveMaximum(terms);
  return Math.max(terms.minimumSeats, maximum === null ? current : Math.min(current, maximum));
}

/**
 * Brings the customer's balances onto the new plan's features at `at`, recording a SET event for
 * each balance that moves (the outbox entries are answered, not yet written):
 * - a balance of a feature both plans offer keeps its count, brought within the new limits;
 * - a balance of a feature the new plan lacks ends at 0;
 * - a feature only the new plan offers starts at its minimumSeats, as at subscribing: a row kept
 *   from an earlier subscription moves from the count it held, a new row is created (and
 *   appended to `balances`).
 * High-water marks are the caller's: it bills the new terms its own way.
 */
export async function switchBalancesToPlan(
  tx: EntityManager,
  tenant: Tenant,
  change: { subscription: Subscription; balances: SeatBalance[]; oldFeatures: FeatureTerms; newFeatures: FeatureTerms; at: Date },
): Promise<OutboxEntry[]> {
  const { subscription, balances, oldFeatures, newFeatures, at } = change;
  const customer = await customerById(tx, subscription.customer.id);
  const byFeature = new Map(balances.map((balance) => [balance.feature.id, balance]));
  const outbox: OutboxEntry[] = [];
  const moveTo = (balance: SeatBalance, count: number, terms: SeatTerms & { featureCode: string }) => {
    const event = tx.create(SeatEvent, {
      id: newId('sev'),
      organization: tenant.organizationId,
      mode: tenant.mode,
      customer: customer.id,
      feature: balance.feature,
      subscription,
      kind: 'SET',
      quantity: count,
      previousBalance: balance.current,
      newBalance: count,
      ts: at,
    });
    balance.current = count;
    balance.asOf = at;
    const names = { customerId: customerDisplayId(customer), featureCode: terms.featureCode };
    outbox.push(...changeOutbox({ tenant, customer, featureCode: terms.featureCode, terms }, eventRecordOf(event, names, null), null));
  };
  for (const [featureId, terms] of oldFeatures) {
    const balance = byFeature.get(featureId);
    if (!newFeatures.has(featureId) && balance && balance.current > 0) moveTo(balance, 0, terms);
  }
  for (const [featureId, terms] of newFeatures) {
    let balance = byFeature.get(featureId);
    const count = balance && oldFeatures.has(featureId) ? boundedCount(balance.current, terms) : terms.minimumSeats;
    if (!balance) {
      balance = tx.create(SeatBalance, {
        customer: customer.id,
        feature: featureId,
        organization: tenant.organizationId,
        mode: tenant.mode,
        current: 0,
        asOf: at,
        highWaterMark: 0,
      });
      balances.push(balance);
      if (count === 0) continue;
    }
    if (balance.current !== count) moveTo(balance, count, terms);
  }
  return outbox;
}
