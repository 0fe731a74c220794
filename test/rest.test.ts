import { describe, expect, test } from './fixtures.ts';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/common/logger.ts';
import { routes } from '../src/rest/routes.ts';
import {
  balanceOf,
  createCustomerWithSubscription,
  createScenarioPlan,
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

const SUBSCRIPTION = 'id status cancelAtPeriodEnd endedAt currentPeriodStart currentPeriodEnd cancellation { reason comment requestedAt effectiveAt }';

/** The customer's subscription as GraphQL shows it: the active one, else the one that ended last. */
async function subscriptionOf(s: SeatScenario) {
  return (await s.client.ok(/* GraphQL */ `query($id: String!) { customer(id: $id) { subscription { ${SUBSCRIPTION} } } }`, { id: s.customerId })).customer
    .subscription;
}

/** A plan on the scenario's features and currency, `editor` on the terms given. */
async function createPlan(s: SeatScenario, code: string, interval: 'MONTH' | 'YEAR', editor: Record<string, unknown>): Promise<string> {
  return (await createScenarioPlan(s.client, code, editor, { interval, name: `Plan ${code}` })).id;
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
  await createPlan(s, 'business', 'MONTH', { includedSeats: 2, overageEnabled: true, unitPrice: 5000 });
  await createPlan(s, 'enterprise', 'MONTH', { includedSeats: 2, overageEnabled: true, unitPrice: 9000 });
  const subscriptionId = (await subscriptionOf(s)).id;
  for (const route of routes) {
    const input =
      route.graphql === 'bulkSetSeats' ? { customerId: s.customerId, seats: { editor: 5 } } : { customerId: s.customerId, featureCode: 'editor', count: 1 };
    // The subscription routes in table order: cancelled at the period end with a reason, then
    // revoked; moved to a dearer plan now (a change answering billing), then a preview of a dearer one still.
    const subscriptionInputs: Record<string, object> = {
      cancelSubscription: { reason: 'unused' },
      changePlan: { newPlanId: 'business' },
      previewPlanChange: { planId: 'enterprise' },
    };
    const subscriptionInput = subscriptionInputs[route.graphql] ?? {};
    const response = route.params
      ? await call(harness, s, route.method, route.path.replace('{id}', subscriptionId), subscriptionInput)
      : route.from === 'query'
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

describe('subscriptions by id: Commet’s cancel and uncancel over the cancel flows', () => {
  const cancel = (harness: Harness, s: SeatScenario, id: string, body: unknown, headers?: Record<string, string>) =>
    call(harness, s, 'POST', `/api/v1/subscriptions/${id}/cancel`, body, headers);
  const uncancel = (harness: Harness, s: SeatScenario, id: string, headers?: Record<string, string>) =>
    call(harness, s, 'POST', `/api/v1/subscriptions/${id}/uncancel`, {}, headers);
  const cancelMutation = /* GraphQL */ `mutation($input: CancelSubscriptionInput!) { cancelSubscription(input: $input) { ${SUBSCRIPTION} } }`;
  const chargesQuery = /* GraphQL */ `query($customerId: String!) { seatCharges(customerId: $customerId) { kind featureCode quantity unitPrice daysRemaining daysInPeriod amount ts } }`;
  const chargesOf = async (s: SeatScenario) => (await s.client.ok(chargesQuery, { customerId: s.customerId })).seatCharges as Record<string, any>[];
  /** editor: 5 included at 2500 per extra seat, 7 held, so 2 seats are paid through the period's end. */
  const paying = (harness: Harness) => seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 7 }] });

  test('at the period end, then uncancel: active throughout; each answer is what GraphQL shows', async ({ harness }) => {
    const s = await paying(harness);
    const before = await subscriptionOf(s);
    const scheduled = await cancel(harness, s, before.id, { reason: ' Too_Expensive ' });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(200);
    const after = await subscriptionOf(s);
    expect(after).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: true, endedAt: null });
    expect(after.cancellation).toMatchObject({ reason: 'TOO_EXPENSIVE', comment: null, effectiveAt: before.currentPeriodEnd });
    expect(scheduled.body).toEqual({
      success: true,
      data: {
        id: before.id,
        customerId: s.customerId,
        status: 'active',
        canceledAt: after.cancellation.requestedAt,
        cancelReason: 'too_expensive',
        scheduledCancellationDate: before.currentPeriodEnd,
        updatedAt: after.cancellation.requestedAt,
        object: 'subscription',
        livemode: false,
      },
    });
    // Seat changes still work until the end.
    expect((await call(harness, s, 'POST', '/api/v1/seats', { customerId: s.customerId, featureCode: 'editor', count: 1 })).status).toBe(200);

    const revoked = await uncancel(harness, s, before.id);
    expect(revoked.body).toEqual({
      success: true,
      data: { id: before.id, customerId: s.customerId, status: 'active', updatedAt: expect.any(String), object: 'subscription', livemode: false },
    });
    expect(Date.parse(revoked.body.data.updatedAt)).toBeGreaterThanOrEqual(Date.parse(after.cancellation.requestedAt));
    expect(await subscriptionOf(s)).toEqual({ ...before, cancelAtPeriodEnd: false, cancellation: null });
    // Nothing is scheduled any more: the flow's conflict, naming the path's id.
    expect(expectFailure(await uncancel(harness, s, before.id), 409, 'conflict', 'conflict_error').param).toBe('id');
  });

  test('a reason that is no CancellationReason name is OTHER with the words as the comment; a repeat keeps the first', async ({ harness }) => {
    const s = await paying(harness);
    const { id } = await subscriptionOf(s);
    const words = 'We moved to a spreadsheet';
    const first = await cancel(harness, s, id, { reason: words, immediate: false });
    expect(first.body.data.cancelReason).toBe(words);
    expect((await subscriptionOf(s)).cancellation).toMatchObject({ reason: 'OTHER', comment: words });
    const again = await cancel(harness, s, id, { reason: 'unused' });
    expect(again.body).toEqual(first.body);
    // No reason at all, after a revoke.
    await uncancel(harness, s, id);
    expect((await cancel(harness, s, id, {})).body.data.cancelReason).toBeNull();
    expect((await subscriptionOf(s)).cancellation).toMatchObject({ reason: null, comment: null });
  });

  test('immediately: ended now, with the credit GraphQL shows; the ended id then answers no_active_subscription', async ({ harness }) => {
    const s = await paying(harness);
    const before = await subscriptionOf(s);
    // Ten days into the period, on the tenant's test clock.
    const at = new Date(Date.parse(before.currentPeriodStart) + 10 * 86_400_000).toISOString();
    await s.client.ok(/* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`, { input: { to: at } });

    const ended = await cancel(harness, s, before.id, { immediate: true, reason: 'unused' });
    expect(ended.body).toEqual({
      success: true,
      data: {
        id: before.id,
        customerId: s.customerId,
        status: 'canceled',
        canceledAt: at,
        cancelReason: 'unused',
        scheduledCancellationDate: at,
        updatedAt: at,
        object: 'subscription',
        livemode: false,
      },
    });
    expect(await subscriptionOf(s)).toMatchObject({ id: before.id, status: 'CANCELED', endedAt: at, cancellation: { reason: 'UNUSED', effectiveAt: at } });
    const credits = (await chargesOf(s)).filter((charge) => charge.kind === 'CREDIT');
    expect(credits).toHaveLength(1);
    const [credit] = credits;
    expect(credit).toMatchObject({ featureCode: 'editor', quantity: 2, unitPrice: 2500, ts: at });
    expect(credit!.daysRemaining).toBe(credit!.daysInPeriod - 10);
    expect(credit!.amount).toBe(-Math.round((2 * 2500 * credit!.daysRemaining) / credit!.daysInPeriod));

    for (const response of [await cancel(harness, s, before.id, { immediate: true }), await uncancel(harness, s, before.id)]) {
      expect(expectFailure(response, 404, 'no_active_subscription', 'not_found_error').param).toBe('id');
    }
    expect(await chargesOf(s)).toHaveLength(2); // the advance and the credit
  });

  test('an id no subscription of the tenant has answers 404 subscription_not_found, another tenant’s included', async ({ harness }) => {
    const [s, other] = [await paying(harness), await paying(harness)];
    const { id: othersId } = await subscriptionOf(other);
    for (const id of ['sub_nope', othersId]) {
      for (const response of [await cancel(harness, s, id, { immediate: true }), await uncancel(harness, s, id)]) {
        expect(expectFailure(response, 404, 'subscription_not_found', 'not_found_error').param).toBe('id');
      }
    }
    expect((await subscriptionOf(other)).status).toBe('ACTIVE');
    expect(await chargesOf(other)).toHaveLength(1);
  });

  test('a bad body answers 400 in the envelope, naming the field, and changes nothing', async ({ harness }) => {
    const s = await paying(harness);
    const before = await subscriptionOf(s);
    const refusals: [unknown, string | null, string][] = [
      [{ immediate: 'yes' }, 'immediate', 'validation_error'],
      [{ immediate: 1 }, 'immediate', 'validation_error'],
      [{ reason: 'x'.repeat(501) }, 'reason', 'validation_error'],
      [{ reason: 5 }, 'reason', 'validation_error'],
      [{ reason: 'a\u0000b' }, 'reason', 'validation_error'],
      [{ timing: 'IMMEDIATELY' }, 'timing', 'validation_error'],
      ['{"immediate": true', null, 'invalid_json'],
      ['[]', null, 'validation_error'],
    ];
    for (const [body, param, code] of refusals) {
      expect(expectFailure(await cancel(harness, s, before.id, body), 400, code, 'validation_error').param, JSON.stringify(body)).toBe(param);
    }
    expect(await subscriptionOf(s)).toEqual(before);
    // At the limit, the words are kept whole.
    expect((await cancel(harness, s, before.id, { reason: 'x'.repeat(500) })).status).toBe(200);
    expect((await subscriptionOf(s)).cancellation).toMatchObject({ reason: 'OTHER', comment: 'x'.repeat(500) });
  });

  test('idempotency keys are shared with GraphQL’s cancelSubscription and resumeSubscription', async ({ harness }) => {
    const s = await paying(harness);
    const { id } = await subscriptionOf(s);
    const key = uniqueName('cancel');
    const viaGraphql = (
      await s.client.ok(cancelMutation, { input: { customerId: s.customer.id, timing: 'IMMEDIATELY', reason: 'UNUSED', idempotencyKey: key } })
    ).cancelSubscription;
    // The same call through REST, after the subscription ended: the first call's answer, nothing recorded.
    const viaRest = await cancel(harness, s, id, { immediate: true, reason: 'UNUSED' }, { 'idempotency-key': key });
    expect(viaRest.status, JSON.stringify(viaRest.body)).toBe(200);
    expect(viaRest.body.data).toMatchObject({ id, status: 'canceled', canceledAt: viaGraphql.cancellation.requestedAt });
    expect(await chargesOf(s)).toHaveLength(2);
    // Another input, or another operation, with the key.
    expectFailure(await cancel(harness, s, id, { immediate: true }, { 'idempotency-key': key }), 409, 'idempotency_key_mismatch', 'conflict_error');
    expectFailure(await uncancel(harness, s, id, { 'idempotency-key': key }), 409, 'idempotency_key_mismatch', 'conflict_error');
    // An ended subscription with a key never used: no_active_subscription, not a repeat.
    expectFailure(
      await cancel(harness, s, id, { immediate: true }, { 'idempotency-key': uniqueName('fresh') }),
      404,
      'no_active_subscription',
      'not_found_error',
    );

    // REST first, then GraphQL: one scheduled cancellation, one event.
    const t = await paying(harness);
    const { id: tid } = await subscriptionOf(t);
    const tkey = uniqueName('uncancel');
    await t.client.ok(cancelMutation, { input: { customerId: t.customerId, timing: 'AT_PERIOD_END' } });
    const revoked = await uncancel(harness, t, tid, { 'idempotency-key': tkey });
    expect(revoked.status).toBe(200);
    await t.client.ok(cancelMutation, { input: { customerId: t.customerId, timing: 'AT_PERIOD_END' } });
    // The key's resume happened already: a repeat through GraphQL revokes nothing new.
    const repeat = await t.client.ok(
      /* GraphQL */ `mutation($input: ResumeSubscriptionInput!) { resumeSubscription(input: $input) { id cancelAtPeriodEnd } }`,
      {
        input: { customerId: t.customerId, idempotencyKey: tkey },
      },
    );
    expect(repeat.resumeSubscription).toEqual({ id: tid, cancelAtPeriodEnd: true });
  });

  test('a key used on a subscription that ended is a mismatch on the next one, which GraphQL would take for a repeat', async ({ harness }) => {
    const s = await paying(harness);
    const { id: first } = await subscriptionOf(s);
    const key = uniqueName('resubscribed');
    expect((await cancel(harness, s, first, { immediate: true }, { 'idempotency-key': key })).status).toBe(200);
    await s.client.ok(/* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`, {
      input: { customerId: s.customerId, planCode: 'team' },
    });
    const { id: second } = await subscriptionOf(s);
    expect(second).not.toBe(first);
    const refused = expectFailure(
      await cancel(harness, s, second, { immediate: true }, { 'idempotency-key': key }),
      409,
      'idempotency_key_mismatch',
      'conflict_error',
    );
    expect(refused.message).toContain(first);
    expect(await subscriptionOf(s)).toMatchObject({ id: second, status: 'ACTIVE' });
    // The first subscription's own retry still answers its first result.
    expect((await cancel(harness, s, first, { immediate: true }, { 'idempotency-key': key })).body.data).toMatchObject({ id: first, status: 'canceled' });
  });
});

describe('subscriptions by id: Commet’s changePlan and previewChange over the plan-change flow', () => {
  const changePlan = (harness: Harness, s: SeatScenario, id: string, body: unknown, headers?: Record<string, string>) =>
    call(harness, s, 'POST', `/api/v1/subscriptions/${id}/change-plan`, body, headers);
  const previewChange = (harness: Harness, s: SeatScenario, id: string, body: unknown, headers?: Record<string, string>) =>
    call(harness, s, 'POST', `/api/v1/subscriptions/${id}/preview-change`, body, headers);
  const PLAN = 'id planCode currentPeriodEnd scheduledPlanChange { planCode effectiveAt }';
  const planOf = async (s: SeatScenario) =>
    (await s.client.ok(/* GraphQL */ `query($id: String!) { customer(id: $id) { subscription { ${PLAN} } } }`, { id: s.customerId })).customer.subscription;
  const changePlanMutation = /* GraphQL */ `mutation($input: ChangePlanInput!) { changePlan(input: $input) { ${PLAN} } }`;
  const countsOf = async (harness: Harness, s: SeatScenario) => {
    const [row] = await harness.orm.em
      .fork()
      .getConnection()
      .execute(
        `select (select count(*)::int from seat_charge where organization_id = ?) as charges,
                (select count(*)::int from idempotency_key where organization_id = ?) as keys`,
        [s.organizationId, s.organizationId],
      );
    return row;
  };

  /** team with 7 editors (5 included at 2500), and business (2 included at 5000): dearer, so a change to it applies now. */
  async function upgradable(harness: Harness) {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 7 }] });
    const businessId = await createPlan(s, 'business', 'MONTH', { includedSeats: 2, overageEnabled: true, unitPrice: 5000 });
    return { s, businessId, id: (await planOf(s)).id as string };
  }

  test('a yearly subscription moving to a monthly plan is scheduled as an interval change', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 7 }] });
    await createPlan(s, 'yearly', 'YEAR', { includedSeats: 5, overageEnabled: true, unitPrice: 25_000 });
    const t = await createCustomerWithSubscription(s.client, { externalId: uniqueName('yearly'), planCode: 'yearly' });
    const u = { ...s, customerId: t.externalId! };
    const before = await planOf(u);
    const changed = await changePlan(harness, u, before.id, { newPlanId: 'team', newBillingInterval: 'monthly' });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body.data).toMatchObject({
      scheduled: true,
      scheduledFor: before.currentPeriodEnd,
      changeType: 'subscription.interval_change',
      newBillingInterval: 'monthly',
      billingInterval: 'yearly',
      currentPlan: { name: 'Plan yearly', price: 0 },
    });
    expect(changed.body.data).not.toHaveProperty('seatLimitWarning');
    expect(await planOf(u)).toMatchObject({ planCode: 'yearly', scheduledPlanChange: { planCode: 'team', effectiveAt: before.currentPeriodEnd } });
  });

  test('the plan by its id or its code is one call: the key is shared with GraphQL’s changePlan, and a repeat records nothing', async ({ harness }) => {
    const { s, businessId, id } = await upgradable(harness);
    const key = uniqueName('change');
    const first = await changePlan(harness, s, id, { newPlanId: businessId }, { 'idempotency-key': key });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.data).toMatchObject({ scheduled: false, previousPlan: { name: 'Team' }, billing: { credit: expect.any(Number) } });
    const counts = await countsOf(harness, s);

    // The same call by code, through either door: a repeat answering the change as it stands, without the first answer's billing.
    const byCode = await changePlan(harness, s, id, { newPlanId: 'business', successUrl: 'https://example.com' }, { 'idempotency-key': key });
    const { billing: _billing, previousPlan: _previous, ...asItStands } = first.body.data;
    expect(byCode.body).toEqual({ success: true, data: asItStands });
    const viaGraphql = await s.client.ok(changePlanMutation, { input: { customerId: s.customer.id, planCode: 'business', idempotencyKey: key } });
    expect(viaGraphql.changePlan).toMatchObject({ id, planCode: 'business' });
    expect(await countsOf(harness, s)).toEqual(counts);
    // Another plan, or another timing through GraphQL, with the key: a mismatch.
    expectFailure(await changePlan(harness, s, id, { newPlanId: 'team' }, { 'idempotency-key': key }), 409, 'idempotency_key_mismatch', 'conflict_error');
    expect(
      (await s.client.fails(changePlanMutation, { input: { customerId: s.customerId, planCode: 'business', timing: 'IMMEDIATELY', idempotencyKey: key } }))
        .extensions,
    ).toMatchObject({ code: 'idempotency_key_mismatch' });
    expect(await countsOf(harness, s)).toEqual(counts);
  });

  test('a repeat of a scheduled change revoked since answers conflict; a new change without a key applies', async ({ harness }) => {
    const { s, id } = await upgradable(harness);
    await createPlan(s, 'starter', 'MONTH', { includedSeats: 8, overageEnabled: false, unitPrice: 0 });
    const key = uniqueName('revoked');
    expect((await changePlan(harness, s, id, { newPlanId: 'starter' }, { 'idempotency-key': key })).body.data).toMatchObject({ scheduled: true });
    await s.client.ok(/* GraphQL */ `mutation($input: RevokeScheduledPlanChangeInput!) { revokeScheduledPlanChange(input: $input) { id } }`, {
      input: { customerId: s.customerId },
    });
    expect(expectFailure(await changePlan(harness, s, id, { newPlanId: 'starter' }, { 'idempotency-key': key }), 409, 'conflict', 'conflict_error').param).toBe(
      'id',
    );
    expect((await planOf(s)).scheduledPlanChange).toBeNull();
  });

  test('a preview records nothing and ignores an Idempotency-Key (the SDK sends one with every POST)', async ({ harness }) => {
    const { s, id } = await upgradable(harness);
    const counts = await countsOf(harness, s);
    const key = uniqueName('preview');
    const upgrade = await previewChange(harness, s, id, { planId: 'business' }, { 'idempotency-key': key });
    expect(upgrade.body.data).toMatchObject({ isUpgrade: true, currency: 'EUR' });
    expect(upgrade.body.data.newPlanCharge).toBeGreaterThan(0);
    expect((await previewChange(harness, s, id, { planId: 'team' }, { 'idempotency-key': key })).body).toMatchObject({
      success: false,
      error: { code: 'validation_error', param: 'planId' },
    });
    expect(await countsOf(harness, s)).toEqual(counts);
    expect(await planOf(s)).toMatchObject({ planCode: 'team', scheduledPlanChange: null });
    // The key was never claimed: a change may use it.
    expect((await changePlan(harness, s, id, { newPlanId: 'business' }, { 'idempotency-key': key })).status).toBe(200);
  });

  test('refusals name the route’s own fields, and change nothing', async ({ harness }) => {
    const { s, id } = await upgradable(harness);
    // Cheaper than team at 7 editors (2 billable at 2500): a downgrade, scheduled, not previewed.
    await createPlan(s, 'lite', 'MONTH', { includedSeats: 6, overageEnabled: true, unitPrice: 2500 });
    const before = await planOf(s);
    const refusals: [string, unknown, number, string, string, string | null][] = [
      ['change-plan', {}, 400, 'validation_error', 'validation_error', 'newPlanId'],
      ['change-plan', { newBillingInterval: 'yearly' }, 400, 'validation_error', 'validation_error', 'newPlanId'],
      ['change-plan', { newPlanId: 'team' }, 400, 'validation_error', 'validation_error', 'newPlanId'],
      ['change-plan', { newPlanId: 'Business' }, 400, 'validation_error', 'validation_error', 'newPlanId'],
      ['change-plan', { newPlanId: 'business', newBillingInterval: 'daily' }, 400, 'validation_error', 'validation_error', 'newBillingInterval'],
      ['change-plan', { newPlanId: 'business', timing: 'IMMEDIATELY' }, 400, 'validation_error', 'validation_error', 'timing'],
      ['preview-change', {}, 400, 'validation_error', 'validation_error', 'planId'],
      ['preview-change', { planId: 'business', billingInterval: 'yearly' }, 400, 'validation_error', 'validation_error', 'billingInterval'],
      ['preview-change', { planId: 'nope' }, 404, 'plan_not_found', 'not_found_error', 'planId'],
      ['preview-change', { planId: 'lite' }, 400, 'plan_change_scheduled', 'billing_error', 'planId'],
    ];
    for (const [route, body, status, code, type, param] of refusals) {
      const response = await call(harness, s, 'POST', `/api/v1/subscriptions/${id}/${route}`, body);
      expect(expectFailure(response, status, code, type).param, `${route} ${JSON.stringify(body)}`).toBe(param);
    }
    // A cancellation scheduled: the flow's conflict, naming the path's id.
    await call(harness, s, 'POST', `/api/v1/subscriptions/${id}/cancel`, {});
    for (const response of [await changePlan(harness, s, id, { newPlanId: 'business' }), await previewChange(harness, s, id, { planId: 'business' })]) {
      const conflict = expectFailure(response, 409, 'conflict', 'conflict_error');
      expect(conflict).toMatchObject({ param: 'id', message: expect.stringMatching(new RegExp(`^Subscription '${id}'`)) });
    }
    expect(await planOf(s)).toEqual(before);
    // Once ended: no_active_subscription.
    await call(harness, s, 'POST', `/api/v1/subscriptions/${id}/cancel`, { immediate: true });
    expectFailure(await changePlan(harness, s, id, { newPlanId: 'business' }), 404, 'no_active_subscription', 'not_found_error');
    expectFailure(await previewChange(harness, s, id, { planId: 'business' }), 404, 'no_active_subscription', 'not_found_error');
  });
});
