import type { Config } from '../config.js';
import { createLogger, type Logger } from '../logger.js';
import { startEmbeddedPostgres } from './embedded.js';
import { migrate, openOrm, type Orm } from './orm.js';

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
    throw error;
  }
}
