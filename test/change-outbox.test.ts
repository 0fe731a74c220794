import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, vi } from 'vitest';
import { describe, expect, test } from './fixtures.ts';
import { type Harness, mutations, postGraphQL, rest, seatScenario, type SeatScenario, subscribe } from './helpers.ts';

// Every applied seat change, of every kind and through either door, writes exactly one
// seat.changed outbox row naming the event it answered with; and what the outbox tells reaches
// subscribers and webhook receivers for removals as for additions.

type SeatChangedRow = { seq: string; payload: { event: { id: string; kind: string; count: number; previousBalance: number; newBalance: number } } };

/** The customer's seat.changed outbox rows written after `afterSeq`, oldest first, straight from the table. */
async function seatChangedRows(harness: Harness, s: SeatScenario, afterSeq: string): Promise<SeatChangedRow[]> {
  return harness.orm.em
    .fork()
    .getConnection()
    .execute(`select seq::text, payload from outbox_event where customer_id = ? and type = 'seat.changed' and seq > ? order by seq`, [s.customer.id, afterSeq]);
}

async function lastSeq(harness: Harness, s: SeatScenario): Promise<string> {
  const [row] = await harness.orm.em
    .fork()
    .getConnection()
    .execute<{ seq: string }[]>(`select coalesce(max(seq), 0)::text as seq from outbox_event where customer_id = ?`, [s.customer.id]);
  return row!.seq;
}

type Change = { kind: 'ADD' | 'REMOVE' | 'SET'; featureCode: string; count: number };
type Door = { name: string; op: 'add' | 'remove' | 'set' | 'bulk'; send(harness: Harness, s: SeatScenario, changes: Change[]): Promise<string[]> };

const graphqlOp = { add: 'addSeats', remove: 'removeSeats', set: 'setSeats' } as const;

/** Each way a seat change can be sent, answering the ids of the events it says it recorded. */
const doors: Door[] = [
  ...(['add', 'remove', 'set'] as const).map(
    (op): Door => ({
      name: `GraphQL ${graphqlOp[op]}`,
      op,
      async send(_harness, s, [change]) {
        const data = await s.client.ok(mutations[graphqlOp[op]], {
          input: { customerId: s.customerId, featureCode: change!.featureCode, count: change!.count },
        });
        return [data[graphqlOp[op]].id];
      },
    }),
  ),
  {
    name: 'GraphQL bulkSetSeats',
    op: 'bulk',
    async send(_harness, s, changes) {
      const data = await s.client.ok(mutations.bulkSetSeats, {
        input: { customerId: s.customerId, seats: changes.map(({ featureCode, count }) => ({ featureCode, count })) },
      });
      return data.bulkSetSeats.map((event: { id: string }) => event.id);
    },
  },
  ...(
    [
      ['add', 'POST', '/api/v1/seats'],
      ['remove', 'DELETE', '/api/v1/seats'],
      ['remove', 'POST', '/api/v1/seats/remove'],
      ['set', 'PUT', '/api/v1/seats'],
    ] as const
  ).map(
    ([op, method, path]): Door => ({
      name: `REST ${method} ${path}`,
      op,
      async send(harness, s, [change]) {
        const response = await rest(harness.yoga, s.key, method, path, { customerId: s.customerId, featureCode: change!.featureCode, count: change!.count });
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        return [response.body.data.id];
      },
    }),
  ),
  {
    name: 'REST PUT /api/v1/seats/bulk',
    op: 'bulk',
    async send(harness, s, changes) {
      const seats = Object.fromEntries(changes.map(({ featureCode, count }) => [featureCode, count]));
      const response = await rest(harness.yoga, s.key, 'PUT', '/api/v1/seats/bulk', { customerId: s.customerId, seats });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return response.body.data.map((event: { id: string }) => event.id);
    },
  },
];

/** What each kind of call changes, from balances of editor 4 and viewer 1: (kind, feature, count, before → after). */
const changesOf: Record<Door['op'], (Change & { before: number; after: number })[]> = {
  add: [{ kind: 'ADD', featureCode: 'editor', count: 3, before: 4, after: 7 }],
  remove: [{ kind: 'REMOVE', featureCode: 'editor', count: 3, before: 4, after: 1 }],
  set: [{ kind: 'SET', featureCode: 'editor', count: 2, before: 4, after: 2 }],
  bulk: [
    { kind: 'SET', featureCode: 'viewer', count: 0, before: 1, after: 0 },
    { kind: 'SET', featureCode: 'editor', count: 9, before: 4, after: 9 },
  ],
};

describe('each applied change writes one seat.changed outbox row with the event it answered', () => {
  test.for(doors)('$name', async (door, { harness }) => {
    const s = await seatScenario(harness, {
      initialSeats: [
        { featureCode: 'editor', count: 4 },
        { featureCode: 'viewer', count: 1 },
      ],
    });
    const before = await lastSeq(harness, s);
    const changes = changesOf[door.op];
    const eventIds = await door.send(harness, s, changes);

    expect(eventIds).toHaveLength(changes.length);
    const rows = await seatChangedRows(harness, s, before);
    expect(rows.map((row) => row.payload.event.id)).toEqual(eventIds);
    expect(rows.map(({ payload: { event } }) => [event.kind, event.count, event.previousBalance, event.newBalance])).toEqual(
      changes.map(({ kind, count, before, after }) => [kind, count, before, after]),
    );
  });
});

describe('a removal reaches subscribers and webhook receivers, through either door', () => {
  const received: { type: string; data: { event: { id: string; kind: string } } }[] = [];
  const receiver = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      received.push(JSON.parse(body));
      response.end('ok');
    });
  });
  afterAll(() => {
    receiver.closeAllConnections();
    receiver.close();
  });

  test('seatEvents and a seat.changed webhook see REMOVE events from GraphQL and REST', async ({ harness, startServer }) => {
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const server = await startServer({ WEBHOOK_TIMEOUT_MS: '1000', WEBHOOK_RETRY_SCALE: '0.0001' });
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 6 }] });
    await s.client.ok(/* GraphQL */ `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }`, {
      input: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`, events: ['SEAT_CHANGED'] },
    });
    const stream = await subscribe(
      fetch,
      server.url,
      s.key,
      /* GraphQL */ `subscription($customerId: String) { seatEvents(customerId: $customerId) { id event { id kind newBalance } } }`,
      {
        customerId: s.customerId,
      },
    );
    expect(stream.status).toBe(200);

    const viaGraphQL = await postGraphQL(server.url, s.key, mutations.removeSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 2 } });
    expect(viaGraphQL.body.errors).toBeUndefined();
    const restUrl = new URL('/api/v1/seats', server.url);
    const viaRest = await fetch(restUrl, {
      method: 'DELETE',
      headers: { 'content-type': 'application/json', 'x-api-key': s.key },
      body: JSON.stringify({ customerId: s.customerId, featureCode: 'editor', count: 1 }),
    });
    expect(viaRest.status).toBe(200);
    const removals = [viaGraphQL.body.data.removeSeats.id as string, ((await viaRest.json()) as { data: { id: string } }).data.id];

    // The scenario's own initial SET may be published after the stream opened, and then comes
    // first; the removals follow it, in order, and nothing else.
    type Streamed = { data: { seatEvents: { event: { id: string; kind: string; newBalance: number } } } };
    const streamed: Streamed[] = [];
    while (!removals.every((id) => streamed.some(({ data }) => data.seatEvents.event.id === id))) {
      const next = await stream.take(1);
      if (next.length === 0) break;
      streamed.push(...next);
    }
    stream.close();
    const events = streamed.map(({ data }) => data.seatEvents.event);
    const initial = events[0]?.kind === 'SET' ? [[events[0].id, 'SET', 6]] : [];
    expect(events.map((event) => [event.id, event.kind, event.newBalance])).toEqual([...initial, [removals[0], 'REMOVE', 4], [removals[1], 'REMOVE', 3]]);
    await vi.waitFor(() => expect(received.filter(({ data }) => removals.includes(data.event.id))).toHaveLength(2), { timeout: 60_000, interval: 50 });
    expect(
      received
        .filter(({ data }) => removals.includes(data.event.id))
        .map(({ type, data }) => [type, data.event.kind])
        .sort(),
    ).toEqual([
      ['seat.changed', 'REMOVE'],
      ['seat.changed', 'REMOVE'],
    ]);
  }, 120_000);
});
