import { z } from 'zod';
import type { Context } from '../types.ts';
import { DomainError } from '../common/errors.ts';
import { noteRule, zodString } from '../common/validation.ts';
import { cancelSubscription, maxCancellationCommentLength, resumeSubscription } from '../flows/cancel.ts';
import { claimId } from '../idempotency/fingerprint.ts';
import { findClaims } from '../idempotency/service.ts';
import { customerDisplayId } from '../model/customers.ts';
import { type CancellationReason, cancellationReasons, type SubscriptionStatus } from '../model/subscriptions.ts';
import type { SubscriptionRecord } from '../subscriptions/store.ts';

// Commet's subscription routes address a subscription by its id in the path; the flows act on a
// customer's active subscription. This maps one onto the other, and Commet's words onto ours.

/** Commet's lowercase status words for the statuses seatgate has. */
const commetStatus: Record<SubscriptionStatus, 'active' | 'canceled'> = { ACTIVE: 'active', CANCELED: 'canceled' };

/**
 * Commet's free-text reason as a CancellationReason: an enum name, in any case and with
 * surrounding spaces, is that reason; any other text is OTHER, the text kept as the comment.
 * Blank text is no reason.
 */
function cancellationOf(text: string | undefined): { reason: CancellationReason | null; comment: string | null } {
  if (text === undefined || text.trim() === '') return { reason: null, comment: null };
  const named = cancellationReasons.find((reason) => reason === text.trim().toUpperCase());
  return named ? { reason: named, comment: null } : { reason: 'OTHER', comment: text };
}

/** The reason as Commet shows it: the caller's own words when there are some, else the reason's name in lowercase. */
const cancelReasonOf = (subscription: SubscriptionRecord): string | null => {
  const cancellation = subscription.cancellation;
  if (!cancellation?.reason) return cancellation?.comment ?? null;
  return cancellation.reason === 'OTHER' && cancellation.comment ? cancellation.comment : cancellation.reason.toLowerCase();
};

const timestamp = z.string().describe('An ISO 8601 instant in UTC.');
const subscriptionFields = {
  id: z.string().describe('The subscription, sub_…'),
  customerId: z.string().describe('The external id when the customer has one, else its cus_ id.'),
  status: z.enum(['active', 'canceled']).describe('active until it ends (also while a cancellation is scheduled), then canceled.'),
};

export const canceledSubscription = z
  .object({
    ...subscriptionFields,
    canceledAt: timestamp.describe('When the cancellation was asked for (by your clock: the test clock for test keys).'),
    cancelReason: z.string().nullable().describe('The reason given: your own words, or the name of a known reason in lowercase; null when none.'),
    scheduledCancellationDate: timestamp.describe('When it ends, or ended: the period end for a scheduled cancellation, else the instant of the call.'),
    updatedAt: timestamp.describe('When the cancellation was recorded.'),
    object: z.literal('subscription'),
    livemode: z.boolean(),
  })
  .meta({ id: 'CanceledSubscription', description: 'The subscription after a cancellation, scheduled or carried out.' });

export const uncanceledSubscription = z
  .object({
    ...subscriptionFields,
    updatedAt: timestamp.describe('The instant of the answer (a repeat of a key answers the subscription as it is now, at its own instant).'),
    object: z.literal('subscription'),
    livemode: z.boolean(),
  })
  .meta({ id: 'UncanceledSubscription', description: 'The subscription after its scheduled cancellation was revoked: it renews as usual again.' });

const iso = (date: Date) => date.toISOString();
const common = (subscription: SubscriptionRecord) => ({
  id: subscription.id,
  customerId: customerDisplayId(subscription.customer),
  status: commetStatus[subscription.status],
});

const canceledOf = (subscription: SubscriptionRecord) => {
  // A repeat answers the subscription as it is now: a scheduled cancellation may have been revoked since.
  if (!subscription.cancellation) {
    throw new DomainError('conflict', `The cancellation of subscription '${subscription.id}' made with this key was revoked since; it renews as usual.`, {
      param: 'id',
    });
  }
  const { requestedAt, effectiveAt } = subscription.cancellation;
  return {
    ...common(subscription),
    canceledAt: iso(requestedAt),
    cancelReason: cancelReasonOf(subscription),
    scheduledCancellationDate: iso(effectiveAt),
    updatedAt: iso(requestedAt),
    object: 'subscription' as const,
    livemode: subscription.mode === 'live',
  };
};

const ended = (id: string) => new DomainError('no_active_subscription', `Subscription '${id}' has ended; it can no longer be changed.`, { param: 'id' });

/** The subscription a route's path names, as it was before the call, and whether the call's key was used before (a repeat). */
type Addressed = { customerId: string; subscription: SubscriptionRecord; replay: boolean };

/**
 * The subscription `id` names, with the customer the flows address it by. An ended one answers
 * no_active_subscription, unless the Idempotency-Key was already used: then the flow answers
 * the repeat (or idempotency_key_mismatch), so a retry of an immediate cancel gets its first answer.
 */
export async function addressed(ctx: Context, id: string): Promise<Addressed> {
  const subscription = await ctx.loaders.subscriptionById.load(id);
  if (!subscription) throw new DomainError('subscription_not_found', `No subscription has the id '${id}'.`, { param: 'id' });
  const key = ctx.idempotencyKeyHeader;
  const replay = key !== null && (await findClaims(ctx.em, [{ tenant: ctx.tenant, key }])).has(claimId(ctx.tenant, key));
  if (subscription.status !== 'ACTIVE' && !replay) throw ended(id);
  return { customerId: subscription.customer.id, subscription, replay };
}

/**
 * A flow's error as the route words it: the flows name the customer, here the path's id is the
 * field at fault; `renamed` gives the route's name for other fields of the flow's input (planCode
 * → newPlanId), in `param` and in each detail.
 */
export function asRouteError(error: unknown, id: string, renamed: Record<string, string> = {}): unknown {
  if (!(error instanceof DomainError)) return error;
  if (error.code === 'no_active_subscription') return ended(id);
  if (error.param === 'customerId') {
    return new DomainError(error.code, error.message.replace(/^Customer '[^']*'/, `Subscription '${id}'`), { param: 'id' });
  }
  const rename = (field: string | null) => (field !== null && Object.hasOwn(renamed, field) ? renamed[field]! : field);
  if (rename(error.param) === error.param && !error.details?.some((detail) => rename(detail.field) !== detail.field)) return error;
  const details = error.details?.map((detail) => ({ ...detail, field: rename(detail.field)! })) ?? null;
  return new DomainError(error.code, error.message, { param: rename(error.param), details });
}

/**
 * Runs a lifecycle flow for the subscription `id` names, its errors worded by asRouteError. A
 * key first used on another subscription of the customer (one that ended since) is a mismatch
 * here, though GraphQL, which names only the customer, sees the same call.
 */
export async function onSubscription(
  ctx: Context,
  id: string,
  step: (target: Addressed) => Promise<SubscriptionRecord>,
  renamed: Record<string, string> = {},
): Promise<SubscriptionRecord> {
  const subscription = await step(await addressed(ctx, id)).catch((error: unknown) => {
    throw asRouteError(error, id, renamed);
  });
  if (subscription.id !== id) {
    const key = ctx.idempotencyKeyHeader;
    // Without a key, only a subscription ending (and another starting) between the lookup and the flow gets here.
    throw key
      ? new DomainError('idempotency_key_mismatch', `Idempotency key '${key}' was used for subscription '${subscription.id}'.`, { param: 'idempotencyKey' })
      : new DomainError('conflict', `Subscription '${id}' ended while the call ran; the customer's subscription is now '${subscription.id}'.`, { param: 'id' });
  }
  return subscription;
}

export const cancelSubscriptionInput = z.object({
  immediate: z.boolean().optional().describe('true ends it now, with a credit for the unused days; false or absent cancels at the period end.'),
  reason: zodString(noteRule(maxCancellationCommentLength))
    .optional()
    .describe(
      `Why, at most ${maxCancellationCommentLength} characters: a CancellationReason name (too_expensive, missing_features, switched_service, unused, customer_service, low_quality, too_complex, other; any case) is that reason, any other text is OTHER with the text as its comment.`,
    ),
});

export async function cancelById(ctx: Context, input: { id: string } & z.infer<typeof cancelSubscriptionInput>) {
  const subscription = await onSubscription(ctx, input.id, ({ customerId }) =>
    cancelSubscription(ctx.em, ctx.tenant, ctx.now(), {
      customerId,
      timing: input.immediate ? 'IMMEDIATELY' : 'AT_PERIOD_END',
      ...cancellationOf(input.reason),
      idempotencyKey: ctx.idempotencyKeyHeader,
    }),
  );
  return canceledOf(subscription);
}

export async function uncancelById(ctx: Context, input: { id: string }) {
  const subscription = await onSubscription(ctx, input.id, ({ customerId }) =>
    resumeSubscription(ctx.em, ctx.tenant, ctx.now(), { customerId, idempotencyKey: ctx.idempotencyKeyHeader }),
  );
  return { ...common(subscription), updatedAt: iso(ctx.now()), object: 'subscription' as const, livemode: subscription.mode === 'live' };
}
