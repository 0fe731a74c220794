import { setImmediate as nextTurn } from 'node:timers/promises';
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

const tenantOf = (of: { organizationId: string; mode: Mode }) => `${of.organizationId}/${of.mode}`;

/** Rows per read, live or replayed. */
const pageSize = 500;
/**
 * Events a subscriber may leave unread before it is cut off (it resumes with `after`). Its
 * subscriber is one execution shared by streams (http/fanout.ts), which reads at once: it falls
 * this far behind only when the process cannot keep up at all.
 */
const maxBacklog = 1000;
/**
 * Work handed out between two turns of the event loop: events looked at, and events delivered
 * (each costs an execution downstream, about a hundred looks). Slices keep a page of events for
 * a thousand subscribers from holding the loop (docs/performance.md: 50 ms at most).
 */
const sliceBudget = 20_000;
const deliveryCost = 100;

type Subscriber = { filter: EventFilter; deliver(events: readonly PublishedEvent[]): void; end(): void };

/** Before each replayed event: resolves when the subscriber can take more (a replay goes at its reader's pace). */
export type Pace = () => Promise<void> | void;

/**
 * This process's reader of published outbox events. Every process runs one, woken by the
 * publisher's notification, so a subscriber sees the changes of every process, in publication
 * order. A subscriber that names an event it saw first replays what came after it from the
 * outbox, then goes live without a gap or a repeat.
 */
export class OutboxFeed {
  /** The last position handed out; a new subscriber's live events start after it. */
  private last = '0';
  /** Subscribers by tenant: an event is looked at only against its own tenant's. */
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private count = 0;
  /** A page being handed out, in slices: a subscriber arriving meanwhile joins after it. */
  private handing: Promise<void> | null = null;
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
    for (const subscribers of this.subscribers.values()) for (const subscriber of subscribers) subscriber.end();
  }

  get size(): number {
    return this.count;
  }

  /** Something was published (up to `position` when known): read it and hand it out. */
  published(position?: string): void {
    if (this.count === 0 && position && !this.handing) {
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
        if (events.length > 0) {
          this.handing = this.handOut(events);
          try {
            await this.handing;
          } finally {
            this.handing = null;
          }
          const end = events.at(-1)!.position;
          if (after(end, this.last)) this.last = end;
        }
        if (events.length < pageSize) break;
      }
    } catch (error) {
      this.logger.error('reading published events failed; the next notification retries', { error });
    }
  }

  /**
   * Hands a page to its tenants' subscribers, each its matching events at once and in order, in
   * slices that let the event loop turn between them.
   */
  private async handOut(events: readonly PublishedEvent[]): Promise<void> {
    const byTenant = new Map<string, PublishedEvent[]>();
    for (const event of events) {
      const tenant = tenantOf(event);
      const list = byTenant.get(tenant);
      if (list) list.push(event);
      else byTenant.set(tenant, [event]);
    }
    let work = 0;
    for (const [tenant, tenantEvents] of byTenant) {
      const subscribers = this.subscribers.get(tenant);
      if (!subscribers) continue;
      // Live: one that leaves meanwhile is skipped; none arrives while a page is handed out.
      for (const subscriber of subscribers) {
        const matching = tenantEvents.filter((event) => matches(subscriber.filter, event));
        if (matching.length > 0) subscriber.deliver(matching);
        work += tenantEvents.length + matching.length * deliveryCost;
        if (work >= sliceBudget) {
          work = 0;
          await nextTurn();
        }
      }
    }
  }

  private add(subscriber: Subscriber): void {
    const tenant = tenantOf(subscriber.filter);
    let subscribers = this.subscribers.get(tenant);
    if (!subscribers) this.subscribers.set(tenant, (subscribers = new Set()));
    subscribers.add(subscriber);
    this.count++;
  }

  private remove(subscriber: Subscriber): void {
    const tenant = tenantOf(subscriber.filter);
    const subscribers = this.subscribers.get(tenant);
    if (!subscribers?.delete(subscriber)) return;
    this.count--;
    if (subscribers.size === 0) this.subscribers.delete(tenant);
  }

  /**
   * The events matching `filter`: those published after `resumeAfter` (a position) first, from
   * the outbox, at the pace `pace` sets, then each new one as it is published.
   */
  subscribe(filter: EventFilter, resumeAfter: string | null, pace?: Pace): Repeater<PublishedEvent> {
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
        deliver: (events) => {
          if (!held) return void events.forEach(send);
          held.push(...events);
          if (held.length > maxBacklog) fellBehind();
        },
      };
      let stopped = false;
      void stop.then(() => (stopped = true));
      // Not in the middle of a page: this subscriber would see only its rest.
      while (this.handing) await this.handing;
      // Registered before the replay reads up to where live delivery starts: nothing falls between.
      const liveFrom = this.last;
      this.add(subscriber);
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
              if (stopped) break;
              if (!matches(filter, event)) continue;
              seen = event.position;
              // One at a time, as the subscriber reads: a long replay cannot pile up in memory.
              await push(event);
              await pace?.();
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
        this.remove(subscriber);
      }
    });
  }
}

const maxPosition = '9223372036854775807';
