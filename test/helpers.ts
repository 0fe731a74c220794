import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { expect, inject } from 'vitest';
import type { App } from '../src/app.ts';
import { createApiKey } from '../src/auth/service.ts';
import { openOrm, type Orm, projectRoot } from '../src/db/orm.ts';
import type { Mode } from '../src/model/tenant.ts';

export type GraphQLErrorShape = {
  message: string;
  path?: (string | number)[];
  extensions: { code: string; type: string; param: string | null; details: { field: string; message: string }[] | null };
};
export type GraphQLResponse<T = any> = { data?: T | null; errors?: GraphQLErrorShape[]; status: number };

/** The app on the run's database, made once per file by the `harness` fixture (test/fixtures.ts). */
export type Harness = {
  orm: Orm;
  yoga: App;
  logs: string[];
  /** Moves the app's wall clock forward (test clocks move with it), as if `ms` had passed. */
  passTime(ms: number): void;
  /**
   * Records the SQL statements the ORM's connection pool sends while `work` runs, in order, and
   * grouped by the transaction that sent them.
   */
  countStatements<T>(work: () => Promise<T>): Promise<{ result: T; statements: string[]; transactions: string[][] }>;
};

export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

/** A fresh organization with a key in the given mode: each test gets its own tenant. */
export async function newTenant(harness: Harness, mode: Mode = 'test', organization = uniqueName('org')) {
  const { key, organization: org } = await createApiKey(harness.orm.em.fork(), organization, mode);
  return { key, organizationId: org.id, organization, mode, client: client(harness, key) };
}

export async function graphql<T = any>(
  harness: Harness,
  key: string | null,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const response = await harness.yoga.fetch('http://seatgate.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}), ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as GraphQLResponse<T>;
  return { ...body, status: response.status };
}

export type RestResponse<T = any> = { status: number; headers: Headers; body: T };

/**
 * One call through the REST door. `body` is sent as JSON unless it is a string (sent as is);
 * the Content-Type is JSON unless `headers` says otherwise.
 */
export async function rest<T = any>(
  app: App,
  key: string | null,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<RestResponse<T>> {
  const response = await app.fetch(`http://seatgate.test${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(key ? { 'x-api-key': key } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: the test sees the text and its assertions say what was expected.
  }
  return { status: response.status, headers: response.headers, body: parsed as T };
}

export type Client = ReturnType<typeof client>;

function client(harness: Harness, key: string) {
  const run = <T = any>(query: string, variables?: Record<string, unknown>) => graphql<T>(harness, key, query, variables);
  return {
    key,
    run,
    /** Runs an operation that must succeed and returns its data. */
    async ok<T = any>(query: string, variables?: Record<string, unknown>): Promise<T> {
      const response = await run<T>(query, variables);
      expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
      return response.data as T;
    },
    /** Runs an operation that must fail with one error and returns that error. */
    async fails(query: string, variables?: Record<string, unknown>): Promise<GraphQLErrorShape> {
      const response = await run(query, variables);
      expect(response.errors, `expected an error, got ${JSON.stringify(response.data)}`).toHaveLength(1);
      return response.errors![0]!;
    },
  };
}

const SEAT_EVENT_FIELDS = 'id customerId featureCode kind count previousBalance newBalance ts createdAt livemode';

export const mutations = {
  addSeats: /* GraphQL */ `mutation($input: AddSeatsInput!) { addSeats(input: $input) { ${SEAT_EVENT_FIELDS} } }`,
  removeSeats: /* GraphQL */ `mutation($input: RemoveSeatsInput!) { removeSeats(input: $input) { ${SEAT_EVENT_FIELDS} } }`,
  setSeats: /* GraphQL */ `mutation($input: SetSeatsInput!) { setSeats(input: $input) { ${SEAT_EVENT_FIELDS} } }`,
  bulkSetSeats: /* GraphQL */ `mutation($input: BulkSetSeatsInput!) { bulkSetSeats(input: $input) { ${SEAT_EVENT_FIELDS} } }`,
};

export const queries = {
  seatBalance: /* GraphQL */ `query($customerId: String!, $featureCode: String!) {
    seatBalance(customerId: $customerId, featureCode: $featureCode) { customerId featureCode current includedSeats unlimited asOf livemode }
  }`,
  seatBalances: /* GraphQL */ `query($customerId: String!) {
    seatBalances(customerId: $customerId) { customerId featureCode current includedSeats unlimited asOf livemode }
  }`,
  seatEvents: /* GraphQL */ `query($customerId: String!, $featureCode: String, $first: Int, $after: String) {
    seatEvents(customerId: $customerId, featureCode: $featureCode, first: $first, after: $after) {
      edges { cursor node { ${SEAT_EVENT_FIELDS} } }
      pageInfo { hasNextPage endCursor }
    }
  }`,
};

export type SeatFeatureTerms = { code: string; includedSeats: number; overageEnabled: boolean; unlimited?: boolean; unitPrice?: number };

/**
 * A tenant with seat features, one plan offering them, and a subscribed customer. The default
 * catalog: `editor` (5 included, overage allowed), `viewer` (2 included, no overage), `admin`
 * (unlimited) and `auditor`, a feature that exists but is not in the plan.
 */
export async function seatScenario(
  harness: Harness,
  options: {
    mode?: Mode;
    features?: SeatFeatureTerms[];
    externalId?: string | null;
    initialSeats?: { featureCode: string; count: number }[];
  } = {},
) {
  const tenant = await newTenant(harness, options.mode ?? 'test');
  const features = options.features ?? [
    { code: 'editor', includedSeats: 5, overageEnabled: true, unitPrice: 2500 },
    { code: 'viewer', includedSeats: 2, overageEnabled: false, unitPrice: 0 },
    { code: 'admin', includedSeats: 0, overageEnabled: false, unlimited: true, unitPrice: 0 },
  ];
  for (const code of [...features.map((f) => f.code), 'auditor']) {
    await tenant.client.ok(/* GraphQL */ `mutation($input: CreateFeatureInput!) { createFeature(input: $input) { id } }`, {
      input: { code, name: code, type: 'SEATS' },
    });
  }
  await tenant.client.ok(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
    input: {
      code: 'team',
      name: 'Team',
      currency: 'EUR',
      interval: 'MONTH',
      seatFeatures: features.map((f) => ({
        featureCode: f.code,
        includedSeats: f.includedSeats,
        overageEnabled: f.overageEnabled,
        unlimited: f.unlimited ?? false,
        unitPrice: f.unitPrice ?? 0,
      })),
    },
  });
  const customer = await createCustomerWithSubscription(tenant.client, {
    externalId: options.externalId === undefined ? uniqueName('acme') : options.externalId,
    initialSeats: options.initialSeats,
  });
  return { ...tenant, customer, customerId: customer.externalId ?? customer.id };
}

export async function createCustomerWithSubscription(
  client: Client,
  options: { externalId?: string | null; initialSeats?: { featureCode: string; count: number }[]; planCode?: string } = {},
) {
  const { createCustomer } = await client.ok<{ createCustomer: { id: string; externalId: string | null } }>(
    /* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id externalId } }`,
    { input: { name: 'Acme', externalId: options.externalId ?? null } },
  );
  await client.ok(/* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`, {
    input: { customerId: createCustomer.id, planCode: options.planCode ?? 'team', initialSeats: options.initialSeats },
  });
  return createCustomer;
}

/** Every event of one balance, oldest first, read straight from the ledger table. */
export async function ledgerOf(harness: Harness, customerRef: string, featureCode: string) {
  return harness.orm.em
    .fork()
    .getConnection()
    .execute<{ kind: string; quantity: number; previous_balance: number; new_balance: number }[]>(
      `select e.kind, e.quantity, e.previous_balance, e.new_balance
       from seat_event e join customer c on c.id = e.customer_id join feature f on f.id = e.feature_id
      where (c.id = ? or c.external_id = ?) and f.code = ?
      order by e.seq`,
      [customerRef, customerRef, featureCode],
    );
}

export async function balanceOf(harness: Harness, customerRef: string, featureCode: string): Promise<number> {
  const rows = await harness.orm.em
    .fork()
    .getConnection()
    .execute<{ current: number }[]>(
      `select b.current from seat_balance b join customer c on c.id = b.customer_id join feature f on f.id = b.feature_id
      where (c.id = ? or c.external_id = ?) and f.code = ?`,
      [customerRef, customerRef, featureCode],
    );
  return rows[0]!.current;
}

/** The ledger invariant: events chain and the last newBalance is the current balance. */
export async function expectLedgerWhole(harness: Harness, customerRef: string, featureCode: string) {
  const events = await ledgerOf(harness, customerRef, featureCode);
  let previous = 0;
  for (const event of events) {
    expect(event.previous_balance).toBe(previous);
    expect(event.new_balance).toBeGreaterThanOrEqual(0);
    previous = event.new_balance;
  }
  expect(await balanceOf(harness, customerRef, featureCode)).toBe(previous);
  return events;
}

/** A new, empty database on the run's server, for a test that must own one; `drop` removes it. */
export async function scratchDatabase(prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const serverUrl = inject('databaseUrl');
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.query(`drop database ${name} with (force)`);
      await admin.end();
    },
  };
}

/**
 * Holds the rows `query` locks, from a connection of its own, until released: a transaction that
 * reaches them waits inside PostgreSQL, where `waiters` counts it.
 */
async function holdRows(query: string, params: unknown[]) {
  const client = new pg.Client({ connectionString: inject('databaseUrl') });
  await client.connect();
  await client.query('begin');
  expect((await client.query(query, params)).rowCount).toBeGreaterThan(0);
  const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
  const pid = rows[0]!.pid;
  return {
    /** How many other sessions wait for this one, directly or through one another. */
    async waiters(): Promise<number> {
      const counted = await client.query<{ n: string }>(
        `with recursive blocked(pid) as (
           select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid))
           union
           select a.pid from pg_stat_activity a join blocked b on b.pid = any(pg_blocking_pids(a.pid))
         ) select count(*) as n from blocked`,
        [pid],
      );
      return Number(counted.rows[0]!.n);
    },
    /** Runs a statement inside the holding transaction: a write its waiters find when it commits. */
    async run(sql: string, params: unknown[] = []): Promise<void> {
      await client.query(sql, params);
    },
    async release(): Promise<void> {
      await client.query('commit');
      await client.end();
    },
  };
}

/** Holds every seat balance of one customer (by its cus_ id). */
export const holdBalancesOf = (customerId: string) => holdRows(`select 1 from seat_balance where customer_id = $1 for update`, [customerId]);

/** Runs one of the project's command-line entry points to its end: its exit code and both outputs. */
export function runScript(script: string, env: Record<string, string>, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: projectRoot,
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Waits until `condition` holds, polling; throws naming `what` after a generous deadline. No assertion depends on how long it took. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** One GraphQL request over real HTTP. */
export async function postGraphQL(endpoint: string, key: string, query: string, variables?: object) {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: any[] } };
}

/** A GraphQL subscription over SSE, read as it arrives: `take(n)` waits for the next n results. */
export type SseSubscription<T = any> = { take(count: number, timeoutMs?: number): Promise<T[]>; close(): void; status: number };

export async function subscribe<T = any>(
  fetchFn: (url: string, init: RequestInit) => Promise<Response>,
  url: string,
  key: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<SseSubscription<T>> {
  const controller = new AbortController();
  const response = await fetchFn(url, {
    method: 'POST',
    signal: controller.signal,
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-api-key': key },
    body: JSON.stringify({ query, variables }),
  });
  const received: T[] = [];
  let wake = (): void => {};
  let ended = false;
  void (async () => {
    if (!response.body || !response.headers.get('content-type')?.startsWith('text/event-stream')) {
      received.push((await response.json()) as T);
      ended = true;
      return wake();
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const message = text.slice(0, end);
          text = text.slice(end + 2);
          const data = message.split('\n').find((line) => line.startsWith('data: '));
          if (/^event: next$/m.test(message) && data) received.push(JSON.parse(data.slice(6)) as T);
          wake();
        }
      }
    } catch {
      // Aborted by close().
    }
    ended = true;
    wake();
  })();
  let taken = 0;
  return {
    status: response.status,
    async take(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < taken + count && !ended && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
      }
      const batch = received.slice(taken, taken + count);
      taken += batch.length;
      return batch;
    },
    close: () => controller.abort(),
  };
}

/**
 * A plan beside seatScenario's `team`, on its features and currency: `editor` on the terms
 * given, `viewer` and `admin` as in `team`. Answers its id and name.
 */
export async function createScenarioPlan(
  client: Client,
  code: string,
  editor: Record<string, unknown>,
  options: { interval?: 'MONTH' | 'YEAR'; name?: string } = {},
): Promise<{ id: string; name: string }> {
  const { createPlan } = await client.ok(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id name } }`, {
    input: {
      code,
      name: options.name ?? code,
      currency: 'EUR',
      interval: options.interval ?? 'MONTH',
      seatFeatures: [
        { featureCode: 'editor', ...editor },
        { featureCode: 'viewer', includedSeats: 2, overageEnabled: false, unitPrice: 0 },
        { featureCode: 'admin', includedSeats: 0, overageEnabled: false, unlimited: true, unitPrice: 0 },
      ],
    },
  });
  return createPlan;
}

/**
 * Two plans beside seatScenario's `team` for a plan change to name: `bigger` costs more (a
 * change to it applies now), `smaller` less (one to it waits for the period end). Created once
 * per tenant.
 */
export async function planChangeTargets(client: Client): Promise<void> {
  const { plans } = await client.ok(/* GraphQL */ `{ plans { code } }`);
  if (plans.some((plan: { code: string }) => plan.code === 'bigger')) return;
  await createScenarioPlan(client, 'bigger', { includedSeats: 0, overageEnabled: true, unitPrice: 9000 });
  await createScenarioPlan(client, 'smaller', { includedSeats: 5, overageEnabled: true, unitPrice: 1000 });
}

/** What seatScenario sets up: a tenant with a catalog and one subscribed customer. */
export type SeatScenario = Awaited<ReturnType<typeof seatScenario>>;

/**
 * An ORM whose database is gone: made on a database of its own, which is then dropped, so that
 * every statement fails as it would with the database lost (closing the ORM is no test of that:
 * MikroORM opens a closed one again when asked).
 */
export async function ormOfGoneDatabase(databaseUrl: string): Promise<Orm> {
  const name = `seatgate_gone_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
    const url = new URL(databaseUrl);
    url.pathname = `/${name}`;
    const orm = await openOrm(url.toString(), { poolMax: 2, connectTimeoutMs: 1000 });
    await admin.query(`drop database ${name} with (force)`);
    return orm;
  } finally {
    await admin.end();
  }
}
