import { createServer } from 'node:http';
import { createApp, graphqlPath } from './app.js';
import { countApiKeys, createApiKey } from './auth/service.js';
import { ConfigError, loadConfig } from './config.js';
import { startDatabase } from './db/database.js';
import { startRenewalSweeper } from './billing/sweeper.js';
import { scheduleIdempotencyCleanup } from './idempotency/service.js';
import { createLogger } from './logger.js';

const drainTimeoutMs = 15_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const database = await startDatabase(config, { logger });

  let developmentKey: string | null = null;
  // A newcomer on the embedded database gets a working key at once; never on a given database.
  if (database.embedded && (await countApiKeys(database.orm.em.fork())) === 0) {
    developmentKey = (await createApiKey(database.orm.em.fork(), 'development', 'test')).key;
  }

  const stopCleanup = scheduleIdempotencyCleanup(database.orm.em.fork(), {
    ttlHours: config.idempotencyKeyTtlHours,
    onError: (error) => logger.error('idempotency key cleanup failed', { error }),
    onDeleted: (count) => count > 0 && logger.info('forgot expired idempotency keys', { count }),
  });
  const stopSweeper = startRenewalSweeper(database.orm, logger);
  const yoga = createApp({
    orm: database.orm,
    logger,
    limits: config.limits,
    graphiql: config.graphiql,
    introspection: config.introspection,
    apiKeyCacheMs: config.apiKeyCacheSeconds * 1000,
  });
  const server = createServer(yoga);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}${graphqlPath}`;
  logger.info('listening', { url, embeddedDatabase: database.embedded });
  console.log(`seatgate is listening: GraphiQL at ${url}`);
  if (developmentKey) {
    console.log(
      `Created organization "development" with a test API key (shown once, keep it):\n\n  ${developmentKey}\n\n` +
        `Put it in GraphiQL's Headers tab as {"x-api-key": "${developmentKey}"}.`,
    );
  }

  let stopping = false;
  const stop = async (signal: string) => {
    // tsx relays the signal its process group already delivered, so repeats are expected.
    if (stopping) return;
    stopping = true;
    logger.info('stopping: draining requests', { signal });
    setTimeout(() => {
      logger.error('requests did not drain in time; exiting', { afterMs: drainTimeoutMs });
      process.exit(1);
    }, drainTimeoutMs).unref();
    // Stop accepting, let in-flight requests finish, then close the database.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await closed;
    stopCleanup();
    await stopSweeper();
    await database.stop();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', (signal) => void stop(signal));
  process.on('SIGTERM', (signal) => void stop(signal));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
  } else {
    console.error('seatgate failed to start:', error);
  }
  process.exit(1);
});
