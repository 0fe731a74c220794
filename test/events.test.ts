import { describe, expect, test } from './fixtures.ts';
import { publishOutbox } from '../src/events/relay.ts';
import { deliveryQueue } from '../src/webhooks/service.ts';
import { pruneOutbox } from '../src/events/service.ts';
import { createCustomerWithSubscription, graphql, type Harness, mutations, queries, seatScenario, type SeatScenario, subscribe } from './helpers.ts';

// The outbox (what each change tells the world) and the subscriptions that read it.

type OutboxRow = { type: string; feature_code: string; payload: any; position: string | null };

/** A customer's outbox rows, oldest first, straight from the table. */
async function outboxOf(harness: Harness, s: SeatScenario, customerId = s.customer.id): Promise<OutboxRow[]> {
  return harness.orm.em
    .fork()
    .getConnection()
    .execute(`select type, feature_code, payload, position from outbox_event where customer_id = ? order by seq`, [customerId]);
}

const balanceChanged = /* GraphQL */ `subscription($customerId: String!, $featureCode: String, $after: ID) {
  seatBalanceChanged(customerId: $customerId, featureCode: $featureCode, after: $after) {
    id balance { customerId featureCode current includedSeats unlimited asOf livemode } event { id kind count previousBalance newBalance }
  }
}`;
const seatEventsOf = /* GraphQL */ `subscription($customerId: String, $after: ID) { seatEvents(customerId: $customerId, after: $after) { id event { id customerId newBalance } } }`;

/** The app's fetch, for subscribe(). */
const fetchApp = (harness: Harness) => async (url: string, init: RequestInit) => harness.yoga.fetch(url, init);
const graphqlUrl = 'http://seatgate.test/graphql';
const add = (s: SeatScenario, count: number, featureCode = 'editor', customerId = s.customerId) =>
  s.client.ok(mutations.addSeats, { input: { customerId, featureCode, count } });

describe('the outbox', () => {
  test('a change writes its public shape in its own transaction: the event and balance, its charge, a limit reached', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 5 }] });
    const before = (await outboxOf(harness, s)).length;
    const { addSeats } = await add(s, 2);
    const { seatBalance } = await s.client.ok(queries.seatBalance, { customerId: s.customerId, featureCode: 'editor' });
    await s.client.ok(mutations.setSeats, { input: { customerId: s.customerId, featureCode: 'viewer', count: 2 } });

    const rows = (await outboxOf(harness, s)).slice(before);
    expect(rows.map((row) => `${row.type} ${row.feature_code}`)).toEqual([
      'seat.changed editor',
      'charge.created editor',
      'seat.changed viewer',
      'seat.limit_reached viewer',
    ]);
    const { event, balance } = rows[0]!.payload;
    const { kind, count, previousBalance, newBalance, id, customerId, livemode } = addSeats;
    expect(event).toMatchObject({ id, customerId, kind, count, previousBalance, newBalance, livemode, ts: addSeats.ts, createdAt: addSeats.createdAt });
    expect(balance).toEqual(seatBalance);
    expect(rows[1]!.payload).toMatchObject({ eventId: id, kind: 'TRUE_UP', quantity: 2, currency: 'EUR', livemode: false });
    expect(rows[3]!.payload).toMatchObject({
      customerId: s.customerId,
      featureCode: 'viewer',
      includedSeats: 2,
      current: 2,
      reason: 'reached',
      requested: null,
    });
  });

  test('a refusal at the limit is told; a failed bulk set, a preview and a replay write nothing', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'viewer', count: 2 }] });
    const before = (await outboxOf(harness, s)).length;
    const refused = await s.client.fails(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'viewer', count: 1 } });
    expect(refused.extensions.code).toBe('seat_limit_exceeded');
    const afterRefusal = (await outboxOf(harness, s)).slice(before);
    expect(afterRefusal.map((row) => row.type)).toEqual(['seat.limit_reached']);
    expect(afterRefusal[0]!.payload).toMatchObject({ reason: 'refused', current: 2, requested: 3, eventId: null });

    const failedBulk = await s.client.fails(mutations.bulkSetSeats, {
      input: {
        customerId: s.customerId,
        seats: [
          { featureCode: 'editor', count: 9 },
          { featureCode: 'ghost', count: 1 },
        ],
      },
    });
    expect(failedBulk.extensions.code).toBe('feature_not_found');
    const preview = await graphql(
      harness,
      s.key,
      /* GraphQL */ `query { previewSeatChange(input: { kind: ADD, customerId: "${s.customerId}", featureCode: "editor", count: 40 }) { __typename } }`,
    );
    expect(preview.errors).toBeUndefined();
    const key = 'replayed';
    await s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1, idempotencyKey: key } });
    await s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1, idempotencyKey: key } });
    // Only the refusal and the one applied add.
    expect((await outboxOf(harness, s)).slice(before).map((row) => row.type)).toEqual(['seat.limit_reached', 'seat.changed']);
  });

  test('a renewal tells each advance it charges', async ({ harness, scenario: s }) => {
    await s.client.ok(/* GraphQL */ `mutation { advanceTestClock(input: { days: 1 }) { now } }`);
    const customer = await createCustomerWithSubscription(s.client, { initialSeats: [{ featureCode: 'editor', count: 7 }] });
    await s.client.ok(/* GraphQL */ `mutation { advanceTestClock(input: { days: 62 }) { now } }`);
    const rows = await outboxOf(harness, s, customer.id);
    // The start: the initial SET and its advance; then one advance per period entered.
    expect(rows.map((row) => row.type)).toEqual(['seat.changed', 'charge.created', 'charge.created', 'charge.created']);
    expect(rows.slice(1).map((row) => [row.payload.kind, row.payload.quantity, row.payload.eventId])).toEqual([
      ['ADVANCE', 2, rows[0]!.payload.event.id],
      ['ADVANCE', 2, null],
      ['ADVANCE', 2, null],
    ]);
  });
});

test('published events are kept seven days, then forgotten', async ({ harness, scenario: s }) => {
  await add(s, 1);
  // Other files' rows may be waiting ahead of ours (a publication takes the oldest 1,000 first).
  while ((await publishOutbox(harness.orm, deliveryQueue(null))).length > 0);
  const rows = await outboxOf(harness, s);
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.every((row) => row.position !== null)).toBe(true);
  const sixDaysOn = new Date(Date.now() + 6 * 86_400_000);
  expect(await pruneOutbox(harness.orm.em.fork(), sixDaysOn, s.organizationId)).toBe(0);
  const eightDaysOn = new Date(Date.now() + 8 * 86_400_000);
  expect(await pruneOutbox(harness.orm.em.fork(), eightDaysOn, s.organizationId)).toBe(rows.length);
  expect(await outboxOf(harness, s)).toEqual([]);
});

describe('subscriptions', () => {
  test("lifecycleEvents sends each step of the customer's subscription life, in order, with the subscription or the scheduled balance; other customers stay out", async ({
    harness,
  }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 8 }] });
    const other = await createCustomerWithSubscription(s.client, {});
    const lifecycle = /* GraphQL */ `subscription($customerId: String) {
      lifecycleEvents(customerId: $customerId) { id type subscription { id status cancelAtPeriodEnd } balance { featureCode current scheduledChange { count } } }
    }`;
    const mine = await subscribe(fetchApp(harness), graphqlUrl, s.key, lifecycle, { customerId: s.customerId });
    const cancel = /* GraphQL */ `mutation($input: CancelSubscriptionInput!) { cancelSubscription(input: $input) { id } }`;
    /** Runs a step, publishes the outbox, and answers the notification it brought, without its id. */
    const notified = async (step: () => Promise<unknown>) => {
      await step();
      while ((await publishOutbox(harness.orm, deliveryQueue(null))).length > 0);
      const [message] = await mine.take(1);
      return (message as any)?.data.lifecycleEvents;
    };
    const first = await notified(() =>
      s.client.ok(mutations.setSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 6, timing: 'AT_PERIOD_END' } }),
    );
    expect(first).toMatchObject({
      type: 'SEAT_CHANGE_SCHEDULED',
      subscription: null,
      balance: { featureCode: 'editor', current: 8, scheduledChange: { count: 6 } },
    });
    // Another customer's cancellation is not sent here; this customer's next step is.
    await s.client.ok(cancel, { input: { customerId: other.id, timing: 'IMMEDIATELY' } });
    const second = await notified(() => s.client.ok(cancel, { input: { customerId: s.customerId, timing: 'AT_PERIOD_END' } }));
    const id = second.subscription.id;
    expect(second).toMatchObject({ type: 'CANCELLATION_SCHEDULED', subscription: { status: 'ACTIVE', cancelAtPeriodEnd: true }, balance: null });
    const resume = /* GraphQL */ `mutation($input: ResumeSubscriptionInput!) { resumeSubscription(input: $input) { id } }`;
    expect(await notified(() => s.client.ok(resume, { input: { customerId: s.customerId } }))).toMatchObject({
      type: 'CANCELLATION_REVOKED',
      subscription: { id, status: 'ACTIVE', cancelAtPeriodEnd: false },
    });
    expect(await notified(() => s.client.ok(cancel, { input: { customerId: s.customerId, timing: 'IMMEDIATELY' } }))).toMatchObject({
      type: 'CANCELED',
      subscription: { id, status: 'CANCELED' },
    });
    mine.close();
    // Resumed after the second notification, the steps since follow, from the outbox; of every customer when none is named.
    const resumed = await subscribe(
      fetchApp(harness),
      graphqlUrl,
      s.key,
      /* GraphQL */ `subscription($after: ID) { lifecycleEvents(after: $after) { id type } }`,
      { after: second.id },
    );
    expect((await resumed.take(2)).map((message: any) => message.data.lifecycleEvents.type)).toEqual(['CANCELLATION_REVOKED', 'CANCELED']);
    resumed.close();
  });

  test('seatBalanceChanged sends each change of the customer, in order, with the balance it left; other customers and features stay out', async ({
    harness,
    scenario: s,
  }) => {
    const other = await createCustomerWithSubscription(s.client, {});
    const all = await subscribe(fetchApp(harness), graphqlUrl, s.key, balanceChanged, { customerId: s.customerId });
    const editorOnly = await subscribe(fetchApp(harness), graphqlUrl, s.key, balanceChanged, { customerId: s.customerId, featureCode: 'editor' });
    expect(all.status).toBe(200);
    for (const count of [1, 2, 3]) await add(s, count);
    await add(s, 1, 'viewer');
    await add(s, 4, 'editor', other.id);

    const received = await all.take(4);
    expect(received.map((r) => [r.data.seatBalanceChanged.balance.featureCode, r.data.seatBalanceChanged.event.newBalance])).toEqual([
      ['editor', 1],
      ['editor', 3],
      ['editor', 6],
      ['viewer', 1],
    ]);
    expect(received[2].data.seatBalanceChanged.balance).toMatchObject({
      customerId: s.customerId,
      current: 6,
      includedSeats: 5,
      unlimited: false,
      livemode: false,
    });
    // One more editor change: each stream, in order, shows it right after what it showed, so nothing else came in between.
    await add(s, 1);
    expect((await editorOnly.take(4)).map((r) => r.data.seatBalanceChanged.event.newBalance)).toEqual([1, 3, 6, 7]);
    expect((await all.take(1)).map((r) => [r.data.seatBalanceChanged.balance.featureCode, r.data.seatBalanceChanged.event.newBalance])).toEqual([
      ['editor', 7],
    ]);
    all.close();
    editorOnly.close();
  });

  test("another organization's subscriber sees nothing, and cannot name this one's customers or events", async ({ harness }) => {
    const s = await seatScenario(harness);
    const stranger = await seatScenario(harness);
    const watching = await subscribe(fetchApp(harness), graphqlUrl, stranger.key, seatEventsOf, {});
    await add(s, 2);
    const mine = await subscribe(fetchApp(harness), graphqlUrl, s.key, seatEventsOf, {});
    await add(s, 1);
    const [first] = await mine.take(1);
    await add(stranger, 1);
    // In order: a change of the other organization, all made before this one, would come first.
    const theirs = await watching.take(1);
    expect(theirs.map((r) => r.data.seatEvents.event.customerId)).toEqual([stranger.customerId]);

    const foreignCustomer = await subscribe(fetchApp(harness), graphqlUrl, stranger.key, balanceChanged, { customerId: s.customer.id });
    expect((await foreignCustomer.take(1))[0].errors[0].extensions.code).toBe('customer_not_found');
    const foreignAfter = await subscribe(fetchApp(harness), graphqlUrl, stranger.key, seatEventsOf, { after: first.data.seatEvents.id });
    expect((await foreignAfter.take(1))[0].errors[0].extensions).toMatchObject({ code: 'validation_error', param: 'after' });
    mine.close();
    watching.close();
  });

  test('a subscriber that reconnects with the last id it saw gets everything since, once, then the live ones', async ({ harness, scenario: s }) => {
    const first = await subscribe(fetchApp(harness), graphqlUrl, s.key, balanceChanged, { customerId: s.customerId, featureCode: 'editor' });
    for (let i = 0; i < 3; i++) await add(s, 1);
    const seen = await first.take(3);
    first.close();
    // Missed while away.
    for (let i = 0; i < 40; i++) await add(s, 1);
    const resumed = await subscribe(fetchApp(harness), graphqlUrl, s.key, balanceChanged, {
      customerId: s.customerId,
      featureCode: 'editor',
      after: seen.at(-1).data.seatBalanceChanged.id,
    });
    const replayed = await resumed.take(40);
    await add(s, 1);
    const live = await resumed.take(1);
    expect([...seen, ...replayed, ...live].map((r) => r.data.seatBalanceChanged.event.newBalance)).toEqual(Array.from({ length: 44 }, (_, i) => i + 1));
    // Nothing twice: the next change is the next thing it sends.
    await add(s, 1);
    expect((await resumed.take(1)).map((r) => r.data.seatBalanceChanged.event.newBalance)).toEqual([45]);
    resumed.close();
  });

  test('arguments are checked: an unknown customer, a bad feature code, an id that is not an event', async ({ harness, scenario: s }) => {
    const errorOf = async (variables: Record<string, unknown>) =>
      (await (await subscribe(fetchApp(harness), graphqlUrl, s.key, balanceChanged, variables)).take(1))[0].errors[0].extensions;
    expect(await errorOf({ customerId: 'nobody' })).toMatchObject({ code: 'customer_not_found' });
    expect(await errorOf({ customerId: s.customerId, featureCode: 'Bad-Code' })).toMatchObject({ code: 'validation_error', param: 'featureCode' });
    expect(await errorOf({ customerId: s.customerId, after: 'evt_nope' })).toMatchObject({ code: 'validation_error', param: 'after' });
    const unauthenticated = await subscribe(fetchApp(harness), graphqlUrl, 'ck_test_nope', balanceChanged, { customerId: s.customerId });
    expect(unauthenticated.status).toBe(401);
  });
});

describe('across processes', () => {
  test('a subscriber on process A sees every change made on process B, in order, nothing missing', async ({ harness, startServer }) => {
    const [a, b] = await Promise.all([startServer(), startServer()]);
    const s = await seatScenario(harness);
    const onA = await subscribe(fetch, a.url, s.key, balanceChanged, { customerId: s.customerId, featureCode: 'editor' });
    // Concurrent changes through B: the coalescer batches them, and A must still see each, in ledger order.
    const changes = 100;
    const answers = await Promise.all(
      Array.from({ length: changes }, () =>
        fetch(b.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': s.key },
          body: JSON.stringify({ query: mutations.addSeats, variables: { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } } }),
        }).then((response) => response.json()),
      ),
    );
    expect(answers.filter((answer) => answer.errors)).toEqual([]);
    const received = await onA.take(changes, 30_000);
    expect(received.map((r) => r.data.seatBalanceChanged.event.newBalance)).toEqual(Array.from({ length: changes }, (_, i) => i + 1));
    expect(new Set(received.map((r) => r.data.seatBalanceChanged.id)).size).toBe(changes);
    onA.close();
  }, 120_000);
});
