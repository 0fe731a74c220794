import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestListener } from 'node:http';
import { createCounter, createHistogram, usePrometheus } from '@graphql-yoga/plugin-prometheus';
import {
  type DocumentNode,
  type FragmentDefinitionNode,
  getOperationAST,
  type GraphQLSchema,
  Kind,
  type OperationTypeNode,
  type SelectionSetNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Orm } from '../db/orm.ts';
import { DomainError, errorCodes } from '../common/errors.ts';
import { outboxBacklog } from '../events/service.ts';
import type { Logger } from '../common/logger.ts';
import type { SeatEventRecord } from '../model/records.ts';
import { pendingDeliveries } from '../webhooks/service.ts';
import { endpointsDisabledForFailing } from '../webhooks/worker.ts';
import { pathOf, type RequestState, type RequestStates } from './request-state.ts';

/**
 * The `operation` label: the root field an operation selects, or `multiple`, or `invalid` for a
 * name the schema lacks. Never the client's operation name, which anyone can make up, so the
 * label takes at most as many values as the schema has root fields.
 */
export function operationLabel(schema: GraphQLSchema, document: DocumentNode | undefined, operationName?: string | null): string {
  if (!document) return 'invalid';
  // Each request asks three times (two metrics and the access log) of a document parsed once.
  let byName = labels.get(document);
  if (!byName) labels.set(document, (byName = new Map()));
  const known = byName.get(operationName ?? null);
  if (known !== undefined) return known;
  const label = labelOf(schema, document, operationName);
  // Not the names a document lacks: a client could make up any number of them.
  if (label !== 'invalid') byName.set(operationName ?? null, label);
  return label;
}

/**
 * The type of the operation that runs: the one `operationName` picks. The plugin's own
 * `operationType` is the document's first definition's, so a query sent in a document that
 * begins with a mutation was counted as a mutation (and one that begins with a fragment as none).
 */
function operationTypeOf(document: DocumentNode | undefined, operationName?: string | null): OperationTypeNode | 'unknown' {
  if (!document) return 'unknown';
  // envelop names an unnamed operation 'Anonymous'; graphql-js finds it by no name.
  return (getOperationAST(document, operationName) ?? getOperationAST(document))?.operation ?? 'unknown';
}

/** Labels by document (yoga's parser caches it) and operation name. */
const labels = new WeakMap<DocumentNode, Map<string | null, string>>();

function labelOf(schema: GraphQLSchema, document: DocumentNode, operationName?: string | null): string {
  // envelop names an unnamed operation 'Anonymous'; graphql-js finds it by no name.
  const operation = getOperationAST(document, operationName) ?? getOperationAST(document);
  if (!operation) return 'invalid';
  const rootType =
    operation.operation === 'query' ? schema.getQueryType() : operation.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
  const names = rootFieldsOf(document, operation.selectionSet);
  if (names === null) return 'invalid';
  if (names.size !== 1) return names.size === 0 ? '__typename' : 'multiple';
  const [name] = names as unknown as [string];
  return name.startsWith('__') || rootType?.getFields()[name] ? name : 'invalid';
}

/**
 * The root fields a selection set names, through its fragment spreads and inline fragments
 * (`{ ...Balances }` counts as the field the fragment selects); null for a spread of a fragment
 * the document lacks, or one that spreads itself.
 */
function rootFieldsOf(document: DocumentNode, selectionSet: SelectionSetNode, seen = new Set<string>()): Set<string> | null {
  const names = new Set<string>();
  for (const selection of selectionSet.selections) {
    let inner: Set<string> | null;
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value !== '__typename') names.add(selection.name.value);
      continue;
    }
    if (selection.kind === Kind.INLINE_FRAGMENT) inner = rootFieldsOf(document, selection.selectionSet, seen);
    else {
      const name = selection.name.value;
      const fragment = document.definitions.find((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === name);
      if (!fragment || seen.has(name)) return null;
      inner = rootFieldsOf(document, fragment.selectionSet, new Set([...seen, name]));
    }
    if (inner === null) return null;
    for (const name of inner) names.add(name);
  }
  return names;
}

/**
 * A contract code for a label: the error's own; a document that does not parse or validate is
 * validation_error (the contract shaping names it later); anything else is internal_error.
 */
function codeLabel(error: unknown, phase: string | undefined): string {
  const original = (error as { originalError?: unknown })?.originalError;
  if (original instanceof DomainError) return original.code;
  const code = (error as { extensions?: { code?: unknown } })?.extensions?.code;
  if (typeof code === 'string' && code in errorCodes) return code;
  return phase === 'parse' || phase === 'validate' ? 'validation_error' : 'internal_error';
}

const durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The process's Prometheus registry and what feeds it. */
export type Metrics = {
  registry: Registry;
  /** yoga's Prometheus plugin (GraphQL operations and errors) and the per-answer counters of both doors. */
  plugins(states: RequestStates): Plugin[];
  /** What the seat change coalescer reports. */
  seatChanges: { batch(size: number): void; applied(events: readonly SeatEventRecord[]): void };
};

export function createMetrics(orm: Orm, schema: GraphQLSchema, logger: Logger): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const answers = new Counter({
    name: 'seatgate_http_requests_total',
    help: 'Answers of both doors, by door, operation (GraphQL root field, or the GraphQL twin of a REST route), HTTP status and contract error code.',
    labelNames: ['door', 'operation', 'operation_type', 'status', 'code'] as const,
    registers: [registry],
  });
  const answerSeconds = new Histogram({
    name: 'seatgate_http_request_duration_seconds',
    help: 'Time from a request arriving to its answer (a subscription: to its stream starting), by door and operation.',
    labelNames: ['door', 'operation', 'operation_type'] as const,
    buckets: durationBuckets,
    registers: [registry],
  });
  const batchSizes = new Histogram({
    name: 'seatgate_seat_change_batch_size',
    help: 'Seat changes per coalesced transaction of this process.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 100],
    registers: [registry],
  });
  const changes = new Counter({
    name: 'seatgate_seat_changes_total',
    help: 'Seat events recorded by this process, by kind (ADD, REMOVE, SET) and mode (live, test).',
    labelNames: ['kind', 'mode'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'seatgate_db_pool_connections',
    help: 'Database connections of this process: in use, idle, and requests waiting for one; max is the pool size (DB_POOL_MAX).',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const pool = await orm.em.getConnection().getNativeClient();
      this.set({ state: 'used' }, pool.totalCount - pool.idleCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
      this.set({ state: 'max' }, pool.options.max);
    },
  });
  // Read from the database at scrape time: the backlog is the fleet's, the same from any process.
  const backlogGauge = (name: string, help: string, read: () => Promise<number>) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        try {
          this.set(await read());
        } catch (error) {
          logger.warn('a metric could not be read from the database', { metric: name, error });
        }
      },
    });
  // Both outbox gauges are collected in the same scrape: they share one read of the backlog.
  let backlogRead: ReturnType<typeof outboxBacklog> | null = null;
  const backlog = () => (backlogRead ??= outboxBacklog(orm.em.fork()).finally(() => (backlogRead = null)));
  backlogGauge(
    'seatgate_outbox_unpublished_events',
    'Committed events the relay has not yet published, fleet-wide.',
    async () => (await backlog()).unpublished,
  );
  backlogGauge(
    'seatgate_outbox_lag_seconds',
    'Age of the oldest unpublished event, fleet-wide: how far subscribers and webhooks lag behind commits.',
    async () => (await backlog()).oldestSeconds,
  );
  backlogGauge('seatgate_webhook_deliveries_pending', 'Webhook deliveries waiting to be sent or retried, fleet-wide.', () => pendingDeliveries(orm.em.fork()));
  new Counter({
    name: 'seatgate_webhook_endpoints_disabled_total',
    help: "Webhook endpoints this process's sender disabled because their attempts kept failing (WEBHOOK_DISABLE_AFTER_*), by mode.",
    labelNames: ['mode'] as const,
    registers: [registry],
    // Kept by the sender, which knows nothing of metrics; read at scrape time.
    collect() {
      this.reset();
      for (const [mode, count] of Object.entries(endpointsDisabledForFailing)) this.inc({ mode }, count);
    },
  });

  const labelsOf = (params: { document?: DocumentNode; operationName?: string }) => ({
    operation: operationLabel(schema, params.document, params.operationName),
    operationType: operationTypeOf(params.document, params.operationName),
  });

  const observeAnswer = (state: RequestState | undefined, path: string, status: number) => {
    const door = path.startsWith('/api/') ? 'rest' : path === '/graphql' ? 'graphql' : 'other';
    const operation = state?.operation?.field ?? 'none';
    const type = state?.operation?.type ?? 'none';
    answers.inc({ door, operation, operation_type: type, status: String(status), code: state?.errorCode ?? 'none' });
    if (state) answerSeconds.observe({ door, operation, operation_type: type }, (performance.now() - state.startedAt) / 1000);
  };

  return {
    registry,
    plugins: (states) => [
      usePrometheus({
        registry,
        endpoint: false,
        skipIntrospection: true,
        // Only what pays at every request: counts, durations and errors of GraphQL operations.
        // The HTTP histogram is seatgate's own (above): yoga's sees neither REST nor refusals.
        metrics: {
          graphql_envelop_request: createCounter({
            registry,
            counter: {
              name: 'graphql_envelop_request',
              help: 'GraphQL operations executed, by root field and type.',
              labelNames: ['operation', 'operationType'],
            },
            fillLabelsFn: labelsOf,
          }),
          graphql_envelop_request_duration: createHistogram({
            registry,
            histogram: {
              name: 'graphql_envelop_request_duration',
              help: 'Time to execute a GraphQL operation, by root field and type.',
              labelNames: ['operation', 'operationType'],
              buckets: durationBuckets,
            },
            fillLabelsFn: labelsOf,
          }),
          graphql_envelop_error_result: createCounter({
            registry,
            counter: {
              name: 'graphql_envelop_error_result',
              help: 'Errors in GraphQL results, by phase, contract code and root field.',
              labelNames: ['phase', 'code', 'operation', 'operationType'],
            },
            fillLabelsFn: (params) => ({ ...labelsOf(params), phase: params.errorPhase ?? 'unknown', code: codeLabel(params.error, params.errorPhase) }),
          }),
          graphql_envelop_request_time_summary: false,
          graphql_envelop_deprecated_field: false,
          graphql_envelop_phase_parse: false,
          graphql_envelop_phase_validate: false,
          graphql_envelop_phase_context: false,
          graphql_envelop_phase_execute: false,
          graphql_envelop_phase_subscribe: false,
          graphql_envelop_schema_change: false,
          graphql_yoga_http_duration: false,
        },
      }) as Plugin,
      {
        onResponse({ request, response }) {
          const state = states.get(request);
          observeAnswer(state, pathOf(request, state), response.status);
        },
      },
    ],
    seatChanges: {
      batch: (size) => batchSizes.observe(size),
      applied(events) {
        for (const event of events) changes.inc({ kind: event.kind, mode: event.mode });
      },
    },
  };
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Whether the request carries `Authorization: Bearer <token>`, compared in constant time. */
function holdsToken(authorization: string | null | undefined, token: string): boolean {
  const given = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1];
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

const unauthorizedScrapeMessage = 'Send the metrics token as Authorization: Bearer <METRICS_TOKEN>.\n';
const unauthorizedScrape = () => new Response(unauthorizedScrapeMessage, { status: 401, headers: { 'www-authenticate': 'Bearer' } });

/** `/metrics` on the API port, for callers holding METRICS_TOKEN only. */
export function useMetricsEndpoint(registry: Registry, token: string): Plugin {
  return {
    async onRequest({ request, url, endResponse }) {
      if (url.pathname !== '/metrics') return;
      if (!holdsToken(request.headers.get('authorization'), token)) return endResponse(unauthorizedScrape());
      endResponse(new Response(await registry.metrics(), { headers: { 'content-type': registry.contentType } }));
    },
  };
}

/** The listener of METRICS_PORT: `/metrics` and nothing else, behind METRICS_TOKEN too when one is set. */
export function metricsListener(registry: Registry, token: string | null): RequestListener {
  return (request, response) => {
    const send = (status: number, body: string, headers: Record<string, string>) => response.writeHead(status, headers).end(body);
    if (new URL(request.url ?? '/', 'http://metrics').pathname !== '/metrics')
      return void send(404, 'Not found: metrics are at /metrics.\n', { 'content-type': 'text/plain' });
    if (token !== null && !holdsToken(request.headers.authorization, token)) return void send(401, unauthorizedScrapeMessage, { 'www-authenticate': 'Bearer' });
    registry.metrics().then(
      (text) => send(200, text, { 'content-type': registry.contentType }),
      () => send(500, 'Metrics could not be collected.\n', { 'content-type': 'text/plain' }),
    );
  };
}
