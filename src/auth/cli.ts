// npm run apikey -- --help
import { parseArgs } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { loadConfig } from '../config.ts';
import { startDatabase } from '../db/database.ts';
import { ApiKey } from '../model/auth.ts';
import { createApiKey, revokeApiKey } from './service.ts';

const usage = `usage: npm run apikey -- <command> [options]

commands:
  create --org NAME --mode test|live   make a key (and the organization, if new); the key is shown once
  revoke --key ck_...                  stop a key working (running servers within API_KEY_CACHE_SECONDS)
  list [--org NAME]                    the keys: id, prefix, organization, mode, created, revoked (never the secret)

Uses DATABASE_URL, or the embedded database under DATA_DIR (started for the command if no server runs).`;

type Command = { name: 'create'; organization: string; mode: 'test' | 'live' } | { name: 'revoke'; key: string } | { name: 'list'; organization?: string };

const parseOptions = (args: string[]) =>
  parseArgs({
    args,
    allowPositionals: true,
    options: { org: { type: 'string' }, mode: { type: 'string' }, key: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });

/** The command asked for; a string says what is wrong with the arguments. */
function commandOf(args: string[]): Command | 'help' | string {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(args);
  } catch (error) {
    // parseArgs says what is wrong (an unknown option, a missing value) in its first sentence.
    return `${(error as Error).message.split('. ')[0]!.replace(/\.$/, '')}.`;
  }
  const { positionals, values } = parsed;
  if (values.help || positionals[0] === 'help') return 'help';
  const [name, ...extra] = positionals;
  if (extra.length) return `Unexpected argument '${extra[0]}'.`;
  const organization = values.org?.trim();
  if (name === 'create') {
    if (!organization) return 'create needs --org NAME.';
    if (values.mode !== 'test' && values.mode !== 'live') return 'create needs --mode test or --mode live.';
    return { name, organization, mode: values.mode };
  }
  if (name === 'revoke') return values.key ? { name, key: values.key } : 'revoke needs --key ck_....';
  if (name === 'list') return { name, organization };
  return name ? `Unknown command '${name}'.` : 'Name a command.';
}

/** Every key, oldest first, as an operator tells them apart: never the secret, which is not stored. */
async function listApiKeys(em: EntityManager, organization?: string) {
  const keys = await em.find(ApiKey, organization ? { organization: { name: organization } } : {}, {
    populate: ['organization'],
    orderBy: { createdAt: 'asc', id: 'asc' },
  });
  return keys.map((key) => ({
    id: key.id,
    prefix: `${key.keyPrefix}…`,
    organization: key.organization.name,
    mode: key.mode,
    created: key.createdAt.toISOString(),
    revoked: key.revokedAt ? key.revokedAt.toISOString() : '-',
  }));
}

/** Rows as aligned columns under their names. */
function table(rows: Record<string, string>[]): string {
  const columns = Object.keys(rows[0]!);
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns), ...rows.map((row) => line(columns.map((column) => row[column]!)))].join('\n');
}

async function main(): Promise<void> {
  const command = commandOf(process.argv.slice(2));
  if (command === 'help') return void console.log(usage);
  if (typeof command === 'string') {
    console.error(`${command}\n\n${usage}`);
    process.exitCode = 2;
    return;
  }
  const database = await startDatabase(loadConfig(), { quiet: true });
  try {
    const em = database.orm.em.fork();
    if (command.name === 'create') {
      const { key } = await createApiKey(em, command.organization, command.mode);
      console.log(`Organization: ${command.organization}\nMode: ${command.mode}\nAPI key (shown once, store it now): ${key}`);
    } else if (command.name === 'list') {
      const keys = await listApiKeys(em, command.organization);
      console.log(keys.length ? table(keys) : command.organization ? `No keys for organization "${command.organization}".` : 'No keys yet.');
    } else if (await revokeApiKey(em, command.key)) {
      console.log('Revoked. Running servers stop accepting the key within API_KEY_CACHE_SECONDS (5 s by default).');
    } else {
      console.error('No active key matches; nothing was revoked.');
      process.exitCode = 1;
    }
  } finally {
    await database.stop();
  }
}

await main().catch((error: unknown) => {
  // One line, as the server's start-up failures: a stack trace only when asked for.
  console.error(`apikey: ${error instanceof Error ? error.message : String(error)}`);
  if (process.env.LOG_LEVEL === 'debug' && error instanceof Error) console.error(error.stack);
  process.exitCode = 1;
});
