// npm run apikey -- create --org NAME --mode test|live
// npm run apikey -- revoke --key ck_...
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { startDatabase } from '../db/database.ts';
import { createApiKey, revokeApiKey } from './service.ts';

const usage = 'usage: npm run apikey -- create --org NAME --mode test|live\n       npm run apikey -- revoke --key ck_...';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { org: { type: 'string' }, mode: { type: 'string' }, key: { type: 'string' } },
  });
  const [command] = positionals;
  const organization = values.org?.trim();
  const creates = command === 'create' && organization && (values.mode === 'test' || values.mode === 'live');
  const revokes = command === 'revoke' && values.key;
  if (!creates && !revokes) {
    console.error(usage);
    process.exitCode = 2;
    return;
  }
  const database = await startDatabase(loadConfig(), { quiet: true });
  try {
    if (creates) {
      const { key } = await createApiKey(database.orm.em.fork(), organization!, values.mode as 'test' | 'live');
      console.log(`Organization: ${organization}\nMode: ${values.mode}\nAPI key (shown once, store it now): ${key}`);
    } else if (await revokeApiKey(database.orm.em.fork(), values.key!)) {
      console.log('Revoked. Running servers stop accepting the key within API_KEY_CACHE_SECONDS (5 s by default).');
    } else {
      console.error('No active key matches; nothing was revoked.');
      process.exitCode = 1;
    }
  } finally {
    await database.stop();
  }
}

await main();
