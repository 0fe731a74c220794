import type { Harness } from './helpers.ts';

/**
 * The rate limiter's clock: every process takes from the buckets on the database's time. Tests
 * read it before and after their requests to bound what a budget can have regained meanwhile,
 * so that their counts hold however long the machine took.
 */
export async function limiterNow(harness: Harness): Promise<number> {
  const [row] = await harness.orm.em.fork().getConnection().execute<{ now: string }[]>(`select extract(epoch from clock_timestamp()) * 1000 as now`);
  return Number(row!.now);
}
