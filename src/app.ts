import { randomUUID } from 'node:crypto';
import { createInMemoryAPQStore, useAPQ } from '@graphql-yoga/plugin-apq';
import { GraphQLError } from 'graphql';
import { createYoga, type Plugin } from 'graphql-yoga';
import { ApiKeyCache, defaultApiKeyCacheMs } from './auth/cache.ts';
import { useApiKeyAuth } from './http/api-key-auth.ts';
import { Clock } from './clock/service.ts';
import { createContext } from './context.ts';
import type { Context } from './types.ts';
import { type CorsPolicy, type Limits, loadConfig, type SubscriptionSettings, type WebhookSettings } from './config.ts';
import type { Orm } from './db/orm.ts';
import { errorExtensions, useContractErrors } from './http/errors.ts';
import { corsOptions } from './http/cors.ts';
import { useAccessLog } from './http/access-log.ts';
import { useGraphiQLPage } from './http/graphiql.ts';
import { SubscriptionFanout, subscriptionLimitHeaders } from './http/fanout.ts';
import { useCompiledExecution } from './http/compiled-execution.ts';
import { type Metrics, useMetricsEndpoint } from './http/metrics.ts';
import { type Lifecycle, useLiveness, useReadiness } from './http/health.ts';
import {
  documentLimitPlugins,
  noIntrospectionPlugins,
  useBodyLimit,
  useNoCompressedBodies,
  useOneMutationPerRequest,
  useWellFormedStrings,
} from './http/limits.ts';
import { apiKeyHeader, RequestGate } from './auth/gate.ts';
import { exposedHeaders, useRateLimitHeaders } from './http/rate-limit-headers.ts';
import { requestIdHeader, type RequestStates } from './http/request-state.ts';
import type { Logger } from './common/logger.ts';
import { type RestDoorOptions, useRestDoor } from './rest/door.ts';
import { schema } from './graphql/schema.ts';
import { SeatChangeCoalescer } from './flows/seat-change-coalescer.ts';
import { EventHub } from './events/hub.ts';
import { deliveryQueue } from './webhooks/service.ts';
import { SharedRateLimiter } from './ratelimits/service.ts';
import { DomainError } from './common/errors.ts';

export const graphqlPath = '/graphql';

/** GraphiQL's prefilled example: lines short enough for the editor pane of a laptop screen. */
export const exampleOperation = `# Your key goes in the Headers tab below:
# {"x-api-key": "ck_test_..."}
query Balances {
  customers(ids: ["acme-corp"]) {
    id
    externalId
    seatBalances {
      id featureCode current
      includedSeats unlimited asOf
    }
  }
}

mutation AddEditor {
  addSeats(input: {
    customerId: "acme-corp"
    featureCode: "editor"
    count: 1
  }) {
    id kind previousBalance newBalance ts
    balance { id current }
  }
}

# Run this in a second GraphiQL window, then
# AddEditor here: each change arrives as made.
subscription WatchEditors {
  seatBalanceChanged(
    customerId: "acme-corp"
    featureCode: "editor"
  ) {
    id
    balance { id current includedSeats }
    event { kind count }
  }
}
`;

const requestIdOf = (request: Request): string => {
  const given = request.headers.get(requestIdHeader);
  return given && /^[\w.:-]{1,100}$/.test(given) ? given : randomUUID();
};

function useRequestIds(states: RequestStates): Plugin {
  return {
    onRequest({ request, url }) {
      states.set(request, {
        requestId: requestIdOf(request),
        startedAt: performance.now(),
        path: url.pathname,
        tenant: null,
        keyId: null,
        testClock: null,
        operation: null,
        errorCode: null,
        rateLimit: null,
        retryAfterSeconds: null,
      });
    },
    onResponse({ request, response }) {
      // yoga's GraphiQL and CORS preflight answers end before our onRequest runs.
      response.headers.set(requestIdHeader, states.get(request)?.requestId ?? requestIdOf(request));
    },
  };
}

/**
 * yoga's logger, on seatgate's: the strings make the message; an Error goes to the `error` field
 * (JSON.stringify would write it as {}), anything else to `details`.
 */
export const yogaLogger = (logger: Logger) => {
  const entry = (args: unknown[]): [string, Record<string, unknown>] => {
    const message = args.filter((arg) => typeof arg === 'string').join(' ');
    const error = args.find((arg) => arg instanceof Error);
    const details = args.filter((arg) => typeof arg !== 'string' && !(arg instanceof Error));
    return [message || (error instanceof Error ? error.message : ''), { ...(error ? { error } : {}), ...(details.length ? { details } : {}) }];
  };
  // yoga writes a few debug lines per request: at other levels they cost nothing to skip.
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...args: unknown[]) => {
      if (logger.enabled(level)) logger[level](...entry(args));
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
};

/** A SHA-256 in lower-case hex, as Apollo's persisted-query link and urql's persistedExchange send it. */
const sha256Hex = /^[0-9a-f]{64}$/;

/**
 * Automatic persisted queries, as Apollo's persisted-query link and urql's persistedExchange
 * speak them: a client sends the document's hash alone; on a miss (PersistedQueryNotFound) it
 * sends the document with its hash, which is checked (PersistedQueryMismatch) and kept. Kept per
 * process in yoga's LRU cache of `maxEntries` documents, without expiry: another process, or an
 * evicted document, answers a miss, and the client sends the document again. Answered with status
 * 200, as those links expect. A hash that is not one (too long, not hex) is refused before any
 * lookup. The document, restored or sent, then passes every document limit as any other.
 */
function usePersistedQueries(maxEntries: number): Plugin[] {
  if (maxEntries === 0) return [];
  const param = 'extensions.persistedQuery.sha256Hash';
  const hashShape: Plugin = {
    onParams({ params }) {
      const persisted = params.extensions?.persistedQuery as { sha256Hash?: unknown } | undefined;
      if (persisted === undefined || (typeof persisted.sha256Hash === 'string' && sha256Hex.test(persisted.sha256Hash))) return;
      const message = `${param} must be the SHA-256 of the query, in 64 lower-case hex digits.`;
      throw new GraphQLError(message, {
        extensions: { ...errorExtensions('validation_error', param, [{ field: param, message }]), http: { status: 400, spec: true } },
      });
    },
  };
  return [hashShape, useAPQ({ store: createInMemoryAPQStore({ max: maxEntries, ttl: 0 }), responseConfig: { forceStatusCodeOk: true } })];
}

/** `realNow` replaces the wall clock (tests use it to break time on purpose). */
export type AppOptions = {
  orm: Orm;
  logger: Logger;
  limits: Limits;
  graphiql?: boolean;
  introspection?: boolean;
  /** How long a looked-up API key is trusted without asking the database again; 0 asks every time. */
  apiKeyCacheMs?: number;
  /** The process's seat change coalescer; one is made when not given (tests give their own to watch its queue). */
  seatChanges?: SeatChangeCoalescer;
  /** The origin callers use, for links in answers; unset, each request's own. */
  publicUrl?: string;
  /** The process's event hub; one is made when not given, started by the first subscription. */
  events?: EventHub;
  /** Whether the process is draining, for /readyz; the server sets it when it stops. */
  lifecycle?: Lifecycle;
  /** Browser origins allowed to call the API; localhost origins when not given (CORS_ORIGINS). */
  cors?: CorsPolicy;
  /** The process's metrics; none are kept when not given. */
  metrics?: Metrics;
  /** Serves the metrics at /metrics on this port to callers holding this bearer token (METRICS_TOKEN). */
  metricsToken?: string | null;
  /** Runs of a document on the standard executor before it is compiled (1; tests compile at once). */
  interpretedRuns?: number;
  /** Caps on open subscriptions and when a slow one is cut off (SUBSCRIPTIONS_*); the defaults when not given. */
  subscriptions?: SubscriptionSettings;
  /** The process's subscription streams; made from `subscriptions` when not given (tests give their own to read its counts). */
  fanout?: SubscriptionFanout;
  /** Whether test keys' webhooks may reach loopback, and on which ports (WEBHOOK_ALLOW_LOOPBACK, WEBHOOK_LOOPBACK_PORTS); any port when not given. */
  webhookLoopback?: WebhookSettings['loopback'];
  /** Proxies trusted to append the client's address to X-Forwarded-For (TRUST_PROXY); 0 when not given. */
  trustProxy?: number;
  realNow?: () => number;
};

/** The whole HTTP surface as a fetch handler; src/server.ts only makes it listen. */
export function createApp(options: AppOptions) {
  const { orm, logger, limits, graphiql = true, introspection = true, apiKeyCacheMs = defaultApiKeyCacheMs, realNow = Date.now } = options;
  const states: RequestStates = new WeakMap();
  const keys = new ApiKeyCache(apiKeyCacheMs, realNow);
  const seatChanges = options.seatChanges ?? new SeatChangeCoalescer(orm, logger, options.metrics?.seatChanges);
  const events = options.events ?? new EventHub(orm, logger, deliveryQueue(null));
  const fanout = options.fanout ?? new SubscriptionFanout(options.subscriptions ?? loadConfig({}).subscriptions, logger);
  // An open stream's key is looked up again within the cache's lifetime: revoked, its streams end.
  fanout.checkKeysWith(async (keyHash) => (await keys.recheck(() => orm.em.fork(), keyHash)) !== null, apiKeyCacheMs);
  const webhookLoopback = options.webhookLoopback ?? { allowed: true, ports: null };
  const policy = (perSecond: number, burst: number) => (perSecond > 0 && burst > 0 ? { perSecond, burst } : null);
  const policies = {
    perKey: policy(limits.rateLimitPerSecond, limits.rateLimitBurst),
    authFailuresPerAddress: policy(limits.authFailuresPerMinute / 60, limits.authFailureBurst),
    trustProxy: options.trustProxy ?? 0,
  };
  const limiter = policies.perKey || policies.authFailuresPerAddress ? new SharedRateLimiter(orm.em) : null;
  const gate = new RequestGate(orm, keys, limiter, policies, logger, realNow);
  // Both doors build the same context for an authenticated request.
  const contextFor: RestDoorOptions['contextFor'] = ({ tenant, testClock, requestId, idempotencyKey }) =>
    createContext({
      orm,
      tenant,
      requestId,
      logger,
      clock: new Clock(testClock?.frozenAt ?? null, realNow, (clock) => keys.noteTestClock(tenant.organizationId, clock)),
      idempotencyKeyHeader: idempotencyKey,
      seatChanges,
      events,
      webhookLoopback,
    });
  return createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: graphqlPath,
    landingPage: false,
    // useContractErrors shapes and masks every error itself, with the request id at hand.
    maskedErrors: false,
    // useBodyLimit reads bodies with the configured cap and answers in the contract's shape; yoga's
    // own limit would pipe every body through a TransformStream as well (a third of the CPU of a
    // small request: stream setup, and an abort with a DOMException at its end).
    maxRequestBodySize: false,
    logging: yogaLogger(logger),
    // The configured origins only, with the headers a browser client needs to read.
    cors: corsOptions(options.cors ?? { anyOrigin: false, origins: [], localhost: true }, [requestIdHeader, ...exposedHeaders, ...subscriptionLimitHeaders]),
    // Served by useGraphiQLPage, compressed and cached.
    graphiql: false,
    plugins: [
      useRequestIds(states),
      // Served whole by seatgate, scripts and editor workers inlined: yoga's default page loads
      // them from a CDN, and stays blank offline or behind a policy that blocks CDNs.
      ...(graphiql
        ? [useGraphiQLPage(graphqlPath, { title: 'seatgate', defaultQuery: exampleOperation, headers: JSON.stringify({ [apiKeyHeader]: 'ck_test_...' }) })]
        : []),
      useAccessLog(states, logger),
      ...(options.metrics ? options.metrics.plugins(states) : []),
      ...(options.metrics && options.metricsToken ? [useMetricsEndpoint(options.metrics.registry, options.metricsToken)] : []),
      { onDispose: () => (options.events ? undefined : events.stop()) },
      useLiveness(),
      useReadiness(orm, options.lifecycle ?? { draining: false }),
      useRateLimitHeaders(states),
      useRestDoor({ gate, states, logger, maxBodyBytes: limits.maxBodyBytes, publicUrl: options.publicUrl, contextFor }),
      useApiKeyAuth(gate, states, graphqlPath, logger),
      useNoCompressedBodies(),
      useBodyLimit(limits.maxBodyBytes),
      useWellFormedStrings(),
      ...usePersistedQueries(limits.persistedQueriesMax),
      ...documentLimitPlugins(limits),
      useOneMutationPerRequest(),
      ...(introspection ? [] : noIntrospectionPlugins()),
      useCompiledExecution(logger, { interpretedRuns: options.interpretedRuns }),
      useContractErrors(states, logger, { hideSuggestions: !introspection }),
      // Last: it serves subscriptions itself, with the errors already in the contract's shape.
      fanout.plugin(states),
    ],
    context: (initial) => {
      const state = states.get(initial.request);
      if (!state?.tenant) throw new DomainError('unauthorized', 'Send an API key in the x-api-key header.');
      const context = contextFor({ ...state, tenant: state.tenant, idempotencyKey: initial.request.headers.get('idempotency-key') });
      // Defined on yoga's own context, getters kept: yoga would merge a returned context with
      // Object.assign, which reads `em` and so forks every request's unit of work up front.
      Object.defineProperties(initial, Object.getOwnPropertyDescriptors(context));
      return {} as Context;
    },
  });
}

export type App = ReturnType<typeof createApp>;
