import type { Orm } from '../db/orm.js';
import { run } from '../db/prepared.js';
import type { Logger } from '../common/logger.js';
import { renewSubscription } from '../billing/service.js';
import { DUE_BY_REAL_TIME, DUE_BY_TEST_CLOCK } from '../billing/store.js';

/** Subscriptions one sweep looks at; each gets one renewal step. */
const sweepSize = 50;

/**
 * One sweep: renews, by one bounded step each, up to `sweepSize` subscriptions whose period has
 * ended, of every tenant or of one organization. A subscription that fails to renew is logged
 * and left for the next sweep. Returns how many advanced, so a caller knows whether more may be due.
 */
export async function sweepDueRenewals(orm: Orm, logger: Logger, options: { realNow?: () => number; organizationId?: string } = {}): Promise<number> {
  const em = orm.em.fork();
  const now = new Date((options.realNow ?? Date.now)());
  const scope = { now, limit: sweepSize, organizationId: options.organizationId ?? null };
  const due = [...(await run(em, DUE_BY_REAL_TIME, scope)), ...(await run(em, DUE_BY_TEST_CLOCK, scope))];
  const seen = new Set<string>();
  let advanced = 0;
  for (const subscription of due) {
    if (seen.has(subscription.id)) continue;
    seen.add(subscription.id);
    const tenant = { organizationId: subscription.organizationId, mode: subscription.mode };
    const at = subscription.frozenAt ?? now;
    try {
      const renewal = await orm.em.transactional((tx) => renewSubscription(tx, tenant, { id: subscription.id, customerId: subscription.customerId }, at));
      if (renewal.entered > 0) advanced++;
    } catch (error) {
      logger.warn('a subscription failed to renew; the next sweep tries again', { subscriptionId: subscription.id, error });
    }
  }
  return advanced;
}

/**
 * Renews in the background what no request has: long catch-ups after a test clock jumped ahead
 * (requests take only a few steps), and subscriptions nobody touched when their period ended.
 * Every server process runs one; several are safe, since renewals lock the balances they touch
 * and find the work done when they waited. Sweeps back to back while work remains, else every
 * `everyMs`. Returns a function that stops it.
 */
export function startRenewalSweeper(orm: Orm, logger: Logger, options: { everyMs?: number } = {}): () => Promise<void> {
  const everyMs = options.everyMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let sweeping: Promise<void> = Promise.resolve();
  const sweep = async () => {
    let busy = false;
    try {
      busy = (await sweepDueRenewals(orm, logger)) > 0;
    } catch (error) {
      logger.warn('renewal sweep failed; retrying later', { error });
    }
    if (!stopped) timer = setTimeout(() => (sweeping = sweep()), busy ? 0 : everyMs).unref();
  };
  timer = setTimeout(() => (sweeping = sweep()), everyMs).unref();
  // Stopping waits for a sweep under way, so the database is not closed beneath it.
  return () => {
    stopped = true;
    clearTimeout(timer);
    return sweeping;
  };
}
