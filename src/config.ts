import { z } from 'zod';
import { StartupError } from './common/startup.ts';

const postgresUrl = z
  .string()
  .url()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// or postgresql:// URL');

const flag = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');
const count = (max: number) => z.coerce.number().int().min(0).max(max);

/** An http(s) origin written as browsers send it: scheme, host, port; no path or credentials. */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return /^https?:$/.test(url.protocol) && url.origin === value;
  } catch {
    return false;
  }
}

/** A comma-separated list, each item trimmed, empty ones dropped. */
const commaList = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean),
);

const envSchema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('.data'),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(15_000),
  // The contract keeps keys at least 24 hours.
  IDEMPOTENCY_KEY_TTL_HOURS: z.coerce
    .number()
    .int()
    .min(24)
    .max(24 * 365)
    .default(48),
  // How long a server trusts a key it looked up: a revoked key stops working within this time.
  API_KEY_CACHE_SECONDS: z.coerce.number().int().min(0).max(300).default(5),
  TEST_DATABASE_URL: postgresUrl.optional(),
  PUBLIC_URL: z
    .string()
    .url()
    .refine(
      (value) => /^https?:$/.test(new URL(value).protocol) && new URL(value).origin === value.replace(/\/$/, '').toLowerCase(),
      'must be an http(s) origin such as https://seats.example.com, without a path, query or credentials',
    )
    .transform((value) => new URL(value).origin)
    .optional(),
  NODE_ENV: z.string().optional(),
  // Browser origins allowed to call the API: "*", or a comma-separated list of http(s) origins.
  CORS_ORIGINS: commaList
    .refine(
      (origins) => (origins.length === 1 && origins[0] === '*') || origins.every(isOrigin),
      'must be "*" or a comma-separated list of origins such as https://app.example.com,http://localhost:3000 (scheme, host and port only)',
    )
    .optional(),
  GRAPHIQL: flag.default(true),
  INTROSPECTION: flag.default(true),
  // Always a limit: 0 does not turn it off.
  MAX_BODY_BYTES: count(10_000_000).min(1).default(100_000),
  MAX_QUERY_DEPTH: count(100).default(10),
  MAX_ALIASES: count(1000).default(30),
  MAX_TOKENS: count(100_000).default(5000),
  MAX_QUERY_COST: count(10_000_000).default(20_000),
  MAX_DIRECTIVES: count(1000).default(20),
  // Automatic persisted queries: documents kept per process, the least recently used dropped
  // first. 0 turns them off (a hash alone then answers PersistedQueryNotFound for ever).
  PERSISTED_QUERIES_MAX: count(1_000_000).default(1000),
  RATE_LIMIT_PER_SECOND: count(1_000_000).default(50),
  RATE_LIMIT_BURST: count(1_000_000).default(200),
  // Requests with a missing or invalid key, per client address (an IPv6 client by its /64).
  AUTH_FAILURES_PER_MINUTE: count(1_000_000).default(30),
  AUTH_FAILURE_BURST: count(1_000_000).default(20),
  // How many proxies in front of seatgate append to X-Forwarded-For; 0 (or false) trusts none.
  TRUST_PROXY: z.union([z.enum(['true', 'false']).transform((value) => (value === 'true' ? 1 : 0)), z.coerce.number().int().min(0).max(10)]).default(0),
  // Prometheus metrics at /metrics: on a port of their own, or on the API port behind a bearer
  // token (or both); with neither, none are kept.
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters (a random token, e.g. openssl rand -hex 32)').optional(),
  // Webhook deliveries: how long one attempt may take, and how many one process sends at once.
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  // For tests only: multiplies the retry delays (a day of retries in seconds); 1 in production.
  WEBHOOK_RETRY_SCALE: z.coerce.number().gt(0).max(1).default(1),
  // Sends in flight at once to one endpoint, and to one organization's endpoints, per process:
  // an endpoint that never answers holds at most these, never every slot.
  WEBHOOK_CONCURRENCY_PER_ENDPOINT: z.coerce.number().int().min(1).max(256).default(2),
  WEBHOOK_CONCURRENCY_PER_ORGANIZATION: z.coerce.number().int().min(1).max(256).default(4),
  // An endpoint is disabled once this many attempts in a row failed, or every attempt failed for this many hours.
  WEBHOOK_DISABLE_AFTER_FAILURES: z.coerce.number().int().min(1).max(1_000_000).default(100),
  WEBHOOK_DISABLE_AFTER_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 365)
    .default(24),
  // Whether test keys may register loopback URLs (http://localhost, 127.0.0.1, [::1]); unset: yes
  // outside production, no in it. WEBHOOK_LOOPBACK_PORTS limits them to the listed ports.
  WEBHOOK_ALLOW_LOOPBACK: flag.optional(),
  WEBHOOK_LOOPBACK_PORTS: commaList
    .refine(
      (ports) => ports.every((port) => /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535),
      'must be a comma-separated list of ports, 1 to 65535',
    )
    .transform((ports) => ports.map(Number))
    .optional(),
  // Open subscriptions (SSE streams): at most this many per API key, and per organization.
  SUBSCRIPTIONS_PER_KEY: count(1_000_000).min(1).default(1000),
  SUBSCRIPTIONS_PER_ORGANIZATION: count(1_000_000).min(1).default(5000),
  // A stream that falls this many events behind, or whose socket takes no data for this long, is
  // ended with conflict; the client resumes with `after`.
  SUBSCRIPTION_MAX_BACKLOG: count(1_000_000).min(1).default(1000),
  SUBSCRIPTION_WRITE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  // Slow clients: the whole request must arrive within REQUEST_TIMEOUT_MS, its headers within
  // HEADERS_TIMEOUT_MS; at most MAX_CONNECTIONS connections are open at once.
  REQUEST_TIMEOUT_MS: z.coerce.number().int().min(1000).max(3_600_000).default(30_000),
  HEADERS_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(10_000),
  MAX_CONNECTIONS: count(1_000_000).min(1).default(10_000),
});

/**
 * Which browser origins may call the API. `anyOrigin` answers every origin (CORS_ORIGINS=*);
 * `localhost` admits http(s) origins on localhost, 127.0.0.1 and [::1], whatever their port
 * (the default outside production, for a frontend on a developer's machine).
 */
export type CorsPolicy = { anyOrigin: boolean; origins: readonly string[]; localhost: boolean };

/** Abuse limits; 0 turns a limit off. */
export type Limits = {
  maxBodyBytes: number;
  maxQueryDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxQueryCost: number;
  maxDirectives: number;
  /**
   * Documents kept for automatic persisted queries, per process, in an LRU of this many entries
   * (each at most maxBodyBytes). Unlike the others, 0 turns the feature off, not its bound.
   */
  persistedQueriesMax: number;
  /** Requests per second each API key may sustain, and how many it may send at once. */
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  /** Requests with a missing or invalid key each client address may send per minute, and at once. */
  authFailuresPerMinute: number;
  authFailureBurst: number;
};

/** How this process's webhook worker sends deliveries. */
export type WebhookSettings = {
  /** The most one attempt may take, from the DNS lookup to the last byte read. */
  timeoutMs: number;
  /** Deliveries one process sends at the same time. */
  concurrency: number;
  /**
   * How long a claimed delivery stays out of other workers' reach: the timeout plus a margin for
   * recording the result. A process killed mid-send leaves its claims to others when it ends.
   */
  leaseMs: number;
  /** Multiplies the retry delays; below 1 only in tests, which cannot wait a day. */
  retryScale: number;
  /** Sends in flight at once to one endpoint, and to one organization's endpoints. */
  concurrencyPerEndpoint: number;
  concurrencyPerOrganization: number;
  /** An endpoint is disabled after this many failed attempts in a row, or when every attempt failed for this many hours. */
  disableAfterFailures: number;
  disableAfterHours: number;
  /** Whether test keys may send to loopback addresses, and to which ports (null: any). */
  loopback: { allowed: boolean; ports: readonly number[] | null };
};

/** How many subscriptions may stay open, and when a slow one is cut off. */
export type SubscriptionSettings = {
  perKey: number;
  perOrganization: number;
  /** Events a stream may fall behind, its socket's unsent ones included, before it is ended. */
  maxBacklog: number;
  /** How long a stream's socket may take no data before the stream is ended. */
  writeTimeoutMs: number;
};

/** What the HTTP server allows slow or many clients. */
type HttpSettings = { requestTimeoutMs: number; headersTimeoutMs: number; maxConnections: number };

/** What a lease adds to the timeout: time to write the attempt's result after the answer. */
export const webhookLeaseMarginMs = 5000;

export type Config = {
  databaseUrl: string | undefined;
  port: number;
  host: string;
  dataDir: string;
  embeddedPgPort: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  dbPoolMax: number;
  /** How long a request waits for a database connection, and for one statement, before failing. */
  dbConnectTimeoutMs: number;
  dbStatementTimeoutMs: number;
  idempotencyKeyTtlHours: number;
  apiKeyCacheSeconds: number;
  /** The server the tests create their database on; unset, they run on a throwaway embedded PostgreSQL. */
  testDatabaseUrl: string | undefined;
  /** Where callers reach this server, for links in answers (doc_url); unset, the request's own origin. */
  publicUrl: string | undefined;
  graphiql: boolean;
  introspection: boolean;
  limits: Limits;
  /** Proxies trusted to append the client's address to X-Forwarded-For. */
  trustProxy: number;
  /** Where /metrics is served: its own port, and the bearer token it asks for; both null, nowhere. */
  metricsPort: number | null;
  metricsToken: string | null;
  webhooks: WebhookSettings;
  subscriptions: SubscriptionSettings;
  http: HttpSettings;
  cors: CorsPolicy;
};

/** A bad environment variable: one line naming it, printed at start. */
export class ConfigError extends StartupError {
  override name = 'ConfigError';
}

/** Reads and validates the environment once; the only place that touches process.env. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset", as shells and .env files commonly produce them.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    port: e.PORT,
    host: e.HOST,
    dataDir: e.DATA_DIR,
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    logLevel: e.LOG_LEVEL,
    dbPoolMax: e.DB_POOL_MAX,
    dbConnectTimeoutMs: e.DB_CONNECT_TIMEOUT_MS,
    dbStatementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
    idempotencyKeyTtlHours: e.IDEMPOTENCY_KEY_TTL_HOURS,
    apiKeyCacheSeconds: e.API_KEY_CACHE_SECONDS,
    testDatabaseUrl: e.TEST_DATABASE_URL,
    publicUrl: e.PUBLIC_URL,
    graphiql: e.GRAPHIQL,
    introspection: e.INTROSPECTION,
    limits: {
      maxBodyBytes: e.MAX_BODY_BYTES,
      maxQueryDepth: e.MAX_QUERY_DEPTH,
      maxAliases: e.MAX_ALIASES,
      maxTokens: e.MAX_TOKENS,
      maxQueryCost: e.MAX_QUERY_COST,
      maxDirectives: e.MAX_DIRECTIVES,
      persistedQueriesMax: e.PERSISTED_QUERIES_MAX,
      rateLimitPerSecond: e.RATE_LIMIT_PER_SECOND,
      rateLimitBurst: e.RATE_LIMIT_BURST,
      authFailuresPerMinute: e.AUTH_FAILURES_PER_MINUTE,
      authFailureBurst: e.AUTH_FAILURE_BURST,
    },
    trustProxy: e.TRUST_PROXY,
    metricsPort: e.METRICS_PORT ?? null,
    metricsToken: e.METRICS_TOKEN ?? null,
    // Unset: localhost origins outside production, none in it.
    cors: e.CORS_ORIGINS
      ? { anyOrigin: e.CORS_ORIGINS[0] === '*', origins: e.CORS_ORIGINS.filter((origin) => origin !== '*'), localhost: false }
      : { anyOrigin: false, origins: [], localhost: e.NODE_ENV !== 'production' },
    webhooks: {
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      concurrency: e.WEBHOOK_CONCURRENCY,
      leaseMs: e.WEBHOOK_TIMEOUT_MS + webhookLeaseMarginMs,
      retryScale: e.WEBHOOK_RETRY_SCALE,
      concurrencyPerEndpoint: e.WEBHOOK_CONCURRENCY_PER_ENDPOINT,
      concurrencyPerOrganization: e.WEBHOOK_CONCURRENCY_PER_ORGANIZATION,
      disableAfterFailures: e.WEBHOOK_DISABLE_AFTER_FAILURES,
      disableAfterHours: e.WEBHOOK_DISABLE_AFTER_HOURS,
      loopback: { allowed: e.WEBHOOK_ALLOW_LOOPBACK ?? e.NODE_ENV !== 'production', ports: e.WEBHOOK_LOOPBACK_PORTS ?? null },
    },
    subscriptions: {
      perKey: e.SUBSCRIPTIONS_PER_KEY,
      perOrganization: e.SUBSCRIPTIONS_PER_ORGANIZATION,
      maxBacklog: e.SUBSCRIPTION_MAX_BACKLOG,
      writeTimeoutMs: e.SUBSCRIPTION_WRITE_TIMEOUT_MS,
    },
    http: { requestTimeoutMs: e.REQUEST_TIMEOUT_MS, headersTimeoutMs: e.HEADERS_TIMEOUT_MS, maxConnections: e.MAX_CONNECTIONS },
  };
}
