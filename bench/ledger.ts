import type pg from 'pg';
import { quantile } from './load.ts';

/** What a tenant's tables say: the balances' total and the ADD events recorded. */
export type LedgerTotals = { balanceSum: number; addEvents: number };

export async function ledgerTotals(db: pg.Pool, organizationId: string): Promise<LedgerTotals> {
  const { rows } = await db.query<{ balance_sum: string; add_events: string }>(
    `select (select coalesce(sum(current), 0) from seat_balance where organization_id = $1) as balance_sum,
            (select count(*) from seat_event where organization_id = $1 and kind = 'ADD') as add_events`,
    [organizationId],
  );
  return { balanceSum: Number(rows[0]!.balance_sum), addEvents: Number(rows[0]!.add_events) };
}

/** The newest ledger position of a tenant (seq is a bigint: kept as text). */
export async function lastSeq(db: pg.Pool, organizationId: string): Promise<string> {
  const { rows } = await db.query<{ seq: string }>(`select coalesce(max(seq), 0)::text as seq from seat_event where organization_id = $1`, [organizationId]);
  return rows[0]!.seq;
}

/**
 * Events per transaction among the tenant's ADD events in (after, upTo]: rows inserted by one
 * transaction share its xmin, so a server that coalesces changes shows batches above 1.
 */
export async function batchSizes(db: pg.Pool, organizationId: string, after: string, upTo: string): Promise<number[]> {
  const { rows } = await db.query<{ events: string }>(
    `select xmin::text::bigint as tx, count(*) as events
       from seat_event
      where organization_id = $1 and kind = 'ADD' and seq > $2::bigint and seq <= $3::bigint
      group by 1`,
    [organizationId, after, upTo],
  );
  return rows.map((row) => Number(row.events));
}

export type BatchSummary = { transactions: number; events: number; mean: number; median: number; p90: number; max: number };

export function summarizeBatches(sizes: number[]): BatchSummary {
  const sorted = [...sizes].sort((a, b) => a - b);
  const events = sorted.reduce((sum, size) => sum + size, 0);
  return {
    transactions: sorted.length,
    events,
    mean: sorted.length ? events / sorted.length : Number.NaN,
    median: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    max: sorted.at(-1) ?? Number.NaN,
  };
}
