import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../src/config.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate, openOrm } from '../src/db/orm.ts';
import { createLogger } from '../src/common/logger.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

/**
 * A database of the run's own, migrated from scratch, so every run proves the migrations:
 * a throwaway database on TEST_DATABASE_URL's server, or, without one, a throwaway embedded
 * PostgreSQL (nothing needs to be installed). Tests isolate their data by tenant (one
 * organization per test), so files may run in parallel on it.
 */
export default async function setup(project: TestProject) {
  // What CI prints as the Node the tests ran on: this process's, whose forks run every test file.
  console.log(`seatgate tests: Node ${process.version}`);
  const { teardown, databaseUrl } = await runDatabase(loadConfig().testDatabaseUrl);
  const orm = await openOrm(databaseUrl);
  await migrate(orm);
  await orm.close();
  project.provide('databaseUrl', databaseUrl);
  return teardown;
}

async function runDatabase(serverUrl: string | undefined): Promise<{ databaseUrl: string; teardown: () => Promise<void> }> {
  if (!serverUrl) {
    const dir = await mkdtemp(path.join(tmpdir(), 'seatgate-test-'));
    const embedded = await startEmbeddedPostgres(dir, await freePort(), createLogger('warn'), { throwaway: true });
    return {
      databaseUrl: embedded.url,
      teardown: async () => {
        await embedded.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `seatgate_test_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const databaseUrl = new URL(serverUrl);
  databaseUrl.pathname = `/${name}`;
  return {
    databaseUrl: databaseUrl.toString(),
    teardown: async () => {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}
