import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createApp } from '../src/app.ts';
import { createApiKey } from '../src/auth/service.ts';
import { loadConfig } from '../src/config.ts';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate, openOrm, type Orm } from '../src/db/orm.ts';
import { createLogger } from '../src/common/logger.ts';
import { mutations } from './helpers.ts';

/** A PostgreSQL of this test's own, so it can be stopped without disturbing the others. */
let dataDir: string;
let port: number;
let database: EmbeddedDatabase;
let orm: Orm;
const logger = createLogger('silent');

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'seatgate-faults-'));
  // Run as root, PostgreSQL runs as the postgres user, who must be able to enter the folder.
  chmodSync(dataDir, 0o755);
  port = await freePort();
  database = await startEmbeddedPostgres(dataDir, port, logger);
  orm = await openOrm(database.url, { poolMax: 5, connectTimeoutMs: 1000, statementTimeoutMs: 2000 });
  await migrate(orm);
}, 120_000);

afterAll(async () => {
  await orm?.close(true);
  await database?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('with the database stopped mid-traffic, or taking connections it never answers, requests fail with internal_error rather than wait; once it is back the same app serves again', async () => {
  const { key } = await createApiKey(orm.em.fork(), 'faults', 'test');
  const app = createApp({ orm, logger, limits: { ...loadConfig({}).limits, rateLimitPerSecond: 0 } });
  const run = async (query: string, variables?: object) => {
    const response = await app.fetch('http://seatgate.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, body: (await response.json()) as { data?: any; errors?: any[] } };
  };
  for (const query of [
    /* GraphQL */ `mutation { createFeature(input: { code: "editor", name: "Editor", type: SEATS }) { code } }`,
    /* GraphQL */ `mutation { createPlan(input: { code: "team", name: "Team", currency: "EUR", interval: MONTH, seatFeatures: [{ featureCode: "editor", includedSeats: 5, overageEnabled: true, unitPrice: 100 }] }) { code } }`,
    /* GraphQL */ `mutation { createCustomer(input: { externalId: "acme", name: "Acme" }) { id } }`,
    /* GraphQL */ `mutation { createSubscription(input: { customerId: "acme", planCode: "team" }) { id } }`,
  ]) {
    expect((await run(query)).body.errors).toBeUndefined();
  }
  const add = () => run(mutations.addSeats, { input: { customerId: 'acme', featureCode: 'editor', count: 1 } });

  // Traffic in flight while the database stops.
  const inFlight = Array.from({ length: 20 }, () => add());
  await database.stop();
  const during = await Promise.all(inFlight);
  const ready = await app.fetch('http://seatgate.test/readyz');
  expect(ready.status).toBe(503);
  expect((await app.fetch('http://seatgate.test/healthz')).status).toBe(200);

  // Stopped, the database refuses connections: these answer while it is still down, not once it is back.
  const refused = await Promise.all(Array.from({ length: 5 }, () => add()));
  // A database that accepts connections and never answers: only the connect timeout can end these.
  const held: Socket[] = [];
  const stuck = createNetServer((socket) => held.push(socket)).listen(port, '127.0.0.1');
  await once(stuck, 'listening');
  const timedOut = await Promise.all(Array.from({ length: 5 }, () => add()));
  expect(held.length).toBeGreaterThan(0);
  for (const socket of held) socket.destroy();
  await new Promise((resolve) => stuck.close(resolve));
  const down = [...refused, ...timedOut];
  for (const response of [...during, ...down]) {
    if (response.body.errors) {
      expect(response.body.errors[0].extensions.code).toBe('internal_error');
      expect(JSON.stringify(response.body)).not.toMatch(/ECONNREFUSED|select|insert|terminat/i);
    }
  }
  expect(down.every((response) => response.body.errors?.[0]?.extensions.code === 'internal_error')).toBe(true);

  database = await startEmbeddedPostgres(dataDir, port, logger);
  expect((await app.fetch('http://seatgate.test/readyz')).status).toBe(200);
  expect((await app.fetch('http://seatgate.test/healthz')).status).toBe(200);
  const after = await add();
  expect(after.body.errors).toBeUndefined();

  // Nothing half-written: every change that answered success is in the ledger, each failed one left no trace.
  const succeeded = [...during, after].filter((response) => !response.body.errors).length;
  const ledger = await orm.em
    .fork()
    .getConnection()
    .execute<{ previous_balance: number; new_balance: number }[]>(`select previous_balance, new_balance from seat_event order by seq`);
  expect(ledger).toHaveLength(succeeded);
  for (const [i, event] of ledger.entries()) expect(event).toEqual({ previous_balance: i, new_balance: i + 1 });
  const [balance] = await orm.em.fork().getConnection().execute<{ current: number }[]>(`select current from seat_balance`);
  expect(balance?.current).toBe(succeeded);
}, 120_000);
