import fc from 'fast-check';
import { expect, test } from './fixtures.ts';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/common/logger.ts';
import { SeatChangeCoalescer } from '../src/flows/seat-change-coalescer.ts';
import { graphql, holdBalancesOf, mutations, postGraphQL, seatScenario, waitUntil } from './helpers.ts';

// Seat changes and renewals are the two writers of balances. Each takes a customer's balance
// locks in one order; if they took them in different orders, a bulk set over several features
// racing a renewal of the same customer would deadlock, and PostgreSQL would abort one of them
// (an internal_error for the caller). Here they race on two processes.

const codes = ['editor', 'viewer', 'admin'] as const;
/** viewer has 2 included seats and no overage: counts stay within every plan limit. */
const maxCount = { editor: 9, viewer: 2, admin: 9 } as const;

test('bulk sets over several features racing renewals of the same customers, on two processes: no internal_error, every chain whole, no period billed twice', async ({
  harness,
  startServer,
}) => {
  const [a, b] = await Promise.all([startServer(), startServer()]);
  const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 6 }] });
  // Customers created oldest first but subscribed newest first, so the order renewals find them
  // in (by period end, then subscription) is not the order of their ids.
  const created: string[] = [];
  for (let i = 0; i < 5; i++) {
    const { createCustomer } = await s.client.ok(/* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, {
      input: { name: `racer ${i}` },
    });
    created.push(createCustomer.id);
  }
  for (const customerId of [...created].reverse()) {
    await s.client.ok(/* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`, {
      input: {
        customerId,
        planCode: 'team',
        initialSeats: [
          { featureCode: 'editor', count: 6 },
          { featureCode: 'admin', count: 3 },
        ],
      },
    });
  }
  const customers = [s.customer.id, ...created];

  const bulkSets = fc.sample(
    fc.record({
      customer: fc.constantFrom(...customers),
      seats: fc
        .shuffledSubarray([...codes], { minLength: 2 })
        .chain((order) =>
          fc.tuple(
            ...order.map((featureCode) => fc.record({ featureCode: fc.constant(featureCode), count: fc.integer({ min: 0, max: maxCount[featureCode] }) })),
          ),
        ),
    }),
    { numRuns: 480, seed: 25 },
  );

  const outcomes: { status: number; code: string | null }[] = [];
  const applied = new Map<string, number>();
  let next = 0;
  let clockMoves = 0;
  const bulkWorker = async (w: number) => {
    while (next < bulkSets.length) {
      const i = next++;
      const { customer, seats } = bulkSets[i]!;
      const response = await postGraphQL((i + w) % 2 ? a.url : b.url, s.key, mutations.bulkSetSeats, { input: { customerId: customer, seats } });
      outcomes.push({ status: response.status, code: response.body.errors?.[0]?.extensions.code ?? null });
      if (!response.body.errors) {
        for (const [k, event] of (response.body.data.bulkSetSeats as { id: string }[]).entries()) applied.set(event.id, seats[k]!.count);
      }
    }
  };
  // Each move ends every customer's period and renews them all, while the bulk sets run.
  const clockWorker = async () => {
    while (next < bulkSets.length) {
      const response = await postGraphQL(clockMoves % 2 ? a.url : b.url, s.key, /* GraphQL */ `mutation { advanceTestClock(input: { days: 31 }) { now } }`, {});
      outcomes.push({ status: response.status, code: response.body.errors?.[0]?.extensions.code ?? null });
      if (!response.body.errors) clockMoves++;
    }
  };
  await Promise.all([...Array.from({ length: 16 }, (_, w) => bulkWorker(w)), clockWorker()]);

  expect(outcomes.filter(({ status }) => status >= 500)).toEqual([]);
  // `conflict` (the subscription kept renewing under the change: retry) is the one refusal a race may bring.
  expect(outcomes.filter(({ code }) => code !== null && code !== 'conflict')).toEqual([]);
  expect(clockMoves).toBeGreaterThan(3);
  expect(applied.size).toBeGreaterThan(bulkSets.length);

  const db = harness.orm.em.fork().getConnection();
  // Every balance chains from 0 to its current value, and each SET applied says what it was asked.
  const events = await db.execute<{ id: string; customer_id: string; code: string; kind: string; previous_balance: number; new_balance: number }[]>(
    `select e.id, e.customer_id, f.code, e.kind, e.previous_balance, e.new_balance
       from seat_event e join feature f on f.id = e.feature_id where e.organization_id = ? order by e.seq`,
    [s.organizationId],
  );
  const chains = new Map<string, number>();
  for (const event of events) {
    const balance = `${event.customer_id}/${event.code}`;
    expect(event.previous_balance).toBe(chains.get(balance) ?? 0);
    if (applied.has(event.id)) expect(event.new_balance).toBe(applied.get(event.id));
    chains.set(balance, event.new_balance);
  }
  expect(events.filter((event) => applied.has(event.id))).toHaveLength(applied.size);
  const balances = await db.execute<{ customer_id: string; code: string; current: number }[]>(
    `select b.customer_id, f.code, b.current from seat_balance b join feature f on f.id = b.feature_id where b.organization_id = ?`,
    [s.organizationId],
  );
  expect(balances).toHaveLength(customers.length * codes.length);
  for (const balance of balances) expect(balance.current).toBe(chains.get(`${balance.customer_id}/${balance.code}`) ?? 0);

  // A renewal that waited for a change (or for another renewal) finds its period entered: one advance per balance and period.
  const twice = await db.execute(
    `select subscription_id, feature_id, period_start, count(*)::int as advances from seat_charge
      where organization_id = ? and kind = 'ADVANCE' group by 1, 2, 3 having count(*) > 1`,
    [s.organizationId],
  );
  expect(twice).toEqual([]);
  // Every subscription has caught up with the clock.
  const behind = await db.execute(
    `select s.id from subscription s join test_clock t on t.organization_id = s.organization_id
      where s.organization_id = ? and s.current_period_end <= t.frozen_at`,
    [s.organizationId],
  );
  expect(behind).toEqual([]);

  a.child.kill('SIGTERM');
  b.child.kill('SIGTERM');
  expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
}, 180_000);

test('a clock advance takes customers in the order seat changes lock them: a batch over two customers waits behind it instead of deadlocking', async ({
  harness,
}) => {
  // An app of its own, so the test can see its coalescer's queue and failed batches.
  const logger = createLogger('warn', () => {});
  const coalescer = new SeatChangeCoalescer(harness.orm, logger);
  const app = createApp({ orm: harness.orm, logger, limits: { ...loadConfig({}).limits, rateLimitPerSecond: 0 }, seatChanges: coalescer });
  const send = (key: string, query: string, variables?: Record<string, unknown>) => graphql({ ...harness, yoga: app }, key, query, variables);

  const s = await seatScenario(harness);
  const ids: string[] = [];
  for (const name of ['x', 'y', 'z']) {
    const { createCustomer } = await s.client.ok(/* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, {
      input: { name },
    });
    ids.push(createCustomer.id);
  }
  const [idX, idY, idZ] = ids as [string, string, string];
  // Subscribed y, z, x: renewals that went by period end would take y, then z, then x.
  for (const customerId of [idY, idZ, idX]) {
    await s.client.ok(/* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`, {
      input: { customerId, planCode: 'team', initialSeats: [{ featureCode: 'editor', count: 1 }] },
    });
  }
  // Another organization's change keeps the coalescer busy while x's and y's changes queue behind it.
  const other = await seatScenario(harness);
  const holdOther = await holdBalancesOf(other.customer.id);
  const busy = send(other.key, mutations.addSeats, { input: { customerId: other.customerId, featureCode: 'editor', count: 1 } });
  await waitUntil(async () => (await holdOther.waiters()) === 1, "the other organization's change to wait");
  const changes = [idX, idY].map((customerId) => send(s.key, mutations.addSeats, { input: { customerId, featureCode: 'editor', count: 1 } }));
  await waitUntil(() => coalescer.queued === 2, "x's and y's changes to queue as one batch");

  // The advance renews every customer in one transaction; z is held, so it stops there.
  const holdZ = await holdBalancesOf(idZ);
  const advance = send(s.key, /* GraphQL */ `mutation { advanceTestClock(input: { days: 31 }) { now } }`);
  await waitUntil(async () => (await holdZ.waiters()) === 1, 'the advance to wait for z');
  // The batch of x and y now runs, and waits for what the advance holds.
  await holdOther.release();
  await waitUntil(async () => (await holdZ.waiters()) === 2, 'the batch to wait behind the advance');
  await holdZ.release();

  const answers = [await busy, await advance, ...(await Promise.all(changes))];
  expect(answers.map((answer) => answer.errors ?? null)).toEqual([null, null, null, null]);
  // Had the advance taken x after y, PostgreSQL would have broken a deadlock by failing the
  // batch (retried one by one) or the advance (an internal_error).
  expect(coalescer.stats.failedBatches).toBe(0);
});
