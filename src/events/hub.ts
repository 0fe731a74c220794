import type { Orm } from '../db/orm.ts';
import type { Logger } from '../common/logger.ts';
import type { Worker } from '../common/workers.ts';
import { OutboxFeed } from './feed.ts';
import { PgListener } from './listener.ts';
import { type DeliveryQueue, OutboxRelay } from './relay.ts';
import { parsePublishedNotice } from './store.ts';

/** How often the relay looks for unpublished rows without being told: a safety net, not the path. */
const relaySweepMs = 5000;

/**
 * A process's event machinery on one LISTEN connection: the relay publishes what commits, and
 * the feed hands what is published to this process's subscribers. PostgreSQL is the only moving
 * part between processes.
 */
export class EventHub implements Worker {
  readonly name = 'event-hub';
  readonly relay: OutboxRelay;
  readonly feed: OutboxFeed;
  private readonly listener: PgListener;
  private starting: Promise<void> | null = null;
  private readonly publishedListeners: ((notice: { due: boolean }) => void)[] = [];
  private sweep: NodeJS.Timeout | null = null;
  /** The position of the last seatgate_published notice. */
  private lastNoticed: string | undefined;

  /** `queue`: what each publication owes webhooks (webhooks/service.ts, deliveryQueue). */
  constructor(orm: Orm, logger: Logger, queue: DeliveryQueue) {
    this.relay = new OutboxRelay(orm, logger, queue);
    this.feed = new OutboxFeed(orm, logger);
    this.listener = new PgListener(
      orm.config.get('clientUrl')!,
      ['seatgate_outbox', 'seatgate_published'],
      {
        onNotify: (channel, payload) => {
          if (channel === 'seatgate_outbox') return void this.relay.poke();
          const notice = parsePublishedNotice(payload);
          // A publication that left deliveries due sends a second notice of the same position,
          // for the webhook workers: the feed already heard of it. One of a position not heard
          // yet (a process of the previous release sends only that one) still reaches the feed.
          if (!notice.due || notice.position !== this.lastNoticed) this.feed.published(notice.position);
          this.lastNoticed = notice.position;
          for (const listener of this.publishedListeners) listener(notice);
        },
        // Whatever was sent while the connection was down is read now.
        onConnect: () => {
          void this.relay.poke();
          this.feed.published();
        },
      },
      logger,
    );
  }

  /**
   * Calls `listener` whenever any process published events; `due` says whether it left webhook
   * deliveries for any worker to claim (the webhook workers wake on those).
   */
  onPublished(listener: (notice: { due: boolean }) => void): void {
    this.publishedListeners.push(listener);
  }

  /** Starts once, however often it is asked: the first subscription or the server starts it. */
  start(): Promise<void> {
    this.starting ??= (async () => {
      await this.feed.start();
      await this.listener.start();
      this.sweep = setInterval(() => void this.relay.poke(), relaySweepMs);
      this.sweep.unref();
    })().catch((error: unknown) => {
      this.starting = null;
      throw error;
    });
    return this.starting;
  }

  /** Ends every subscription, as the process begins to stop: their streams close, and clients resume elsewhere. */
  endSubscriptions(): void {
    this.feed.close();
  }

  /**
   * Stops listening, and publishes once more: the commits of the last requests go out now
   * rather than with the next process (the notification that would have told of them is not
   * heard any more), and the pool never closes under a running publication.
   */
  async stop(): Promise<void> {
    if (this.sweep) clearInterval(this.sweep);
    this.feed.close();
    await this.listener.stop();
    await this.relay.poke();
  }
}
