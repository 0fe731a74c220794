import type { EventCounts } from './events.ts';
import type { FanoutRun } from './fanout.ts';
import { type FairnessRound, percentiles } from './fairness.ts';
import type { StallRun } from './stall.ts';
import { type BatchSummary, type LedgerTotals, summarizeBatches } from './ledger.ts';
import { type LoadResult, median } from './load.ts';
import { fanoutAddsScenario, fanoutBulkScenario, freshBareScenario, operableScenario, type Scenario, type SystemName, systems } from './scenarios.ts';

/** One measured run of one scenario on one system, with the warm-up that preceded it. */
export type RunRecord = {
  round: number;
  scenario: string;
  system: SystemName;
  /** Whether this system went first in its round (the order alternates). */
  first: boolean;
  warmup: LoadResult;
  measured: LoadResult;
  /** seatgate's events per transaction during the measured run (add scenarios only). */
  batches: number[] | null;
  /** What the attached subscribers and webhook endpoint got (scenarios with events only). */
  events?: RunEvents | null;
  /** CPU time of the seatgate process and of PostgreSQL during the measured run (seatgate only). */
  cpu?: { serverMs: number; postgresMs: number } | null;
  /** Memory, stalls and notifications of the many subscribers attached (subscriber scenarios only). */
  subscribers?: FanoutRun | null;
  /** The longest event-loop stall of seatgate's measured run (addSeats only: what the machine alone causes). */
  stallMs?: number | null;
};

/** Notifications and deliveries of one run with events attached, and how they ended. */
export type RunEvents = EventCounts & { events: number; queued: number; pending: number; failed: number; drainMs: number };

export type Machine = { cpu: string; cores: number; memoryGiB: number; node: string; postgres: string; database: string };
export type Settings = { rounds: number; seconds: number; warmupSeconds: number };
export type LedgerChange = Record<SystemName, { before: LedgerTotals; after: LedgerTotals }>;

type Speed = { okPerSecond: number; p50Ms: number; p99Ms: number };
type Check = { value: number; target: string; met: boolean };

type ScenarioSummary = {
  scenario: string;
  connections: number;
  speed: Record<SystemName, Speed>;
  /** Median over rounds of seatgate ÷ baseline within the same round (paired, so drift cancels). */
  ratio: number;
  check: Check | null;
};

type Correctness = {
  responses: number;
  successfulAdds: number;
  non2xx: number;
  status5xx: number;
  graphqlErrors: number;
  internalErrors: number;
  socketErrors: number;
  timeouts: number;
  balanceIncrease: number;
  addEventsRecorded: number;
  /** Balance increase minus successful adds: requests that committed after their run stopped. */
  difference: number;
  tolerance: number;
  lostUpdateCheck: boolean;
  failureSamples: string[];
};

/** The longest event-loop stall a request may cause (the issue's target). */
const maxStallMs = 50;

export type Report = {
  machine: Machine;
  settings: Settings;
  scenarios: ScenarioSummary[];
  hot: Record<SystemName, { scaling: number; tailRatio: number }> & { checks: { scaling: Check; tail: Check } };
  batches: Record<string, BatchSummary>;
  correctness: Record<SystemName, Correctness>;
  passed: boolean;
  /** The largest requests the bounds allow, with the longest event-loop stall each caused. */
  stalls: StallRun[];
  /** addSeats with subscribers and a webhook endpoint attached, against addSeats alone. */
  events: { ratio: number; check: Check; totals: RunEvents } | null;
  /** Scenarios with many subscribers attached: stalls, memory, and whether every notification arrived. */
  fanout: FanoutSummary[];
  /** Tenant B's webhook delivery latency, alone and beside A's silent endpoints. */
  fairness: FairnessSummary | null;
  /** addSeats on a seatgate with access logs, metrics and shared rate limits, against the bare one. */
  operability: { ratio: number; check: Check; cpu: { bareMs: number; operableMs: number; ratio: number; check: Check }; logs: OperableLogs };
  runs: RunRecord[];
};

type FanoutSummary = {
  scenario: string;
  streams: number;
  /** Median over rounds of this scenario's req/s ÷ seatgate's addSeats alone in the same round (adds only). */
  ratio: number | null;
  /** The longest stall of any round, while the writes ran and the streams caught up, and while they opened. */
  writesStall: Check;
  openingStallMs: Check;
  /** The longest stall of seatgate's addSeats alone in the same rounds: the machine's own share. */
  aloneStallMs: number;
  /** Medians over rounds. */
  rssBeforeMb: number;
  rssIdleMb: number;
  kbPerStream: number;
  heapKbPerStream: number;
  owed: number;
  received: number;
  streamsWrong: number;
  notOpened: number;
  retried: number;
  endedEarly: string[];
  catchUpMs: number;
  /** Every stream got exactly what it was owed, none ended early, all opened. */
  whole: boolean;
};

type FairnessSummary = {
  changes: { alone: number; beside: number };
  alone: { p50: number; p99: number };
  beside: { p50: number; p99: number };
  /** Medians over rounds of beside ÷ alone, each within its round. */
  p50Ratio: Check;
  p99Ratio: Check;
  silentHeld: { atStart: number; max: number };
  undelivered: number;
  duplicates: number;
  failedChanges: string[];
  whole: boolean;
};

/** The healthy tenant's delivery latency beside a silent one, at most this many times its latency alone. */
const maxFairnessRatio = 2;

function fanoutOf(runs: RunRecord[], name: string): FanoutSummary | null {
  const own = measuredOf(runs, name, 'seatgate').filter((run) => run.subscribers);
  if (own.length === 0) return null;
  const figures = own.map((run) => run.subscribers!);
  const alone = measuredOf(runs, 'addSeats', 'seatgate');
  const ratios = own.flatMap((run) => {
    const plain = alone.find((other) => other.round === run.round);
    return plain ? [run.measured.okPerSecond / plain.measured.okPerSecond] : [];
  });
  const stallCheck = (value: number): Check => ({ value, target: `≤ ${maxStallMs} ms`, met: value <= maxStallMs });
  const sum = (value: (f: FanoutRun) => number) => figures.reduce((total, f) => total + value(f), 0);
  const summary = {
    scenario: name,
    streams: figures[0]!.streams,
    ratio: name === fanoutAddsScenario && ratios.length > 0 ? median(ratios) : null,
    writesStall: stallCheck(Math.max(...figures.map((f) => f.writesStallMs))),
    openingStallMs: stallCheck(Math.max(...figures.map((f) => f.openingStallMs))),
    aloneStallMs: Math.max(...alone.filter((run) => own.some((o) => o.round === run.round)).map((run) => run.stallMs ?? Number.NaN)),
    rssBeforeMb: median(figures.map((f) => f.rssBeforeKb / 1024)),
    rssIdleMb: median(figures.map((f) => f.rssIdleKb / 1024)),
    kbPerStream: median(figures.map((f) => (f.rssIdleKb - f.rssBeforeKb) / f.streams)),
    heapKbPerStream: median(figures.map((f) => (f.heapIdleKb - f.heapBeforeKb) / f.streams)),
    owed: sum((f) => f.owed),
    received: sum((f) => f.received),
    streamsWrong: sum((f) => f.streamsWrong),
    notOpened: sum((f) => f.notOpened),
    retried: sum((f) => f.retried),
    endedEarly: [...new Set(figures.flatMap((f) => f.endedEarly))].slice(0, 5),
    catchUpMs: Math.max(...figures.map((f) => f.catchUpMs)),
  };
  return { ...summary, whole: summary.streamsWrong === 0 && summary.notOpened === 0 && summary.owed === summary.received };
}

function fairnessOf(rounds: FairnessRound[]): FairnessSummary {
  const ratio = (pick: (p: { p50: number; p99: number }) => number) =>
    median(rounds.map((round) => pick(percentiles(round.besideMs)) / pick(percentiles(round.aloneMs))).filter(Number.isFinite));
  const check = (value: number): Check => ({ value, target: `≤ ${maxFairnessRatio}×`, met: value <= maxFairnessRatio });
  const summary = {
    changes: { alone: rounds.reduce((n, r) => n + r.aloneMs.length, 0), beside: rounds.reduce((n, r) => n + r.besideMs.length, 0) },
    alone: percentiles(rounds.flatMap((round) => round.aloneMs)),
    beside: percentiles(rounds.flatMap((round) => round.besideMs)),
    p50Ratio: check(ratio((p) => p.p50)),
    p99Ratio: check(ratio((p) => p.p99)),
    silentHeld: { atStart: Math.min(...rounds.map((r) => r.silentHeldAtStart)), max: Math.max(...rounds.map((r) => r.silentHeldMax)) },
    undelivered: rounds.reduce((n, r) => n + r.undelivered, 0),
    duplicates: rounds.reduce((n, r) => n + r.duplicates, 0),
    failedChanges: rounds.flatMap((r) => r.failedChanges).slice(0, 3),
  };
  return { ...summary, whole: summary.undelivered === 0 && summary.duplicates === 0 && summary.failedChanges.length === 0 };
}

const ratioTargets: Record<string, { min: number; goal?: number }> = { addSeats: { min: 0.5, goal: 1 }, 'customers(100)': { min: 0.5 } };
const hot1 = 'hot balance, 1 conn';
const hot50 = 'hot balance, 50 conns';

const measuredOf = (runs: RunRecord[], scenario: string, system: SystemName) =>
  runs.filter((run) => run.scenario === scenario && run.system === system).sort((a, b) => a.round - b.round);

/** What `pick` gives for each round (values compared within a round), skipping rounds without one. */
function perRound(runs: RunRecord[], pick: (round: number) => number | null): number[] {
  const rounds = [...new Set(runs.map((run) => run.round))];
  return rounds.map(pick).filter((value): value is number => value !== null && Number.isFinite(value));
}

function speedOf(runs: RunRecord[]): Speed {
  return {
    okPerSecond: median(runs.map((run) => run.measured.okPerSecond)),
    p50Ms: median(runs.map((run) => run.measured.p50Ms)),
    p99Ms: median(runs.map((run) => run.measured.p99Ms)),
  };
}

function correctnessOf(runs: RunRecord[], scenarios: Scenario[], change: LedgerChange[SystemName]): Correctness {
  const adding = new Set(scenarios.filter((scenario) => scenario.adds).map((scenario) => scenario.name));
  const loads = runs.flatMap((run) => [run.warmup, run.measured].map((result) => ({ result, adds: adding.has(run.scenario) })));
  const sum = (value: (result: LoadResult) => number, onlyAdds = false) =>
    loads.filter((l) => !onlyAdds || l.adds).reduce((total, l) => total + value(l.result), 0);
  const successfulAdds = sum((r) => r.ok, true);
  const balanceIncrease = change.after.balanceSum - change.before.balanceSum;
  const addEventsRecorded = change.after.addEvents - change.before.addEvents;
  // A request still in flight when autocannon stopped may commit unseen: one per connection, plus
  // any that timed out. Fewer seats than successful adds, though, is a lost update.
  const tolerance = sum((r) => r.connections + r.timeouts, true);
  const difference = balanceIncrease - successfulAdds;
  return {
    responses: sum((r) => r.responses),
    successfulAdds,
    non2xx: sum((r) => r.non2xx),
    status5xx: sum((r) => r.status5xx),
    graphqlErrors: sum((r) => r.graphqlErrors),
    internalErrors: sum((r) => r.internalErrors),
    socketErrors: sum((r) => r.socketErrors),
    timeouts: sum((r) => r.timeouts),
    balanceIncrease,
    addEventsRecorded,
    difference,
    tolerance,
    lostUpdateCheck: difference >= 0 && difference <= tolerance && addEventsRecorded === balanceIncrease,
    failureSamples: [...new Set(loads.map((l) => l.result.firstFailure).filter((f): f is string => f !== null))].slice(0, 3),
  };
}

/** What the operable seatgate wrote to its log during the whole run. */
export type OperableLogs = { lines: number; requests: number; warnings: number };

export function buildReport(
  machine: Machine,
  settings: Settings,
  scenarios: Scenario[],
  runs: RunRecord[],
  ledger: LedgerChange,
  stalls: StallRun[],
  operableLogs: OperableLogs,
  fairnessRounds: FairnessRound[] | null,
): Report {
  const summaries = scenarios.map((scenario): ScenarioSummary => {
    const bySystem = { seatgate: measuredOf(runs, scenario.name, 'seatgate'), baseline: measuredOf(runs, scenario.name, 'baseline') };
    const ratio = median(
      perRound(runs, (round) => {
        const s = bySystem.seatgate.find((run) => run.round === round);
        const b = bySystem.baseline.find((run) => run.round === round);
        return s && b ? s.measured.okPerSecond / b.measured.okPerSecond : null;
      }),
    );
    const target = ratioTargets[scenario.name];
    return {
      scenario: scenario.name,
      connections: scenario.connections,
      speed: { seatgate: speedOf(bySystem.seatgate), baseline: speedOf(bySystem.baseline) },
      ratio,
      check: target ? { value: ratio, target: `≥ ${target.min}×${target.goal ? ` (goal ${target.goal.toFixed(1)}×)` : ''}`, met: ratio >= target.min } : null,
    };
  });

  const hotOf = (system: SystemName) => {
    const one = measuredOf(runs, hot1, system);
    const fifty = measuredOf(runs, hot50, system);
    const paired = (value: (a: LoadResult, b: LoadResult) => number) =>
      median(
        perRound(runs, (round) => {
          const a = one.find((run) => run.round === round);
          const b = fifty.find((run) => run.round === round);
          return a && b ? value(a.measured, b.measured) : null;
        }),
      );
    return { scaling: paired((a, b) => b.okPerSecond / a.okPerSecond), tailRatio: paired((_a, b) => b.p99Ms / b.p50Ms) };
  };
  const hotSeatgate = hotOf('seatgate');

  const batches: Record<string, BatchSummary> = {};
  for (const scenario of scenarios.filter((s) => s.adds)) {
    batches[scenario.name] = summarizeBatches(measuredOf(runs, scenario.name, 'seatgate').flatMap((run) => run.batches ?? []));
  }

  const correctness = {
    seatgate: correctnessOf(
      runs.filter((r) => r.system === 'seatgate'),
      scenarios,
      ledger.seatgate,
    ),
    baseline: correctnessOf(
      runs.filter((r) => r.system === 'baseline'),
      scenarios,
      ledger.baseline,
    ),
  };
  const withEvents = scenarios.find((scenario) => scenario.events);
  const eventRuns = withEvents ? measuredOf(runs, withEvents.name, 'seatgate') : [];
  const operableRuns = measuredOf(runs, operableScenario, 'seatgate');
  const bareRuns = measuredOf(runs, freshBareScenario, 'seatgate');
  // The median over rounds of value(a run of `variant`) ÷ value(the run of `plain` in its round).
  const pairedRatio = (variant: RunRecord[], plain: RunRecord[], value: (run: RunRecord) => number | null) =>
    median(
      perRound(runs, (round) => {
        const a = variant.find((run) => run.round === round);
        const b = plain.find((run) => run.round === round);
        const [x, y] = [a && value(a), b && value(b)];
        return x != null && y != null ? x / y : null;
      }),
    );
  const throughput = (run: RunRecord) => run.measured.okPerSecond;
  // CPU per successful request, seatgate's process and PostgreSQL together: what a request costs
  // the machine, far steadier than throughput on a machine shared with other work.
  const cpuPerRequest = (run: RunRecord) => (run.cpu && run.measured.ok > 0 ? (run.cpu.serverMs + run.cpu.postgresMs) / run.measured.ok : null);
  const cpuOf = (name: string) => median(measuredOf(runs, name, 'seatgate').flatMap((run) => cpuPerRequest(run) ?? []));
  const eventsRatio = pairedRatio(eventRuns, measuredOf(runs, 'addSeats', 'seatgate'), throughput);
  // The operable process against a bare one started and warmed up the same way.
  const operableRatio = pairedRatio(operableRuns, bareRuns, throughput);
  const cpuRatio = pairedRatio(operableRuns, bareRuns, cpuPerRequest);
  const operability = {
    ratio: operableRatio,
    check: { value: operableRatio, target: '≥ 0.9×', met: operableRatio >= 0.9 },
    cpu: {
      bareMs: cpuOf(freshBareScenario),
      operableMs: cpuOf(operableScenario),
      ratio: cpuRatio,
      check: { value: cpuRatio, target: '≤ 1.1×', met: cpuRatio <= 1.1 },
    },
    logs: operableLogs,
  };
  const totals = eventRuns
    .flatMap((run) => (run.events ? [run.events] : []))
    .reduce<RunEvents | null>(
      (sum, e) =>
        sum
          ? {
              subscribers: e.subscribers,
              notifications: sum.notifications + e.notifications,
              deliveries: sum.deliveries + e.deliveries,
              distinctDeliveries: sum.distinctDeliveries + e.distinctDeliveries,
              badSignatures: sum.badSignatures + e.badSignatures,
              events: sum.events + e.events,
              queued: sum.queued + e.queued,
              pending: sum.pending + e.pending,
              failed: sum.failed + e.failed,
              drainMs: Math.max(sum.drainMs, e.drainMs),
            }
          : e,
      null,
    );
  const events = withEvents && totals ? { ratio: eventsRatio, check: { value: eventsRatio, target: '≥ 0.8×', met: eventsRatio >= 0.8 }, totals } : null;
  // Every event owed to the endpoint was delivered, none twice under a different id, none failed.
  const eventsWhole = !totals || (totals.pending === 0 && totals.failed === 0 && totals.distinctDeliveries === totals.queued && totals.badSignatures === 0);
  const fanout = [fanoutAddsScenario, fanoutBulkScenario].flatMap((name) => fanoutOf(runs, name) ?? []);
  const fairness = fairnessRounds && fairnessRounds.length > 0 ? fairnessOf(fairnessRounds) : null;
  const passed =
    eventsWhole &&
    fanout.every((f) => f.whole) &&
    (fairness?.whole ?? true) &&
    systems.every((s) => correctness[s].lostUpdateCheck && correctness[s].status5xx === 0 && correctness[s].internalErrors === 0);

  return {
    machine,
    settings,
    scenarios: summaries,
    hot: {
      seatgate: hotSeatgate,
      baseline: hotOf('baseline'),
      checks: {
        scaling: { value: hotSeatgate.scaling, target: '≥ 3×', met: hotSeatgate.scaling >= 3 },
        tail: { value: hotSeatgate.tailRatio, target: '≤ 3', met: hotSeatgate.tailRatio <= 3 },
      },
    },
    batches,
    correctness,
    passed,
    stalls,
    events,
    fanout,
    fairness,
    operability,
    runs,
  };
}

const num = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(Math.abs(value) >= 100 ? 0 : digits) : 'n/a');
const times = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a');
const verdict = (check: Check | null) => (check ? `${check.target}: ${check.met ? 'met' : 'missed'}` : '');
const latency = (speed: Speed) => `${num(speed.p50Ms)} / ${num(speed.p99Ms)}`;

export function markdown(report: Report): string {
  const { machine, settings } = report;
  const lines: string[] = [];
  const row = (cells: (string | number)[]) => lines.push(`| ${cells.join(' | ')} |`);

  lines.push(
    `## seatgate vs baseline (node:http + pg): medians of ${settings.rounds} interleaved rounds of ${settings.seconds} s (after ${settings.warmupSeconds} s warm-up each)`,
    '',
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.postgres} (${machine.database})`,
    '',
  );
  row(['scenario', 'conns', 'seatgate req/s', 'baseline req/s', 'ratio', 'target', 'seatgate p50/p99 ms', 'baseline p50/p99 ms']);
  row(['---', '---:', '---:', '---:', '---:', '---', '---:', '---:']);
  for (const s of report.scenarios) {
    const own = report.fanout.find((f) => f.scenario === s.scenario);
    if (own) {
      // Measured on seatgate only: the ratio is against its own addSeats (section below).
      const ratio = own.ratio === null ? '' : `${times(own.ratio)} of addSeats`;
      row([s.scenario, s.connections, num(s.speed.seatgate.okPerSecond), '—', ratio, `stall ${verdict(own.writesStall)}`, latency(s.speed.seatgate), '—']);
      continue;
    }
    row([
      s.scenario,
      s.connections,
      num(s.speed.seatgate.okPerSecond),
      num(s.speed.baseline.okPerSecond),
      times(s.ratio),
      verdict(s.check),
      latency(s.speed.seatgate),
      latency(s.speed.baseline),
    ]);
  }
  const hot = report.hot;
  row([
    'hot balance scaling: req/s at 50 ÷ at 1 conn',
    '',
    times(hot.seatgate.scaling),
    times(hot.baseline.scaling),
    '',
    `seatgate ${verdict(hot.checks.scaling)}`,
    '',
    '',
  ]);
  row([
    'hot balance p99 ÷ p50 at 50 conns',
    '',
    num(hot.seatgate.tailRatio, 2),
    num(hot.baseline.tailRatio, 2),
    '',
    `seatgate ${verdict(hot.checks.tail)}`,
    '',
    '',
  ]);
  if (report.fairness) {
    const f = report.fairness;
    row([
      'webhook delivery of a healthy tenant beside one with 16 silent endpoints, p50 ÷ alone',
      1,
      '—',
      '—',
      `${times(f.p50Ratio.value)} of alone`,
      verdict(f.p50Ratio),
      `${num(f.beside.p50)} / ${num(f.beside.p99)}`,
      '—',
    ]);
  }
  lines.push(
    '',
    'req/s counts successful answers only; ratio is the median over rounds of seatgate ÷ baseline in the same round (rows marked — have no baseline: see their sections below).',
    '',
  );

  lines.push('Per round, req/s (seatgate | baseline; who went first alternates):', '');
  for (const s of report.scenarios) {
    const perSystem = systems.map((system) =>
      report.runs
        .filter((run) => run.scenario === s.scenario && run.system === system)
        .sort((a, b) => a.round - b.round)
        .map((run) => num(run.measured.okPerSecond))
        .join(', '),
    );
    lines.push(`- ${s.scenario}: ${perSystem[0]} | ${perSystem[1] || '—'}`);
  }

  lines.push('', '### seatgate events per transaction (ledger rows grouped by xmin, measured runs)', '');
  row(['scenario', 'transactions', 'events', 'mean', 'median', 'p90', 'max']);
  row(['---', '---:', '---:', '---:', '---:', '---:', '---:']);
  for (const [scenario, b] of Object.entries(report.batches)) {
    row([scenario, b.transactions, b.events, num(b.mean, 2), b.median, b.p90, b.max]);
  }

  lines.push('', '### Correctness (every run, warm-ups included)', '');
  row(['system', 'responses', 'successful adds', 'non-2xx', '5xx', 'GraphQL errors', 'internal_error', 'socket errors / timeouts', 'lost-update check']);
  row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']);
  for (const system of systems) {
    const c = report.correctness[system];
    const check =
      `${c.lostUpdateCheck ? 'pass' : 'FAIL'}: balances +${c.balanceIncrease}, ADD events +${c.addEventsRecorded}, ` +
      `successful adds ${c.successfulAdds}, difference ${c.difference >= 0 ? '+' : ''}${c.difference} (allowed 0…+${c.tolerance}, requests in flight at stop)`;
    row([system, c.responses, c.successfulAdds, c.non2xx, c.status5xx, c.graphqlErrors, c.internalErrors, `${c.socketErrors} / ${c.timeouts}`, check]);
  }
  for (const system of systems) {
    for (const sample of report.correctness[system].failureSamples) lines.push('', `${system} answered, e.g.: \`${sample.replace(/`/g, "'")}\``);
  }
  if (report.events) {
    const { ratio, check, totals: t } = report.events;
    lines.push(
      '',
      `### Events attached: ${t.subscribers} SSE subscribers (each watching one customer's balance) and one webhook endpoint taking every event`,
      '',
    );
    row(['', 'value', 'target']);
    row(['---', '---:', '---']);
    row(['addSeats + events ÷ addSeats alone (seatgate, same round)', times(ratio), verdict(check)]);
    row(['outbox events owed to the endpoint (measured runs)', t.queued, '']);
    row(['deliveries received: distinct webhook-ids / requests', `${t.distinctDeliveries} / ${t.deliveries}`, 'distinct = owed']);
    row(['deliveries pending / failed when the run was detached', `${t.pending} / ${t.failed}`, '0 / 0']);
    row(['longest wait for the endpoint to catch up after a run, ms', num(t.drainMs), '']);
    row(['notifications received by subscribers', t.notifications, '']);
  }

  for (const f of report.fanout) {
    const watching = f.scenario === fanoutBulkScenario ? "every feature of one customer's balances" : "one customer's balance";
    lines.push('', `### ${f.scenario}: ${f.streams} SSE streams on one key, 5 per customer, each watching ${watching}`, '');
    row(['', 'value', 'target']);
    row(['---', '---:', '---']);
    if (f.ratio !== null) row(['req/s with the streams open ÷ addSeats alone (seatgate, same round; median)', times(f.ratio), '']);
    row(['longest event-loop stall while the writes ran and the streams caught up, ms (worst round)', num(f.writesStall.value), verdict(f.writesStall)]);
    row(["the same during addSeats alone, no streams open (same rounds): the machine's own", num(f.aloneStallMs), '']);
    row([`longest event-loop stall while the ${f.streams} streams opened at once, ms (worst round)`, num(f.openingStallMs.value), verdict(f.openingStallMs)]);
    row(['seatgate RSS after a full GC, without / with the streams open and idle, MB (median)', `${num(f.rssBeforeMb)} / ${num(f.rssIdleMb)}`, '']);
    row(['RSS per idle stream, KB (median)', num(f.kbPerStream), '']);
    row(['JavaScript heap + external buffers per idle stream after a full GC, KB (median)', num(f.heapKbPerStream), '']);
    row(['notifications owed (each change of a watched balance, once per watcher) / received', `${f.owed} / ${f.received}`, 'equal']);
    row(['streams with a wrong count or ended early / never opened', `${f.streamsWrong} / ${f.notOpened}`, '0 / 0']);
    row(["subscriptions refused (429) and retried while the previous run's streams were released", f.retried, '']);
    row(['longest wait until every stream was seen caught up after the writes stopped (twice, 300 ms apart), ms', num(f.catchUpMs), '']);
    if (f.endedEarly.length > 0) lines.push('', `Streams ended early with: ${f.endedEarly.map((why) => `\`${why}\``).join(', ')}`);
  }

  if (report.fairness) {
    const f = report.fairness;
    lines.push(
      '',
      "### A silent-endpoint tenant beside a healthy one: B's delivery latency, from its addSeats answer to its receiver getting the POST",
      '',
      'A: 16 endpoints on a receiver that never answers, then 3 changes (48 deliveries, each holding a send slot until the webhook timeout). B: one endpoint on a fast receiver, one change every 80 ms.',
      '',
    );
    row(['', 'p50 ms', 'p99 ms', 'changes']);
    row(['---', '---:', '---:', '---:']);
    row(['B alone (A idle)', num(f.alone.p50), num(f.alone.p99), f.changes.alone]);
    row(["B beside A's silent endpoints", num(f.beside.p50), num(f.beside.p99), f.changes.beside]);
    row([
      'beside ÷ alone (median over rounds)',
      `${times(f.p50Ratio.value)}: ${verdict(f.p50Ratio)}`,
      `${times(f.p99Ratio.value)}: ${verdict(f.p99Ratio)}`,
      '',
    ]);
    lines.push(
      '',
      `A's sends held open by the silent receiver: at least ${f.silentHeld.atStart} when B's changes began, at most ${f.silentHeld.max} at once. ` +
        `B's deliveries missing / duplicated: ${f.undelivered} / ${f.duplicates} (target 0 / 0); B's changes that failed: ${f.failedChanges.length}` +
        (f.failedChanges.length > 0 ? ` (e.g. \`${f.failedChanges[0]!.replace(/`/g, "'")}\`)` : '') +
        '.',
    );
  }

  const { operability } = report;
  lines.push('', '### The cost of running as in production: an access-log line per request, metrics scraped every 5 s, shared rate limits', '');
  row(['', 'value', 'target']);
  row(['---', '---:', '---']);
  row(['addSeats with logs + metrics + limits ÷ addSeats bare (two fresh processes, same round)', times(operability.ratio), verdict(operability.check)]);
  row([
    'CPU per addSeats, fresh seatgate + PostgreSQL, ms: bare / with logs + metrics + limits',
    `${num(operability.cpu.bareMs, 2)} / ${num(operability.cpu.operableMs, 2)}`,
    '',
  ]);
  row(['CPU per addSeats with logs + metrics + limits ÷ bare (same round)', times(operability.cpu.ratio), verdict(operability.cpu.check)]);
  row([
    'log lines written by the fresh seatgates: all / access lines / warn or error',
    `${operability.logs.lines} / ${operability.logs.requests} / ${operability.logs.warnings}`,
    '',
  ]);

  lines.push('', '### The largest requests the bounds allow, while another client polls /healthz', '');
  row(['request', 'request ms', 'longest event-loop stall ms', 'target', 'poller: polls, slowest ms']);
  row(['---', '---:', '---:', '---', '---:']);
  for (const stall of report.stalls) {
    row([
      stall.request,
      num(stall.requestMs),
      num(stall.maxStallMs, 1),
      `≤ ${maxStallMs}: ${stall.maxStallMs <= maxStallMs ? 'met' : 'missed'}`,
      `${stall.polls}, ${num(stall.pollerMaxMs, 1)}`,
    ]);
  }

  const target = '0 lost updates, 0 5xx, 0 internal_error, every notification and webhook delivery owed arrived once';
  lines.push('', `**Correctness: ${report.passed ? 'PASS' : 'FAIL'}** (${target}; ratio targets are reported, not enforced)`);
  return lines.join('\n');
}
