import { gzipSync } from 'node:zlib';
import { test as base, describe, expect } from '../fixtures.ts';
import { type App, createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/common/logger.ts';
import { balanceOf, graphql, mutations, newTenant } from '../helpers.ts';

/** An app of the file's own, with introspection off, on the harness's ORM. */
const test = base.extend('closed', { scope: 'file' }, ({ harness }) =>
  createApp({ orm: harness.orm, logger: createLogger('silent'), limits: { ...loadConfig({}).limits, rateLimitPerSecond: 0 }, introspection: false }),
);

async function post(app: App, key: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await app.fetch('http://seatgate.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key, ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: any[] } };
}

describe('with introspection off, errors do not spell out the schema', () => {
  test.for([
    ['a misspelt field', { query: /* GraphQL */ `{ custome { id } }` }],
    [
      'a misspelt input field in variables',
      {
        query: /* GraphQL */ `mutation($i: AddSeatsInput!) { addSeats(input: $i) { id } }`,
        variables: { i: { customerId: 'x', featureCode: 'a', count: 1, idempotencyKy: 'k' } },
      },
    ],
    ['a misspelt enum value', { query: /* GraphQL */ `mutation { createFeature(input: { code: "a", name: "a", type: SEAT }) { id } }` }],
    [
      'a misspelt enum value in variables',
      { query: /* GraphQL */ `mutation($t: FeatureType!) { createFeature(input: { code: "a", name: "a", type: $t }) { id } }`, variables: { t: 'SEAT' } },
    ],
  ])('%s answers validation_error without suggestions', async ([_name, body], { harness, closed }) => {
    const { key } = await newTenant(harness);
    const hidden = await post(closed, key, body);
    expect(hidden.body.errors?.[0]?.extensions.code).toBe('validation_error');
    expect(JSON.stringify(hidden.body)).not.toMatch(/Did you mean|\\"customer\\"|idempotencyKey\b|SEATS/);
    // With introspection on, the same mistake gets its hint.
    const open = await post(harness.yoga, key, body);
    expect(JSON.stringify(open.body)).toMatch(/Did you mean/);
  });
});

describe('input that cannot be stored faithfully is refused', () => {
  test('lone UTF-16 surrogates in any string: validation_error naming the field; "x\\ufffd" stays a customer of its own', async ({ harness, scenario: s }) => {
    const create = /* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id externalId name } }`;
    for (const input of [{ name: 'Lone', externalId: 'x\udfff' }, { name: 'x\ud800' }]) {
      const refused = await post(harness.yoga, s.key, { query: create, variables: { input } });
      expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'validation_error', param: 'externalId' in input ? 'externalId' : 'name' });
    }
    const add = await post(harness.yoga, s.key, {
      query: mutations.addSeats,
      variables: { input: { customerId: s.customerId, featureCode: 'editor', count: 1, idempotencyKey: 'k\udc00' } },
    });
    expect(add.body.errors?.[0]?.extensions).toMatchObject({ code: 'validation_error', param: 'idempotencyKey' });
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(0);
    const replacement = await post(harness.yoga, s.key, { query: create, variables: { input: { name: 'Replacement', externalId: 'x\ufffd' } } });
    expect(replacement.body.data.createCustomer.externalId).toBe('x\ufffd');
  });

  test.for(['2030-01-01T24:00:00Z', '2030-01-01T23:60:00Z', '2030-01-01T23:59:60Z'])('%s is not a time of day', async (to, { harness }) => {
    const { client } = await newTenant(harness);
    const refused = await client.fails(/* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`, { input: { to } });
    expect(refused.extensions).toMatchObject({ code: 'validation_error', param: 'to' });
  });

  test('a compressed body answers 415 and applies nothing (a gzip bomb is never inflated)', async ({ harness, scenario: s }) => {
    const body = gzipSync(JSON.stringify({ query: mutations.addSeats, variables: { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } } }));
    const response = await post(harness.yoga, s.key, new Uint8Array(body), { 'content-encoding': 'gzip' });
    expect(response.status).toBe(415);
    expect(response.body.errors?.[0]?.extensions).toMatchObject({ code: 'validation_error', param: 'Content-Encoding' });
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(0);
  });
});

describe('idempotency', () => {
  test('a key fingerprints the customer, not the form of its id: the same call by cus_ id and by external id replays', async ({ harness, scenario: s }) => {
    const add = (customerId: string) =>
      s.client.ok(mutations.addSeats, { input: { customerId, featureCode: 'editor', count: 2, idempotencyKey: 'either-id' } });
    const first = await add(s.customer.id);
    const again = await add(s.customerId);
    expect(again.addSeats).toEqual(first.addSeats);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(2);
  });
});

describe('HTTP statuses follow GraphQL over HTTP', () => {
  const cases: [string, (customerId: string) => object, number, number][] = [
    ['a parse error', () => ({ query: '{ features { ' }), 400, 200],
    ['an unknown field', () => ({ query: /* GraphQL */ `{ nothing }` }), 400, 200],
    [
      'a variable of the wrong type',
      () => ({ query: mutations.addSeats, variables: { input: { customerId: 'x', featureCode: 'editor', count: 'one' } } }),
      400,
      200,
    ],
    [
      'a lone surrogate in a variable',
      () => ({ query: mutations.addSeats, variables: { input: { customerId: 'x\udfff', featureCode: 'editor', count: 1 } } }),
      400,
      200,
    ],
    ['two mutations', (c) => ({ query: /* GraphQL */ `mutation { a: ${add(c)} b: ${add(c)} }` }), 400, 200],
    ['an argument out of range (checked as it runs)', (c) => ({ query: /* GraphQL */ `mutation { ${add(c, 0)} }` }), 200, 200],
    ['a business error', () => ({ query: /* GraphQL */ `mutation { ${add('nobody')} }` }), 200, 200],
    ['success', (c) => ({ query: /* GraphQL */ `mutation { ${add(c)} }` }), 200, 200],
  ];
  test.for(cases)(
    '%s answers %i to application/graphql-response+json and %i to application/json',
    async ([_name, body, modern, legacy], { harness, scenario: s }) => {
      const graphqlResponse = await post(harness.yoga, s.key, body(s.customerId), { accept: 'application/graphql-response+json' });
      expect(graphqlResponse.status).toBe(modern);
      const json = await post(harness.yoga, s.key, body(s.customerId), { accept: 'application/json' });
      expect(json.status).toBe(legacy);
    },
  );
  const add = (customerId: string, count = 1) => `addSeats(input: { customerId: "${customerId}", featureCode: "editor", count: ${count} }) { id }`;

  test('without a key 401, over the body limit 413, over the rate 429: the same for every client', async ({ harness, scenario: s }) => {
    for (const accept of ['application/json', 'application/graphql-response+json']) {
      expect((await graphql(harness, null, /* GraphQL */ `{ features { code } }`, undefined, { accept })).status).toBe(401);
      expect((await post(harness.yoga, s.key, { query: /* GraphQL */ `{ features { code } } # ${'x'.repeat(200_000)}` }, { accept })).status).toBe(413);
    }
  });
});
