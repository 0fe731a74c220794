import type { EntityManager } from '@mikro-orm/postgresql';
import { coalesced } from '../common/coalesce.ts';
import { periodic, type Worker } from '../common/workers.ts';
import type { RateDecision, RateLimiter, RatePolicy, RateTake } from '../common/rate-limit.ts';
import { run } from '../db/prepared.ts';
import { PRUNE_FULL_BUCKETS, TAKE_FROM_BUCKETS, type TakenBucket } from './store.ts';

const intervalMs = (policy: RatePolicy) => 1000 / policy.perSecond;

/**
 * The decisions of the `wanted` requests a bucket saw in one take, in arrival order: the first
 * `granted` pass, the rest are refused. Pure, so the arithmetic is tested without a database.
 */
export function decisionsOf(taken: Pick<TakenBucket, 'fullAt' | 'granted' | 'nowMs'>, wanted: number, policy: RatePolicy): RateDecision[] {
  const interval = intervalMs(policy);
  const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000 - 1e-9));
  return Array.from({ length: wanted }, (_, index) => {
    if (index < taken.granted) {
      // The bucket as this request left it: later grants of the batch had not yet been taken.
      const fullAt = taken.fullAt - (taken.granted - 1 - index) * interval;
      const remaining = Math.floor((taken.nowMs + policy.burst * interval - fullAt) / interval + 1e-9);
      return { allowed: true, limit: policy.burst, remaining: Math.max(0, remaining), resetSeconds: seconds(fullAt - taken.nowMs), retryAfterSeconds: 0 };
    }
    const oneFitsAt = taken.fullAt - (policy.burst - 1) * interval;
    return {
      allowed: false,
      limit: policy.burst,
      remaining: 0,
      resetSeconds: seconds(taken.fullAt - taken.nowMs),
      retryAfterSeconds: Math.max(1, seconds(oneFitsAt - taken.nowMs)),
    };
  });
}

/** Requests a bucket counts at once: one, or those let through early since its last count. */
type Count = { bucket: string; policy: RatePolicy; count: number };

/** What this process last learned of a bucket, and how many requests it let through since without waiting. */
type Known = { decision: RateDecision; at: number; unconfirmed: number };

/** How long a bucket's last answer may stand in for the database's, when it had budget to spare. */
const knownForMs = 1000;
/**
 * How long the requests let through early wait to be counted, together: one statement per
 * this long, where counting each at once cost about one per request (requests that arrive
 * spread out make small batches).
 */
const countEarlyEveryMs = 25;

/**
 * Rate limits shared by every process on one database: buckets live in an unlogged table, and
 * the takes of concurrent requests in this process go out as one statement, so a fleet of N
 * processes allows the configured rate once, not N times, for one round trip per batch.
 *
 * Every request is taken from its bucket. An `early` one waits for the answer only when the bucket is low:
 * while the last answer (under a second old) left more than a quarter of the burst, minus what
 * this process has let through since, the request goes on at once, and it is counted in the
 * background with the others let through within 25 ms. A fleet may so overshoot by what its
 * processes admit within 25 ms and one round trip.
 */
export class SharedRateLimiter implements RateLimiter {
  private readonly countNow: (count: Count) => Promise<RateDecision>;
  private readonly known = new Map<string, Known>();
  /** Requests let through early and not yet counted, by bucket. */
  private readonly uncounted = new Map<string, Count>();
  private countTimer: NodeJS.Timeout | null = null;

  private readonly now: () => number;
  private readonly maxKnown;

  constructor(em: EntityManager, now: () => number = Date.now, maxKnown = 10_000) {
    this.now = now;
    this.maxKnown = maxKnown;

    this.countNow = coalesced(async (counts: Count[]) => {
      const wanted = new Map<string, { policy: RatePolicy; count: number }>();
      for (const { bucket, policy, count } of counts) {
        const entry = wanted.get(bucket) ?? { policy, count: 0 };
        entry.count += count;
        wanted.set(bucket, entry);
      }
      const rows = await run(em.fork(), TAKE_FROM_BUCKETS, {
        takes: JSON.stringify(
          [...wanted].map(([bucket, { policy, count }]) => ({ bucket, wanted: count, interval_ms: intervalMs(policy), burst: policy.burst })),
        ),
      });
      const decided = new Map(rows.map((row) => [row.bucket, decisionsOf(row, wanted.get(row.bucket)!.count, wanted.get(row.bucket)!.policy)]));
      // Each bucket's decisions go to its requests in arrival order; a count answers with its last.
      return counts.map(({ bucket, count }) => decided.get(bucket)!.splice(0, count).at(-1)!);
    });
  }

  async take(take: RateTake): Promise<RateDecision> {
    const known = this.known.get(take.bucket);
    if (take.early && known && this.now() - known.at < knownForMs && known.decision.remaining - known.unconfirmed > take.policy.burst / 4) {
      known.unconfirmed += 1;
      this.countLater(take);
      return { ...known.decision, allowed: true, remaining: known.decision.remaining - known.unconfirmed, retryAfterSeconds: 0 };
    }
    // Counted after the requests of its bucket let through before it and not yet counted.
    const uncounted = this.uncounted.get(take.bucket)?.count ?? 0;
    this.uncounted.delete(take.bucket);
    try {
      const decision = await this.countNow({ bucket: take.bucket, policy: take.policy, count: uncounted + 1 });
      this.learn(take.bucket, decision, uncounted);
      return decision;
    } catch (error) {
      this.forget(take.bucket);
      throw error;
    }
  }

  private countLater({ bucket, policy }: RateTake): void {
    const uncounted = this.uncounted.get(bucket);
    if (uncounted) uncounted.count += 1;
    else this.uncounted.set(bucket, { bucket, policy, count: 1 });
    this.countTimer ??= setTimeout(() => this.countUncounted(), countEarlyEveryMs).unref();
  }

  private countUncounted(): void {
    this.countTimer = null;
    const counts = [...this.uncounted.values()];
    this.uncounted.clear();
    for (const count of counts) {
      this.countNow(count).then(
        (decision) => this.learn(count.bucket, decision, count.count),
        () => this.forget(count.bucket),
      );
    }
  }

  /** A take that failed tells nothing: the bucket is asked again next time. */
  private forget(bucket: string): void {
    this.known.delete(bucket);
  }

  /** Keeps a bucket's newest answer; `confirmed` of the requests let through early are now in it. */
  private learn(bucket: string, decision: RateDecision, confirmed: number): void {
    const known = this.known.get(bucket);
    const unconfirmed = Math.max(0, (known?.unconfirmed ?? 0) - confirmed);
    this.known.delete(bucket);
    this.known.set(bucket, { decision, at: this.now(), unconfirmed });
    if (this.known.size > this.maxKnown) this.known.delete(this.known.keys().next().value!);
  }
}

/** Forgets full buckets at start and then every minute, as a background worker. */
export const rateLimitPruning = (em: EntityManager, onError: (error: unknown) => void): Worker =>
  periodic('rate-limit-pruning', 60_000, () => run(em.fork(), PRUNE_FULL_BUCKETS, {}), onError);
