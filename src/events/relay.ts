import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '../common/logger.ts';
import { singleFlight } from '../common/workers.ts';
import type { Orm } from '../db/orm.ts';
import { run } from '../db/prepared.ts';
import type { PublishedEvent } from '../model/records.ts';
import { LOCK_PUBLISHER, NOTIFY_DUE, PUBLISH_PENDING } from './store.ts';

/**
 * What a publication owes webhooks, done in its transaction: queue the deliveries the published
 * events owe their endpoints (webhooks/service.ts makes this function). It answers whether any
 * are left due for any worker, and what to do once the publication committed (hand the
 * deliveries it claimed to this process's worker).
 */
export type DeliveryQueue = (tx: EntityManager, published: readonly PublishedEvent[]) => Promise<{ due: boolean; afterCommit: (() => void) | null }>;

/** Rows one publication takes; more wait for the next round, which follows at once. */
const publishBatch = 1000;
/**
 * How long a poke waits for more commits to publish with it. A publication is a transaction of
 * its own, with its own WAL flush, and every process's relay is woken by every commit: without
 * a pause, each seat change's commit brought one more. Subscribers and endpoints hear of a
 * change this much later.
 */
const publishGatherMs = 10;

/**
 * Publishes committed outbox rows: gives them positions in commit order, queues the webhook
 * deliveries they owe (`queue`), and tells every process's feed, all in one transaction. Returns
 * what it published, in position order. Not in the writer's transaction: a process writes one
 * seat change batch at a time, and publishing inside it lengthened every batch and every lone
 * change's answer more than the second transaction costs (docs/performance.md).
 */
export async function publishOutbox(orm: Orm, queue: DeliveryQueue): Promise<PublishedEvent[]> {
  const { published, afterCommit } = await orm.em.transactional(async (tx) => {
    await run(tx, LOCK_PUBLISHER, {});
    const published = await run(tx, PUBLISH_PENDING, { limit: publishBatch });
    if (published.length === 0) return { published, afterCommit: null };
    published.sort((a, b) => (BigInt(a.position) < BigInt(b.position) ? -1 : 1));
    const queued = await queue(tx, published);
    if (queued.due) await run(tx, NOTIFY_DUE, { position: published.at(-1)!.position });
    return { published, afterCommit: queued.afterCommit };
  });
  afterCommit?.();
  return published;
}

/**
 * Runs publications when poked (a notification that outbox rows committed, a reconnect, a
 * timer), one at a time: a poke during a run makes one more run after it, never a second one
 * beside it.
 */
export class OutboxRelay {
  /** Publications this process made, for tests and operators. */
  published = 0;
  private readonly flight = singleFlight(() => this.publishAll(), { gatherMs: publishGatherMs });

  private readonly orm: Orm;
  private readonly logger: Logger;
  private readonly queue: DeliveryQueue;

  constructor(orm: Orm, logger: Logger, queue: DeliveryQueue) {
    this.orm = orm;
    this.logger = logger;
    this.queue = queue;
  }

  /** Publishes what has committed, now or right after the publication under way; resolves when it is done. */
  poke(): Promise<void> {
    return this.flight.kick();
  }

  private async publishAll(): Promise<void> {
    try {
      for (;;) {
        const published = await publishOutbox(this.orm, this.queue);
        this.published += published.length;
        if (published.length < publishBatch) break;
      }
    } catch (error) {
      // Nothing is lost: the rows stay unpublished, and the next poke (the timer's at the latest) takes them.
      this.logger.error('publishing outbox events failed', { error });
    }
  }
}
