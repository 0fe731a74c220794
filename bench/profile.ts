/**
 * `npm run profile`: where one request's time goes, one request at a time.
 *
 * Starts seatgate as the bench does (NODE_ENV=production, 10 connections, embedded PostgreSQL or
 * a new database on DATABASE_URL's server) under `--cpu-prof`, and sends each scenario's request
 * on one connection for PROFILE_SECONDS (default 10) after a warm-up. For each it reports, per
 * request: the latency; the server's CPU time split by the code that spent it (the innermost
 * frame of a known library or of seatgate wins: pg code called by the ORM counts as pg); and
 * from PostgreSQL's own counters, the time its statements ran (COMMIT's WAL flush included), the
 * time transactions stayed open waiting on the server, and the transactions and statements.
 * Samples are matched to the measured window by time, so start-up and warm-up do not count.
 *
 *   PROFILE_SECONDS   measured seconds per scenario (default 10)
 *   PROFILE_ONLY      comma-separated scenario names (hot, customers, rest); unset: all
 *   PROFILE_KEEP      a file to keep the .cpuprofile in (Chrome DevTools opens it)
 */
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createLogger } from '../src/common/logger.ts';
import { migrate, openOrm } from '../src/db/orm.ts';
import { cpuMeter } from './cpu.ts';
import { freshDatabase } from './database.ts';
import { load, type Target } from './load.ts';
import { bareSeatgateEnv, seatgateFlags, startChild } from './processes.ts';
import { createTenant, customerIds, featureCode } from './setup.ts';

const root = path.resolve(import.meta.dirname, '..');
const seconds = Number(process.env.PROFILE_SECONDS ?? 10);
if (!(seconds >= 1)) throw new Error(`PROFILE_SECONDS must be a number of seconds, at least 1 (got ${process.env.PROFILE_SECONDS})`);
const warmupSeconds = 3;
/** PostgreSQL reports a busy backend's counters at most once a second and an idle one's after 10 s. */
const statsSettleMs = 11_000;
const sampleIntervalUs = 100;
const topFunctions = 25;

type Scenario = { name: string; title: string; target: (url: string, key: string) => Target };

const addSeats = `mutation($input: AddSeatsInput!) { addSeats(input: $input) { id newBalance } }`;
const customers = `query($ids: [String!]!) { customers(ids: $ids) { id seatBalances { featureCode current } } }`;

const allScenarios: Scenario[] = [
  {
    name: 'hot',
    title: 'hot balance: `addSeats` on c-000',
    target: (url, key) => ({
      url,
      headers: { 'x-api-key': key },
      body: () => JSON.stringify({ query: addSeats, variables: { input: { customerId: 'c-000', featureCode, count: 1 } } }),
    }),
  },
  {
    name: 'customers',
    title: '`customers(100)`',
    target: (url, key) => {
      const body = JSON.stringify({ query: customers, variables: { ids: customerIds.slice(0, 100) } });
      return { url, headers: { 'x-api-key': key }, body: () => body };
    },
  },
  {
    name: 'rest',
    title: '`POST /api/v1/seats`',
    target: (url, key) => ({
      url: new URL('/api/v1/seats', url).href,
      headers: { 'x-api-key': key },
      body: () => JSON.stringify({ customerId: customerIds[Math.floor(Math.random() * customerIds.length)], featureCode, count: 1 }),
    }),
  },
];

/** Where a frame's time goes, by the file it runs in; the first rule that matches wins. */
const categories: [string, RegExp][] = [
  ['pg', /node_modules\/(pg|pg-protocol|pg-pool|pg-types|pgpass|postgres-[a-z]+)\//],
  ['ORM', /node_modules\/(@mikro-orm|kysely)\//],
  ['parse', /node_modules\/graphql\/language\//],
  ['validation', /node_modules\/(graphql\/validation|@escape\.tech)\//],
  ['execution', /node_modules\/(graphql\/(execution|type|utilities|jsutils)|graphql-jit|@envelop\/graphql-jit|@pothos)\//],
  ['yoga/envelop', /node_modules\/(graphql-yoga|@graphql-yoga|@envelop|@whatwg-node|@graphql-tools)\//],
  ['idempotency', /\/src\/idempotency\//],
  ['coalescer', /\/src\/flows\/seat-change-coalescer/],
  ['seat rules', /\/src\/(flows|seats|billing|catalog|customers|subscriptions)\//],
  ['REST door', /\/src\/rest\//],
  ['GraphQL schema', /\/src\/schema\//],
  ['events', /\/src\/(events|webhooks)\//],
  ['seatgate, other', /\/src\//],
  ['other libraries', /node_modules\//],
];
/** What runs outside any file of ours or a library's. */
const builtIn: [string, (url: string, functionName: string) => boolean][] = [
  ['garbage collection', (_url, name) => name === '(garbage collector)'],
  ['idle', (_url, name) => name === '(idle)'],
  ['V8 and native', (_url, name) => name === '(program)' || name === '(root)'],
  ['HTTP (node)', (url) => /node:(_http|http|net|stream|internal\/(http|streams|stream_base|net|timers|process\/task_queues))/.test(url)],
];

type ProfileNode = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type CpuProfile = { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };

/** The category of every node: the innermost frame on its stack that a rule names, else node's own. */
function categorize(profile: CpuProfile): Map<number, string> {
  const parent = new Map<number, number>();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const result = new Map<number, string>();
  for (const node of profile.nodes) {
    let category: string | null = null;
    let fallback: string | null = null;
    for (let id: number | undefined = node.id; id !== undefined && category === null; id = parent.get(id)) {
      const { url, functionName } = byId.get(id)!.callFrame;
      category = categories.find(([, pattern]) => pattern.test(url))?.[0] ?? null;
      fallback ??= builtIn.find(([, matches]) => matches(url, functionName))?.[0] ?? null;
    }
    result.set(node.id, category ?? fallback ?? 'node, other');
  }
  return result;
}

/** Where a window's CPU went: µs by category, and by the function that was running (self time). */
type Split = { byCategory: Map<string, number>; byFunction: Map<string, number> };

/** A frame as a reader finds it: the function, its file under node_modules or src, and its line. */
function frameName({ functionName, url, lineNumber }: ProfileNode['callFrame']): string {
  const file = url.replace(/^.*\/(node_modules|src)\//, '$1/').replace(/^file:\/\//, '');
  return `${functionName || '(anonymous)'} ${file}${file ? `:${lineNumber + 1}` : ''}`;
}

/** CPU µs over the windows, each [startUs, endUs] on the profile's clock (CLOCK_MONOTONIC, as process.hrtime). */
function cpuSplit(profile: CpuProfile, windows: [number, number][]): Split[] {
  const category = categorize(profile);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const splits = windows.map(() => ({ byCategory: new Map<string, number>(), byFunction: new Map<string, number>() }));
  const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i]!;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const w = windows.findIndex(([start, end]) => at >= start && at < end);
    if (w < 0) continue;
    const node = profile.samples[i]!;
    add(splits[w]!.byCategory, category.get(node)!, delta);
    add(splits[w]!.byFunction, `${category.get(node)}: ${frameName(byId.get(node)!.callFrame)}`, delta);
  }
  return splits;
}

type DatabaseCounters = { activeMs: number; idleInTransactionMs: number; commits: number; statements: number };

/** The database's own counters: statement time, time idle in a transaction, commits and statements (pg_stat_statements when loaded). */
async function databaseCounters(db: pg.Pool): Promise<DatabaseCounters> {
  const { rows } = await db.query(`select active_time, idle_in_transaction_time, xact_commit from pg_stat_database where datname = current_database()`);
  const statements = await db
    .query(
      `select coalesce(sum(calls), 0)::float8 as calls from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())`,
    )
    .then((result) => Number(result.rows[0].calls))
    .catch(() => Number.NaN);
  return { activeMs: rows[0].active_time, idleInTransactionMs: rows[0].idle_in_transaction_time, commits: Number(rows[0].xact_commit), statements };
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(3) : 'n/a');

async function main(): Promise<void> {
  const only = process.env.PROFILE_ONLY?.split(',').map((name) => name.trim());
  const scenarios = allScenarios.filter((scenario) => !only || only.includes(scenario.name));
  if (scenarios.length === 0) throw new Error(`PROFILE_ONLY names none of ${allScenarios.map((s) => s.name).join(', ')}`);
  const logger = createLogger('warn');
  const database = await freshDatabase(process.env.DATABASE_URL || undefined, logger);
  const profileDir = await mkdtemp(path.join(tmpdir(), 'seatgate-profile-'));
  const orm = await openOrm(database.url);
  const db = new pg.Pool({ connectionString: database.url, max: 1 });
  db.on('error', () => undefined);
  try {
    await migrate(orm);
    await db.query('create extension if not exists pg_stat_statements').catch(() => undefined);
    const seatgate = await startChild(
      'seatgate',
      [...seatgateFlags, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-interval=${sampleIntervalUs}`, 'src/server.ts'],
      { cwd: root, env: bareSeatgateEnv(database.url), ready: /GraphiQL at (\S+)/ },
    );
    const windows: [number, number][] = [];
    const measured: { scenario: Scenario; ok: number; p50Ms: number; failures: number; serverMs: number; postgresMs: number; db: DatabaseCounters }[] = [];
    try {
      const tenant = await createTenant(orm, seatgate.url, 'profile');
      await db.query('analyze');
      for (const scenario of scenarios) {
        const target = scenario.target(seatgate.url, tenant.key);
        await load(target, 1, warmupSeconds);
        await sleep(statsSettleMs);
        const before = await databaseCounters(db);
        const cpu = await cpuMeter(seatgate.pid);
        const start = nowUs();
        const result = await load(target, 1, seconds);
        windows.push([start, nowUs()]);
        const used = await cpu();
        await sleep(statsSettleMs);
        const after = await databaseCounters(db);
        measured.push({
          scenario,
          ok: result.ok,
          p50Ms: result.p50Ms,
          failures: result.responses - result.ok,
          ...used,
          db: {
            activeMs: after.activeMs - before.activeMs,
            idleInTransactionMs: after.idleInTransactionMs - before.idleInTransactionMs,
            commits: after.commits - before.commits,
            // Less the two counting queries themselves.
            statements: after.statements - before.statements - 2,
          },
        });
        process.stderr.write(`profiled ${scenario.name}: ${result.ok} requests\n`);
      }
    } finally {
      await seatgate.stop();
    }
    const file = (await readdir(profileDir)).find((name) => name.endsWith('.cpuprofile'));
    if (!file) throw new Error('seatgate wrote no CPU profile');
    // PROFILE_KEEP: where to keep the profile, for Chrome DevTools or a closer look.
    if (process.env.PROFILE_KEEP) await copyFile(path.join(profileDir, file), process.env.PROFILE_KEEP);
    const profile = JSON.parse(await readFile(path.join(profileDir, file), 'utf8')) as CpuProfile;
    const split = cpuSplit(profile, windows);
    for (const [i, run] of measured.entries()) {
      const per = (value: number) => value / run.ok;
      const lines = [
        `### ${run.scenario.title}, 1 connection, ${seconds} s: ${run.ok} requests${run.failures ? ` (${run.failures} failed)` : ''}`,
        '',
        '| per request | ms |',
        '|---|---:|',
        `| latency, p50 (client) | ${ms(run.p50Ms)} |`,
        `| wall time (${seconds} s ÷ requests) | ${ms(per(seconds * 1000))} |`,
        `| server CPU (from /proc, all threads) | ${ms(per(run.serverMs))} |`,
      ];
      const categories = [...split[i]!.byCategory.entries()].sort((a, b) => b[1] - a[1]);
      for (const [name, us] of categories) lines.push(`| · main thread: ${name} | ${ms(per(us / 1000))} |`);
      lines.push(
        `| PostgreSQL CPU (from /proc: every PostgreSQL process on the machine) | ${ms(per(run.postgresMs))} |`,
        `| PostgreSQL running statements (COMMIT's flush included) | ${ms(per(run.db.activeMs))} |`,
        `| PostgreSQL idle in a transaction (waiting on the server) | ${ms(per(run.db.idleInTransactionMs))} |`,
        `| transactions committed | ${per(run.db.commits).toFixed(2)} |`,
        `| statements | ${Number.isFinite(run.db.statements) ? per(run.db.statements).toFixed(2) : 'n/a (pg_stat_statements not loaded)'} |`,
        '',
        `Functions that ran longest (self time, main thread, idle left out), ms per request:`,
        '',
        '| function | ms |',
        '|---|---:|',
      );
      const functions = [...split[i]!.byFunction.entries()].filter(([name]) => !name.startsWith('idle')).sort((a, b) => b[1] - a[1]);
      for (const [name, us] of functions.slice(0, topFunctions)) lines.push(`| ${name.replaceAll('|', '\\|')} | ${ms(per(us / 1000))} |`);
      lines.push('');
      process.stdout.write(`${lines.join('\n')}\n`);
    }
  } finally {
    await db.end().catch(() => undefined);
    await orm.close().catch(() => undefined);
    await database.dispose();
    await rm(profileDir, { recursive: true, force: true });
  }
}

await main();
