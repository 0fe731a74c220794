import fc from 'fast-check';
import pg from 'pg';
import { inject, vi } from 'vitest';
import { expect, test } from './fixtures.ts';
import { balanceOf, createCustomerWithSubscription, mutations, postGraphQL, seatScenario } from './helpers.ts';

type Entry = { kind: 'ADD' | 'REMOVE' | 'SET'; count: number };

test('two server processes on one database: hot and cold balances under concurrent traffic lose nothing', async ({ harness, startServer }) => {
  const [a, b] = await Promise.all([startServer(), startServer()]);
  const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 10 }] });
  const customers = [s.customer.id];
  while (customers.length < 33) {
    customers.push((await createCustomerWithSubscription(s.client, { initialSeats: [{ featureCode: 'editor', count: 10 }] })).id);
  }
  const hot = customers.slice(0, 3);
  const cold = customers.slice(3);
  const codes = ['editor', 'viewer', 'admin'];

  type Call = { op: 'addSeats' | 'removeSeats' | 'setSeats' | 'bulkSetSeats'; customerId: string; entries: (Entry & { featureCode: string })[] };
  const call: fc.Arbitrary<Call> = fc
    .tuple(
      fc.boolean(),
      fc.nat(1000),
      fc.constantFrom('addSeats' as const, 'removeSeats' as const, 'setSeats' as const, 'bulkSetSeats' as const),
      fc.constantFrom(...codes),
      fc.integer({ min: 0, max: 6 }),
    )
    .map(([isHot, pick, op, featureCode, n]) => {
      const customerId = isHot || pick % 10 < 7 ? hot[pick % hot.length]! : cold[pick % cold.length]!;
      if (op === 'bulkSetSeats') {
        const order = pick % 2 ? codes : [...codes].reverse();
        return { op, customerId, entries: order.slice(0, 1 + (pick % 3)).map((code, i) => ({ featureCode: code, kind: 'SET' as const, count: (n + i) % 3 })) };
      }
      const kind = ({ addSeats: 'ADD', removeSeats: 'REMOVE', setSeats: 'SET' } as const)[op];
      return { op, customerId, entries: [{ featureCode, kind, count: kind === 'SET' ? n : Math.max(1, n) }] };
    });
  const calls = fc.sample(call, { numRuns: 1200 });

  const succeeded = new Map<string, Entry>();
  let next = 0;
  let fiveHundreds = 0;
  const worker = async (w: number) => {
    while (next < calls.length) {
      const i = next++;
      const c = calls[i]!;
      const url = (i + w) % 2 ? a.url : b.url;
      const input =
        c.op === 'bulkSetSeats'
          ? { customerId: c.customerId, seats: c.entries.map(({ featureCode, count }) => ({ featureCode, count })) }
          : { customerId: c.customerId, featureCode: c.entries[0]!.featureCode, count: c.entries[0]!.count };
      const response = await postGraphQL(url, s.key, mutations[c.op], { input });
      if (response.status >= 500) fiveHundreds++;
      if (response.body.errors) {
        expect(['insufficient_seats', 'seat_limit_exceeded']).toContain(response.body.errors[0].extensions.code);
        continue;
      }
      const events = c.op === 'bulkSetSeats' ? response.body.data.bulkSetSeats : [response.body.data[c.op]];
      for (const [k, event] of (events as { id: string }[]).entries()) succeeded.set(event.id, c.entries[k]!);
    }
  };
  await Promise.all(Array.from({ length: 40 }, (_, w) => worker(w)));
  expect(fiveHundreds).toBe(0);
  expect(succeeded.size).toBeGreaterThan(600);

  // Per balance: replaying the successful calls in ledger order gives every event and the balance.
  const rows = await harness.orm.em
    .fork()
    .getConnection()
    .execute<{ id: string; customer_id: string; code: string; kind: string; quantity: number; previous_balance: number; new_balance: number }[]>(
      `select e.id, e.customer_id, f.code, e.kind, e.quantity, e.previous_balance, e.new_balance
       from seat_event e join feature f on f.id = e.feature_id where e.organization_id = ? order by e.seq`,
      [s.organizationId],
    );
  const balances = new Map<string, number>();
  let replayed = 0;
  for (const row of rows) {
    const id = `${row.customer_id}/${row.code}`;
    const before = balances.get(id) ?? 0;
    expect(row.previous_balance).toBe(before);
    const entry = succeeded.get(row.id);
    if (entry) {
      replayed++;
      expect([row.kind, row.quantity]).toEqual([entry.kind, entry.count]);
      const expected = entry.kind === 'ADD' ? before + entry.count : entry.kind === 'REMOVE' ? before - entry.count : entry.count;
      expect(row.new_balance).toBe(expected);
    }
    expect(row.new_balance).toBeGreaterThanOrEqual(0);
    balances.set(id, row.new_balance);
  }
  expect(replayed).toBe(succeeded.size);
  const current = await harness.orm.em
    .fork()
    .getConnection()
    .execute<{ customer_id: string; code: string; current: number }[]>(
      `select b.customer_id, f.code, b.current from seat_balance b join feature f on f.id = b.feature_id where b.organization_id = ?`,
      [s.organizationId],
    );
  for (const row of current) expect(row.current).toBe(balances.get(`${row.customer_id}/${row.code}`) ?? 0);

  a.child.kill('SIGTERM');
  b.child.kill('SIGTERM');
  expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
}, 180_000);

test('SIGTERM lets in-flight requests finish before the process exits', async ({ harness, startServer }) => {
  // Connections enough for every request below to wait inside PostgreSQL at once; logs at info, to see it drain.
  const server = await startServer({ DB_POOL_MAX: '20', LOG_LEVEL: 'info' });
  const s = await seatScenario(harness);
  const customerIds: string[] = [];
  for (let i = 0; i < 10; i++)
    customerIds.push((await s.client.ok(/* GraphQL */ `mutation { createCustomer(input: { name: "Acme" }) { id } }`)).createCustomer.id);
  // Lock the customers' rows, so that each request below, subscribing one of them, waits inside
  // PostgreSQL on a connection of its own, where the test can count it.
  const blocker = new pg.Client({ connectionString: inject('databaseUrl') });
  await blocker.connect();
  await blocker.query('begin');
  expect((await blocker.query(`select 1 from customer where id = any($1) for update`, [customerIds])).rowCount).toBe(customerIds.length);
  const { rows } = await blocker.query<{ pid: number }>('select pg_backend_pid() as pid');
  const waitingForBlocker = async () => {
    const [row] = await harness.orm.em
      .fork()
      .getConnection()
      .execute<{ count: string }[]>(`select count(*) from pg_stat_activity where ? = any(pg_blocking_pids(pid))`, [rows[0]!.pid]);
    return Number(row!.count);
  };

  const subscribe = /* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`;
  const inFlight = customerIds.map((customerId, i) =>
    postGraphQL(server.url, s.key, subscribe, { input: { customerId, planCode: 'team', initialSeats: [{ featureCode: 'editor', count: i + 1 }] } }),
  );
  await vi.waitFor(async () => expect(await waitingForBlocker()).toBe(customerIds.length), { timeout: 30_000, interval: 20 });
  server.child.kill('SIGTERM');
  await vi.waitFor(() => expect(server.output()).toContain('"message":"stopping: draining requests"'), { timeout: 30_000, interval: 20 });
  // Draining, with every request still waiting: the process has not exited.
  expect(server.child.exitCode).toBeNull();
  expect(await waitingForBlocker()).toBe(customerIds.length);
  await blocker.query('commit');
  await blocker.end();

  const responses = await Promise.all(inFlight);
  expect(responses.map((r) => [r.status, r.body.errors])).toEqual(customerIds.map(() => [200, undefined]));
  for (const [i, customerId] of customerIds.entries()) expect(await balanceOf(harness, customerId, 'editor')).toBe(i + 1);
  expect(await server.exited).toBe(0);
  // The changes answered while draining were published before the pool closed, and nothing failed.
  const [outbox] = await harness.orm.em
    .fork()
    .getConnection()
    .execute<{ changes: string; unpublished: string }[]>(
      `select count(*) filter (where type = 'seat.changed') as changes, count(*) filter (where position is null) as unpublished
       from outbox_event where customer_id in (?)`,
      [customerIds],
    );
  expect([Number(outbox!.changes), Number(outbox!.unpublished)]).toEqual([customerIds.length, 0]);
  expect(server.output()).not.toMatch(/"level":"(error|fatal)"/);
}, 60_000);
