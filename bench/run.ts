/**
 * `npm run bench`: seatgate against a hand-written node:http + pg baseline doing the same work,
 * on a database made for the run, in interleaved rounds. Prints a markdown report, writes it as
 * JSON to .data/bench-results.json, and exits non-zero when a correctness check fails.
 *
 *   BENCH_SECONDS (8)         length of each measured run
 *   BENCH_ROUNDS (3, min. 3)  rounds; every scenario runs on both systems in each
 *   BENCH_WARMUP_SECONDS (2)  warm-up before each measured run
 *   DATABASE_URL              a server to create the bench database on; unset: embedded PostgreSQL
 *   BENCH_ONLY                unset: everything; else a comma-separated list of parts to run:
 *                             throughput, subscribers, webhooks, stalls
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate, openOrm } from '../src/db/orm.ts';
import { createLogger } from '../src/common/logger.ts';
import { freePort, freshDatabase } from './database.ts';
import { batchSizes, lastSeq, ledgerTotals } from './ledger.ts';
import { load } from './load.ts';
import { bareSeatgateEnv, type Child, seatgateFlags, startChild } from './processes.ts';
import { buildReport, type LedgerChange, type Machine, markdown, type RunEvents, type RunRecord, type Settings } from './report.ts';
import { scenarios as allScenarios, type SystemName, systems, type TwinKind, wideFeatureCodes } from './scenarios.ts';
import { createTenant, type Tenant } from './setup.ts';
import { measureStalls } from './stall.ts';
import { attachEventLoad, type EventLoad } from './events.ts';
import { cpuMeter } from './cpu.ts';
import { attachFanout, type FanoutLoad, probe } from './fanout.ts';
import { type FairnessRound, setUpFairness } from './fairness.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
/** seatgate's node flags, as `npm start` gives them (package.json). */
const resultsFile = path.join(root, '.data', 'bench-results.json');

function numberFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got '${raw}'`);
  if (value < min) {
    console.error(`${name}=${value} is below ${min}; using ${min}`);
    return min;
  }
  return value;
}

/** The parts of the bench BENCH_ONLY may name; the subscriber rows bring `addSeats` along, their baseline. */
const parts = ['throughput', 'subscribers', 'webhooks', 'stalls'] as const;
type Part = (typeof parts)[number];

function partsFromEnv(): Set<Part> {
  const raw = process.env.BENCH_ONLY?.trim();
  if (!raw) return new Set(parts);
  const named = raw.split(',').map((part) => part.trim());
  const unknown = named.filter((part) => !(parts as readonly string[]).includes(part));
  if (unknown.length > 0) throw new Error(`BENCH_ONLY names ${unknown.join(', ')}; the parts are ${parts.join(', ')}`);
  return new Set(named as Part[]);
}

class Interrupted extends Error {}

const interrupt = new AbortController();
const checkpoint = () => {
  if (interrupt.signal.aborted) throw new Interrupted('interrupted');
};

/** Disposers of everything the run created, undone in reverse order, once. */
const disposers: { name: string; dispose: () => Promise<void> }[] = [];
let cleaning: Promise<void> | null = null;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const { name, dispose } of disposers.reverse()) {
      try {
        await dispose();
      } catch (error) {
        console.error(`cleanup: could not ${name}:`, error);
      }
    }
  })();
  return cleaning;
}

function onSignal(signal: NodeJS.Signals) {
  if (interrupt.signal.aborted) {
    // A second Ctrl-C: do not wait for the run to reach a checkpoint.
    void cleanUp().finally(() => process.exit(130));
    return;
  }
  console.error(`\n${signal}: stopping the benchmark and cleaning up…`);
  interrupt.abort();
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// Whatever breaks, the database, the children and the temporary folder must still go.
process.on('uncaughtException', (error) => {
  console.error('bench failed:', error);
  void cleanUp().finally(() => process.exit(interrupt.signal.aborted ? 130 : 1));
});

const log = (message: string) => console.error(message);

async function machine(db: pg.Pool, where: string): Promise<Machine> {
  const { rows } = await db.query<{ version: string }>('select version()');
  const version = rows[0]!.version;
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    postgres: version.split(' on ')[0] ?? version,
    database: where,
  };
}

/**
 * Waits for the webhook deliveries of a run to be sent (how long that takes is part of the
 * figure), then detaches the subscribers and the endpoint and counts what they got.
 */
async function detach(db: pg.Pool, attached: EventLoad, organizationId: string): Promise<RunEvents> {
  const started = performance.now();
  // Caught up means nothing left to publish either: a row published after the deliveries'
  // count was read would send one more than counted.
  const counts = async () =>
    (
      await db.query<{ unpublished: string; pending: string; failed: string; total: string }>(
        `select (select count(*) from outbox_event where organization_id = $2 and position is null) as unpublished,
                count(*) filter (where status = 'pending') as pending, count(*) filter (where status = 'failed') as failed, count(*) as total
           from webhook_delivery where endpoint_id = $1`,
        [attached.endpointId, organizationId],
      )
    ).rows[0]!;
  let delivery = await counts();
  while (Number(delivery.pending) + Number(delivery.unpublished) > 0 && performance.now() - started < 120_000) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    delivery = await counts();
  }
  const drainMs = performance.now() - started;
  const received = await attached.stop();
  return {
    ...received,
    queued: Number(delivery.total),
    pending: Number(delivery.pending),
    failed: Number(delivery.failed),
    events: Number(delivery.total),
    drainMs,
  };
}

async function main(): Promise<number> {
  const settings: Settings = {
    seconds: numberFromEnv('BENCH_SECONDS', 8, 1),
    rounds: Math.round(numberFromEnv('BENCH_ROUNDS', 3, 3)),
    warmupSeconds: numberFromEnv('BENCH_WARMUP_SECONDS', 2, 1),
  };
  const only = partsFromEnv();
  // Our own logs only at warn: the embedded PostgreSQL's chatter is not the report.
  const logger = createLogger('warn');

  const database = await freshDatabase(process.env.DATABASE_URL || undefined, logger);
  disposers.push({ name: `remove the bench database (${database.where})`, dispose: database.dispose });
  log(`bench database: ${database.where}`);
  checkpoint();
  const orm = await openOrm(database.url);
  disposers.push({ name: 'close the ORM', dispose: () => orm.close() });
  await migrate(orm);
  const db = new pg.Pool({ connectionString: database.url, max: 2 });
  // An idle connection dropped by the server (on Ctrl-C PostgreSQL stops too) is not worth a crash.
  db.on('error', () => undefined);
  disposers.push({ name: 'close the check pool', dispose: () => db.end() });
  checkpoint();

  // The probe reports the event loop's longest stall on SIGUSR2 (bench/event-loop-probe.ts).
  const seatgate = await startChild('seatgate', [...seatgateFlags, '--import', './bench/event-loop-probe.ts', 'src/server.ts'], {
    cwd: root,
    // Bare; the operable twin below has logs, metrics and rate limits.
    env: bareSeatgateEnv(database.url),
    ready: /GraphiQL at (\S+)/,
  });
  disposers.push({ name: 'stop seatgate', dispose: seatgate.stop });
  log(`seatgate at ${seatgate.url}`);
  checkpoint();

  // Twins: a seatgate started afresh for each run of a twin scenario, bare or as run in
  // production (an access-log line per request, to a file as to a log shipper; metrics scraped
  // every 5 s; every request's budget taken from the shared table, a budget too large to refuse
  // anything, so both do the same work). The long-running one is frozen meanwhile: every seatgate
  // process wakes for each commit of any other (its relay publishes what any process writes), so
  // two running at once would slow each other, and one frozen for long would wake to a backlog
  // of notifications.
  const twinLog = path.join(await mkdtemp(path.join(os.tmpdir(), 'seatgate-bench-')), 'fresh.log');
  const twinLogFd = openSync(twinLog, 'a');
  const metricsToken = randomBytes(24).toString('hex');
  const twinPort = await freePort();
  const twinWarmupSeconds = 8;
  let twin: { kind: TwinKind; child: Child } | null = null;
  const twinEnv: Record<TwinKind, NodeJS.ProcessEnv> = {
    bare: { LOG_LEVEL: 'warn', RATE_LIMIT_PER_SECOND: '0', AUTH_FAILURES_PER_MINUTE: '0' },
    operable: { LOG_LEVEL: 'info', METRICS_TOKEN: metricsToken, RATE_LIMIT_PER_SECOND: '1000000', RATE_LIMIT_BURST: '1000000' },
  };
  const startTwin = async (kind: TwinKind) => ({
    kind,
    child: await startChild(`seatgate (${kind}, fresh)`, [...seatgateFlags, 'src/server.ts'], {
      cwd: root,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        DATABASE_URL: database.url,
        PORT: String(twinPort),
        DB_POOL_MAX: '10',
        WEBHOOK_ALLOW_LOOPBACK: 'true',
        ...twinEnv[kind],
      },
      ready: /GraphiQL at (\S+)/,
      // Both write to the file, so both pay for what they log the same way.
      logFile: twinLogFd,
    }),
  });
  disposers.push({
    name: 'stop the fresh seatgate',
    dispose: async () => {
      await twin?.child.stop();
      closeSync(twinLogFd);
      await rm(path.dirname(twinLog), { recursive: true });
    },
  });
  // Frozen only between transactions: frozen inside one, it would hold its row and advisory
  // locks, and the other would wait on them.
  const freeze = async (child: Child) => {
    for (let attempt = 0; attempt < 100; attempt++) {
      child.pause();
      const { rows } = await db.query<{ busy: number }>(
        `select count(*)::int as busy from pg_stat_activity where application_name = 'seatgate' and state in ('active', 'idle in transaction')`,
      );
      if (rows[0]!.busy === 0) return;
      child.resume();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`${child.name} never came to rest between transactions`);
  };
  const scraper = setInterval(() => {
    if (twin?.kind !== 'operable') return;
    void fetch(new URL('/metrics', twin.child.url), { headers: { authorization: `Bearer ${metricsToken}` } }).then(
      (response) => response.text(),
      () => undefined,
    );
  }, 5000);
  disposers.push({ name: 'stop scraping', dispose: async () => clearInterval(scraper) });
  log(`fresh seatgate: started for each twin run on port ${twinPort}, logging to ${twinLog}`);
  checkpoint();

  // Two organizations, so that the two systems never touch the same rows.
  const suffix = randomBytes(3).toString('hex');
  const tenants: Record<SystemName, Tenant> = {
    seatgate: await createTenant(orm, seatgate.url, `bench-seatgate-${suffix}`),
    baseline: await createTenant(orm, seatgate.url, `bench-baseline-${suffix}`),
  };
  log('set up 2 organizations × 200 subscribed customers through the GraphQL API');
  // The bulk writes' tenant: 100 features, so that one bulkSetSeats changes 100 balances.
  const wide = only.has('subscribers')
    ? await createTenant(orm, seatgate.url, `bench-wide-${suffix}`, { featureCodes: wideFeatureCodes })
    : { name: '', key: '', organizationId: '' };
  if (only.has('subscribers')) log('set up 1 organization × 200 customers subscribed to 100 features, for bulk writes');
  const fairness = only.has('webhooks') ? await setUpFairness(orm, seatgate.url, suffix) : null;
  if (fairness) disposers.push({ name: 'close the webhook receivers', dispose: fairness.close });
  // Statistics, as any database that has run a while has them: both systems' plans depend on them.
  await db.query('analyze');
  checkpoint();

  const baseline = await startChild('baseline', ['bench/baseline.ts'], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      BASELINE_ORGANIZATION_ID: tenants.baseline.organizationId,
      BASELINE_MODE: 'test',
      PORT: '0',
      DB_POOL_MAX: '10',
    },
    ready: /baseline listening at (\S+)/,
  });
  disposers.push({ name: 'stop the baseline', dispose: baseline.stop });
  log(`baseline at ${baseline.url}`);

  const scenarios = allScenarios({
    seatgateUrl: seatgate.url,
    seatgateKey: tenants.seatgate.key,
    baselineUrl: baseline.url,
    twinUrl: `http://127.0.0.1:${twinPort}/graphql`,
    wideKey: wide.key,
  }).filter((scenario) => {
    if (scenario.subscribers) return only.has('subscribers');
    // The subscriber rows' throughput is compared with it.
    if (scenario.name === 'addSeats') return only.has('throughput') || only.has('subscribers');
    return only.has('throughput');
  });
  const before = { seatgate: await ledgerTotals(db, tenants.seatgate.organizationId), baseline: await ledgerTotals(db, tenants.baseline.organizationId) };
  const runCount = settings.rounds * scenarios.reduce((sum, scenario) => sum + (scenario.seatgateOnly ? 1 : systems.length), 0);
  log(
    `${runCount} runs of ${settings.warmupSeconds} + ${settings.seconds} s: about ${Math.ceil((runCount * (settings.warmupSeconds + settings.seconds)) / 60)} min` +
      (fairness ? ', and about 20 s a round for the webhook latencies' : ''),
  );

  // Even rounds run the twin scenarios in reverse order, in the same places.
  const twinsReversed = scenarios.filter((scenario) => scenario.twin).reverse();
  const twinsSwapped = scenarios.map((scenario) => (scenario.twin ? twinsReversed.shift()! : scenario));
  const runs: RunRecord[] = [];
  const fairnessRounds: FairnessRound[] = [];
  for (let round = 1; round <= settings.rounds; round++) {
    // Alternate who goes first, so neither always meets the database the other just warmed or dirtied.
    const order: SystemName[] = round % 2 === 1 ? ['seatgate', 'baseline'] : ['baseline', 'seatgate'];
    // The two fresh processes swap places too: the second meets a database the first just wrote to.
    for (const scenario of round % 2 === 1 ? scenarios : twinsSwapped) {
      for (const system of order) {
        if (scenario.seatgateOnly && system !== 'seatgate') continue;
        checkpoint();
        const target = scenario.target[system];
        if (system === 'seatgate' && scenario.twin) {
          await freeze(seatgate);
          twin = await startTwin(scenario.twin);
        }
        const attached =
          system === 'seatgate' && scenario.events ? await attachEventLoad(seatgate.url, tenants.seatgate.key, scenario.events.subscribers) : null;
        const watched = scenario.subscribers?.tenant === 'wide' ? wide : tenants.seatgate;
        const fanout: FanoutLoad | null = scenario.subscribers
          ? await attachFanout(db, seatgate, watched.key, watched.organizationId, scenario.subscribers.streams, scenario.subscribers.featureCode)
          : null;
        // A process just started runs cold code, and compiles it on threads of its own (counted in
        // its CPU time): a twin warms up longer.
        const warmup = await load(target, scenario.connections, settings.warmupSeconds + (twin ? twinWarmupSeconds : 0), interrupt.signal);
        checkpoint();
        // Statistics of the steady state, for both systems alike: tables the warm-up filled from
        // empty (the outbox and webhook queues at their first run) would otherwise be planned as
        // empty until autovacuum's next round, up to a minute later.
        await db.query('analyze');
        const organizationId = tenants[system].organizationId;
        const tracksBatches = system === 'seatgate' && scenario.adds;
        const seqBefore = tracksBatches ? await lastSeq(db, organizationId) : null;
        const meter = system === 'seatgate' ? await cpuMeter((twin?.child ?? seatgate).pid) : null;
        await fanout?.beforeMeasured();
        // addSeats alone, which the subscriber rows are compared with: the same probe (and its
        // garbage collection) before the measured run, and its longest stall, the machine's own.
        const control = system === 'seatgate' && scenario.name === 'addSeats';
        if (control) await probe(seatgate);
        const measured = await load(target, scenario.connections, settings.seconds, interrupt.signal);
        const stallMs = control ? (await probe(seatgate)).stallMs : null;
        const cpu = meter ? await meter() : null;
        checkpoint();
        const batches = seqBefore !== null ? await batchSizes(db, organizationId, seqBefore, await lastSeq(db, organizationId)) : null;
        const events = attached ? await detach(db, attached, organizationId) : null;
        const subscribers = fanout ? await fanout.detach() : null;
        if (twin) {
          await twin.child.stop();
          twin = null;
          seatgate.resume();
        }
        runs.push({ round, scenario: scenario.name, system, first: system === order[0], warmup, measured, batches, events, cpu, subscribers, stallMs });
        log(
          `round ${round}/${settings.rounds}  ${scenario.name.padEnd(22)} ${system.padEnd(8)} ` +
            `${measured.okPerSecond.toFixed(0).padStart(6)} req/s  p50 ${measured.p50Ms.toFixed(1)} ms  p99 ${measured.p99Ms.toFixed(1)} ms` +
            (measured.ok === measured.responses ? '' : `  (${measured.responses - measured.ok} not ok)`) +
            (subscribers
              ? `  stall ${subscribers.writesStallMs} ms, ${subscribers.received}/${subscribers.owed} notifications, ` +
                `${((subscribers.heapIdleKb - subscribers.heapBeforeKb) / subscribers.streams).toFixed(1)} KB heap, ` +
                `${((subscribers.rssIdleKb - subscribers.rssBeforeKb) / subscribers.streams).toFixed(1)} KB RSS per stream`
              : ''),
        );
      }
    }
    if (fairness) {
      checkpoint();
      const measured = await fairness.measure(round);
      fairnessRounds.push(measured);
      const p50 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]?.toFixed(1) ?? 'n/a';
      log(
        `round ${round}/${settings.rounds}  webhook latency of B    p50 ${p50(measured.aloneMs)} ms alone, ${p50(measured.besideMs)} ms beside ` +
          `A's silent endpoints (${measured.silentHeldAtStart} held)`,
      );
    }
  }
  checkpoint();

  let stalls: Awaited<ReturnType<typeof measureStalls>> = [];
  if (only.has('stalls')) {
    log('the largest requests the bounds allow, while another client polls');
    stalls = await measureStalls(orm, seatgate, `bench-stall-${suffix}`);
  }
  checkpoint();

  // Let requests that were in flight when the last run stopped commit before counting.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const ledger: LedgerChange = {
    seatgate: { before: before.seatgate, after: await ledgerTotals(db, tenants.seatgate.organizationId) },
    baseline: { before: before.baseline, after: await ledgerTotals(db, tenants.baseline.organizationId) },
  };
  const operableLines = (await readFile(twinLog, 'utf8')).split('\n').filter(Boolean);
  const operableLogs = {
    lines: operableLines.length,
    requests: operableLines.filter((line) => line.includes('"message":"request"')).length,
    warnings: operableLines.filter((line) => /"level":"(warn|error)"/.test(line)).length,
  };
  const report = buildReport(await machine(db, database.where), settings, scenarios, runs, ledger, stalls, operableLogs, fairness ? fairnessRounds : null);

  console.log(markdown(report));
  for (const child of [seatgate, baseline]) {
    if (child.logs.length === 0) continue;
    console.log(`\n${child.name} logged (at LOG_LEVEL=warn):\n`);
    for (const group of child.logs) console.log(`- ${group.count}× ${group.kind}`);
    console.log(`\n  first: ${child.logs[0]!.first.slice(0, 300)}`);
  }
  await mkdir(path.dirname(resultsFile), { recursive: true });
  await writeFile(
    resultsFile,
    `${JSON.stringify({ generatedAt: new Date().toISOString(), ...report, logs: { seatgate: seatgate.logs, baseline: baseline.logs } }, null, 2)}\n`,
  );
  console.log(`\nResults written to ${path.relative(process.cwd(), resultsFile) || resultsFile}`);
  return report.passed ? 0 : 1;
}

main()
  .catch((error: unknown) => {
    // After Ctrl-C, whatever failed (the terminal's SIGINT reaches the children too) is no news.
    if (error instanceof Interrupted || interrupt.signal.aborted) return 130;
    console.error('bench failed:', error);
    return 1;
  })
  .then(async (code) => {
    await cleanUp();
    process.exit(code);
  });
