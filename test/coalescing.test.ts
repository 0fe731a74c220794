import pg from 'pg';
import { inject } from 'vitest';
import { test as base, describe, expect } from './fixtures.ts';
import { type App, createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/common/logger.ts';
import { SeatChangeCoalescer } from '../src/flows/seat-change-coalescer.ts';
import { createCustomerWithSubscription, expectLedgerWhole, type GraphQLResponse, type Harness, mutations, seatScenario } from './helpers.ts';

/** An app of its own, with a coalescer the tests can watch, and its logs. */
function appWithCoalescer(harness: Harness) {
  const logs: string[] = [];
  const logger = createLogger('info', (line) => logs.push(line));
  const coalescer = new SeatChangeCoalescer(harness.orm, logger);
  const app = createApp({ orm: harness.orm, logger, limits: { ...loadConfig({}).limits, rateLimitPerSecond: 0 }, seatChanges: coalescer });
  return { app, coalescer, logs };
}

/** The file's app with a coalescer, beside the harness's app on the same ORM. */
const test = base.extend('main', { scope: 'file' }, ({ harness }) => appWithCoalescer(harness));

async function send(app: App, key: string, query: string, variables: object): Promise<GraphQLResponse> {
  const response = await app.fetch('http://seatgate.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ query, variables }),
  });
  return { ...((await response.json()) as object), status: response.status };
}

const sql = <T = any>(harness: Harness, query: string, params: unknown[] = []) => harness.orm.em.fork().getConnection().execute<T[]>(query, params);

async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/**
 * Holds a row lock from a connection of its own, so that a transaction that reaches the row
 * waits inside PostgreSQL while the next changes queue behind it.
 */
async function holdRow(harness: Harness, query: string, params: unknown[]) {
  const client = new pg.Client({ connectionString: inject('databaseUrl') });
  await client.connect();
  await client.query('begin');
  expect((await client.query(query, params)).rowCount).toBe(1);
  const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
  const pid = rows[0]!.pid;
  return {
    /** How many other sessions wait for this one, directly or through one another. */
    waiters: async () =>
      Number(
        (
          await sql<{ n: string }>(
            harness,
            `with recursive blocked(pid) as (
               select pid from pg_stat_activity where ? = any(pg_blocking_pids(pid))
               union
               select a.pid from pg_stat_activity a join blocked b on b.pid = any(pg_blocking_pids(a.pid))
             ) select count(*) as n from blocked`,
            [pid],
          )
        )[0]!.n,
      ),
    release: async () => {
      await client.query('commit');
      await client.end();
    },
  };
}

const holdBalance = (harness: Harness, customerRef: string, featureCode: string) =>
  holdRow(
    harness,
    `select 1 from seat_balance b join customer c on c.id = b.customer_id join feature f on f.id = b.feature_id and f.organization_id = c.organization_id
      where (c.id = $1 or c.external_id = $1) and f.code = $2 for update of b`,
    [customerRef, featureCode],
  );

/** The events of an organization grouped by the transaction that wrote them. */
async function eventsPerTransaction(harness: Harness, organizationId: string, ids: string[]): Promise<number[]> {
  const rows = await sql<{ n: string }>(
    harness,
    `select count(*) as n from seat_event where organization_id = ? and id in (select jsonb_array_elements_text(?::jsonb)) group by xmin::text`,
    [organizationId, JSON.stringify(ids)],
  );
  return rows.map((row) => Number(row.n)).sort((a, b) => b - a);
}

const firstWord = (statement: string) =>
  statement
    .trim()
    .split(/[\s;]+/)[0]!
    .toLowerCase();

/** A scenario with `count` more subscribed customers, all with the default catalog. */
async function manyCustomers(harness: Harness, count: number, initialSeats: { featureCode: string; count: number }[] = []) {
  const s = await seatScenario(harness, { initialSeats });
  const customers = [s.customerId];
  const ownIds = new Map([[s.customerId, s.customer.id]]);
  for (let i = 1; i < count; i++) {
    const customer = await createCustomerWithSubscription(s.client, { externalId: `${s.customerId}-${i}`, initialSeats });
    customers.push(customer.externalId!);
    ownIds.set(customer.externalId!, customer.id);
  }
  /** The customers' `cus_` ids, by external id. */
  return { ...s, customers, ownIds };
}

describe('one transaction serves many changes', () => {
  test('a batch of 24 changes over 6 customers costs the statements of a batch of one', async ({ harness, main }) => {
    const s = await manyCustomers(harness, 7);
    const [blocked, ...others] = s.customers;
    const add = (customerId: string, featureCode: string, count = 1) =>
      send(main.app, s.key, mutations.addSeats, { input: { customerId, featureCode, count } });
    await add(blocked!, 'admin'); // warms the key cache and the connection's prepared statements

    const { result, transactions } = await harness.countStatements(async () => {
      const hold = await holdBalance(harness, blocked!, 'admin');
      const lone = add(blocked!, 'admin');
      await waitFor(async () => (await hold.waiters()) === 1, 'the lone change to wait on the lock');
      const batch = Promise.all(Array.from({ length: 24 }, (_, i) => add(others[i % 6]!, Math.floor(i / 6) % 2 ? 'admin' : 'editor')));
      await waitFor(() => main.coalescer.queued === 24, 'the 24 changes to queue');
      await hold.release();
      return { lone: await lone, batch: await batch };
    });

    expect(result.lone.errors).toBeUndefined();
    for (const response of result.batch) expect(response.errors).toBeUndefined();
    // Two transactions, the lone change's and the batch's, statement for statement the same.
    // (The events and balances are one statement, their outbox rows one insert.)
    expect(transactions.map((statements) => statements.map(firstWord))).toEqual([
      ['begin', 'select', 'with', 'insert', 'commit'],
      ['begin', 'select', 'with', 'insert', 'commit'],
    ]);
    const ids = result.batch.map((response) => response.data.addSeats.id as string);
    expect(await eventsPerTransaction(harness, s.organizationId, ids)).toEqual([24]);
    for (const customer of others) {
      for (const code of ['admin', 'editor']) expect((await expectLedgerWhole(harness, customer!, code)).length).toBe(2);
    }
  });

  test('changes sent one after another each run at once, in a transaction of their own', async ({ harness, main, scenario: s }) => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await send(main.app, s.key, mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'admin', count: 1 } });
      ids.push(response.data.addSeats.id);
    }
    expect(await eventsPerTransaction(harness, s.organizationId, ids)).toEqual([1, 1, 1, 1, 1]);
  });
});

type Entry = { featureCode: string; kind: 'ADD' | 'REMOVE' | 'SET'; count: number };
type Call = {
  op: 'addSeats' | 'removeSeats' | 'setSeats' | 'bulkSetSeats';
  customerId: string;
  entries: Entry[];
  idempotencyKey?: string;
  /** The only error this call may answer; `must` when it can only fail. */
  refusal?: { code: string; must: boolean };
};

/** A deterministic pseudo-random sequence (mulberry32), so a failure can be replayed. */
function random(seed: number) {
  let state = seed;
  return (n: number) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

/** Calls name a customer by external id or, one time in three, by `cus_` id: one batch may name a balance both ways. */
function mixedCalls(customers: string[], ownIds: Map<string, string>, count: number): Call[] {
  const pick = random(7);
  const calls: Call[] = [];
  const keyed: Call[] = [];
  while (calls.length < count) {
    const externalId = customers[pick(customers.length)]!;
    const customerId = pick(3) === 0 ? ownIds.get(externalId)! : externalId;
    const roll = pick(100);
    if (roll < 25) {
      const featureCode = pick(2) ? 'editor' : 'admin';
      calls.push({ op: 'addSeats', customerId, entries: [{ featureCode, kind: 'ADD', count: 1 + pick(3) }] });
    } else if (roll < 35) {
      // More than any balance here can hold: must fail, and change nothing.
      calls.push({
        op: 'removeSeats',
        customerId,
        entries: [{ featureCode: 'editor', kind: 'REMOVE', count: 999_999 }],
        refusal: { code: 'insufficient_seats', must: true },
      });
    } else if (roll < 45) {
      calls.push({
        op: 'removeSeats',
        customerId,
        entries: [{ featureCode: 'editor', kind: 'REMOVE', count: 1 }],
        refusal: { code: 'insufficient_seats', must: false },
      });
    } else if (roll < 60) {
      const featureCode = ['editor', 'viewer', 'admin'][pick(3)]!;
      const target = pick(5);
      // viewer allows no overage: raising it past its 2 seats is refused.
      calls.push({
        op: 'setSeats',
        customerId,
        entries: [{ featureCode, kind: 'SET', count: target }],
        ...(featureCode === 'viewer' && target > 2 ? { refusal: { code: 'seat_limit_exceeded', must: false } } : {}),
      });
    } else if (roll < 80) {
      const poisoned = pick(3) === 0;
      const entries = (
        [
          { featureCode: 'editor', kind: 'SET', count: pick(9) },
          { featureCode: 'viewer', kind: 'SET', count: poisoned ? 3 : pick(3) },
          { featureCode: 'admin', kind: 'SET', count: pick(4) },
        ] satisfies Entry[]
      ).slice(pick(2));
      // viewer holds at most 2, so a set to 3 always raises it past the limit: the whole bulk fails.
      const mustFail = entries.some((entry) => entry.featureCode === 'viewer' && entry.count === 3);
      calls.push({ op: 'bulkSetSeats', customerId, entries, ...(mustFail ? { refusal: { code: 'seat_limit_exceeded', must: true } } : {}) });
    } else if (keyed.length > 0 && pick(2)) {
      const original = keyed[pick(keyed.length)]!;
      calls.push({ ...original });
    } else {
      const call: Call = {
        op: 'addSeats',
        customerId,
        entries: [{ featureCode: 'editor', kind: 'ADD', count: 1 + pick(2) }],
        idempotencyKey: `k-${keyed.length}`,
      };
      keyed.push(call);
      calls.push(call);
    }
  }
  return calls;
}

const inputOf = (call: Call) =>
  call.op === 'bulkSetSeats'
    ? { customerId: call.customerId, seats: call.entries.map(({ featureCode, count }) => ({ featureCode, count })), idempotencyKey: call.idempotencyKey }
    : { customerId: call.customerId, featureCode: call.entries[0]!.featureCode, count: call.entries[0]!.count, idempotencyKey: call.idempotencyKey };

describe('300 concurrent changes over 20 customers', () => {
  test('each caller gets its own answer, failures change nothing, ledgers chain and replay to the balances', async ({ harness, main }) => {
    const s = await manyCustomers(harness, 20, [{ featureCode: 'editor', count: 6 }]);
    const calls = mixedCalls(s.customers, s.ownIds, 300);
    const displayId = new Map(
      [...s.ownIds].flatMap(([external, own]) => [
        [external, external],
        [own, external],
      ]),
    );
    const responses = await Promise.all(calls.map((call) => send(main.app, s.key, mutations[call.op], { input: inputOf(call) })));

    const byEventId = new Map<string, Entry>();
    const eventsOfKey = new Map<string, string[]>();
    let failures = 0;
    responses.forEach((response, i) => {
      const call = calls[i]!;
      expect(response.status).toBeLessThan(500);
      if (response.errors) {
        failures++;
        expect(response.errors[0]!.extensions.code, JSON.stringify(call)).toBe(call.refusal?.code);
        return;
      }
      expect(call.refusal?.must, JSON.stringify(call)).not.toBe(true);
      const events = call.op === 'bulkSetSeats' ? response.data.bulkSetSeats : [response.data[call.op]];
      // Exactly its own answer: one event per entry, for its customer, in the order it gave them.
      expect(events.map((e: any) => [e.customerId, e.featureCode, e.kind, e.count])).toEqual(
        call.entries.map((entry) => [displayId.get(call.customerId), entry.featureCode, entry.kind, entry.count]),
      );
      for (const [k, event] of (events as { id: string }[]).entries()) byEventId.set(event.id, call.entries[k]!);
      if (call.idempotencyKey) {
        const ids = events.map((event: { id: string }) => event.id);
        expect(eventsOfKey.get(call.idempotencyKey) ?? ids, `repeat of ${call.idempotencyKey}`).toEqual(ids);
        eventsOfKey.set(call.idempotencyKey, ids);
      }
    });
    expect(failures).toBeGreaterThan(30);
    expect(calls.filter((call) => call.idempotencyKey).length).toBeGreaterThan(eventsOfKey.size);

    // Replay the ledger: every event after the initial ones belongs to a call that succeeded, and
    // applying those calls in ledger order gives each event's balances, each true-up, and the balance.
    const ledger = await sql<{
      id: string;
      customer_id: string;
      code: string;
      kind: string;
      quantity: number;
      previous_balance: number;
      new_balance: number;
      charged: number | null;
    }>(
      harness,
      `select e.id, e.customer_id, f.code, e.kind, e.quantity, e.previous_balance, e.new_balance, ch.quantity as charged
         from seat_event e join feature f on f.id = e.feature_id left join seat_charge ch on ch.event_id = e.id and ch.kind = 'TRUE_UP'
        where e.organization_id = ? order by e.seq`,
      [s.organizationId],
    );
    const balances = new Map<string, number>();
    const marks = new Map<string, number>();
    let replayed = 0;
    for (const event of ledger) {
      const id = `${event.customer_id}/${event.code}`;
      const before = balances.get(id) ?? 0;
      expect(event.previous_balance).toBe(before);
      const entry = byEventId.get(event.id);
      if (entry) {
        replayed++;
        expect([event.kind, event.quantity]).toEqual([entry.kind, entry.count]);
        const expected = entry.kind === 'ADD' ? before + entry.count : entry.kind === 'REMOVE' ? before - entry.count : entry.count;
        expect(event.new_balance).toBe(expected);
        // editor: 5 included, overage billed. A true-up charges what passes the period's mark.
        const billable = event.code === 'editor' ? Math.max(0, expected - 5) : 0;
        const mark = marks.get(id) ?? 1;
        expect(event.charged ?? 0).toBe(Math.max(0, billable - mark));
        marks.set(id, Math.max(mark, billable));
      } else {
        // Only the subscriptions' initial seats came before the burst.
        expect([event.code, event.kind, event.new_balance]).toEqual(['editor', 'SET', 6]);
      }
      balances.set(id, event.new_balance);
    }
    expect(replayed).toBe(byEventId.size);
    const current = await sql<{ customer_id: string; code: string; current: number }>(
      harness,
      `select b.customer_id, f.code, b.current from seat_balance b join feature f on f.id = b.feature_id where b.organization_id = ?`,
      [s.organizationId],
    );
    for (const row of current) expect(row.current).toBe(balances.get(`${row.customer_id}/${row.code}`) ?? 0);
    for (const customer of s.customers) {
      for (const code of ['editor', 'viewer', 'admin']) await expectLedgerWhole(harness, customer, code);
    }
    // The burst was coalesced: some transaction holds the changes of several customers.
    const shared = await sql<{ n: string }>(
      harness,
      `select count(*) as n from (select xmin::text from seat_event where organization_id = ? group by 1 having count(distinct customer_id) > 1) t`,
      [s.organizationId],
    );
    expect(Number(shared[0]!.n)).toBeGreaterThan(0);
  });
});

describe('a batch the database fails', () => {
  test('is retried one change at a time: the good changes succeed, the bad one alone fails', async ({ harness, main }) => {
    const s = await manyCustomers(harness, 5);
    const [blocked, ...others] = s.customers;
    // A fault injected for this tenant only: inserting an event of 777 seats always fails, and one
    // of 778 seats fails the first time only (a sequence counts attempts outside transactions).
    const tag = s.organizationId.replace(/\W/g, '_');
    await sql(harness, `create sequence fault_${tag}`);
    await sql(
      harness,
      `create function fault_${tag}() returns trigger language plpgsql as $$
      begin
        if new.organization_id = '${s.organizationId}' then
          if new.quantity = 777 then
            raise exception 'injected fault';
          elsif new.quantity = 778 then
            if nextval('fault_${tag}') = 1 then
              raise exception 'injected fault, once';
            end if;
          end if;
        end if;
        return new;
      end $$`,
    );
    await sql(harness, `create trigger fault_${tag} before insert on seat_event for each row execute function fault_${tag}()`);
    try {
      const add = (customerId: string, featureCode: string, count: number) =>
        send(main.app, s.key, mutations.addSeats, { input: { customerId, featureCode, count } });
      const hold = await holdBalance(harness, blocked!, 'admin');
      const lone = add(blocked!, 'admin', 1);
      await waitFor(async () => (await hold.waiters()) === 1, 'the lone change to wait on the lock');
      const good = others.flatMap((customer) => [add(customer!, 'admin', 2), add(customer!, 'editor', 1)]);
      // The transient fault comes first, so the batch meets it (and fails on it) before the permanent one.
      const transient = add(others[1]!, 'admin', 778);
      const poisoned = add(others[0]!, 'admin', 777);
      await waitFor(() => main.coalescer.queued === good.length + 2, 'the batch to queue');
      await hold.release();

      expect((await lone).errors).toBeUndefined();
      const goods = await Promise.all(good);
      for (const response of goods) expect(response.errors).toBeUndefined();
      expect((await poisoned).errors?.[0]?.extensions.code).toBe('internal_error');
      expect((await transient).errors).toBeUndefined();
      expect((await transient).data.addSeats).toMatchObject({ count: 778, newBalance: 780 });
      expect(main.logs.some((line) => line.includes('seat change batch failed') && line.includes(`"changes":${good.length + 2}`))).toBe(true);

      // Each retried change committed in a transaction of its own, and nothing of the failed batch remains.
      const ids = [...goods, await transient].map((response) => response.data.addSeats.id as string);
      expect(await eventsPerTransaction(harness, s.organizationId, ids)).toEqual(ids.map(() => 1));
      for (const customer of others) {
        expect((await expectLedgerWhole(harness, customer!, 'editor')).map((e) => e.new_balance)).toEqual([1]);
      }
      expect((await expectLedgerWhole(harness, others[0]!, 'admin')).map((e) => e.new_balance)).toEqual([2]);
      expect((await expectLedgerWhole(harness, others[1]!, 'admin')).map((e) => e.new_balance)).toEqual([2, 780]);
    } finally {
      await sql(harness, `drop trigger fault_${tag} on seat_event`);
      await sql(harness, `drop function fault_${tag}()`);
      await sql(harness, `drop sequence fault_${tag}`);
    }
  });
});

describe('idempotency keys in batches', () => {
  test('repeats inside one batch apply once; the same key with other input is refused', async ({ harness, main }) => {
    const s = await manyCustomers(harness, 2);
    const [blocked, customer] = s.customers;
    const add = (count: number, idempotencyKey?: string) =>
      send(main.app, s.key, mutations.addSeats, { input: { customerId: customer, featureCode: 'admin', count, idempotencyKey } });
    const hold = await holdBalance(harness, blocked!, 'admin');
    const lone = send(main.app, s.key, mutations.addSeats, { input: { customerId: blocked, featureCode: 'admin', count: 1 } });
    await waitFor(async () => (await hold.waiters()) === 1, 'the lone change to wait on the lock');
    const calls = [add(2, 'same'), add(5), add(2, 'same'), add(3, 'same'), add(2, 'same')];
    await waitFor(() => main.coalescer.queued === calls.length, 'the batch to queue');
    await hold.release();
    await lone;
    const [first, plain, again, other, third] = await Promise.all(calls);
    expect(first!.data.addSeats.count).toBe(2);
    expect(again!.data.addSeats).toEqual(first!.data.addSeats);
    expect(third!.data.addSeats).toEqual(first!.data.addSeats);
    expect(other!.errors?.[0]?.extensions).toMatchObject({ code: 'idempotency_key_mismatch', param: 'idempotencyKey' });
    expect(plain!.errors).toBeUndefined();
    expect((await expectLedgerWhole(harness, customer!, 'admin')).map((e) => e.quantity).sort()).toEqual([2, 5]);
  });

  test('a key still in flight in another process: the repeat waits for it and answers its events', async ({ harness, main, scenario: s }) => {
    const other = appWithCoalescer(harness);
    const input = { customerId: s.customerId, featureCode: 'admin', count: 4, idempotencyKey: 'in-flight' };
    const hold = await holdBalance(harness, s.customerId, 'admin');
    const first = send(main.app, s.key, mutations.addSeats, { input });
    await waitFor(async () => (await hold.waiters()) === 1, 'the first call to wait on the lock');
    const repeat = send(other.app, s.key, mutations.addSeats, { input });
    await waitFor(async () => (await hold.waiters()) === 2, 'the repeat to wait on the lock');
    await hold.release();
    const [a, b] = await Promise.all([first, repeat]);
    expect(a.errors).toBeUndefined();
    expect(b.data.addSeats).toEqual(a.data.addSeats);
    expect(await expectLedgerWhole(harness, s.customerId, 'admin')).toHaveLength(1);
  });

  test('the same key for another customer, in flight in another process, applies once', async ({ harness, main }) => {
    const s = await manyCustomers(harness, 2);
    const [held, free] = s.customers;
    const other = appWithCoalescer(harness);
    // The first call gets its balance, then waits on its customer row (its event's foreign key):
    // its change and claim are written but not committed.
    const hold = await holdRow(harness, `select 1 from customer where external_id = $1 for update`, [held]);
    const first = send(main.app, s.key, mutations.addSeats, { input: { customerId: held, featureCode: 'admin', count: 1, idempotencyKey: 'shared' } });
    await waitFor(async () => (await hold.waiters()) === 1, 'the first call to wait');
    let secondDone = false;
    const second = send(other.app, s.key, mutations.addSeats, {
      input: { customerId: free, featureCode: 'admin', count: 1, idempotencyKey: 'shared' },
    }).finally(() => (secondDone = true));
    // The second call, on a customer nothing holds, waits on the first one's claim.
    await waitFor(async () => secondDone || (await hold.waiters()) === 2, 'the second call to wait or finish');
    await hold.release();
    const answers = await Promise.all([first, second]);

    const won = answers.filter((answer) => !answer.errors);
    expect(won).toHaveLength(1);
    expect(answers.find((answer) => answer.errors)!.errors![0]!.extensions).toMatchObject({ code: 'idempotency_key_mismatch' });
    const events = [...(await expectLedgerWhole(harness, held!, 'admin')), ...(await expectLedgerWhole(harness, free!, 'admin'))];
    expect(events).toHaveLength(1);
  });
});
