import { createServer, type Server } from 'node:http';
import { nodeListener } from './http/node-listener.ts';
import { createApp, graphqlPath } from './app.ts';
import { countApiKeys, createApiKey } from './auth/service.ts';
import { loadConfig } from './config.ts';
import { startDatabase } from './db/database.ts';
import { renewalSweeper } from './flows/renewal.ts';
import { EventHub } from './events/hub.ts';
import { outboxPruning } from './events/service.ts';
import { idempotencyCleanup } from './idempotency/service.ts';
import { rateLimitPruning } from './ratelimits/service.ts';
import { createMetrics, metricsListener } from './http/metrics.ts';
import { createLogger } from './common/logger.ts';
import { schema } from './graphql/schema.ts';
import { StartupError } from './common/startup.ts';
import { deliveryQueue } from './webhooks/service.ts';
import { webhookWorker } from './webhooks/worker.ts';
import { startWorkers } from './common/workers.ts';
import { describeSeed, seedDemo } from './cli/demo.ts';

const drainTimeoutMs = 15_000;
const connectionsCheckingIntervalMs = 250;

/**
 * What start-up has started so far, newest last. If start-up fails, these stop before the exit,
 * newest first: an embedded PostgreSQL started for this run would otherwise outlive it.
 */
const startedSoFar: (() => unknown)[] = [];

/** A signal that came while starting: start-up stops at its next step, and undoes what it started. */
class StoppedWhileStarting extends Error {}
let stopAsked: string | null = null;
let stopServing: ((signal: string) => Promise<void>) | null = null;
const onSignal = (signal: string) => {
  if (stopServing) return void stopServing(signal);
  stopAsked ??= signal;
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
/** Throws when a signal came during start-up. */
const checkStillStarting = () => {
  if (stopAsked) throw new StoppedWhileStarting(stopAsked);
};

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const database = await startDatabase(config, { logger });
  startedSoFar.push(() => database.stop());
  checkStillStarting();

  let developmentKey: string | null = null;
  // A newcomer on the embedded database gets a working key at once; never on a given database.
  if (database.embedded && (await countApiKeys(database.orm.em.fork())) === 0) {
    developmentKey = (await createApiKey(database.orm.em.fork(), 'development', 'test')).key;
  }

  // The demo data of `npm run seed`, on the embedded database only: on the first start, so that
  // GraphiQL's example answers with data at once (`--no-demo` starts empty), or when asked (`--demo`).
  const demo = process.argv.includes('--demo') || (developmentKey !== null && !process.argv.includes('--no-demo'));
  const demoLine = !demo
    ? null
    : database.embedded
      ? describeSeed(await seedDemo(database.orm, logger))
      : '--demo puts demo data only in the embedded database: with DATABASE_URL, run npm run seed -- --database-url-ok.';
  checkStillStarting();

  // Every process sends webhooks: those its own publications hand it, and those any process left due.
  const webhooks = webhookWorker(database.orm, logger, config.webhooks);
  // Started here, not by the first subscription: this process publishes what every process commits.
  const events = new EventHub(database.orm, logger, deliveryQueue(webhooks));
  events.onPublished(({ due }) => due && webhooks.poke());
  // The background work of the process, started in this order and stopped in the reverse: the
  // hub first (a last publication), the webhook sends last.
  const stopWorkers = await startWorkers([
    webhooks,
    idempotencyCleanup(database.orm.em.fork(), {
      ttlHours: config.idempotencyKeyTtlHours,
      onError: (error) => logger.error('idempotency key cleanup failed', { error }),
      onDeleted: (count) => count > 0 && logger.info('forgot expired idempotency keys', { count }),
    }),
    rateLimitPruning(database.orm.em.fork(), (error) => logger.error('rate limit pruning failed', { error })),
    outboxPruning(database.orm.em.fork(), {
      onError: (error) => logger.error('outbox pruning failed', { error }),
      onPruned: (count) => count > 0 && logger.info('forgot published events past their retention', { count }),
    }),
    renewalSweeper(database.orm, logger),
    events,
  ]);
  startedSoFar.push(stopWorkers);
  const lifecycle = { draining: false };
  const metrics = config.metricsPort !== null || config.metricsToken !== null ? createMetrics(database.orm, schema, logger) : undefined;
  const yoga = createApp({
    metrics,
    // On the API port only when no port of their own is set.
    metricsToken: config.metricsPort === null ? config.metricsToken : null,
    events,
    orm: database.orm,
    logger,
    limits: config.limits,
    graphiql: config.graphiql,
    introspection: config.introspection,
    apiKeyCacheMs: config.apiKeyCacheSeconds * 1000,
    publicUrl: config.publicUrl,
    cors: config.cors,
    trustProxy: config.trustProxy,
    subscriptions: config.subscriptions,
    webhookLoopback: config.webhooks.loopback,
    lifecycle,
  });
  const server = createServer(
    // A body trickling in one byte at a time, or headers that never end, cannot hold a connection.
    // Node checks both every connectionsCheckingInterval (30 s unless set), so a limit of a second would be up to 31.
    {
      requestTimeout: config.http.requestTimeoutMs,
      headersTimeout: config.http.headersTimeoutMs,
      connectionsCheckingInterval: connectionsCheckingIntervalMs,
    },
    nodeListener(yoga, config.publicUrl),
  );
  // Past the cap, new connections are closed at once: memory and sockets stay bounded.
  server.maxConnections = config.http.maxConnections;
  const url = `${await listen(server, config.port, config.host, 'PORT')}${graphqlPath}`;
  startedSoFar.push(() => {
    server.close();
    server.closeAllConnections();
  });
  logger.info('listening', { url, embeddedDatabase: database.embedded });
  console.log(`seatgate is listening: GraphiQL at ${url}`);
  const metricsServer = metrics && config.metricsPort !== null ? createServer(metricsListener(metrics.registry, config.metricsToken)) : null;
  if (metricsServer) {
    const metricsUrl = `${await listen(metricsServer, config.metricsPort!, config.host, 'METRICS_PORT')}/metrics`;
    logger.info('serving metrics', { url: metricsUrl });
    console.log(`Prometheus metrics at ${metricsUrl}`);
  }
  if (developmentKey) {
    console.log(
      `Created organization "development" with a test API key (shown once, keep it):\n\n  ${developmentKey}\n\n` +
        `Put it in GraphiQL's Headers tab as {"x-api-key": "${developmentKey}"}.`,
    );
  }
  if (demoLine) console.log(demoLine);

  checkStillStarting();
  let stopping = false;
  const stop = async (signal: string) => {
    // npm relays the signal its process group already delivered, so repeats are expected.
    if (stopping) return;
    stopping = true;
    // The one line a person at the terminal reads; the log has the details.
    console.log(`Stopping (${signal}): finishing requests in flight, then ${database.embedded ? 'the embedded database' : 'the database connections'}.`);
    logger.info('stopping: draining requests', { signal });
    // Readiness answers 503 from now on, on connections still open.
    lifecycle.draining = true;
    setTimeout(() => {
      logger.error('requests did not drain in time; exiting', { afterMs: drainTimeoutMs });
      process.exit(1);
    }, drainTimeoutMs).unref();
    // Stop accepting, let in-flight requests finish, then close the database.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    metricsServer?.close();
    server.closeIdleConnections();
    // Subscriptions would hold their connections open forever; they end, and clients resume elsewhere.
    events.endSubscriptions();
    await closed;
    // The hub publishes the last requests' commits; webhook sends in flight end within
    // WEBHOOK_TIMEOUT_MS and record their results (none is lost if cut off).
    await stopWorkers();
    await database.stop();
    logger.info('stopped');
    process.exit(0);
  };
  stopServing = stop;
}

/** Listens on host:port, and answers the server's base URL; a port that cannot be had is a StartupError naming `setting`. */
async function listen(server: Server, port: number, host: string, setting: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = `${host}:${port}`;
      if (error.code === 'EADDRINUSE') reject(new StartupError(`Port ${where} is in use: stop the program using it, or set ${setting} (0 picks a free port).`));
      else if (error.code === 'EACCES') reject(new StartupError(`Listening on ${where} is not permitted: set ${setting} to 1024 or above.`));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND')
        reject(new StartupError(`HOST ${host} is not an address of this machine: set HOST (0.0.0.0 listens on every interface).`));
      else reject(error);
    });
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
}

main().catch(async (error: unknown) => {
  // One line that names the cause and what to do; a stack trace only when asked for.
  if (error instanceof StoppedWhileStarting) console.log(`Stopped (${error.message}) before start-up finished.`);
  else if (error instanceof StartupError) console.error(`seatgate cannot start: ${error.message}`);
  else console.error(`seatgate failed to start: ${error instanceof Error ? error.message : String(error)}`);
  if (process.env.LOG_LEVEL === 'debug' && error instanceof Error) console.error(error.stack);
  for (const stop of startedSoFar.reverse())
    await Promise.resolve()
      .then(stop)
      .catch(() => undefined);
  process.exit(error instanceof StoppedWhileStarting ? 0 : 1);
});
