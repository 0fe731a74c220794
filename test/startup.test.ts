import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { projectRoot } from '../src/db/orm.ts';
import { postGraphQL } from './helpers.ts';

/** Runs `npm start`'s entry point to its end and returns its exit code and what it wrote to stderr. */
function start(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/server.ts'], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: '', TEST_DATABASE_URL: '', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** The lines that are not JSON log lines: what a person reads. */
const plainLines = (stderr: string) => stderr.split('\n').filter((line) => line.trim() && !line.startsWith('{'));

const listening: Server[] = [];
const occupiedPort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
    listening.push(server);
  });
const folders: string[] = [];
/**
 * A data folder of the test's own. Run as root, PostgreSQL runs as the postgres user: a folder
 * it can enter keeps the cluster inside, so it goes when the folder does (else it would be left
 * in the shared root, /var/tmp/seatgate).
 */
const dataFolder = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'seatgate-start-'));
  chmodSync(dir, 0o755);
  folders.push(dir);
  return dir;
};
/** Whether nothing accepts connections on 127.0.0.1:port. */
const refuses = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
afterAll(() => {
  for (const server of listening) server.close();
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

describe('every start-up failure is one clear line and a non-zero exit, with no stack trace', () => {
  test.each([
    ['bad configuration', async () => ({ PORT: 'eighty' }), /^seatgate cannot start: Invalid configuration: PORT: /],
    [
      'a database that cannot be reached',
      async () => ({ DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/seatgate', DB_CONNECT_TIMEOUT_MS: '1000' }),
      /^seatgate cannot start: Cannot use the database at 127\.0\.0\.1:1\/seatgate \(connection refused\): start PostgreSQL there, or fix DATABASE_URL\.$/,
    ],
    [
      'a data folder that cannot be written',
      async () => ({ DATA_DIR: '/sys/seatgate-test' }),
      /^seatgate cannot start: Cannot create the data folder '\/sys\/seatgate-test' \(permission denied\): set DATA_DIR to a folder you can write\.$/,
    ],
  ])('%s', async (_name, environment, line) => {
    const { code, stderr } = await start(await environment());
    expect(code).toBe(1);
    expect(plainLines(stderr)).toEqual([expect.stringMatching(line)]);
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(stderr).not.toContain('secret');
  });

  // Both fail after the embedded database started; the metrics port, after the HTTP server listens too.
  test.each([
    ['the HTTP port in use', 'PORT'],
    ['the metrics port in use', 'METRICS_PORT'],
  ])(
    '%s: the embedded database this run started is stopped before the exit',
    async (_name, setting) => {
      const port = await occupiedPort();
      const databasePort = await freePort();
      const { code, stderr } = await start({ DATA_DIR: dataFolder(), EMBEDDED_PG_PORT: String(databasePort), PORT: '0', [setting]: String(port) });
      expect(code).toBe(1);
      expect(plainLines(stderr)).toEqual([
        `seatgate cannot start: Port 127.0.0.1:${port} is in use: stop the program using it, or set ${setting} (0 picks a free port).`,
      ]);
      expect(stderr).toContain('"message":"embedded PostgreSQL started"');
      // Nothing of it is left running: its port refuses connections.
      expect(await refuses(databasePort)).toBe(true);
    },
    90_000,
  );

  test('the embedded database port taken by another program', async () => {
    const dataDir = dataFolder();
    const port = await occupiedPort();
    const { code, stderr } = await start({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(port), PORT: '0' });
    expect(code).toBe(1);
    expect(plainLines(stderr)).toEqual([
      `seatgate cannot start: Port ${port} (EMBEDDED_PG_PORT) is taken by another program: stop it, or set EMBEDDED_PG_PORT to a free port.`,
    ]);
  }, 90_000);
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

describe('Ctrl-C', () => {
  test('stops the server and then the embedded database, with one line and no error', async () => {
    const databasePort = await freePort();
    // A process group of its own, as a terminal gives a foreground job: Ctrl-C signals all of it.
    const child = spawn(process.execPath, ['src/server.ts'], {
      cwd: projectRoot,
      env: {
        ...process.env,
        DATABASE_URL: '',
        TEST_DATABASE_URL: '',
        LOG_LEVEL: 'info',
        DATA_DIR: dataFolder(),
        EMBEDDED_PG_PORT: String(databasePort),
        PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 90_000);
    try {
      await vi.waitFor(() => expect(stdout).toContain('Put it in GraphiQL'), { timeout: 60_000, interval: 100 });
      // Work in flight for the pool and the event hub: a seat-free write and a read, with the printed key.
      const url = /GraphiQL at (\S+)/.exec(stdout)![1]!;
      const key = /\n {2}(ck_test_\w+)\n/.exec(stdout)![1]!;
      // The first start loaded the demo data: GraphiQL's example reads acme-corp's balances.
      const example = await postGraphQL(url, key, /* GraphQL */ `{ customers(ids: ["acme-corp"]) { seatBalances { featureCode current } } }`);
      expect(example.body.data.customers[0].seatBalances).toContainEqual({ featureCode: 'editor', current: 8 });
      // A code the first start's demo data does not have.
      const created = await postGraphQL(url, key, /* GraphQL */ `mutation { createFeature(input: { code: "smoke", name: "Smoke", type: SEATS }) { code } }`);
      expect(created.body.data).toEqual({ createFeature: { code: 'smoke' } });

      const printedBefore = stdout.length;
      process.kill(-child.pid!, 'SIGINT');
      expect(await exited).toBe(0);
      expect(stdout.slice(printedBefore).trim().split('\n')).toEqual(['Stopping (SIGINT): finishing requests in flight, then the embedded database.']);
      const logged = stderr
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { level: string; message: string });
      expect(logged.filter((line) => line.level !== 'info' && line.level !== 'debug')).toEqual([]);
      expect(logged.map((line) => line.message).slice(-2)).toEqual(['stopping: draining requests', 'stopped']);
      expect(stderr).not.toMatch(/Connection Error|shutting down|failed/i);
      // The embedded database stopped with it: its port refuses connections.
      expect(await refuses(databasePort)).toBe(true);
    } finally {
      clearTimeout(timer);
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
  }, 120_000);
});
