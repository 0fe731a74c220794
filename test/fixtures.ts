/**
 * The tests' fixtures (vitest's `test.extend`): a test names what it needs in its signature,
 * `test('…', async ({ scenario }) => …)`, and gets that made for it, and nothing it does not name.
 *
 * File-scoped (made for the first test of a file that names them, shared by the file's tests,
 * closed after its last): `databaseUrl`, `harness`, `http`, `startServer`.
 * Per test: `tenant` and `scenario`, each fresh, so tests never share data.
 * A test that needs options, or two of them, calls `seatScenario(harness, …)` or
 * `newTenant(harness, …)` from helpers.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test as base, inject } from 'vitest';
import { createApp } from '../src/app.ts';
import { createLogger } from '../src/common/logger.ts';
import { loadConfig } from '../src/config.ts';
import { openOrm, projectRoot } from '../src/db/orm.ts';
import { nodeListener } from '../src/http/node-listener.ts';
import { type Harness, newTenant, seatScenario } from './helpers.ts';

export { describe, expect } from 'vitest';

/** A server process: its GraphQL URL, and what it has printed so far. */
export type ServerProcess = { child: ChildProcess; url: string; exited: Promise<number | null>; output(): string };

export const test = base
  /** The run's database, migrated by test/global-setup.ts. */
  .extend('databaseUrl', { scope: 'file' }, () => inject('databaseUrl'))
  /** The app on the run's database, one per file. Logs are captured, not printed. */
  .extend('harness', { scope: 'file' }, async ({ databaseUrl }, { onCleanup }) => {
    const { harness, close } = await openHarness(databaseUrl);
    onCleanup(close);
    return harness;
  })
  /** The harness's app behind a real HTTP server on a free loopback port, one per file. */
  .extend('http', { scope: 'file' }, async ({ harness }, { onCleanup }) => {
    const server = createServer(nodeListener(harness.yoga));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql` };
  })
  /**
   * Starts `npm start`'s entry point as a process of its own on the run's database; any still
   * running when the file ends are killed.
   */
  .extend('startServer', { scope: 'file' }, ({ databaseUrl }, { onCleanup }) => {
    const children: ChildProcess[] = [];
    onCleanup(() => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    });
    return (env: Record<string, string> = {}) => startServerProcess(databaseUrl, env, children);
  })
  /** A fresh organization with a test-mode key. */
  .extend('tenant', ({ harness }) => newTenant(harness))
  /** A fresh tenant with the default catalog, a plan and one subscribed customer (see seatScenario). */
  .extend('scenario', ({ harness }) => seatScenario(harness));

async function openHarness(databaseUrl: string): Promise<{ harness: Harness; close(): Promise<void> }> {
  let recording: { sql: string; transaction?: string }[] | null = null;
  // Every statement a pooled connection sends is told, with its connection: a transaction is what
  // one connection sends from its `begin` to its `commit` or `rollback`.
  const transactionOf = new Map<object, string>();
  let transactions = 0;
  const orm = await openOrm(databaseUrl, {
    poolMax: 20,
    observeStatements: (sql, connection) => {
      if (!recording) return;
      if (/^(begin|start transaction)\b/i.test(sql)) transactionOf.set(connection, `t${++transactions}`);
      recording.push({ sql, transaction: transactionOf.get(connection) });
      if (/^(commit|rollback)\s*;?$/i.test(sql)) transactionOf.delete(connection);
    },
  });
  const logs: string[] = [];
  let passed = 0;
  const yoga = createApp({
    orm,
    logger: createLogger('info', (line) => logs.push(line)),
    // Tests send bursts through one key, and bad keys on purpose; the limits have their own tests
    // (test/limits.test.ts, test/rate-limit.test.ts).
    limits: { ...loadConfig({}).limits, rateLimitPerSecond: 0, authFailuresPerMinute: 0 },
    realNow: () => Date.now() + passed,
    // The frontend origin the CORS tests use (test/cors.test.ts covers the policy itself).
    cors: { anyOrigin: false, origins: ['https://app.example.com'], localhost: true },
    // Every operation compiled from its first run, so every test covers the compiled path.
    interpretedRuns: 0,
  });
  const harness: Harness = {
    orm,
    yoga,
    logs,
    passTime: (ms) => void (passed += ms),
    async countStatements(work) {
      recording = [];
      try {
        const result = await work();
        const transactions = new Map<string, string[]>();
        for (const { sql, transaction } of recording) {
          if (transaction) transactions.set(transaction, [...(transactions.get(transaction) ?? []), sql]);
        }
        return { result, statements: recording.map(({ sql }) => sql), transactions: [...transactions.values()] };
      } finally {
        recording = null;
      }
    },
  };
  return {
    harness,
    async close() {
      // Stops the app's event hub (its LISTEN connection) if a subscription started it.
      await yoga.dispose();
      await orm.close();
    },
  };
}

async function startServerProcess(databaseUrl: string, env: Record<string, string>, children: ChildProcess[]): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['src/server.ts'], {
    cwd: projectRoot,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: '0',
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_SECOND: '0',
      AUTH_FAILURES_PER_MINUTE: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /GraphiQL at (\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then((code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
  return { child, url, exited, output: () => output };
}
