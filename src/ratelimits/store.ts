import { read, statement } from '../db/prepared.ts';

/** A bucket after a take: when it is full again, how many of the wanted requests it let through, and the database's now. */
export type TakenBucket = { bucket: string; fullAt: number; granted: number; nowMs: number };

// Kept by hand: MikroORM has no word for an upsert whose update is computed from the row it
// meets, nor for a batch of them in one statement.

/**
 * Takes `wanted` requests from each bucket at once (GCRA): a bucket grants what fits before it
 * would hold more than `burst` intervals of debt, and moves its full time by one interval per
 * grant. Rows are written in bucket order, so batches of different processes never deadlock.
 * The database's clock is the fleet's one clock.
 */
export const TAKE_FROM_BUCKETS = statement<{ takes: string }, TakenBucket>(
  'rate_limit_take',
  `with clock as materialized (
     select extract(epoch from clock_timestamp()) * 1000 as now_ms
   ), input as (
     select r.bucket, r.wanted, r.interval_ms, r.burst, clock.now_ms
       from jsonb_to_recordset(:takes::jsonb) as r(bucket text, wanted int, interval_ms double precision, burst int), clock
   )
   insert into rate_limit_bucket as b (bucket, full_at, granted)
   select bucket, now_ms + least(wanted, burst) * interval_ms, least(wanted, burst) from input order by bucket
   on conflict (bucket) do update set (full_at, granted) = (
     select greatest(b.full_at, i.now_ms) + g.n * i.interval_ms, g.n
       from input i
       cross join lateral (
         select greatest(0, least(i.wanted, floor((i.now_ms + i.burst * i.interval_ms - greatest(b.full_at, i.now_ms)) / i.interval_ms + 1e-9)))::int as n
       ) g
      where i.bucket = b.bucket
   )
   returning b.bucket, b.full_at, b.granted, (select now_ms from clock) as now_ms`,
  (row) => ({ bucket: read.text(row.bucket), fullAt: Number(row.full_at), granted: read.int(row.granted), nowMs: Number(row.now_ms) }),
);

/** Forgets buckets that are full again: a missing bucket is a full one. */
export const PRUNE_FULL_BUCKETS = statement<Record<string, never>, { pruned: number }>(
  'rate_limit_prune',
  `with gone as (delete from rate_limit_bucket where full_at < extract(epoch from clock_timestamp()) * 1000 returning 1)
   select count(*)::int as pruned from gone`,
  (row) => ({ pruned: read.int(row.pruned) }),
);
