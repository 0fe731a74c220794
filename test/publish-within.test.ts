import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { test as base, describe, expect } from './fixtures.ts';
import { createApp } from '../src/app.ts';
import { createLogger } from '../src/common/logger.ts';
import { loadConfig } from '../src/config.ts';
import { migrate, openOrm } from '../src/db/orm.ts';
import { publishOutbox } from '../src/events/relay.ts';
import { SeatChangeCoalescer } from '../src/flows/seat-change-coalescer.ts';
import { deliveryQueue } from '../src/webhooks/service.ts';
import { type Harness, mutations, scratchDatabase, seatScenario, type SeatScenario } from './helpers.ts';

// A seat change publishes its own outbox rows at the end of its transaction when the publisher's
// lock is free, and leaves them to the relay when it is not. The publisher's lock is one per
// database, so this file owns a database: another file's publications would take it at random.
// biome-ignore lint/correctness/noEmptyPattern: vitest reads what a fixture needs from its first argument's pattern; this one needs nothing.
const test = base.extend('databaseUrl', { scope: 'file' }, async ({}, { onCleanup }) => {
  const database = await scratchDatabase('seatgate_publish');
  const orm = await openOrm(database.url);
  await migrate(orm);
  await orm.close();
  onCleanup(() => database.drop());
  return database.url;
});

/** The publisher's advisory lock, as events/store.ts takes it. */
const publisherLock = 7305840001;

/** A connection of its own; `notices` collects what it hears on the channels it listens to. */
async function connect(databaseUrl: string, channels: string[] = []) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const notices: { channel: string; payload: string }[] = [];
  client.on('notification', (message) => notices.push({ channel: message.channel, payload: message.payload ?? '' }));
  for (const channel of channels) await client.query(`listen ${channel}`);
  return { client, notices };
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

type Published = { id: string; position: string | null; same_transaction: boolean };

/**
 * The outbox row a seat event wrote: its position, and whether the transaction that gave it the
 * position is the one that wrote the event (the row's version and the event's share their xmin).
 */
async function outboxOfEvent(harness: Harness, eventId: string): Promise<Published> {
  const [row] = await harness.orm.em
    .fork()
    .getConnection()
    .execute<Published[]>(
      `select o.id, o.position::text as position, o.xmin = e.xmin as same_transaction
         from outbox_event o join seat_event e on e.id = o.payload->'event'->>'id'
        where o.type = 'seat.changed' and e.id = ?`,
      [eventId],
    );
  return row!;
}

const add = async (s: SeatScenario, count = 1) =>
  (await s.client.ok<{ addSeats: { id: string } }>(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count } })).addSeats.id;

describe('publishing in the write transaction', () => {
  test('a seat change publishes its events before it commits, without waking the relays', async ({ harness, databaseUrl }) => {
    const s = await seatScenario(harness);
    const listener = await connect(databaseUrl, ['seatgate_outbox', 'seatgate_published']);
    try {
      const first = await add(s);
      const published = await outboxOfEvent(harness, first);
      expect(published.position).not.toBeNull();
      expect(published.same_transaction).toBe(true);

      // A second change, while a publication holds the lock, is left to the relay and wakes it;
      // notifications arrive in commit order, so a wake-up sent by the first would come before.
      const holder = await connect(databaseUrl);
      await holder.client.query('begin');
      await holder.client.query('select pg_advisory_xact_lock($1)', [publisherLock]);
      const second = await add(s);
      expect((await outboxOfEvent(harness, second)).position).toBeNull();
      await waitFor(() => listener.notices.some((notice) => notice.channel === 'seatgate_outbox'), 'the relay to be woken');
      expect(listener.notices.map((notice) => notice.channel)).toEqual(['seatgate_published', 'seatgate_outbox']);
      expect(listener.notices[0]!.payload).toBe(published.position);
      await holder.client.query('commit');
      await holder.client.end();

      // The relay publishes it in a transaction of its own, after the first.
      while ((await publishOutbox(harness.orm, deliveryQueue(null))).length > 0);
      const late = await outboxOfEvent(harness, second);
      expect(late.same_transaction).toBe(false);
      expect(BigInt(late.position!)).toBeGreaterThan(BigInt(published.position!));
    } finally {
      await listener.client.end();
    }
  });

  test('rows another writer left unpublished go out with the next change, in commit order', async ({ harness, databaseUrl }) => {
    const s = await seatScenario(harness);
    const holder = await connect(databaseUrl);
    await holder.client.query('begin');
    await holder.client.query('select pg_advisory_xact_lock($1)', [publisherLock]);
    const left = [await add(s), await add(s)];
    await holder.client.query('commit');
    await holder.client.end();
    const next = await add(s);
    const rows = await Promise.all([...left, next].map((id) => outboxOfEvent(harness, id)));
    expect(rows.map((row) => row.position !== null)).toEqual([true, true, true]);
    // All three published by the third change's transaction, in the order they committed.
    expect(rows.map((row) => row.same_transaction)).toEqual([false, false, true]);
    const positions = rows.map((row) => BigInt(row.position!));
    expect([...positions].sort((a, b) => (a < b ? -1 : 1))).toEqual(positions);
  });

  test('a publication that fails does not fail the change: it commits, and the relay publishes it', async ({ harness }) => {
    const logs: string[] = [];
    const logger = createLogger('info', (line) => logs.push(line));
    const failing = {
      publishWithin: async (tx: EntityManager) => {
        await tx.getConnection().execute('select 1 / 0');
        return null;
      },
    };
    const coalescer = new SeatChangeCoalescer(harness.orm, logger, { publisher: failing });
    const app = createApp({ orm: harness.orm, logger, limits: { ...loadConfig({}).limits, rateLimitPerSecond: 0 }, seatChanges: coalescer });
    const s = await seatScenario(harness);
    const response = await app.fetch('http://seatgate.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': s.key },
      body: JSON.stringify({ query: mutations.addSeats, variables: { input: { customerId: s.customerId, featureCode: 'editor', count: 3 } } }),
    });
    const body = (await response.json()) as { data: { addSeats: { id: string; newBalance: number } } };
    expect(body.data.addSeats.newBalance).toBe(3);
    expect(logs.some((line) => line.includes('publishing in a seat change transaction failed'))).toBe(true);
    expect((await outboxOfEvent(harness, body.data.addSeats.id)).position).toBeNull();
    while ((await publishOutbox(harness.orm, deliveryQueue(null))).length > 0);
    expect((await outboxOfEvent(harness, body.data.addSeats.id)).position).not.toBeNull();
    expect(coalescer.stats.failedBatches).toBe(0);
  });

  test('two processes writing one balance while the lock comes and goes: every event published once, in the order of the ledger', async ({
    harness,
    startServer,
    databaseUrl,
  }) => {
    const [a, b] = await Promise.all([startServer(), startServer()]);
    const s = await seatScenario(harness);
    // A third party takes the publisher's lock now and then, so that some commits publish their
    // own rows, some are published by another writer, and some by a relay.
    const holder = await connect(databaseUrl);
    let holding = true;
    const hold = (async () => {
      while (holding) {
        await holder.client.query('begin');
        await holder.client.query('select pg_advisory_xact_lock($1)', [publisherLock]);
        await new Promise((resolve) => setTimeout(resolve, 3));
        await holder.client.query('commit');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const changes = 200;
    const answers = await Promise.all(
      Array.from({ length: changes }, (_, i) =>
        fetch(i % 2 === 0 ? a.url : b.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': s.key },
          body: JSON.stringify({ query: mutations.addSeats, variables: { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } } }),
        }).then((response) => response.json() as Promise<{ errors?: unknown }>),
      ),
    );
    holding = false;
    await hold;
    await holder.client.end();
    expect(answers.filter((answer) => answer.errors)).toEqual([]);

    const sql = harness.orm.em.fork().getConnection();
    await waitFor(
      async () => (await sql.execute(`select count(*)::int as n from outbox_event where customer_id = ? and position is null`, [s.customer.id]))[0]?.n === 0,
      'every event to be published',
    );
    const rows = await sql.execute<{ position: string; new_balance: number; same_transaction: boolean }[]>(
      `select o.position::text as position, (o.payload->'event'->>'newBalance')::int as new_balance, o.xmin = e.xmin as same_transaction
         from outbox_event o join seat_event e on e.id = o.payload->'event'->>'id'
        where o.customer_id = ? and o.type = 'seat.changed' order by o.position`,
      [s.customer.id],
    );
    // One row per change, and in position order the balance climbs one by one: positions follow commits.
    expect(rows.map((row) => row.new_balance)).toEqual(Array.from({ length: changes }, (_, i) => i + 1));
    expect(new Set(rows.map((row) => row.position)).size).toBe(changes);
    // Both ways of publishing took part.
    expect(rows.some((row) => row.same_transaction)).toBe(true);
  }, 120_000);
});
