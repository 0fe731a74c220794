import { isUniqueViolation } from '../db/errors.ts';
import type { Orm } from '../db/orm.ts';
import { DomainError } from '../common/errors.ts';
import { claimId } from '../idempotency/fingerprint.ts';
import type { Logger } from '../common/logger.ts';
import { singleFlight } from '../common/workers.ts';
import type { SeatEventRecord } from '../model/records.ts';
import { applySeatChanges, type SeatChangeOutcome, type SeatChangeRequest, type SeatChangeWriter, settleOutcome } from './seat-change.ts';

type Pending = {
  request: SeatChangeRequest;
  resolve(events: SeatEventRecord[]): void;
  reject(error: unknown): void;
  renewals: number;
};

/** What a process's batches have looked like, for the benchmark and operators. */
export type CoalescerStats = { batches: number; changes: number; largestBatch: number; failedBatches: number };

/** Told of each batch's size and of each change applied, for metrics. */
export type SeatChangeObserver = { batch(size: number): void; applied(events: readonly SeatEventRecord[]): void };

/**
 * Bounds one transaction's work, and how long its flush holds the event loop (the flush's time
 * grows with its entries); a bulk set counts one per entry and may fill a batch alone.
 */
const maxEntriesPerBatch = 100;
/** A change whose subscription keeps moving under it (a clock racing ahead, plan changes) gives up after this many retries. */
const maxRenewalsPerChange = 3;

/**
 * Applies the seat changes of this process in shared transactions. While one transaction is in
 * flight, new changes queue; the next transaction takes everything queued. There is no timer: a
 * lone change starts at once, so at concurrency 1 the latency is that of a lone transaction, and
 * under load one transaction, one lock statement and one WAL flush serve many callers.
 *
 * Each change passes or fails on its own. If the database fails a whole batch, its changes are
 * retried one by one, so one bad change cannot sink its neighbours.
 */
export class SeatChangeCoalescer implements SeatChangeWriter {
  private readonly queue: Pending[] = [];
  /** Runs the queued changes' transactions, one at a time. */
  private readonly draining = singleFlight(() => this.drain());
  readonly stats: CoalescerStats = { batches: 0, changes: 0, largestBatch: 0, failedBatches: 0 };

  private readonly orm: Orm;
  private readonly logger: Logger;
  private readonly observer: SeatChangeObserver | null;

  constructor(orm: Orm, logger: Logger, observer: SeatChangeObserver | null = null) {
    this.orm = orm;
    this.logger = logger;
    this.observer = observer;
  }

  /** Changes waiting for the next transaction. */
  get queued(): number {
    return this.queue.length;
  }

  submit(request: SeatChangeRequest): Promise<SeatEventRecord[]> {
    return new Promise((resolve, reject) => this.enqueue({ request, resolve, reject, renewals: 0 }));
  }

  private enqueue(pending: Pending): void {
    this.queue.push(pending);
    void this.draining.kick();
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) await this.run(this.takeBatch());
  }

  /**
   * The queued changes in arrival order, up to the entry bound. A repeat of an idempotency key
   * already in the batch waits for the next one, where it finds the first call's result (or,
   * if that failed, runs afresh).
   */
  private takeBatch(): Pending[] {
    const batch: Pending[] = [];
    const keys = new Set<string>();
    let entries = 0;
    for (let i = 0; i < this.queue.length; ) {
      const pending = this.queue[i]!;
      const { tenant, idempotency, entries: own } = pending.request;
      const key = idempotency ? claimId(tenant, idempotency.key) : null;
      if (batch.length > 0 && entries + own.length > maxEntriesPerBatch) break;
      if (key && keys.has(key)) {
        i++;
        continue;
      }
      if (key) keys.add(key);
      entries += own.length;
      batch.push(pending);
      this.queue.splice(i, 1);
    }
    return batch;
  }

  private async run(batch: Pending[]): Promise<void> {
    this.stats.batches++;
    this.stats.changes += batch.length;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    this.observer?.batch(batch.length);
    let outcomes: SeatChangeOutcome[];
    try {
      outcomes = await this.orm.em.transactional((tx) =>
        applySeatChanges(
          tx,
          batch.map((pending) => pending.request),
        ),
      );
    } catch (error) {
      if (batch.length === 1) return this.runAlone(batch[0]!, error);
      this.stats.failedBatches++;
      this.logger.warn('seat change batch failed; retrying its changes one by one', { changes: batch.length, error });
      for (const pending of batch) await this.runAlone(pending);
      return;
    }
    batch.forEach((pending, i) => void this.settle(pending, outcomes[i]!));
  }

  /**
   * One change in a transaction of its own. A first call with the same idempotency key that
   * committed while this one ran makes its claim fail on the unique key: running it again
   * finds that call's result.
   */
  private async runAlone(pending: Pending, failure?: unknown): Promise<void> {
    let error = failure;
    for (let attempt = failure === undefined ? 0 : 1; attempt < 3; attempt++) {
      if (attempt > 0 && !(pending.request.idempotency && isClaimConflict(error))) break;
      try {
        const [outcome] = await this.orm.em.transactional((tx) => applySeatChanges(tx, [pending.request]));
        return this.settle(pending, outcome!);
      } catch (caught) {
        error = caught;
      }
    }
    pending.reject(error);
  }

  /** Finishes an outcome outside the transaction, without holding up the next batch. */
  private async settle(pending: Pending, outcome: SeatChangeOutcome): Promise<void> {
    if (outcome.kind === 'applied') this.observer?.applied(outcome.events);
    try {
      const settled = await settleOutcome(() => this.orm.em.fork(), pending.request, outcome);
      if (settled !== 'retry') return pending.resolve(settled);
      if (++pending.renewals > maxRenewalsPerChange)
        throw new DomainError('conflict', 'The subscription kept renewing or changing under this change; retry it.');
      this.enqueue(pending);
    } catch (error) {
      pending.reject(error);
    }
  }
}

const isClaimConflict = (error: unknown): boolean => isUniqueViolation(error, 'idempotency_key_pkey');
