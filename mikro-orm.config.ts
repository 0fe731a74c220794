// The configuration the MikroORM CLI uses (`npm run migration:create`); the server builds the same
// options through src/db/orm.ts.
import { loadConfig } from './src/config.ts';
import { ormOptions } from './src/db/orm.ts';

const config = loadConfig();
if (!config.databaseUrl) {
  throw new Error('Set DATABASE_URL to the database the MikroORM CLI should work on (see README, "Migrations").');
}

export default ormOptions(config.databaseUrl);
