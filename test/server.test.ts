import { once } from 'node:events';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { inject, vi } from 'vitest';
import { describe, expect, test } from './fixtures.ts';
import { createApp } from '../src/app.ts';
import { loadConfig, ConfigError } from '../src/config.ts';
import { nodeListener } from '../src/http/node-listener.ts';
import { createLogger } from '../src/common/logger.ts';
import { balanceOf, graphql, mutations, ormOfGoneDatabase, seatScenario } from './helpers.ts';

describe('probes', () => {
  test('a draining process is not ready, and still alive', async ({ harness }) => {
    const lifecycle = { draining: false };
    const yoga = createApp({ orm: harness.orm, logger: createLogger('silent'), limits: loadConfig({}).limits, lifecycle });
    expect((await yoga.fetch('http://seatgate.test/readyz')).status).toBe(200);
    lifecycle.draining = true;
    const ready = await yoga.fetch('http://seatgate.test/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'draining', database: true });
    expect((await yoga.fetch('http://seatgate.test/healthz')).status).toBe(200);
    await yoga.dispose();
  });
});

describe('over HTTP', () => {
  test('/healthz and /readyz answer 200 while the database answers, without a key', async ({ http }) => {
    const base = http.endpoint.replace(/\/graphql$/, '');
    const live = await fetch(`${base}/healthz`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', database: true });
    const page = await fetch(http.endpoint, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('seatgate');
    expect(html).toContain('x-api-key');
  });

  test('with the database gone, readiness answers 503, liveness 200, and GraphQL internal_error without leaking anything', async () => {
    const logs: string[] = [];
    const orm = await ormOfGoneDatabase(inject('databaseUrl'));
    const yoga = createApp({ orm, logger: createLogger('info', (line) => logs.push(line)), limits: loadConfig({}).limits });
    const ready = await yoga.fetch('http://seatgate.test/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', database: false });
    // Liveness asks the process only: restarting it would not bring the database back.
    expect((await yoga.fetch('http://seatgate.test/healthz')).status).toBe(200);
    const response = await yoga.fetch('http://seatgate.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': `ck_test_${'a'.repeat(32)}` },
      body: JSON.stringify({ query: /* GraphQL */ `{ features { id } }` }),
    });
    expect(response.status).toBe(500);
    const body = await response.json();
    const requestId = response.headers.get('x-request-id');
    expect(body.errors[0].extensions).toMatchObject({ code: 'internal_error', type: 'internal_error', requestId });
    expect(JSON.stringify(body)).not.toMatch(/select|api_key|pool|knex|kysely|database "|stack/i);
    expect(logs.some((line) => line.includes(requestId!) && line.includes('"level":"error"'))).toBe(true);
  });
});

describe('clients that hang up', () => {
  test('a request cut off mid-body is no error of ours: nothing is logged at error level', async ({ harness, scenario: s }) => {
    const from = harness.logs.length;
    // A server of its own, to hear when the request has reached the app.
    const http = createServer(nodeListener(harness.yoga));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    try {
      const socket = connect((http.address() as AddressInfo).port, '127.0.0.1');
      await once(socket, 'connect');
      const arrived = once(http, 'request');
      socket.write(
        `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nx-api-key: ${s.key}\r\nx-request-id: req-hung-up\r\nContent-Length: 500\r\n\r\n{"query":`,
      );
      await arrived;
      socket.destroy();
      const logged = () => harness.logs.slice(from).filter((line) => line.includes('req-hung-up') && JSON.parse(line).message !== 'request');
      await vi.waitFor(() => expect(logged()).not.toHaveLength(0), { timeout: 30_000, interval: 20 });
      expect(logged().map((line) => JSON.parse(line))).toMatchObject([{ level: 'info', message: 'client went away before the answer' }]);
    } finally {
      http.close();
    }
  });
});

describe('unexpected failures', () => {
  test('are masked as internal_error with a request id, logged with it, and change nothing', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 2 }] });
    const logs: string[] = [];
    // A clock that yields an invalid date makes the database refuse the write: an unexpected error.
    const broken = createApp({
      orm: harness.orm,
      logger: createLogger('info', (line) => logs.push(line)),
      limits: loadConfig({}).limits,
      realNow: () => Number.NaN,
    });
    const response = await broken.fetch('http://seatgate.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': s.key, 'x-request-id': 'req-broken-clock' },
      body: JSON.stringify({ query: mutations.addSeats, variables: { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } } }),
    });
    const body = await response.json();
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].extensions).toEqual({ code: 'internal_error', type: 'internal_error', param: null, details: null, requestId: 'req-broken-clock' });
    expect(body.errors[0].message).toBe('An unexpected error occurred. Reference: req-broken-clock.');
    expect(logs.filter((line) => line.includes('req-broken-clock')).map((line) => JSON.parse(line))).toMatchObject([
      { level: 'error', requestId: 'req-broken-clock' },
      { level: 'info', message: 'request', errorCode: 'internal_error' },
    ]);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(2);

    const healthy = await graphql(harness, s.key, mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } });
    expect(healthy.data.addSeats.newBalance).toBe(3);
  });
});

describe('configuration', () => {
  test('defaults apply and bad values stop start-up with a message naming the variable', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 4000, host: '127.0.0.1', dataDir: '.data', logLevel: 'info', databaseUrl: undefined });
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ PORT: '70000' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://localhost/x' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h:5432/db', PORT: '' }).port).toBe(4000);
  });
});
