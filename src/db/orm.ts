import { fileURLToPath } from 'node:url';
import { MikroORM, type Options, PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { entities } from '../model/entities.ts';
import { migrationsList } from './migrations/index.ts';

export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

export type Orm = MikroORM;

/** `applicationName` names the connections in pg_stat_activity. */
export type DatabaseTuning = { poolMax: number; connectTimeoutMs: number; statementTimeoutMs: number; applicationName: string };

const defaultTuning: DatabaseTuning = { poolMax: 10, connectTimeoutMs: 5000, statementTimeoutMs: 15_000, applicationName: 'seatgate' };

export function ormOptions(databaseUrl: string, tuning: DatabaseTuning = defaultTuning): Options {
  return {
    driver: PostgreSqlDriver,
    clientUrl: databaseUrl,
    entities,
    baseDir: projectRoot,
    preferTs: true,
    discovery: { warnWhenNoEntities: true },
    // With the database gone or stuck, requests fail within these bounds instead of hanging.
    pool: { min: 0, max: tuning.poolMax, acquireTimeoutMillis: tuning.connectTimeoutMs },
    driverOptions: {
      acquireConnectionTimeout: tuning.connectTimeoutMs,
      connection: {
        connectionTimeoutMillis: tuning.connectTimeoutMs,
        statement_timeout: tuning.statementTimeoutMs,
        query_timeout: tuning.statementTimeoutMs + 1000,
        application_name: tuning.applicationName,
      },
    },
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
  await orm.getMigrator().up();
}
