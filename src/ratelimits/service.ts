import type { EntityManager } from '@mikro-orm/postgresql';
import { coalesced } from '../common/coalesce.js';
import { every } from '../common/schedule.js';
import { run } from '../db/prepared.js';
import { PRUNE_FULL_BUCKETS, TAKE_FROM_BUCKETS, type TakenBucket } from './store.js';

/** A token bucket: `burst` requests at once, refilled at `perSecond`. */
export type RatePolicy = { perSecond: number; burst: number };

/** What one request learns from its bucket; the numbers are those of the RateLimit-* headers. */
export type RateDecision = {
  allowed: boolean;
  /** The bucket's size. */
  limit: number;
  /** Requests left right after this one. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** When refused, the seconds until one request fits; 0 when allowed. */
  retryAfterSeconds: number;
};

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

type Take = { bucket: string; policy: RatePolicy };

/**
 * Rate limits shared by every process on one database: buckets live in an unlogged table, and
 * the takes of concurrent requests in this process go out as one statement, so a fleet of N
 * processes allows the configured rate once, not N times, for one round trip per batch.
 */
export class SharedRateLimiter {
  readonly take: (take: Take) => Promise<RateDecision>;

  constructor(em: EntityManager) {
    this.take = coalesced(async (takes: Take[]) => {
      const wanted = new Map<string, { policy: RatePolicy; count: number }>();
      for (const { bucket, policy } of takes) {
        const entry = wanted.get(bucket) ?? { policy, count: 0 };
        entry.count += 1;
        wanted.set(bucket, entry);
      }
      const rows = await run(em.fork(), TAKE_FROM_BUCKETS, {
        takes: JSON.stringify([...wanted].map(([bucket, { policy, count }]) => ({ bucket, wanted: count, interval_ms: intervalMs(policy), burst: policy.burst }))),
      });
      const decided = new Map(rows.map((row) => [row.bucket, decisionsOf(row, wanted.get(row.bucket)!.count, wanted.get(row.bucket)!.policy)]));
      // Each bucket's decisions go to its requests in arrival order.
      return takes.map(({ bucket }) => decided.get(bucket)!.shift()!);
    });
  }
}

/** Forgets full buckets every minute, for as long as the process runs; returns the stop. */
export function scheduleRateLimitPruning(em: EntityManager, onError: (error: unknown) => void): () => void {
  return every(60_000, () => run(em.fork(), PRUNE_FULL_BUCKETS, {}), onError);
}
