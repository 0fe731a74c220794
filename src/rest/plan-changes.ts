import { z } from 'zod';
import type { Context } from '../types.ts';
import { DomainError, validationError } from '../common/errors.ts';
import { featureCodeRule, zodString } from '../common/validation.ts';
import { billableSeats, daysInPeriod, daysRemaining } from '../billing/proration.ts';
import { chargesOfCustomer } from '../billing/service.ts';
import { findPlanByCode, planTerms } from '../catalog/service.ts';
import { changePlan, previewPlanChange } from '../flows/plan-change.ts';
import { loadSeatBalances } from '../flows/seat-reads.ts';
import type { Plan, PlanInterval } from '../model/catalog.ts';
import { customerDisplayId } from '../model/customers.ts';
import type { SeatChargeRecord } from '../model/records.ts';
import type { SubscriptionRecord } from '../subscriptions/store.ts';
import { addressed, asRouteError, onSubscription } from './subscriptions.ts';

// Commet's changePlan and previewChange over seatgate's plan-change flow. Commet names the plan
// by id and may change only the interval; seatgate plans bill at one fixed interval, so a plan is
// named by its plan_ id or its code, and an interval is accepted only when it is the plan's own.

/** Commet's interval words for the intervals seatgate plans bill at. */
const commetInterval: Record<PlanInterval, 'monthly' | 'yearly'> = { MONTH: 'monthly', YEAR: 'yearly' };
const billingIntervals = ['weekly', 'monthly', 'quarterly', 'yearly', 'one_time'] as const;
type BillingInterval = (typeof billingIntervals)[number];

const planReference = zodString(featureCodeRule);
const intervalOf = (what: string) =>
  z
    .enum(billingIntervals)
    .optional()
    .describe(
      `${what}. seatgate plans bill monthly or yearly at a fixed interval: accepted only when it is the plan's own (validation_error otherwise, weekly, quarterly and one_time always). To change the interval, name a plan that bills at the other one.`,
    );

/**
 * The plan `ref` names: by its plan_ id, else by its code (a code may begin with plan_ too; an id
 * is tried first). `field` is the input that named it, for plan_not_found.
 */
async function planNamedBy(ctx: Context, ref: string, field: string): Promise<Plan> {
  const byId = ref.startsWith('plan_') ? await ctx.loaders.planById.load(ref) : null;
  const plan = byId ?? (await findPlanByCode(ctx.em, ctx.tenant, ref));
  if (!plan) throw new DomainError('plan_not_found', `No plan has the id or code '${ref}'.`, { param: field });
  return plan;
}

/** Refuses an interval the plan does not bill at, naming `field`. */
function checkInterval(asked: BillingInterval | undefined, plan: Plan, field: string): void {
  if (asked === undefined || asked === commetInterval[plan.interval]) return;
  if (asked !== 'monthly' && asked !== 'yearly') {
    throw validationError(field, `${field}: seatgate plans bill monthly or yearly, never ${asked}.`);
  }
  throw validationError(
    field,
    `${field}: plan '${plan.code}' bills ${commetInterval[plan.interval]}, and a plan's interval is fixed; to bill ${asked}, name a plan that bills ${asked}.`,
  );
}

/** What the plan bills per period at the balances the customer holds now: billable seats × unitPrice, summed over its features. */
async function pricePerPeriod(ctx: Context, customerId: string, planId: string): Promise<number> {
  const terms = await planTerms(ctx.em, planId);
  const held = new Map((await loadSeatBalances(ctx.loaders, customerId)).map((balance) => [balance.featureCode, balance.current]));
  let total = 0;
  for (const feature of terms.features.values()) total += billableSeats(held.get(feature.featureCode) ?? 0, feature) * feature.unitPrice;
  return total;
}

/** Commet's proration figures from seatgate's CREDIT (negative) and PLAN_CHANGE charges, positive each. */
function prorationOf(charges: readonly SeatChargeRecord[]) {
  const sum = (kind: SeatChargeRecord['kind']) => charges.filter((charge) => charge.kind === kind).reduce((total, charge) => total + charge.amount, 0);
  const credit = -sum('CREDIT');
  const charge = sum('PLAN_CHANGE');
  return { credit, charge, net: charge - credit };
}

const timestamp = z.string().describe('An ISO 8601 instant in UTC.');
const amount = (what: string) => z.number().int().describe(`${what}, in minor units of the currency (cents).`);
const planRef = { id: z.string().describe('The plan, plan_…'), name: z.string() };
const interval = z.enum(['monthly', 'yearly']);

export const changePlanInput = z.object({
  newPlanId: planReference
    .optional()
    .describe("The plan to move to: its plan_ id or its code (plan_not_found otherwise). Required: seatgate's intervals come with the plan."),
  newBillingInterval: intervalOf("The new plan's interval"),
  successUrl: z.string().max(2000).optional().describe('Accepted and ignored: seatgate never sends the customer to a checkout, so nothing redirects there.'),
});

export const planChange = z
  .object({
    id: z.string().describe('The subscription, sub_…'),
    scheduled: z.boolean().describe('true when the change waits for the period end (a cheaper plan at the same interval, or a shorter interval).'),
    scheduledFor: timestamp.optional().describe('When a scheduled change applies: the current period end. Absent when the change applied now.'),
    changeType: z
      .enum(['subscription.plan_downgrade', 'subscription.interval_change'])
      .optional()
      .describe(
        'For a scheduled change: interval_change when the new plan bills at a shorter interval, else plan_downgrade. Absent when the change applied now.',
      ),
    customerId: z.string().describe('The external id when the customer has one, else its cus_ id.'),
    newPlanId: z.string().describe('The plan asked for, plan_…'),
    newPlanName: z.string(),
    newBillingInterval: interval.describe("The new plan's interval."),
    previousPlan: z
      .object(planRef)
      .optional()
      .describe('The plan left, for a change applied now by this call; absent for a scheduled change and for a repeat of an Idempotency-Key.'),
    currentPlan: z
      .object({ ...planRef, price: amount("What the plan bills per period at today's balances: billable seats × unitPrice, over its seat features") })
      .describe('The plan in force now: the new one when the change applied, the old one while it is scheduled.'),
    billingInterval: interval.describe('The interval of the plan in force now.'),
    billing: z
      .object({
        credit: amount("The old plan's CREDIT charges for the unused days, as a positive amount"),
        creditsApplied: z.literal(0).describe('seatgate keeps no credit balance: always 0.'),
        charge: amount("The new plan's PLAN_CHANGE charges for the rest of the period"),
        taxAmount: z.literal(0).describe('seatgate computes no tax: always 0.'),
        netAmount: amount('charge − credit: what the change adds to the invoice, negative when the credit is the larger'),
        totalCharged: amount('The same as netAmount: the credit is not kept as a balance but stays on the invoice'),
        remainingCreditBalance: z.literal(0).describe('seatgate keeps no credit balance: always 0.'),
      })
      .optional()
      .describe(
        'For a change applied now by this call: its charges, as GraphQL seatCharges shows them. Absent for a scheduled change and for a repeat of an Idempotency-Key.',
      ),
    seatLimitWarning: z
      .object({
        featureCode: z.string(),
        featureName: z.string(),
        currentSeats: z.number().int().describe('The seats the balance holds now.'),
        included: z
          .number()
          .int()
          .describe(
            'The most the new plan lets it hold (its maximumSeats, or includedSeats without overage; 0 if it lacks the feature): the renewal lowers the balance to it.',
          ),
        newPlanName: z.string(),
        effectiveDate: timestamp.describe('When the renewal lowers it: the period end.'),
      })
      .optional()
      .describe(
        "For a scheduled change: the first balance, by feature code, that the new plan would not let hold its seats (GraphQL's scheduledPlanChange.seatLimitWarnings lists them all). Absent when every balance fits.",
      ),
    object: z.literal('subscription'),
    livemode: z.boolean(),
  })
  .meta({ id: 'PlanChange', description: 'A plan change, applied now or scheduled for the period end.' });

export const previewChangeInput = z.object({
  planId: planReference.describe('The plan to move to: its plan_ id or its code (plan_not_found otherwise).'),
  billingInterval: intervalOf("The plan's interval"),
});

export const previewChange = z
  .object({
    currency: z.string().describe('The ISO 4217 code of the subscription (a plan change keeps it).'),
    currentPlanCredit: amount("The old plan's credit for the unused days, positive"),
    newPlanCharge: amount("The new plan's charge for the rest of the period"),
    estimatedTotal: amount('newPlanCharge − currentPlanCredit'),
    effectiveDate: timestamp.describe('When the change would apply: now, or the period end for a change that would be scheduled.'),
    daysRemaining: z.number().int().describe('The days of the current period left, the day of the call included.'),
    totalDays: z.number().int().describe('The days of the current period.'),
    isUpgrade: z.boolean().describe('true when the change would apply now (a dearer plan, or a longer interval); false when it would wait for the period end.'),
    object: z.literal('subscription'),
    livemode: z.boolean(),
  })
  .meta({
    id: 'PreviewChange',
    description:
      "What changePlan would charge now, recording nothing. A change that would be scheduled for the period end (a cheaper plan or a shorter interval) answers isUpgrade false, its effectiveDate the period end and every amount 0, as GraphQL's previewPlanChange does (Commet refuses it with plan_change_scheduled instead).",
  });

const asPlanRef = (plan: Plan) => ({ id: plan.id, name: plan.name });

/**
 * Commet's changePlan: the plan by id or code, timing AUTO (a dearer plan or a longer interval
 * now, else at the period end), the Idempotency-Key shared with GraphQL's changePlan. A change
 * made now by this call answers its charges, read back at the instant it was made at; a repeat
 * answers the subscription as it stands, as every repeat of a lifecycle step does.
 */
export async function changePlanById(ctx: Context, input: { id: string } & z.infer<typeof changePlanInput>) {
  const now = ctx.now();
  const seen: { target?: { plan: Plan; before: SubscriptionRecord; replay: boolean } } = {};
  const after = await onSubscription(
    ctx,
    input.id,
    async ({ customerId, subscription, replay }) => {
      if (input.newPlanId === undefined) {
        throw validationError(
          'newPlanId',
          'newPlanId: name the plan to move to. seatgate plans bill at a fixed interval, so an interval change is a move to a plan billing at that interval.',
        );
      }
      const plan = await planNamedBy(ctx, input.newPlanId, 'newPlanId');
      checkInterval(input.newBillingInterval, plan, 'newBillingInterval');
      seen.target = { plan, before: subscription, replay };
      return changePlan(ctx.em, ctx.tenant, now, { customerId, planCode: plan.code, timing: 'AUTO', idempotencyKey: ctx.idempotencyKeyHeader });
    },
    { planCode: 'newPlanId' },
  );
  const { plan, before, replay } = seen.target!;
  const common = {
    id: after.id,
    customerId: customerDisplayId(after.customer),
    newPlanId: plan.id,
    newPlanName: plan.name,
    newBillingInterval: commetInterval[plan.interval],
  };
  const envelope = { object: 'subscription' as const, livemode: after.mode === 'live' };
  const scheduled = after.scheduledPlanChange;
  if (scheduled?.plan.id === plan.id) {
    const inForce = (await ctx.loaders.planById.load(after.plan.id))!;
    const warning = scheduled.seatLimitWarnings[0];
    const feature = warning ? await ctx.loaders.featureByCode.load(warning.featureCode) : null;
    return {
      ...common,
      scheduled: true,
      scheduledFor: scheduled.effectiveAt.toISOString(),
      changeType: plan.interval === after.plan.interval ? ('subscription.plan_downgrade' as const) : ('subscription.interval_change' as const),
      currentPlan: { ...asPlanRef(inForce), price: await pricePerPeriod(ctx, after.customer.id, inForce.id) },
      billingInterval: commetInterval[after.plan.interval],
      ...(warning
        ? {
            seatLimitWarning: {
              featureCode: warning.featureCode,
              featureName: feature?.name ?? warning.featureCode,
              currentSeats: warning.current,
              included: warning.limit,
              newPlanName: plan.name,
              effectiveDate: scheduled.effectiveAt.toISOString(),
            },
          }
        : {}),
      ...envelope,
    };
  }
  if (after.plan.id !== plan.id) {
    // Only a repeat gets here: its change was revoked or replaced since.
    throw new DomainError(
      'conflict',
      `The plan change made with this key to plan '${plan.code}' was revoked or replaced since; subscription '${after.id}' is on plan '${after.plan.code}'.`,
      { param: 'id' },
    );
  }
  const applied = { ...common, scheduled: false, currentPlan: { ...asPlanRef(plan), price: await pricePerPeriod(ctx, after.customer.id, plan.id) } };
  if (replay) return { ...applied, billingInterval: commetInterval[plan.interval], ...envelope };
  // The change's credits and charges all carry the instant it was made at.
  const charges = (await chargesOfCustomer(ctx.em, after.customer.id, { from: now, to: new Date(now.getTime() + 1) })).filter(
    (charge) => charge.kind === 'CREDIT' || charge.kind === 'PLAN_CHANGE',
  );
  const { credit, charge, net } = prorationOf(charges);
  const previous = (await ctx.loaders.planById.load(before.plan.id))!;
  return {
    ...applied,
    previousPlan: asPlanRef(previous),
    billingInterval: commetInterval[plan.interval],
    billing: { credit, creditsApplied: 0, charge, taxAmount: 0, netAmount: net, totalCharged: net, remainingCreditBalance: 0 },
    ...envelope,
  };
}

/** Commet's previewChange: what changePlanById would charge now, by the same flow, rolled back. */
export async function previewChangeById(ctx: Context, input: { id: string } & z.infer<typeof previewChangeInput>) {
  const { customerId, subscription } = await addressed(ctx, input.id);
  const now = ctx.now();
  const preview = await (async () => {
    const plan = await planNamedBy(ctx, input.planId, 'planId');
    checkInterval(input.billingInterval, plan, 'billingInterval');
    return previewPlanChange(ctx.em, ctx.tenant, now, { customerId, planCode: plan.code, timing: 'AUTO' });
  })().catch((error: unknown) => {
    throw asRouteError(error, input.id, { planCode: 'planId' });
  });
  if (preview.timing === 'AT_PERIOD_END') {
    throw new DomainError(
      'plan_change_scheduled',
      `Moving to plan '${preview.planCode}' is a downgrade or a shorter interval: it takes effect at the period end (${preview.effectiveAt.toISOString()}), with nothing prorated now. Apply it with change-plan, which schedules it.`,
      { param: 'planId' },
    );
  }
  // The period in force: the subscription was read renewed, as the flow renews it.
  const period = { start: subscription.currentPeriodStart, end: subscription.currentPeriodEnd };
  const { credit, charge, net } = prorationOf(preview.charges);
  return {
    currency: preview.currency,
    currentPlanCredit: credit,
    newPlanCharge: charge,
    estimatedTotal: net,
    effectiveDate: preview.effectiveAt.toISOString(),
    daysRemaining: daysRemaining(period, now),
    totalDays: daysInPeriod(period),
    isUpgrade: preview.timing === 'IMMEDIATELY',
    object: 'subscription' as const,
    livemode: ctx.tenant.mode === 'live',
  };
}
