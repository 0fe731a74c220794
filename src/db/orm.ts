import { fileURLToPath } from 'node:url';
import { MikroORM, type Options, PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { entities } from './entities.js';
import { migrationsList } from './migrations/index.js';

export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

export type Orm = MikroORM;

export function ormOptions(databaseUrl: string, poolMax = 10): Options {
  return {
    driver: PostgreSqlDriver,
    clientUrl: databaseUrl,
    entities,
    baseDir: projectRoot,
    preferTs: true,
    discovery: { warnWhenNoEntities: true },
    pool: { min: 0, max: poolMax },
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

export async function openOrm(databaseUrl: string, poolMax?: number): Promise<Orm> {
  return MikroORM.init(ormOptions(databaseUrl, poolMax));
}

export async function migrate(orm: Orm): Promise<void> {
  await orm.getMigrator().up();
}
