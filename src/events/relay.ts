import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '../common/logger.ts';
import { singleFlight } from '../common/workers.ts';
import type { Orm } from '../db/orm.ts';
import { run } from '../db/prepared.ts';
import type { PublishedEvent } from '../model/records.ts';
import { LOCK_PUBLISHER, NOTIFY_PUBLISHED, PUBLISH_PENDING, publishedNotice, TRY_LOCK_PUBLISHER } from './store.ts';

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

/** What a publication did: the rows it published, in position order, and what to do once it committed. */
type Publication = { published: PublishedEvent[]; afterCommit: (() => void) | null };

/**
 * Publishes, in `tx`, which holds the publisher's lock: gives the oldest committed rows (and
 * `tx`'s own) positions, queues the webhook deliveries they owe (`queue`), and tells every
 * process's feed at commit.
 */
async function publishLocked(tx: EntityManager, queue: DeliveryQueue): Promise<Publication> {
  const published = await run(tx, PUBLISH_PENDING, { limit: publishBatch });
  if (published.length === 0) return { published, afterCommit: null };
  published.sort((a, b) => (BigInt(a.position) < BigInt(b.position) ? -1 : 1));
  const queued = await queue(tx, published);
  if (queued.due) await run(tx, NOTIFY_PUBLISHED, { notice: publishedNotice({ position: published.at(-1)!.position, due: true }) });
  return { published, afterCommit: queued.afterCommit };
}

/**
 * Publishes committed outbox rows in a transaction of its own, waiting for the publisher's lock.
 * Returns what it published, in position order.
 */
export async function publishOutbox(orm: Orm, queue: DeliveryQueue): Promise<PublishedEvent[]> {
  const { published, afterCommit } = await orm.em.transactional(async (tx) => {
    await run(tx, LOCK_PUBLISHER, {});
    return publishLocked(tx, queue);
  });
  afterCommit?.();
  return published;
}

/**
 * Publishes at the end of a writer's transaction `tx`, its own rows included, when the
 * publisher's lock is free: the write and its publication then commit together, with one WAL
 * flush and no transaction after it. When another publication holds the lock, it does nothing
 * and the rows wait for the relay, which the database wakes for rows still unpublished at commit.
 * Answers what to do once `tx` committed, or null.
 */
async function publishWithin(tx: EntityManager, queue: DeliveryQueue): Promise<Publication | null> {
  const [locked] = await run(tx, TRY_LOCK_PUBLISHER, {});
  return locked ? publishLocked(tx, queue) : null;
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

  /**
   * Publishes at the end of a writer's transaction, when no publication holds the lock (see
   * publishWithin). Answers what to call once `tx` committed, or null.
   */
  async publishWithin(tx: EntityManager): Promise<(() => void) | null> {
    const publication = await publishWithin(tx, this.queue);
    if (!publication || publication.published.length === 0) return null;
    const { published, afterCommit } = publication;
    return () => {
      this.published += published.length;
      afterCommit?.();
    };
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
