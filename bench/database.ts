import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import type { Logger } from '../src/common/logger.ts';

/** A database that exists only for this run; `dispose` removes every trace of it. */
export type BenchDatabase = { url: string; where: string; dispose(): Promise<void> };

/** A new database on the server `serverUrl` points at, or on an embedded PostgreSQL without it. */
export function freshDatabase(serverUrl: string | undefined, logger: Logger): Promise<BenchDatabase> {
  return serverUrl ? databaseOnServer(serverUrl) : embeddedDatabase(logger);
}

async function onServer<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function databaseOnServer(serverUrl: string): Promise<BenchDatabase> {
  const name = `seatgate_bench_${randomBytes(6).toString('hex')}`;
  await onServer(serverUrl, (client) => client.query(`create database ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    where: `database ${name} on ${url.host}`,
    // `with (force)` ends connections a crashed child may have left behind.
    dispose: () => onServer(serverUrl, (client) => client.query(`drop database if exists ${name} with (force)`)).then(() => undefined),
  };
}

/** A port free now, for a server started later (and again) on the same address. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function embeddedDatabase(logger: Logger): Promise<BenchDatabase> {
  const dir = await mkdtemp(path.join(tmpdir(), 'seatgate-bench-'));
  // As root, PostgreSQL runs as user postgres, which must be able to enter the folder.
  await chmod(dir, 0o755);
  const removeDir = () => rm(dir, { recursive: true, force: true });
  try {
    const port = await freePort();
    const embedded = await startEmbeddedPostgres(dir, port, logger);
    return {
      url: embedded.url,
      where: `embedded PostgreSQL on port ${port}`,
      async dispose() {
        // A Ctrl-C in the terminal reaches PostgreSQL too; once it has shut down (its pid file is
        // gone) the library's stop() would wait forever for an exit that already happened.
        if (existsSync(path.join(dir, 'postgres', 'postmaster.pid'))) {
          await Promise.race([embedded.stop(), new Promise((resolve) => setTimeout(resolve, 15_000).unref())]);
        }
        await removeDir();
      },
    };
  } catch (error) {
    await removeDir();
    throw error;
  }
}
