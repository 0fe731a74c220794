// npm run seed [-- --database-url-ok]
import { parseArgs } from 'node:util';
import { createLogger } from '../common/logger.ts';
import { loadConfig } from '../config.ts';
import { startDatabase } from '../db/database.ts';
import { describeSeed, developmentOrganization, seedDemo } from './demo.ts';

const usage = `usage: npm run seed [-- --database-url-ok]

Puts demo data in the "${developmentOrganization}" organization's test mode: the features editor, viewer
and admin; the plans team (monthly: 5 editors included, 25.00 per extra) and team_yearly; the
customers acme-corp, globex and initech, subscribed, with a few seat changes each. What exists
is left as it is, so a second run changes nothing.

It uses the embedded database under DATA_DIR (started for the command if no server runs).
With DATABASE_URL set it refuses, unless given --database-url-ok: demo customers have no place
in a database that may be shared or live.`;

async function main(): Promise<void> {
  let values: { help?: boolean; 'database-url-ok'?: boolean };
  try {
    ({ values } = parseArgs({ options: { help: { type: 'boolean', short: 'h' }, 'database-url-ok': { type: 'boolean' } } }));
  } catch (error) {
    console.error(`${(error as Error).message.split('. ')[0]!.replace(/\.$/, '')}.\n\n${usage}`);
    process.exitCode = 2;
    return;
  }
  if (values.help) return void console.log(usage);
  const config = loadConfig();
  if (config.databaseUrl && !values['database-url-ok']) {
    console.error('DATABASE_URL is set: the seed writes demo data only to the embedded database, unless run with --database-url-ok.');
    process.exitCode = 2;
    return;
  }
  const database = await startDatabase(config, { quiet: true });
  try {
    const summary = await seedDemo(database.orm, createLogger('warn'), (key) =>
      console.log(
        `Created organization "${developmentOrganization}" with a test API key (shown once, keep it):\n\n  ${key}\n\n` +
          `Put it in GraphiQL's Headers tab as {"x-api-key": "${key}"}.\n`,
      ),
    );
    console.log(describeSeed(summary));
  } finally {
    await database.stop();
  }
}

await main().catch((error: unknown) => {
  // One line, as the server's start-up failures: a stack trace only when asked for.
  console.error(`seed: ${error instanceof Error ? error.message : String(error)}`);
  if (process.env.LOG_LEVEL === 'debug' && error instanceof Error) console.error(error.stack);
  process.exitCode = 1;
});
