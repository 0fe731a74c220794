// npm run apikey -- create --org NAME --mode test|live
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { startDatabase } from '../db/database.js';
import { createApiKey } from './service.js';

const usage = 'usage: npm run apikey -- create --org NAME --mode test|live';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { org: { type: 'string' }, mode: { type: 'string' } },
  });
  const organization = values.org?.trim();
  if (positionals[0] !== 'create' || !organization || (values.mode !== 'test' && values.mode !== 'live')) {
    console.error(usage);
    process.exitCode = 2;
    return;
  }
  const database = await startDatabase(loadConfig(), { quiet: true });
  try {
    const { key } = await createApiKey(database.orm.em.fork(), organization, values.mode);
    console.log(`Organization: ${organization}\nMode: ${values.mode}\nAPI key (shown once, store it now): ${key}`);
  } finally {
    await database.stop();
  }
}

await main();
