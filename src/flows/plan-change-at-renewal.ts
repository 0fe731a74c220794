import type { EntityManager } from '@mikro-orm/postgresql';
import { planTerms } from '../catalog/service.ts';
import type { PlanTerms } from '../catalog/store.ts';
import { insertOutbox } from '../events/service.ts';
import { Plan } from '../model/catalog.ts';
import type { SeatBalance } from '../model/seats.ts';
import type { Subscription } from '../model/subscriptions.ts';
import type { Tenant } from '../model/tenant.ts';
import { switchBalancesToPlan } from './plan-switch.ts';

/**
 * Applies the plan change scheduled for the subscription's period end, at that instant, before
 * the renewal bills the next period: the subscription moves to the new plan, each balance is
 * brought within the new limits with a SET event (one above the new maximum is lowered to it, one
 * below the new minimum raised to it), and features only the new plan offers start at their
 * minimumSeats. A change of interval counts the periods from this instant on. The balances the
 * new plan adds are appended to `balances`, so the renewal bills them. `before` are the terms of
 * the plan in force, which the renewal has read; answers the new plan's, which it bills next.
 */
export async function applyScheduledPlanChange(
  tx: EntityManager,
  tenant: Tenant,
  subscription: Subscription,
  balances: SeatBalance[],
  before: PlanTerms,
): Promise<PlanTerms> {
  const at = subscription.currentPeriodEnd;
  const newPlanId = subscription.scheduledPlan!.id;
  const after = await planTerms(tx, newPlanId);
  const outbox = await switchBalancesToPlan(tx, tenant, { subscription, balances, oldFeatures: before.features, newFeatures: after.features, at });
  if (after.interval !== before.interval) subscription.billingAnchor = at;
  subscription.plan = tx.getReference(Plan, newPlanId);
  subscription.scheduledPlan = null;
  subscription.scheduledPlanRequestedAt = null;
  await tx.flush();
  // Told before the advances the renewal records next, in the order they happened.
  await insertOutbox(tx, outbox);
  return after;
}
