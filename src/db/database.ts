import type { Config } from '../config.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import { startEmbeddedPostgres } from './embedded.ts';
import { StartupError } from '../common/startup.ts';
import { migrate, openOrm, type Orm } from './orm.ts';

export type Database = {
  orm: Orm;
  /** True when this process runs on the embedded PostgreSQL (no DATABASE_URL given). */
  embedded: boolean;
  stop(): Promise<void>;
};

/** Connects to DATABASE_URL, or to the embedded PostgreSQL without it, and applies migrations. */
export async function startDatabase(config: Config, options: { logger?: Logger; quiet?: boolean } = {}): Promise<Database> {
  const logger = options.logger ?? createLogger(options.quiet ? 'warn' : config.logLevel);
  const embedded = config.databaseUrl ? null : await startEmbeddedPostgres(config.dataDir, config.embeddedPgPort, logger);
  try {
    const orm = await openOrm(config.databaseUrl ?? embedded!.url, {
      poolMax: config.dbPoolMax,
      connectTimeoutMs: config.dbConnectTimeoutMs,
      statementTimeoutMs: config.dbStatementTimeoutMs,
    });
    await migrate(orm);
    return {
      orm,
      embedded: embedded !== null,
      async stop() {
        await orm.close();
        await embedded?.stop();
      },
    };
  } catch (error) {
    await embedded?.stop();
    throw config.databaseUrl ? unreachable(config.databaseUrl, error) : error;
  }
}

/** Why the database at DATABASE_URL cannot be used, in one line (never its password). */
function unreachable(databaseUrl: string, error: unknown): Error {
  const { hostname, port, pathname } = new URL(databaseUrl);
  const where = `${hostname}:${port || 5432}${pathname}`;
  const { code, message } = error as { code?: string; message?: string };
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'unknown host',
    ETIMEDOUT: 'timed out',
    '28P01': 'wrong password',
    '28000': 'access refused',
    '3D000': 'no such database',
  };
  const reason = reasons[code ?? ''] ?? (/timeout/i.test(message ?? '') ? 'timed out' : undefined);
  if (!reason) return error as Error;
  return new StartupError(`Cannot use the database at ${where} (${reason}): start PostgreSQL there, or fix DATABASE_URL.`);
}
