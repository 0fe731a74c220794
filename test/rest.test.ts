import { describe, expect, test } from './fixtures.ts';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/common/logger.ts';
import { routes } from '../src/rest/routes.ts';
import {
  balanceOf,
  createCustomerWithSubscription,
  expectLedgerWhole,
  type Harness,
  ledgerOf,
  mutations,
  queries,
  rest,
  type SeatScenario,
  seatScenario,
  uniqueName,
} from './helpers.ts';

// The REST door (SEAT-CONTRACT.md §7) checked against the GraphQL view of the same ledger.

const call = (harness: Harness, s: SeatScenario, method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  rest(harness.yoga, s.key, method, path, body, headers);

const writes = [
  { name: 'add', method: 'POST', path: '/api/v1/seats', kind: 'ADD' },
  { name: 'remove', method: 'DELETE', path: '/api/v1/seats', kind: 'REMOVE' },
  { name: 'remove (POST)', method: 'POST', path: '/api/v1/seats/remove', kind: 'REMOVE' },
  { name: 'set', method: 'PUT', path: '/api/v1/seats', kind: 'SET' },
] as const;

/** The newest events of a balance, as GraphQL shows them. */
async function eventsOf(s: SeatScenario, featureCode: string, first = 1) {
  const data = await s.client.ok(queries.seatEvents, { customerId: s.customerId, featureCode, first });
  return data.seatEvents.edges.map((edge: { node: Record<string, unknown> }) => edge.node);
}

/** What a REST seat change answers for a GraphQL SeatEvent. */
const asRestSeat = ({ kind: _kind, count: _count, ...event }: Record<string, unknown>): Record<string, unknown> => ({ ...event, object: 'seat' });

function expectFailure(response: { status: number; body: any }, status: number, code: string, type: string) {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.body).toEqual({
    success: false,
    error: {
      type,
      code,
      message: expect.any(String),
      param: response.body.error?.param ?? null,
      details: response.body.error?.details ?? null,
      doc_url: `http://seatgate.test/docs/errors/${code}`,
    },
  });
  return response.body.error as { param: string | null; details: { field: string; message: string }[] | null; message: string };
}

describe('every route answers what GraphQL shows of the same ledger', () => {
  test.for(writes)('$name ($method $path) records one $kind event', async ({ method, path, kind }, { harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 4 }] });
    const response = await call(harness, s, method, path, { customerId: s.customerId, featureCode: 'editor', count: 3 });
    expect(response.status).toBe(200);
    expect(response.body.success).toBe(true);
    const expected = { ADD: 7, REMOVE: 1, SET: 3 }[kind];
    expect(response.body.data).toMatchObject({ customerId: s.customerId, featureCode: 'editor', previousBalance: 4, newBalance: expected, livemode: false });
    expect(response.body.data.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const [newest] = await eventsOf(s, 'editor');
    expect(newest.kind).toBe(kind);
    expect(response.body.data).toEqual(asRestSeat(newest));
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(expected);
    expect(await expectLedgerWhole(harness, s.customerId, 'editor')).toHaveLength(2);
  });

  test('a cus_ id works as customerId; the answer names the external id, as GraphQL does', async ({ harness }) => {
    const s = await seatScenario(harness);
    const response = await call(harness, s, 'POST', '/api/v1/seats', { customerId: s.customer.id, featureCode: 'editor', count: 1 });
    expect(response.body.data.customerId).toBe(s.customer.externalId);
    const plain = await seatScenario(harness, { externalId: null });
    const noExternal = await call(harness, plain, 'POST', '/api/v1/seats', { customerId: plain.customer.id, featureCode: 'editor', count: 1 });
    expect(noExternal.body.data.customerId).toBe(plain.customer.id);
  });

  test('bulk set applies every entry and answers one event per entry, in the order given', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 4 }] });
    const response = await call(harness, s, 'PUT', '/api/v1/seats/bulk', { customerId: s.customerId, seats: { viewer: 2, editor: 9, admin: 40 } });
    expect(response.status).toBe(200);
    expect(
      response.body.data.map((event: { featureCode: string; previousBalance: number; newBalance: number }) => [
        event.featureCode,
        event.previousBalance,
        event.newBalance,
      ]),
    ).toEqual([
      ['viewer', 0, 2],
      ['editor', 4, 9],
      ['admin', 0, 40],
    ]);
    for (const event of response.body.data) {
      expect(event).not.toHaveProperty('customerId');
      const [newest] = await eventsOf(s, event.featureCode);
      const { customerId: _customerId, ...shown } = asRestSeat(newest);
      expect(event).toEqual(shown);
    }
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(9);
  });

  test('one balance and all balances match seatBalance and seatBalances, zero balances included', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 6 }] });
    await s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'viewer', count: 1 } });

    const one = await call(harness, s, 'GET', `/api/v1/seats/balance?customerId=${encodeURIComponent(s.customerId)}&featureCode=editor`);
    const { seatBalance } = await s.client.ok(queries.seatBalance, { customerId: s.customerId, featureCode: 'editor' });
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ success: true, data: { current: 6, asOf: seatBalance.asOf, object: 'seat', livemode: false } });

    const all = await call(harness, s, 'GET', `/api/v1/seats/balances?customerId=${encodeURIComponent(s.customer.id)}`);
    const { seatBalances } = await s.client.ok(queries.seatBalances, { customerId: s.customerId });
    expect(seatBalances).toHaveLength(3);
    expect(all.body).toEqual({
      success: true,
      data: {
        object: 'seat',
        livemode: false,
        ...Object.fromEntries(
          seatBalances.map((b: { featureCode: string; current: number; asOf: string }) => [b.featureCode, { current: b.current, asOf: b.asOf }]),
        ),
      },
    });
    expect(all.body.data.admin.current).toBe(0);
    expect(all.body.data.viewer.current).toBe(1);
  });

  test('a live key sees livemode true', async ({ harness }) => {
    const s = await seatScenario(harness, { mode: 'live' });
    const change = await call(harness, s, 'POST', '/api/v1/seats', { customerId: s.customerId, featureCode: 'editor', count: 1 });
    const bulk = await call(harness, s, 'PUT', '/api/v1/seats/bulk', { customerId: s.customerId, seats: { viewer: 1 } });
    const one = await call(harness, s, 'GET', `/api/v1/seats/balance?customerId=${s.customerId}&featureCode=editor`);
    const all = await call(harness, s, 'GET', `/api/v1/seats/balances?customerId=${s.customerId}`);
    expect([change.body.data.livemode, bulk.body.data[0].livemode, one.body.data.livemode, all.body.data.livemode]).toEqual([true, true, true, true]);
  });
});

test('every success body is exactly what the OpenAPI document promises: the output schema of its route, no field more or less', async ({ harness }) => {
  const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 4 }] });
  for (const route of routes) {
    const input =
      route.graphql === 'bulkSetSeats' ? { customerId: s.customerId, seats: { editor: 5 } } : { customerId: s.customerId, featureCode: 'editor', count: 1 };
    const response =
      route.from === 'query'
        ? await call(
            harness,
            s,
            route.method,
            `${route.path}?${new URLSearchParams(route.graphql === 'seatBalances' ? { customerId: s.customerId } : { customerId: s.customerId, featureCode: 'editor' })}`,
          )
        : await call(harness, s, route.method, route.path, input);
    expect(response.status, `${route.method} ${route.path}`).toBe(200);
    // zod drops fields it does not know, so parsing changes nothing only when the shape is exact.
    expect(route.output.parse(response.body.data), `${route.method} ${route.path}`).toEqual(response.body.data);
  }
});

describe('every contract error a route can answer, with its status and envelope, changing nothing', () => {
  const body = (s: SeatScenario, fields: Partial<{ customerId: string; featureCode: string; count: number }> = {}) => ({
    customerId: s.customerId,
    featureCode: 'editor',
    count: 1,
    ...fields,
  });

  /** Runs `work` and checks that no balance or event of the scenario's customer changed. */
  async function changesNothing(harness: Harness, s: SeatScenario, work: () => Promise<void>) {
    const before = await Promise.all(['editor', 'viewer'].map((code) => ledgerOf(harness, s.customerId, code)));
    await work();
    const after = await Promise.all(['editor', 'viewer'].map((code) => ledgerOf(harness, s.customerId, code)));
    expect(after).toEqual(before);
  }

  test.for(writes)('$name: not found, not in plan, limits, validation', async ({ method, path, kind }, { harness }) => {
    const s = await seatScenario(harness, {
      initialSeats: [
        { featureCode: 'editor', count: 2 },
        { featureCode: 'viewer', count: 2 },
      ],
    });
    const unsubscribed = uniqueName('unsubscribed');
    await s.client.ok(/* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, {
      input: { name: 'Idle', externalId: unsubscribed },
    });
    await changesNothing(harness, s, async () => {
      expect(expectFailure(await call(harness, s, method, path, body(s, { customerId: 'nobody' })), 404, 'customer_not_found', 'not_found_error').param).toBe(
        'customerId',
      );
      expect(expectFailure(await call(harness, s, method, path, body(s, { featureCode: 'ghost' })), 404, 'feature_not_found', 'not_found_error').param).toBe(
        'featureCode',
      );
      expect(expectFailure(await call(harness, s, method, path, body(s, { featureCode: 'auditor' })), 400, 'feature_not_in_plan', 'billing_error').param).toBe(
        'featureCode',
      );
      expectFailure(await call(harness, s, method, path, body(s, { customerId: unsubscribed })), 404, 'no_active_subscription', 'not_found_error');
      const invalid = expectFailure(
        await call(harness, s, method, path, body(s, { count: -1, featureCode: 'Not-A-Code' })),
        400,
        'validation_error',
        'validation_error',
      );
      expect(invalid.details?.map((detail) => detail.field).sort()).toEqual(['count', 'featureCode']);
      if (kind === 'REMOVE') {
        const insufficient = expectFailure(await call(harness, s, method, path, body(s, { count: 3 })), 400, 'insufficient_seats', 'billing_error');
        expect(insufficient.param).toBe('count');
      } else {
        // viewer: 2 included, no overage.
        const over = expectFailure(
          await call(harness, s, method, path, body(s, { featureCode: 'viewer', count: 3 })),
          400,
          'seat_limit_exceeded',
          'billing_error',
        );
        expect(over.param).toBe('count');
      }
    });
  });

  test('bulk set: all or none, with the entry named by its feature code', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 2 }] });
    const bulk = (seats: Record<string, number>, customerId = s.customerId) => call(harness, s, 'PUT', '/api/v1/seats/bulk', { customerId, seats });
    await changesNothing(harness, s, async () => {
      expect(expectFailure(await bulk({ editor: 5, viewer: 3 }), 400, 'seat_limit_exceeded', 'billing_error').param).toBe('seats.viewer');
      expect(expectFailure(await bulk({ editor: 5, ghost: 1 }), 404, 'feature_not_found', 'not_found_error').param).toBe('seats.ghost');
      expect(expectFailure(await bulk({ editor: 5, auditor: 1 }), 400, 'feature_not_in_plan', 'billing_error').param).toBe('seats.auditor');
      expectFailure(await bulk({ editor: 1 }, 'nobody'), 404, 'customer_not_found', 'not_found_error');
      expect(expectFailure(await bulk({}), 400, 'validation_error', 'validation_error').param).toBe('seats');
      expect(expectFailure(await bulk({ editor: -2 }), 400, 'validation_error', 'validation_error').param).toBe('seats.editor');
    });
  });

  test('reads: not found, not in plan, no subscription, validation', async ({ harness, scenario: s }) => {
    const idle = await s.client.ok(/* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, {
      input: { name: 'Idle' },
    });
    const one = (query: string) => call(harness, s, 'GET', `/api/v1/seats/balance?${query}`);
    const all = (query: string) => call(harness, s, 'GET', `/api/v1/seats/balances?${query}`);
    expectFailure(await one(`customerId=nobody&featureCode=editor`), 404, 'customer_not_found', 'not_found_error');
    expectFailure(await one(`customerId=${s.customerId}&featureCode=ghost`), 404, 'feature_not_found', 'not_found_error');
    expectFailure(await one(`customerId=${s.customerId}&featureCode=auditor`), 400, 'feature_not_in_plan', 'billing_error');
    expectFailure(await one(`customerId=${idle.createCustomer.id}&featureCode=editor`), 404, 'no_active_subscription', 'not_found_error');
    expect(expectFailure(await one(`customerId=${s.customerId}`), 400, 'validation_error', 'validation_error').param).toBe('featureCode');
    expectFailure(await all(`customerId=nobody`), 404, 'customer_not_found', 'not_found_error');
    expectFailure(await all(`customerId=${idle.createCustomer.id}`), 404, 'no_active_subscription', 'not_found_error');
    expect(expectFailure(await all(``), 400, 'validation_error', 'validation_error').param).toBe('customerId');
  });

  test('unexpected failures answer internal_error with the request id, are logged, and change nothing', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 2 }] });
    const logs: string[] = [];
    // A clock that yields an invalid date makes the database refuse the write.
    const broken = createApp({
      orm: harness.orm,
      logger: createLogger('info', (line) => logs.push(line)),
      limits: loadConfig({}).limits,
      realNow: () => Number.NaN,
    });
    await changesNothing(harness, s, async () => {
      const response = await rest(broken, s.key, 'POST', '/api/v1/seats', body(s), { 'x-request-id': 'req-rest-broken' });
      const error = expectFailure(response, 500, 'internal_error', 'internal_error');
      expect(error.message).toBe('An unexpected error occurred. Reference: req-rest-broken.');
      expect(response.headers.get('x-request-id')).toBe('req-rest-broken');
    });
    // The error, with the request id, then the access-log line naming its code.
    expect(logs.filter((line) => line.includes('req-rest-broken')).map((line) => JSON.parse(line))).toMatchObject([
      { level: 'error', requestId: 'req-rest-broken' },
      { level: 'info', message: 'request', status: 500, errorCode: 'internal_error' },
    ]);
  });
});

describe('idempotency keys, shared by both doors', () => {
  const add = (s: SeatScenario, count: number) => ({ customerId: s.customerId, featureCode: 'editor', count });

  test('a REST retry answers the first event and records nothing; another body with the key is refused', async ({ harness, scenario: s }) => {
    const headers = { 'idempotency-key': uniqueName('retry') };
    const first = await call(harness, s, 'POST', '/api/v1/seats', add(s, 3), headers);
    const again = await call(harness, s, 'POST', '/api/v1/seats', add(s, 3), headers);
    expect(again.body).toEqual(first.body);
    const other = await call(harness, s, 'POST', '/api/v1/seats', add(s, 4), headers);
    expectFailure(other, 409, 'idempotency_key_mismatch', 'conflict_error');
    const otherOperation = await call(harness, s, 'PUT', '/api/v1/seats', add(s, 3), headers);
    expectFailure(otherOperation, 409, 'idempotency_key_mismatch', 'conflict_error');
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(3);
    expect(await expectLedgerWhole(harness, s.customerId, 'editor')).toHaveLength(1);
  });

  test('both remove routes are one operation: a key sent to each applies once', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 5 }] });
    const headers = { 'idempotency-key': uniqueName('remove') };
    const viaDelete = await call(harness, s, 'DELETE', '/api/v1/seats', add(s, 2), headers);
    const viaPost = await call(harness, s, 'POST', '/api/v1/seats/remove', add(s, 2), headers);
    expect(viaPost.body).toEqual(viaDelete.body);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(3);
  });

  test('the same key through REST and GraphQL at once applies once, and both answer the same event', async ({ harness, scenario: s }) => {
    const key = uniqueName('both-doors');
    const [restAnswers, graphqlAnswers] = await Promise.all([
      Promise.all(Array.from({ length: 10 }, () => call(harness, s, 'POST', '/api/v1/seats', add(s, 2), { 'idempotency-key': key }))),
      Promise.all(Array.from({ length: 10 }, () => s.client.run(mutations.addSeats, { input: { ...add(s, 2), idempotencyKey: key } }))),
    ]);
    const ids = new Set([...restAnswers.map((answer) => answer.body.data?.id), ...graphqlAnswers.map((answer) => answer.data?.addSeats.id)]);
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^sev_/);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(2);
    expect(await expectLedgerWhole(harness, s.customerId, 'editor')).toHaveLength(1);
  });

  test('a bulk set keyed through GraphQL and repeated through REST answers the same events', async ({ harness, scenario: s }) => {
    const key = uniqueName('bulk');
    const viaGraphQL = await s.client.ok(mutations.bulkSetSeats, {
      input: {
        customerId: s.customerId,
        idempotencyKey: key,
        seats: [
          { featureCode: 'viewer', count: 1 },
          { featureCode: 'editor', count: 4 },
        ],
      },
    });
    const viaRest = await call(
      harness,
      s,
      'PUT',
      '/api/v1/seats/bulk',
      { customerId: s.customerId, seats: { viewer: 1, editor: 4 } },
      { 'idempotency-key': key },
    );
    expect(viaRest.body.data.map((event: { id: string }) => event.id)).toEqual(viaGraphQL.bulkSetSeats.map((event: { id: string }) => event.id));
    // Another order is another input.
    const reordered = await call(
      harness,
      s,
      'PUT',
      '/api/v1/seats/bulk',
      { customerId: s.customerId, seats: { editor: 4, viewer: 1 } },
      { 'idempotency-key': key },
    );
    expectFailure(reordered, 409, 'idempotency_key_mismatch', 'conflict_error');
    expect(await expectLedgerWhole(harness, s.customerId, 'editor')).toHaveLength(1);
  });
});

describe('what a plain JS object would get wrong', () => {
  test('bulk set keeps the written order of codes that look like integers, so one key spans both doors', async ({ harness }) => {
    const features = ['b', '10', '2'].map((code) => ({ code, includedSeats: 0, overageEnabled: true }));
    const s = await seatScenario(harness, { features });
    const key = uniqueName('bulk-order');
    const viaRest = await rest(
      harness.yoga,
      s.key,
      'PUT',
      '/api/v1/seats/bulk',
      `{"customerId":${JSON.stringify(s.customerId)},"seats":{"b":1,"10":2,"2":3}}`,
      {
        'idempotency-key': key,
      },
    );
    expect(viaRest.body.data.map((event: { featureCode: string }) => event.featureCode)).toEqual(['b', '10', '2']);
    const viaGraphQL = await s.client.ok(mutations.bulkSetSeats, {
      input: {
        customerId: s.customerId,
        idempotencyKey: key,
        seats: [
          { featureCode: 'b', count: 1 },
          { featureCode: '10', count: 2 },
          { featureCode: '2', count: 3 },
        ],
      },
    });
    expect(viaGraphQL.bulkSetSeats.map((event: { id: string }) => event.id)).toEqual(viaRest.body.data.map((event: { id: string }) => event.id));
  });

  test('all balances keep the envelope when features are coded object or livemode; each is still read one at a time', async ({ harness }) => {
    const features = ['object', 'livemode', 'editor'].map((code) => ({ code, includedSeats: 0, overageEnabled: true }));
    const s = await seatScenario(harness, { features, initialSeats: [{ featureCode: 'object', count: 4 }] });
    const all = await call(harness, s, 'GET', `/api/v1/seats/balances?customerId=${s.customerId}`);
    expect(all.body.data).toMatchObject({ object: 'seat', livemode: false, editor: { current: 0 } });
    const one = await call(harness, s, 'GET', `/api/v1/seats/balance?customerId=${s.customerId}&featureCode=object`);
    expect(one.body.data.current).toBe(4);
  });

  test('a write takes its input from the body only: a query string is refused, not ignored', async ({ harness, scenario: s }) => {
    const response = await call(harness, s, 'POST', `/api/v1/seats?customerId=someone-else`, { customerId: s.customerId, featureCode: 'editor', count: 1 });
    expect(expectFailure(response, 400, 'validation_error', 'validation_error').param).toBe('customerId');
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(0);
  });
});

describe('REST and GraphQL changing one customer at once', () => {
  test('lose nothing: the balance is the sum of the changes and the chain is whole', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 100 }] });
    const other = await createCustomerWithSubscription(s.client, { externalId: uniqueName('other') });
    const change = { customerId: s.customerId, featureCode: 'editor', count: 1 };
    const work = Array.from({ length: 60 }, (_, i) => {
      switch (i % 5) {
        case 0:
          return call(harness, s, 'POST', '/api/v1/seats', { ...change, count: 3 });
        case 1:
          return call(harness, s, i % 2 ? 'DELETE' : 'POST', i % 2 ? '/api/v1/seats' : '/api/v1/seats/remove', change);
        case 2:
          return s.client.run(mutations.addSeats, { input: { ...change, count: 2 } });
        case 3:
          return s.client.run(mutations.removeSeats, { input: change });
        default:
          return call(harness, s, 'POST', '/api/v1/seats', { ...change, customerId: other.externalId });
      }
    });
    const answers = await Promise.all(work);
    expect(answers.filter((answer) => ('body' in answer ? answer.status !== 200 : answer.errors !== undefined))).toEqual([]);
    // 12 each of +3, −1, +2, −1 on the shared customer.
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(100 + 12 * (3 - 1 + 2 - 1));
    expect(await expectLedgerWhole(harness, s.customerId, 'editor')).toHaveLength(1 + 48);
    expect(await balanceOf(harness, other.externalId!, 'editor')).toBe(12);
  });
});
