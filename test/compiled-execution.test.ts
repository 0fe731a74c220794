import { afterAll } from 'vitest';
import { expect, test } from './fixtures.ts';
import { type App, createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/common/logger.ts';
import { createCustomerWithSubscription, mutations, queries, seatScenario, type SeatScenario } from './helpers.ts';

// The harness compiles every operation from its first run (so every other test covers compiled
// execution); an app as deployed runs a document's first request on the standard executor and
// the next ones compiled. Both must answer alike, errors included.
let deployed: App;
let s: SeatScenario;
let eventId: string;

test.beforeAll(async ({ harness }) => {
  deployed = createApp({
    orm: harness.orm,
    logger: createLogger('silent'),
    limits: { ...loadConfig({}).limits, rateLimitPerSecond: 0, authFailuresPerMinute: 0 },
  });
  s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 2 }] });
  await createCustomerWithSubscription(s.client, { externalId: `${s.customerId}-2` });
  const { addSeats } = await s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 3 } });
  eventId = addSeats.id;
});
afterAll(() => deployed?.dispose());

const send = async (app: App, query: string, variables: Record<string, unknown>) => {
  const response = await app.fetch('http://seatgate.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': s.key },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: await response.json() };
};

test.for<[string, string, () => Record<string, unknown>]>([
  [
    'customers with balances, nulls and a field error',
    /* GraphQL */ `query($ids: [String!]!) { customers(ids: $ids) { id externalId name livemode subscription { planCode } seatBalances { featureCode current includedSeats unlimited asOf } auditor: seatBalance(featureCode: "auditor") { current } } }`,
    () => ({ ids: [s.customerId, 'nobody', `${s.customerId}-2`, s.customer.id] }),
  ],
  ['a page of the ledger', queries.seatEvents, () => ({ customerId: s.customerId, first: 1 })],
  [
    'nodes of several types through fragments',
    /* GraphQL */ `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Customer { externalId } ... on SeatEvent { kind count newBalance } } }`,
    () => ({ ids: [s.customer.id, eventId, 'cus_00000000000000000000000000'] }),
  ],
  ['variables that do not coerce', queries.seatBalance, () => ({ customerId: s.customerId, featureCode: 7 })],
])('%s: the first run and the compiled ones answer alike', async ([_name, query, variables], { harness }) => {
  const runs = [];
  for (let run = 0; run < 3; run++) runs.push(await send(deployed, query, variables()));
  runs.push(await send(harness.yoga, query, variables()));
  // Errors come in the order their fields fail, which is not the same on both executors.
  for (const { body } of runs) body.errors?.sort((a: { path?: unknown[] }, b: { path?: unknown[] }) => String(a.path).localeCompare(String(b.path)));
  expect(runs[0]!.body.data ?? runs[0]!.body.errors).toBeTruthy();
  for (const other of runs.slice(1)) expect(other).toEqual(runs[0]);
});
