import { fileURLToPath } from 'node:url';
import { MikroORM, type Options, PostgreSqlDriver } from '@mikro-orm/postgresql';
import { preparingClient, type StatementObserver } from './prepared.ts';
import { Migrator } from '@mikro-orm/migrations';
import { entities } from '../model/entities.ts';
import { migrationsList } from './migrations/index.ts';

export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

export type Orm = MikroORM;

/** `applicationName` names the connections in pg_stat_activity; `observeStatements` is told of every statement sent (tests count them). */
export type DatabaseTuning = {
  poolMax: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  applicationName: string;
  observeStatements: StatementObserver | null;
};

const defaultTuning: DatabaseTuning = { poolMax: 10, connectTimeoutMs: 5000, statementTimeoutMs: 15_000, applicationName: 'seatgate', observeStatements: null };

export function ormOptions(databaseUrl: string, tuning: DatabaseTuning = defaultTuning): Options {
  return {
    driver: PostgreSqlDriver,
    clientUrl: databaseUrl,
    entities,
    baseDir: projectRoot,
    preferTs: true,
    discovery: { warnWhenNoEntities: true },
    pool: { min: 0, max: tuning.poolMax },
    // pg's Pool options. With the database gone or stuck, requests fail within these bounds
    // instead of hanging: connectionTimeoutMillis bounds both the wait for a pooled connection
    // and the connecting of a new one.
    driverOptions: {
      Client: preparingClient(tuning.observeStatements),
      connectionTimeoutMillis: tuning.connectTimeoutMs,
      statement_timeout: tuning.statementTimeoutMs,
      query_timeout: tuning.statementTimeoutMs + 1000,
      application_name: tuning.applicationName,
    },
    // seatgate never creates a database: a DATABASE_URL naming one that does not exist is a
    // mistake to report (MikroORM 7 would create it, at start and on every reconnection).
    ensureDatabase: false,
    // A plan's seat features come joined in its one statement (MikroORM 7 reads to-many relations
    // with a second statement by default).
    loadStrategy: 'joined',
    // The migrations own the triggers and functions (the ledger's append-only guard, the outbox's
    // notification): the schema diff that migration:create starts from leaves them alone.
    schemaGenerator: { ignoreTriggers: true, ignoreRoutines: true },
    // Requests fork their own EntityManager; touching the global one is a bug we want to hear about.
    allowGlobalContext: false,
    extensions: [Migrator],
    migrations: {
      path: 'src/db/migrations',
      pathTs: 'src/db/migrations',
      glob: 'Migration*.{js,ts}',
      migrationsList,
      emit: 'ts',
      // A snapshot file would be rewritten by every run; migration:create diffs a migrated database instead.
      snapshot: false,
      transactional: true,
      allOrNothing: true,
      disableForeignKeys: false,
      silent: true,
    },
    debug: false,
  };
}

export async function openOrm(databaseUrl: string, tuning: Partial<DatabaseTuning> = {}): Promise<Orm> {
  return MikroORM.init(ormOptions(databaseUrl, { ...defaultTuning, ...tuning }));
}

export async function migrate(orm: Orm): Promise<void> {
  await orm.migrator.up();
}
