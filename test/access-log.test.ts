import { expect, test } from './fixtures.ts';
import { type Harness, mutations, uniqueName } from './helpers.ts';

// One access-log line per answer, through both doors, never carrying the key.

/** A JSON request to the app, under a request id of the test's choosing. */
const send = (harness: Harness, path: string, method: string, key: string, requestId: string, body: unknown) =>
  harness.yoga.fetch(`http://seatgate.test${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-api-key': key, 'x-request-id': requestId },
    body: JSON.stringify(body),
  });

/** The access-log line of a request id, parsed. */
function lineOf(harness: Harness, requestId: string) {
  const lines = harness.logs.map((line) => JSON.parse(line)).filter((entry) => entry.message === 'request' && entry.requestId === requestId);
  expect(lines, requestId).toHaveLength(1);
  return lines[0];
}

test('GraphQL: operation, status, error code, duration, tenant and key id; never the key', async ({ harness, scenario: s }) => {
  const ok = uniqueName('req-ok');
  const response = await send(harness, '/graphql', 'POST', s.key, ok, {
    query: `mutation AddEditor($input: AddSeatsInput!) ${mutations.addSeats.slice(mutations.addSeats.indexOf('{'))}`,
    variables: { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } },
  });
  expect(response.status).toBe(200);
  const entry = lineOf(harness, ok);
  expect(entry).toMatchObject({
    level: 'info',
    method: 'POST',
    path: '/graphql',
    operationName: 'AddEditor',
    operationType: 'mutation',
    status: 200,
    errorCode: null,
    organizationId: s.organizationId,
    mode: 'test',
  });
  expect(entry.keyId).toEqual(expect.stringMatching(/\S+/));
  expect(entry.durationMs).toBeGreaterThanOrEqual(0);

  const failed = uniqueName('req-failed');
  await send(harness, '/graphql', 'POST', s.key, failed, { query: /* GraphQL */ `{ seatBalances(customerId: "nobody") { current } }` });
  expect(lineOf(harness, failed)).toMatchObject({ operationName: null, operationType: 'query', status: 200, errorCode: 'customer_not_found' });

  const refused = uniqueName('req-refused');
  // Another last character: one in 32 keys already ends in any given one.
  await send(harness, '/graphql', 'POST', `${s.key.slice(0, -1)}${s.key.endsWith('x') ? 'y' : 'x'}`, refused, { query: /* GraphQL */ `{ features { code } }` });
  expect(lineOf(harness, refused)).toMatchObject({ status: 401, errorCode: 'unauthorized', organizationId: null, keyId: null });

  const secret = s.key.slice('ck_test_'.length);
  expect(harness.logs.filter((line) => line.includes(secret))).toEqual([]);
});

test('REST: the route is named by its GraphQL twin, and a refusal by its code', async ({ harness, scenario: s }) => {
  const ok = uniqueName('req-rest-ok');
  const response = await send(harness, '/api/v1/seats', 'POST', s.key, ok, { customerId: s.customerId, featureCode: 'editor', count: 1 });
  expect(response.status).toBe(200);
  expect(lineOf(harness, ok)).toMatchObject({
    method: 'POST',
    path: '/api/v1/seats',
    operationName: 'addSeats',
    operationType: 'mutation',
    status: 200,
    errorCode: null,
    organizationId: s.organizationId,
  });

  const refused = uniqueName('req-rest-refused');
  const answer = await send(harness, '/api/v1/seats', 'DELETE', s.key, refused, { customerId: s.customerId, featureCode: 'editor', count: 50 });
  expect(answer.status).toBe(400);
  expect(lineOf(harness, refused)).toMatchObject({ status: 400, errorCode: 'insufficient_seats', operationName: 'removeSeats' });
});
