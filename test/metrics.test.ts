import { describe, expect, test } from './fixtures.ts';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createMetrics } from '../src/http/metrics.ts';
import { createLogger } from '../src/common/logger.ts';
import { schema } from '../src/graphql/schema.ts';
import { type Harness, mutations, seatScenario } from './helpers.ts';

const token = 'metrics-token-for-tests-0123456789';

/** An app of its own, so the counts it reports are this test's alone. */
function appWithMetrics(harness: Harness) {
  const logger = createLogger('silent');
  const metrics = createMetrics(harness.orm, schema, logger);
  const app = createApp({
    orm: harness.orm,
    logger,
    limits: { ...loadConfig({}).limits, rateLimitPerSecond: 0, authFailuresPerMinute: 0 },
    metrics,
    metricsToken: token,
  });
  const scrape = async (authorization: string | null = `Bearer ${token}`) => {
    const response = await app.fetch('http://seatgate.test/metrics', { headers: authorization ? { authorization } : {} });
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
  };
  const post = (key: string | null, query: string, variables?: object) =>
    app.fetch('http://seatgate.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) },
      body: JSON.stringify({ query, variables }),
    });
  return { app, scrape, post };
}

/** The value of one sample, by metric name and its exact labels (in any order). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(([, key, value]) => [key!, value!]));
    if (Object.keys(found).length === Object.keys(labels).length && Object.entries(labels).every(([key, value]) => found[key] === value))
      return Number(match[3]);
  }
  return undefined;
}

describe('/metrics on the API port, behind METRICS_TOKEN', () => {
  test('refuses a scrape without the token or with another', async ({ harness }) => {
    const { scrape } = appWithMetrics(harness);
    expect((await scrape(null)).status).toBe(401);
    expect((await scrape('Bearer not-the-token-at-all-000000')).status).toBe(401);
    const ok = await scrape();
    expect(ok.status).toBe(200);
    expect(ok.type).toContain('text/plain');
  });

  test('reports a request just made, by root field, never by the name the client gave it', async ({ harness, scenario: s }) => {
    const { scrape, post } = appWithMetrics(harness);
    expect((await post(s.key, /* GraphQL */ `query PickedByTheClient123 { features { code } }`)).status).toBe(200);
    const text = (await scrape()).text;
    expect(sample(text, 'seatgate_http_requests_total', { door: 'graphql', operation: 'features', operation_type: 'query', status: '200', code: 'none' })).toBe(
      1,
    );
    expect(sample(text, 'graphql_envelop_request', { operation: 'features', operationType: 'query' })).toBe(1);
    expect(sample(text, 'seatgate_http_request_duration_seconds_count', { door: 'graphql', operation: 'features', operation_type: 'query' })).toBe(1);
    expect(text).not.toContain('PickedByTheClient123');
  });

  test('counts seat changes by kind and mode, batch sizes, and errors by contract code, through both doors', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 1 }] });
    const { app, scrape, post } = appWithMetrics(harness);
    await post(s.key, mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 2 } });
    await post(s.key, mutations.removeSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 99 } });
    await post(s.key, mutations.setSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 4 } });
    await post('ck_test_unknownunknownunknownunknown', /* GraphQL */ `{ features { code } }`);
    const viaRest = await app.fetch('http://seatgate.test/api/v1/seats', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': s.key },
      body: JSON.stringify({ customerId: s.customerId, featureCode: 'editor', count: 1 }),
    });
    expect(viaRest.status).toBe(200);
    const text = (await scrape()).text;
    expect(sample(text, 'seatgate_seat_changes_total', { kind: 'ADD', mode: 'test' })).toBe(2);
    expect(sample(text, 'seatgate_seat_changes_total', { kind: 'SET', mode: 'test' })).toBe(1);
    expect(sample(text, 'seatgate_seat_changes_total', { kind: 'REMOVE', mode: 'test' })).toBeUndefined();
    // Every change went through the coalescer: four batches of one (the refused remove included).
    expect(sample(text, 'seatgate_seat_change_batch_size_count')).toBe(4);
    expect(
      sample(text, 'graphql_envelop_error_result', { phase: 'execute', code: 'insufficient_seats', operation: 'removeSeats', operationType: 'mutation' }),
    ).toBe(1);
    expect(
      sample(text, 'seatgate_http_requests_total', {
        door: 'graphql',
        operation: 'removeSeats',
        operation_type: 'mutation',
        status: '200',
        code: 'insufficient_seats',
      }),
    ).toBe(1);
    expect(
      sample(text, 'seatgate_http_requests_total', { door: 'graphql', operation: 'none', operation_type: 'none', status: '401', code: 'unauthorized' }),
    ).toBe(1);
    expect(sample(text, 'seatgate_http_requests_total', { door: 'rest', operation: 'addSeats', operation_type: 'mutation', status: '200', code: 'none' })).toBe(
      1,
    );
  });

  test('a query made of fragments is labelled by the one root field they select, and two fields are multiple', async ({ harness, scenario: s }) => {
    const { scrape, post } = appWithMetrics(harness);
    const documents = [
      /* GraphQL */ `query Spread { ...Catalog } fragment Catalog on Query { features { code } }`,
      /* GraphQL */ `query Inline { ... on Query { features { code } } }`,
      /* GraphQL */ `query Nested { ...Outer } fragment Outer on Query { __typename ...Inner } fragment Inner on Query { features { code } }`,
      /* GraphQL */ `query Two { ...Both } fragment Both on Query { features { code } plans { code } }`,
    ];
    for (const query of documents) expect((await post(s.key, query)).status).toBe(200);
    const text = (await scrape()).text;
    const answered = (operation: string) =>
      sample(text, 'seatgate_http_requests_total', { door: 'graphql', operation, operation_type: 'query', status: '200', code: 'none' });
    expect(answered('features')).toBe(3);
    expect(answered('multiple')).toBe(1);
  });

  test('the operation type is that of the operation operationName picks, not of the first in the document', async ({ harness, scenario: s }) => {
    const { scrape, app } = appWithMetrics(harness);
    // As GraphiQL sends its prefilled example: a mutation first, then the query that runs.
    const query = /* GraphQL */ `
      mutation AddEditor { addSeats(input: { customerId: "${s.customerId}", featureCode: "editor", count: 1 }) { id } }
      fragment Balance on SeatBalance { current }
      query Balances { seatBalances(customerId: "${s.customerId}") { ...Balance } }
      query Ledger { seatEvents(customerId: "${s.customerId}", first: 1) { edges { cursor } } }`;
    for (const operationName of ['Balances', 'Ledger', 'Balances']) {
      const response = await app.fetch('http://seatgate.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': s.key },
        body: JSON.stringify({ query, operationName }),
      });
      expect((await response.json()).errors).toBeUndefined();
    }
    // A document that starts with a fragment: the plugin's own type would be none at all.
    await app.fetch('http://seatgate.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': s.key },
      body: JSON.stringify({ query: /* GraphQL */ `fragment Code on Feature { code } query Catalog { features { ...Code } }` }),
    });
    const text = (await scrape()).text;
    expect(sample(text, 'graphql_envelop_request', { operation: 'seatBalances', operationType: 'query' })).toBe(2);
    expect(sample(text, 'graphql_envelop_request', { operation: 'seatEvents', operationType: 'query' })).toBe(1);
    expect(sample(text, 'graphql_envelop_request', { operation: 'features', operationType: 'query' })).toBe(1);
    expect(sample(text, 'graphql_envelop_request_duration_count', { operation: 'seatBalances', operationType: 'query' })).toBe(2);
    expect(text).not.toMatch(/graphql_envelop_request\{[^}]*operationType="(mutation|unknown)"/);
    // Nothing ran the mutation: the balance is as the scenario left it.
    const ledger = await s.client.ok(/* GraphQL */ `{ seatEvents(customerId: "${s.customerId}") { edges { cursor } } }`);
    expect(ledger.seatEvents.edges).toHaveLength(0);
  });

  test('a document naming fields the schema lacks adds no label values', async ({ harness, scenario: s }) => {
    const { scrape, post } = appWithMetrics(harness);
    for (let i = 0; i < 3; i++) await post(s.key, /* GraphQL */ `{ madeUpField${i} }`);
    const text = (await scrape()).text;
    expect(text).not.toMatch(/madeUpField/);
    expect(
      sample(text, 'seatgate_http_requests_total', { door: 'graphql', operation: 'none', operation_type: 'none', status: '200', code: 'validation_error' }),
    ).toBe(3);
    expect(sample(text, 'graphql_envelop_error_result', { phase: 'validate', code: 'validation_error', operation: 'invalid', operationType: 'query' })).toBe(3);
  });

  test('reports the database pool, the outbox and webhook backlogs, and the process', async ({ harness }) => {
    const { scrape } = appWithMetrics(harness);
    const text = (await scrape()).text;
    expect(sample(text, 'seatgate_db_pool_connections', { state: 'max' })).toBe(20);
    for (const state of ['used', 'idle', 'waiting']) expect(sample(text, 'seatgate_db_pool_connections', { state })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'seatgate_outbox_unpublished_events')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'seatgate_outbox_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'seatgate_webhook_deliveries_pending')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  });

  test('a scrape reads the database twice: the outbox backlog once for both of its gauges, and the pending deliveries', async ({ harness }) => {
    const { scrape } = appWithMetrics(harness);
    const { statements } = await harness.countStatements(() => scrape());
    expect(statements.filter((sql) => sql.includes('from outbox_event where position is null'))).toHaveLength(1);
    expect(statements.filter((sql) => sql.includes('from webhook_delivery'))).toHaveLength(1);
    expect(statements).toHaveLength(2);
  });

  test('without metrics configured, /metrics is not served', async ({ harness }) => {
    const response = await harness.yoga.fetch('http://seatgate.test/metrics', { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(404);
  });
});

describe('METRICS_PORT', () => {
  test('serves /metrics on its own port, and the API port has none', async ({ startServer, scenario: s }) => {
    const server = await startServer({ METRICS_PORT: '0' });
    await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': s.key },
      body: JSON.stringify({ query: /* GraphQL */ `{ features { code } }` }),
    });
    const metricsUrl = /Prometheus metrics at (\S+)/.exec(server.output())![1]!;
    const scraped = await fetch(metricsUrl);
    expect(scraped.status).toBe(200);
    expect(
      sample(await scraped.text(), 'seatgate_http_requests_total', {
        door: 'graphql',
        operation: 'features',
        operation_type: 'query',
        status: '200',
        code: 'none',
      }),
    ).toBe(1);
    expect((await fetch(server.url.replace(/\/graphql$/, '/metrics'))).status).toBe(404);
    expect((await fetch(metricsUrl.replace(/\/metrics$/, '/graphql'))).status).toBe(404);
  });
});
