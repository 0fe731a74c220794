import type pg from 'pg';
import type { Child } from './processes.ts';
import { customerIds } from './setup.ts';
import { openSubscribers, type StreamSpec } from './subscribers.ts';

/** What one run with many subscribers attached showed: memory, stalls, and whether every notification arrived. */
export type FanoutRun = {
  streams: number;
  /**
   * seatgate's resident memory, and its JavaScript heap plus external buffers, after a full
   * garbage collection, before the streams opened and with them open and idle, in KB. RSS keeps
   * pages the allocator has not given back: the heap tells what the streams hold.
   */
  rssBeforeKb: number;
  rssIdleKb: number;
  heapBeforeKb: number;
  heapIdleKb: number;
  /** The longest event-loop stall while the streams opened, and from the measured run's start until every stream caught up. */
  openingStallMs: number;
  writesStallMs: number;
  /** Notifications owed (each change of a watched balance, once per watcher) and received. */
  owed: number;
  received: number;
  /** Streams that received fewer or more than they were owed, or ended early (cut off, or an error). */
  streamsWrong: number;
  endedEarly: string[];
  /** 429 answers retried while opening, and streams that never opened. */
  retried: number;
  notOpened: number;
  /** How long after the writes stopped every stream was seen caught up (twice, 300 ms apart), ms. */
  catchUpMs: number;
};

export type FanoutLoad = {
  /** Resets the stall probe: what follows is the measured run. */
  beforeMeasured(): Promise<void>;
  /** Waits for every stream to catch up, then closes them and tells how it went. */
  detach(): Promise<FanoutRun>;
};

const catchUpLimitMs = 60_000;

/**
 * What seatgate's probe (bench/event-loop-probe.ts) saw since it was last asked: the longest
 * event-loop stall, and the resident memory after a full garbage collection.
 */
export async function probe(seatgate: Child): Promise<{ stallMs: number; rssKb: number; heapKb: number }> {
  const [, stall, rss, heap] = await seatgate.query('SIGUSR2', /event-loop max ([\d.]+) ms, rss after gc (\d+) kB, heap \+ external (\d+) kB/);
  return { stallMs: Number(stall), rssKb: Number(rss), heapKb: Number(heap) };
}

/** Waits until every change of the organization is published: what is published later reaches streams opened later. */
async function quiet(db: pg.Pool, organizationId: string) {
  const started = performance.now();
  for (;;) {
    const { rows } = await db.query<{ unpublished: number }>(
      `select count(*)::int as unpublished from outbox_event where organization_id = $1 and position is null`,
      [organizationId],
    );
    if (rows[0]!.unpublished === 0) return;
    if (performance.now() - started > catchUpLimitMs) throw new Error('the outbox never caught up before the subscribers opened');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The seat changes since `afterSeq`, per customer (external id) and feature code. */
async function changesSince(db: pg.Pool, organizationId: string, afterSeq: string): Promise<Map<string, number>> {
  const { rows } = await db.query<{ customer: string; feature: string; changes: number }>(
    `select c.external_id as customer, f.code as feature, count(*)::int as changes
       from seat_event e join customer c on c.id = e.customer_id join feature f on f.id = e.feature_id
      where e.organization_id = $1 and e.seq > $2::bigint
      group by 1, 2`,
    [organizationId, afterSeq],
  );
  return new Map(rows.map((row) => [`${row.customer} ${row.feature}`, row.changes]));
}

function owedTo(spec: StreamSpec, changes: Map<string, number>): number {
  if (spec.featureCode !== null) return changes.get(`${spec.customerId} ${spec.featureCode}`) ?? 0;
  let owed = 0;
  for (const [key, count] of changes) if (key.startsWith(`${spec.customerId} `)) owed += count;
  return owed;
}

/**
 * Opens `streams` subscribers on one key of the organization, spread evenly over its 200
 * customers (each watching one balance, or with `featureCode` null every feature of its
 * customer), and measures seatgate's memory before and after and its event loop meanwhile.
 */
export async function attachFanout(
  db: pg.Pool,
  seatgate: Child,
  key: string,
  organizationId: string,
  streams: number,
  featureCode: string | null,
): Promise<FanoutLoad> {
  const specs: StreamSpec[] = Array.from({ length: streams }, (_, i) => ({ customerId: customerIds[i % customerIds.length]!, featureCode }));
  await quiet(db, organizationId);
  const afterSeq = (await db.query<{ seq: string }>(`select coalesce(max(seq), 0)::text as seq from seat_event where organization_id = $1`, [organizationId]))
    .rows[0]!.seq;
  const { rssKb: rssBeforeKb, heapKb: heapBeforeKb } = await probe(seatgate);
  const subscribers = await openSubscribers(seatgate.url, key, specs);
  const { stallMs: openingStallMs } = await probe(seatgate);
  // Idle for a moment: what the streams hold, not what opening them allocated on the way.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const { rssKb: rssIdleKb, heapKb: heapIdleKb } = await probe(seatgate);

  return {
    beforeMeasured: async () => void (await probe(seatgate)),
    async detach() {
      const stopped = performance.now();
      let changes = new Map<string, number>();
      let counts = await subscribers.counts();
      const shortfall = () => specs.some((spec, i) => counts[i]!.ended === null && counts[i]!.notifications < owedTo(spec, changes));
      // Caught up: nothing short, twice in a row with no change committed between (a write in
      // flight when the load stopped may commit later; a notification sent twice shows as extra).
      let settledChanges = -1;
      for (;;) {
        await quiet(db, organizationId);
        changes = await changesSince(db, organizationId, afterSeq);
        counts = await subscribers.counts();
        const total = [...changes.values()].reduce((sum, n) => sum + n, 0);
        if (!shortfall() && total === settledChanges) break;
        settledChanges = shortfall() ? -1 : total;
        if (performance.now() - stopped > catchUpLimitMs) break;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      const catchUpMs = performance.now() - stopped;
      const { stallMs: writesStallMs } = await probe(seatgate);
      await subscribers.stop();
      const owed = specs.map((spec) => owedTo(spec, changes));
      return {
        streams,
        rssBeforeKb,
        rssIdleKb,
        heapBeforeKb,
        heapIdleKb,
        openingStallMs,
        writesStallMs,
        owed: owed.reduce((sum, n) => sum + n, 0),
        received: counts.reduce((sum, count) => sum + count.notifications, 0),
        streamsWrong: counts.filter((count, i) => count.notifications !== owed[i] || count.ended !== null).length,
        endedEarly: [...new Set(counts.flatMap((count) => (count.ended === null ? [] : [count.ended])))].slice(0, 5),
        retried: subscribers.retried,
        notOpened: subscribers.failures.length,
        catchUpMs,
      };
    },
  };
}
