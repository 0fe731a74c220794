import fc from 'fast-check';
import pg from 'pg';
import { expect, inject, test } from 'vitest';
import { createCustomerWithSubscription, mutations, postGraphQL, seatScenario, useHarness, useServerProcesses } from './helpers.js';

const harness = useHarness();
const startServer = useServerProcesses();
type Entry = { kind: 'ADD' | 'REMOVE' | 'SET'; count: number };

test('two server processes on one database: hot and cold balances under concurrent traffic lose nothing', async () => {
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
    .tuple(fc.boolean(), fc.nat(1000), fc.constantFrom('addSeats' as const, 'removeSeats' as const, 'setSeats' as const, 'bulkSetSeats' as const), fc.constantFrom(...codes), fc.integer({ min: 0, max: 6 }))
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
      events.forEach((event: { id: string }, k: number) => succeeded.set(event.id, c.entries[k]!));
    }
  };
  await Promise.all(Array.from({ length: 40 }, (_, w) => worker(w)));
  expect(fiveHundreds).toBe(0);
  expect(succeeded.size).toBeGreaterThan(600);

  // Per balance: replaying the successful calls in ledger order gives every event and the balance.
  const rows = await harness.orm.em.fork().getConnection().execute<{ id: string; customer_id: string; code: string; kind: string; quantity: number; previous_balance: number; new_balance: number }[]>(
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
  const current = await harness.orm.em.fork().getConnection().execute<{ customer_id: string; code: string; current: number }[]>(
    `select b.customer_id, f.code, b.current from seat_balance b join feature f on f.id = b.feature_id where b.organization_id = ?`,
    [s.organizationId],
  );
  for (const row of current) expect(row.current).toBe(balances.get(`${row.customer_id}/${row.code}`) ?? 0);

  a.child.kill('SIGTERM');
  b.child.kill('SIGTERM');
  expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
}, 180_000);

test('SIGTERM lets in-flight requests finish before the process exits', async () => {
  const server = await startServer();
  const s = await seatScenario(harness);
  // Hold the balance's row lock, so the requests below wait inside the server.
  const blocker = new pg.Client({ connectionString: inject('databaseUrl') });
  await blocker.connect();
  await blocker.query('begin');
  await blocker.query(`select 1 from seat_balance where customer_id = $1 for update`, [s.customer.id]);

  const inFlight = Array.from({ length: 10 }, () => postGraphQL(server.url, s.key, mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } }));
  await new Promise((resolve) => setTimeout(resolve, 500));
  server.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(server.child.exitCode).toBeNull(); // still draining
  await blocker.query('commit');
  await blocker.end();

  const responses = await Promise.all(inFlight);
  expect(responses.map((r) => [r.status, r.body.errors])).toEqual(Array.from({ length: 10 }, () => [200, undefined]));
  expect(responses.map((r) => r.body.data.addSeats.newBalance).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  expect(await server.exited).toBe(0);
  // The changes answered while draining were published before the pool closed, and nothing failed.
  const unpublished = await harness.orm.em.fork().getConnection().execute<{ count: string }[]>(`select count(*) from outbox_event where customer_id = ? and position is null`, [s.customer.id]);
  expect(Number(unpublished[0]!.count)).toBe(0);
  expect(server.output()).not.toMatch(/"level":"(error|fatal)"/);
}, 60_000);
