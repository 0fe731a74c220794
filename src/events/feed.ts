import { Repeater } from 'graphql-yoga';
import type { Orm } from '../db/orm.ts';
import { run } from '../db/prepared.ts';
import { DomainError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { singleFlight } from '../common/workers.ts';
import type { Mode } from '../model/tenant.ts';
import type { OutboxEventType } from '../model/events.ts';
import type { PublishedEvent } from '../model/records.ts';
import { LAST_POSITION, PUBLISHED_AFTER, TENANT_PUBLISHED_AFTER } from './store.ts';

/** Which events a subscriber wants: always one tenant's, maybe one customer's or one feature's. */
export type EventFilter = {
  organizationId: string;
  mode: Mode;
  types: readonly OutboxEventType[];
  customerId: string | null;
  featureCode: string | null;
};

const matches = (filter: EventFilter, event: PublishedEvent) =>
  event.organizationId === filter.organizationId &&
  event.mode === filter.mode &&
  filter.types.includes(event.type) &&
  (filter.customerId === null || event.customerId === filter.customerId) &&
  (filter.featureCode === null || event.featureCode === filter.featureCode);

const after = (a: string, b: string) => BigInt(a) > BigInt(b);

/** Rows per read, live or replayed. */
const pageSize = 500;
/** Events a subscriber may leave unread before it is cut off (it resumes with `after`). */
const maxBacklog = 1000;

type Subscriber = { filter: EventFilter; deliver(event: PublishedEvent): void; end(): void };

/**
 * This process's reader of published outbox events. Every process runs one, woken by the
 * publisher's notification, so a subscriber sees the changes of every process, in publication
 * order. A subscriber that names an event it saw first replays what came after it from the
 * outbox, then goes live without a gap or a repeat.
 */
export class OutboxFeed {
  /** The last position read; a new subscriber's live events start after it. */
  private last = '0';
  private readonly subscribers = new Set<Subscriber>();
  /** Reads what was published and hands it out, one read at a time. */
  private readonly pumping = singleFlight(() => this.pump());

  private readonly orm: Orm;
  private readonly logger: Logger;

  constructor(orm: Orm, logger: Logger) {
    this.orm = orm;
    this.logger = logger;
  }

  async start(): Promise<void> {
    const [last = '0'] = await run(this.orm.em.fork(), LAST_POSITION, {});
    this.last = last;
  }

  /** Ends every subscription, as the process stops: their streams close and clients resume elsewhere. */
  close(): void {
    for (const subscriber of this.subscribers) subscriber.end();
  }

  get size(): number {
    return this.subscribers.size;
  }

  /** Something was published (up to `position` when known): read it and hand it out. */
  published(position?: string): void {
    if (this.subscribers.size === 0 && position) {
      // Nobody to tell: skip the read, and start the next subscriber after it.
      if (after(position, this.last)) this.last = position;
      return;
    }
    void this.pumping.kick();
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const events = await run(this.orm.em.fork(), PUBLISHED_AFTER, { after: this.last, upTo: maxPosition, limit: pageSize });
        for (const event of events) {
          this.last = event.position;
          for (const subscriber of this.subscribers) if (matches(subscriber.filter, event)) subscriber.deliver(event);
        }
        if (events.length < pageSize) break;
      }
    } catch (error) {
      this.logger.error('reading published events failed; the next notification retries', { error });
    }
  }

  /**
   * The events matching `filter`: those published after `resumeAfter` (a position) first, from
   * the outbox, then each new one as it is published.
   */
  subscribe(filter: EventFilter, resumeAfter: string | null): Repeater<PublishedEvent> {
    return new Repeater<PublishedEvent>(async (push, stop) => {
      const fellBehind = () =>
        stop(
          new DomainError(
            'conflict',
            `The subscriber fell more than ${maxBacklog} events behind; subscribe again with after set to the last event id it received.`,
          ),
        );
      let unread = 0;
      let seen = resumeAfter ?? '0';
      const send = (event: PublishedEvent) => {
        if (!after(event.position, seen)) return;
        seen = event.position;
        if (++unread > maxBacklog) return fellBehind();
        void push(event).then(() => unread--);
      };
      let held: PublishedEvent[] | null = resumeAfter === null ? null : [];
      const subscriber: Subscriber = {
        filter,
        end: () => stop(),
        deliver: (event) => {
          if (!held) return send(event);
          held.push(event);
          if (held.length > maxBacklog) fellBehind();
        },
      };
      let stopped = false;
      void stop.then(() => (stopped = true));
      // Registered before the replay reads up to where live delivery starts: nothing falls between.
      const liveFrom = this.last;
      this.subscribers.add(subscriber);
      try {
        if (resumeAfter !== null) {
          for (let cursor = resumeAfter; !stopped; ) {
            const page = await run(this.orm.em.fork(), TENANT_PUBLISHED_AFTER, {
              organizationId: filter.organizationId,
              mode: filter.mode,
              customerId: filter.customerId,
              after: cursor,
              upTo: liveFrom,
              limit: pageSize,
            });
            for (const event of page) {
              if (!matches(filter, event)) continue;
              seen = event.position;
              // One at a time, as the subscriber reads: a long replay cannot pile up in memory.
              await push(event);
            }
            if (page.length < pageSize) break;
            cursor = page.at(-1)!.position;
          }
          const live = held!;
          held = null;
          for (const event of live) send(event);
        }
        await stop;
      } finally {
        this.subscribers.delete(subscriber);
      }
    });
  }
}

const maxPosition = '9223372036854775807';
