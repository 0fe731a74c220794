import { setTimeout as sleep } from 'node:timers/promises';
import type { Orm } from '../db/orm.js';
import { run } from '../db/prepared.js';
import type { Logger } from '../common/logger.js';
import { type DeliveryTaker, queueDeliveries } from '../webhooks/service.js';
import { LOCK_PUBLISHER, NOTIFY_PUBLISHED, PUBLISH_PENDING, type PublishedEvent, publishedNotice } from './store.js';

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
 * deliveries they owe, and tells every process's feed, all in one transaction. Deliveries up to
 * `taker`'s capacity are claimed for it and handed over once the transaction commits. Returns
 * what it published, in position order.
 */
export async function publishOutbox(orm: Orm, taker: DeliveryTaker | null = null): Promise<PublishedEvent[]> {
  const limit = taker?.capacity() ?? 0;
  const { published, claimed } = await orm.em.transactional(async (tx) => {
    await run(tx, LOCK_PUBLISHER, {});
    const published = await run(tx, PUBLISH_PENDING, { limit: publishBatch });
    if (published.length === 0) return { published, claimed: [] };
    published.sort((a, b) => (BigInt(a.position) < BigInt(b.position) ? -1 : 1));
    const queued = await queueDeliveries(tx, published, taker && limit > 0 ? { leaseMs: taker.leaseMs, limit } : null);
    await run(tx, NOTIFY_PUBLISHED, { notice: publishedNotice({ position: published.at(-1)!.position, due: queued.due > 0 }) });
    return { published, claimed: queued.claimed };
  });
  if (claimed.length > 0) taker!.take(claimed);
  return published;
}

/**
 * Runs publications when poked (a notification that outbox rows committed, a reconnect, a
 * timer), one at a time: a poke during a run makes one more run after it, never a second one
 * beside it.
 */
export class OutboxRelay {
  private running: Promise<void> | null = null;
  private again = false;
  /** Publications this process made, for tests and operators. */
  published = 0;
  /** This process's webhook worker, which takes the deliveries it can send at once from each publication. */
  private taker: DeliveryTaker | null = null;

  constructor(
    private readonly orm: Orm,
    private readonly logger: Logger,
  ) {}

  handOffTo(taker: DeliveryTaker): void {
    this.taker = taker;
  }

  poke(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop().finally(() => (this.running = null));
    return this.running;
  }

  private async loop(): Promise<void> {
    await sleep(publishGatherMs);
    do {
      this.again = false;
      try {
        for (;;) {
          const published = await publishOutbox(this.orm, this.taker);
          this.published += published.length;
          if (published.length < publishBatch) break;
        }
      } catch (error) {
        // Nothing is lost: the rows stay unpublished, and the next poke (the timer's at the latest) takes them.
        this.logger.error('publishing outbox events failed', { error });
      }
    } while (this.again);
  }
}
