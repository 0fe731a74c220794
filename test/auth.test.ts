import { createHash } from 'node:crypto';
import { describe, expect, test } from './fixtures.ts';
import {
  balanceOf,
  type Client,
  createCustomerWithSubscription,
  graphql,
  type GraphQLResponse,
  type Harness,
  ledgerOf,
  mutations,
  newTenant,
  queries,
  seatScenario,
  uniqueName,
} from './helpers.ts';
import { defaultApiKeyCacheMs } from '../src/auth/cache.ts';
import { schema } from '../src/graphql/schema.ts';
import type { Mode } from '../src/model/tenant.ts';

const seatFeatures = ['editor', 'viewer', 'admin'] as const;

const documents = {
  createFeature: /* GraphQL */ `mutation($input: CreateFeatureInput!) { createFeature(input: $input) { __typename id code livemode } }`,
  createPlan: /* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { __typename id code livemode } }`,
  createCustomer: /* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { __typename id externalId livemode } }`,
  createSubscription: /* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { __typename id customerId livemode } }`,
  addSeats: /* GraphQL */ `mutation($input: AddSeatsInput!) { addSeats(input: $input) { __typename livemode } }`,
  removeSeats: /* GraphQL */ `mutation($input: RemoveSeatsInput!) { removeSeats(input: $input) { __typename livemode } }`,
  setSeats: /* GraphQL */ `mutation($input: SetSeatsInput!) { setSeats(input: $input) { __typename livemode } }`,
  bulkSetSeats: /* GraphQL */ `mutation($input: BulkSetSeatsInput!) { bulkSetSeats(input: $input) { __typename livemode } }`,
  customer: /* GraphQL */ `query($id: String!) { customer(id: $id) { id externalId } }`,
  customers: /* GraphQL */ `query($ids: [String!]!) { customers(ids: $ids) { id externalId } }`,
  features: /* GraphQL */ `{ features { id code } }`,
  plans: /* GraphQL */ `{ plans { id code } }`,
};

const send = (harness: Harness, path: string, init: RequestInit = {}) => harness.yoga.fetch(`http://seatgate.test${path}`, init);

const sql = <T = any>(harness: Harness, query: string, params: unknown[] = []) => harness.orm.em.fork().getConnection().execute<T[]>(query, params);

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Seat features editor, viewer and admin in plan `team`, and one subscribed customer, for a tenant made by newTenant. */
async function furnish(client: Client, externalId: string = uniqueName('acme')) {
  for (const code of seatFeatures) {
    await client.ok(documents.createFeature, { input: { code, name: code, type: 'SEATS' } });
  }
  await client.ok(documents.createPlan, {
    input: {
      code: 'team',
      name: 'Team',
      currency: 'EUR',
      interval: 'MONTH',
      seatFeatures: seatFeatures.map((featureCode) => ({ featureCode, includedSeats: 5, overageEnabled: true, unitPrice: 100 })),
    },
  });
  return createCustomerWithSubscription(client, { externalId });
}

/** A tenant whose data others try to reach: a subscribed customer with seats, and a customer without a subscription. */
async function victimIn(harness: Harness, mode: Mode) {
  const s = await seatScenario(harness, {
    mode,
    initialSeats: [
      { featureCode: 'editor', count: 2 },
      { featureCode: 'viewer', count: 1 },
    ],
  });
  const { createCustomer: lone } = await s.client.ok(documents.createCustomer, { input: { name: 'Lone', externalId: uniqueName('lone') } });
  const { features, plans } = await s.client.ok(/* GraphQL */ `{ features { id } plans { id } }`);
  return {
    ...s,
    lone: lone as { id: string; externalId: string },
    featureIds: features.map((f: { id: string }) => f.id) as string[],
    planIds: plans.map((p: { id: string }) => p.id) as string[],
  };
}

type Victim = Awaited<ReturnType<typeof victimIn>>;

/** Everything a refused request must leave alone, read straight from the tables. */
async function stateOf(harness: Harness, victim: Victim) {
  const seats: Record<string, unknown> = {};
  for (const code of seatFeatures) {
    seats[code] = { current: await balanceOf(harness, victim.customer.id, code), ledger: await ledgerOf(harness, victim.customer.id, code) };
  }
  const subscriptions = await sql(
    harness,
    `select id, status, current_period_start, current_period_end from subscription where customer_id in (?, ?) order by id`,
    [victim.customer.id, victim.lone.id],
  );
  const charges = await sql(harness, `select id, kind, amount from seat_charge where customer_id in (?, ?) order by seq`, [victim.customer.id, victim.lone.id]);
  return { seats, subscriptions, charges };
}

function expectUnauthorized(response: GraphQLResponse) {
  expect(response.status).toBe(401);
  expect(response.data ?? null).toBeNull();
  expect(response.errors).toHaveLength(1);
  expect(response.errors![0]!.extensions).toMatchObject({ code: 'unauthorized', type: 'authentication_error' });
}

function expectCustomerNotFound(response: GraphQLResponse) {
  expect(response.errors, JSON.stringify(response.data)).toHaveLength(1);
  expect(response.errors![0]!.extensions).toMatchObject({ code: 'customer_not_found', type: 'not_found_error', param: 'customerId' });
  expect(response.data ?? null).toBeNull();
}

/** Every `{__typename, livemode}` pair in a response, at any depth. */
function livemodes(value: unknown, found: { type: string; livemode: unknown }[] = []) {
  if (Array.isArray(value)) for (const item of value) livemodes(item, found);
  else if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if ('livemode' in record) found.push({ type: String(record.__typename), livemode: record.livemode });
    for (const item of Object.values(record)) livemodes(item, found);
  }
  return found;
}

describe('authentication', () => {
  const badKeys: [string, (validKey: string) => Record<string, string>][] = [
    ['no x-api-key header', () => ({})],
    ['an empty x-api-key header', () => ({ 'x-api-key': '' })],
    ['a malformed key', () => ({ 'x-api-key': 'not-a-key' })],
    ['a well-formed but unknown key', () => ({ 'x-api-key': `ck_test_${'abcdefghijklmnop'.repeat(2)}` })],
    ['a valid secret under a foreign prefix', (validKey) => ({ 'x-api-key': `sk_test_${validKey.slice('ck_test_'.length)}` })],
    ['a valid secret under the other mode prefix', (validKey) => ({ 'x-api-key': validKey.replace('ck_test_', 'ck_live_') })],
    ['a valid key with a character changed', (validKey) => ({ 'x-api-key': validKey.slice(0, -1) + (validKey.endsWith('a') ? 'b' : 'a') })],
  ];

  const operations = (customerId: string): [string, string, Record<string, unknown>][] => [
    ['seatBalance', queries.seatBalance, { customerId, featureCode: 'editor' }],
    ['seatBalances', queries.seatBalances, { customerId }],
    ['addSeats', mutations.addSeats, { input: { customerId, featureCode: 'editor', count: 1 } }],
    ['removeSeats', mutations.removeSeats, { input: { customerId, featureCode: 'editor', count: 1 } }],
    ['setSeats', mutations.setSeats, { input: { customerId, featureCode: 'editor', count: 4 } }],
    ['bulkSetSeats', mutations.bulkSetSeats, { input: { customerId, seats: [{ featureCode: 'editor', count: 4 }] } }],
  ];

  test.for(badKeys)('%s answers 401 unauthorized on every seat operation and changes nothing', async ([_name, headersFor], { harness }) => {
    const victim = await victimIn(harness, 'test');
    const before = await stateOf(harness, victim);
    for (const [name, document, variables] of operations(victim.customerId)) {
      const response = await graphql(harness, null, document, variables, headersFor(victim.key));
      expectUnauthorized(response);
      expect(response.errors![0]!.message, name).not.toContain(victim.key);
    }
    expect(await stateOf(harness, victim)).toEqual(before);
  });

  test('a revoked key answers unauthorized', async ({ harness }) => {
    const victim = await victimIn(harness, 'test');
    await sql(harness, `update api_key set revoked_at = now() where key_hash = ?`, [sha256(victim.key)]);
    // The server trusts a key it looked up for at most the cache's lifetime (test/keys.test.ts).
    harness.passTime(defaultApiKeyCacheMs + 1);
    const before = await stateOf(harness, victim);
    expectUnauthorized(await graphql(harness, victim.key, queries.seatBalances, { customerId: victim.customerId }));
    expectUnauthorized(await graphql(harness, victim.key, mutations.addSeats, { input: { customerId: victim.customerId, featureCode: 'editor', count: 1 } }));
    expect(await stateOf(harness, victim)).toEqual(before);
  });

  describe('comes before parsing', () => {
    test('a syntactically broken query without a key answers unauthorized, not a validation error', async ({ harness }) => {
      expectUnauthorized(await graphql(harness, null, '{ seatBalance(customerId: '));
      expectUnauthorized(await graphql(harness, `ck_test_${'x'.repeat(32)}`, 'mutation { addSeats(input: {'));
    });

    test('a query that names unknown fields, and a body that is not JSON, answer unauthorized', async ({ harness }) => {
      expectUnauthorized(await graphql(harness, null, /* GraphQL */ `{ nothingHere { at all } }`));
      const response = await send(harness, '/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
      expect(response.status).toBe(401);
      expect((await response.json()).errors[0].extensions).toMatchObject({ code: 'unauthorized', type: 'authentication_error' });
    });

    test('a GET request with a query string needs a key too', async ({ harness }) => {
      const response = await send(harness, `/graphql?query=${encodeURIComponent(/* GraphQL */ `{ features { id } }`)}`, {
        headers: { accept: 'application/json' },
      });
      expect(response.status).toBe(401);
      const body = await response.json();
      expect(body.data ?? null).toBeNull();
      expect(body.errors).toHaveLength(1);
      expect(body.errors[0].extensions).toMatchObject({ code: 'unauthorized', type: 'authentication_error' });
    });
  });
});

describe('tenancy', () => {
  type Operation = {
    name: string;
    document: string;
    variables: (customerRef: string) => Record<string, unknown>;
    target?: 'lone';
    /** Puts the victim in the state the operation could disturb, before the intruder acts. */
    prepare?: (harness: Harness, victim: Victim) => Promise<void>;
    refused: (response: GraphQLResponse, victim: Victim) => void;
  };

  const ownClockOrRefused = (field: string) => (response: GraphQLResponse) => {
    // A live intruder is refused; a test intruder reaches only its own organization's clock.
    if (response.errors) expect(response.errors[0]!.extensions.code).toBe('validation_error');
    else expect(response.data[field].livemode).toBe(false);
  };

  const notFound = (name: string, document: string, variables: Operation['variables'], target?: 'lone'): Operation => ({
    name,
    document,
    variables,
    target,
    refused: expectCustomerNotFound,
  });

  const operations: Operation[] = [
    notFound('seatBalance', queries.seatBalance, (customerId) => ({ customerId, featureCode: 'editor' })),
    notFound('seatBalances', queries.seatBalances, (customerId) => ({ customerId })),
    notFound('seatEvents', queries.seatEvents, (customerId) => ({ customerId })),
    notFound('addSeats', mutations.addSeats, (customerId) => ({ input: { customerId, featureCode: 'editor', count: 1 } })),
    notFound('removeSeats', mutations.removeSeats, (customerId) => ({ input: { customerId, featureCode: 'editor', count: 1 } })),
    notFound('setSeats', mutations.setSeats, (customerId) => ({ input: { customerId, featureCode: 'editor', count: 0 } })),
    notFound('bulkSetSeats', mutations.bulkSetSeats, (customerId) => ({
      input: {
        customerId,
        seats: [
          { featureCode: 'editor', count: 0 },
          { featureCode: 'viewer', count: 3 },
        ],
      },
    })),
    notFound(
      'createSubscription',
      documents.createSubscription,
      (customerId) => ({ input: { customerId, planCode: 'team', initialSeats: [{ featureCode: 'editor', count: 1 }] } }),
      'lone',
    ),
    notFound(
      'cancelSubscription',
      /* GraphQL */ `mutation($input: CancelSubscriptionInput!) { cancelSubscription(input: $input) { id status } }`,
      (customerId) => ({
        input: { customerId, timing: 'IMMEDIATELY' },
      }),
    ),
    notFound(
      'resumeSubscription',
      /* GraphQL */ `mutation($input: ResumeSubscriptionInput!) { resumeSubscription(input: $input) { id status } }`,
      (customerId) => ({
        input: { customerId },
      }),
    ),
    notFound('changePlan', /* GraphQL */ `mutation($input: ChangePlanInput!) { changePlan(input: $input) { id planCode } }`, (customerId) => ({
      input: { customerId, planCode: 'team', timing: 'IMMEDIATELY' },
    })),
    notFound('previewPlanChange', /* GraphQL */ `query($input: PreviewPlanChangeInput!) { previewPlanChange(input: $input) { total } }`, (customerId) => ({
      input: { customerId, planCode: 'team' },
    })),
    notFound(
      'revokeScheduledPlanChange',
      /* GraphQL */ `mutation($input: RevokeScheduledPlanChangeInput!) { revokeScheduledPlanChange(input: $input) { id } }`,
      (customerId) => ({ input: { customerId } }),
    ),
    notFound('seatCharges', /* GraphQL */ `query($customerId: String!) { seatCharges(customerId: $customerId) { id amount } }`, (customerId) => ({
      customerId,
    })),
    notFound('upcomingInvoice', /* GraphQL */ `query($customerId: String!) { upcomingInvoice(customerId: $customerId) { total } }`, (customerId) => ({
      customerId,
    })),
    {
      name: 'previewSeatChange',
      document: /* GraphQL */ `query($input: PreviewSeatChangeInput!) { previewSeatChange(input: $input) { newBalance charge { amount } error { code param } } }`,
      variables: (customerId) => ({ input: { customerId, featureCode: 'editor', kind: 'ADD', count: 5 } }),
      refused: (response) =>
        expect(response.data.previewSeatChange).toEqual({ newBalance: null, charge: null, error: { code: 'customer_not_found', param: 'customerId' } }),
    },
    {
      name: 'renewDueSubscriptions',
      document: /* GraphQL */ `mutation { renewDueSubscriptions { subscriptions periods } }`,
      variables: () => ({}),
      // The victim's period has ended: only the victim's own tenant may roll it.
      prepare: async (harness, victim) => {
        await sql(
          harness,
          `update subscription set current_period_start = current_period_start - interval '1 month', current_period_end = now() - interval '1 day' where customer_id = ?`,
          [victim.customer.id],
        );
      },
      refused: (response) => expect(response.data.renewDueSubscriptions).toEqual({ subscriptions: 0, periods: 0 }),
    },
    {
      name: 'advanceTestClock',
      document: /* GraphQL */ `mutation { advanceTestClock(input: { days: 40 }) { now livemode } }`,
      variables: () => ({}),
      prepare: async (harness, victim) => {
        await sql(
          harness,
          `update subscription set current_period_start = current_period_start - interval '1 month', current_period_end = now() + interval '1 day' where customer_id = ?`,
          [victim.customer.id],
        );
      },
      refused: ownClockOrRefused('advanceTestClock'),
    },
    { name: 'testClock', document: /* GraphQL */ `{ testClock { now livemode } }`, variables: () => ({}), refused: ownClockOrRefused('testClock') },
    {
      name: 'deleteTestData',
      document: /* GraphQL */ `mutation { deleteTestData { customers complete } }`,
      variables: () => ({}),
      // A test key deletes its own organization's test data (the intruder's), a live key nothing.
      refused: (response) =>
        response.errors ? expect(response.errors[0]!.extensions.code).toBe('validation_error') : expect(response.data.deleteTestData.complete).toBe(true),
    },
    {
      name: 'customer',
      document: documents.customer,
      variables: (id) => ({ id }),
      refused: (response) => expect(response).toEqual({ data: { customer: null }, status: 200 }),
    },
    {
      name: 'customers',
      document: documents.customers,
      variables: (id) => ({ ids: [id, id] }),
      refused: (response) => expect(response).toEqual({ data: { customers: [null, null] }, status: 200 }),
    },
    {
      name: 'node',
      document: /* GraphQL */ `query($id: ID!) { node(id: $id) { __typename id } }`,
      variables: (id) => ({ id }),
      refused: (response) => expect(response).toEqual({ data: { node: null }, status: 200 }),
    },
    {
      name: 'nodes',
      document: /* GraphQL */ `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`,
      variables: (id) => ({ ids: [id, id] }),
      refused: (response) => expect(response).toEqual({ data: { nodes: [null, null] }, status: 200 }),
    },
    {
      name: 'features',
      document: documents.features,
      variables: () => ({}),
      refused: (response, victim) => {
        expect(response.errors).toBeUndefined();
        const ids = response.data.features.map((f: { id: string }) => f.id);
        expect(ids).toHaveLength(seatFeatures.length);
        expect(ids.filter((id: string) => victim.featureIds.includes(id))).toEqual([]);
      },
    },
    {
      name: 'plans',
      document: documents.plans,
      variables: () => ({}),
      refused: (response, victim) => {
        expect(response.errors).toBeUndefined();
        const ids = response.data.plans.map((p: { id: string }) => p.id);
        expect(ids).toHaveLength(1);
        expect(ids.filter((id: string) => victim.planIds.includes(id))).toEqual([]);
      },
    },
  ];

  const intruders: { name: string; victimMode: Mode; intruder: (harness: Harness, victim: Victim) => ReturnType<typeof newTenant> }[] = [
    { name: "another organization's test key, on test data", victimMode: 'test', intruder: (harness) => newTenant(harness, 'test') },
    { name: "another organization's live key, on live data", victimMode: 'live', intruder: (harness) => newTenant(harness, 'live') },
    { name: 'a test key of the same organization, on live data', victimMode: 'live', intruder: (harness, v) => newTenant(harness, 'test', v.organization) },
    { name: 'a live key of the same organization, on test data', victimMode: 'test', intruder: (harness, v) => newTenant(harness, 'live', v.organization) },
  ];

  describe.each(intruders)('$name', ({ victimMode, intruder: makeIntruder }) => {
    test.for(operations)('$name sees and changes nothing of the victim', async (operation, { harness }) => {
      const victim = await victimIn(harness, victimMode);
      const intruder = await makeIntruder(harness, victim);
      expect(intruder.mode === victim.mode && intruder.organizationId === victim.organizationId).toBe(false);
      await furnish(intruder.client);
      await operation.prepare?.(harness, victim);
      const before = await stateOf(harness, victim);
      const target = operation.target === 'lone' ? victim.lone : victim.customer;
      for (const ref of [target.id, target.externalId!]) {
        const response = await graphql(harness, intruder.key, operation.document, operation.variables(ref));
        operation.refused(response, victim);
        expect(await stateOf(harness, victim)).toEqual(before);
      }
    });
  });

  test('the table covers every query and mutation of the schema', () => {
    // Catalog creations only ever touch the caller's own tenant; the uniqueness tests below show
    // the same codes and external ids living side by side in other tenants.
    // So do the settings, kept per organization and mode: test/scheduled-decrease.test.ts shows a
    // live key's setting untouched by its test key's.
    const ownTenantOnly = ['createFeature', 'createPlan', 'createCustomer', 'organizationSettings', 'updateOrganizationSettings'];
    // Webhook endpoints and deliveries are reached by their own ids, not a customer's: test/webhooks.test.ts
    // tries each of these with another organization's key and with the same organization's other mode.
    const testedWithWebhooks = [
      'webhookEndpoints',
      'webhookDeliveries',
      'createWebhookEndpoint',
      'disableWebhookEndpoint',
      'enableWebhookEndpoint',
      'rotateWebhookSecret',
      'redeliverWebhook',
    ];
    const fields = [schema.getQueryType()!, schema.getMutationType()!].flatMap((type) => Object.keys(type.getFields()));
    expect(
      fields.filter((field) => !operations.some((op) => op.name === field) && !ownTenantOnly.includes(field) && !testedWithWebhooks.includes(field)),
    ).toEqual([]);
  });

  test('a second key of the same organization and mode sees and changes the same data', async ({ harness }) => {
    const victim = await victimIn(harness, 'live');
    const colleague = await newTenant(harness, 'live', victim.organization);
    expect(colleague.organizationId).toBe(victim.organizationId);
    const { seatBalance } = await colleague.client.ok(queries.seatBalance, { customerId: victim.customerId, featureCode: 'editor' });
    expect(seatBalance.current).toBe(2);
    await colleague.client.ok(mutations.addSeats, { input: { customerId: victim.customer.id, featureCode: 'editor', count: 1 } });
    expect(await balanceOf(harness, victim.customer.id, 'editor')).toBe(3);
  });
});

describe('livemode', () => {
  test.for([
    ['live', true],
    ['test', false],
  ] as const)('every object returned to a %s key has livemode %s', async ([mode, livemode], { harness }) => {
    const s = await seatScenario(harness, { mode, initialSeats: [{ featureCode: 'editor', count: 1 }] });
    const seat = { customerId: s.customerId, featureCode: 'editor' };
    const responses = [
      await s.client.ok(documents.addSeats, { input: { ...seat, count: 2 } }),
      await s.client.ok(documents.removeSeats, { input: { ...seat, count: 1 } }),
      await s.client.ok(documents.setSeats, { input: { ...seat, count: 3 } }),
      await s.client.ok(documents.bulkSetSeats, { input: { customerId: s.customerId, seats: [{ featureCode: 'viewer', count: 1 }] } }),
      await s.client.ok(documents.createFeature, { input: { code: 'extra', name: 'Extra', type: 'SEATS' } }),
      await s.client.ok(documents.createPlan, {
        input: {
          code: 'solo',
          name: 'Solo',
          currency: 'EUR',
          interval: 'YEAR',
          seatFeatures: [{ featureCode: 'extra', includedSeats: 1, overageEnabled: false, unitPrice: 0 }],
        },
      }),
    ];
    const { createCustomer } = await s.client.ok(documents.createCustomer, { input: { name: 'Solo' } });
    responses.push(
      { createCustomer },
      await s.client.ok(documents.createSubscription, { input: { customerId: createCustomer.id, planCode: 'solo' } }),
      await s.client.ok(
        /* GraphQL */ `query($id: String!, $featureCode: String!) {
          seatBalance(customerId: $id, featureCode: $featureCode) { __typename livemode }
          seatBalances(customerId: $id) { __typename livemode }
          seatEvents(customerId: $id) { edges { node { __typename livemode } } nodes { __typename livemode } }
          customer(id: $id) { __typename livemode subscription { __typename livemode } seatBalances { __typename livemode } seatBalance(featureCode: $featureCode) { __typename livemode } }
          customers(ids: [$id]) { __typename livemode }
          features { __typename livemode }
          plans { __typename livemode }
        }`,
        { id: s.customerId, featureCode: 'editor' },
      ),
    );

    const found = livemodes(responses);
    expect(new Set(found.map((f) => f.type))).toEqual(new Set(['SeatEvent', 'SeatBalance', 'Customer', 'Feature', 'Plan', 'PlanSubscription']));
    expect(found.filter((f) => f.livemode !== livemode)).toEqual([]);
  });

  test('live and test keys of one organization each get their own livemode', async ({ harness }) => {
    const live = await seatScenario(harness, { mode: 'live' });
    const testSide = await newTenant(harness, 'test', live.organization);
    const testCustomer = await furnish(testSide.client);
    const { addSeats: liveEvent } = await live.client.ok(mutations.addSeats, { input: { customerId: live.customerId, featureCode: 'editor', count: 1 } });
    const { addSeats: testEvent } = await testSide.client.ok(mutations.addSeats, { input: { customerId: testCustomer.id, featureCode: 'editor', count: 1 } });
    expect([liveEvent.livemode, testEvent.livemode]).toEqual([true, false]);
  });
});

describe('uniqueness is per organization and mode', () => {
  test.for([
    ['two organizations', 'test', 'test', false],
    ['two organizations, live', 'live', 'live', false],
    ['live and test of one organization', 'live', 'test', true],
  ] as const)('the same external id and feature codes coexist in %s', async ([_name, firstMode, secondMode, sameOrganization], { harness }) => {
    const externalId = uniqueName('shared');
    const first = await seatScenario(harness, { mode: firstMode, externalId, initialSeats: [{ featureCode: 'editor', count: 1 }] });
    const second = await newTenant(harness, secondMode, sameOrganization ? first.organization : undefined);
    expect(second.organizationId === first.organizationId).toBe(sameOrganization);
    const secondCustomer = await furnish(second.client, externalId);
    expect(secondCustomer.externalId).toBe(externalId);
    expect(secondCustomer.id).not.toBe(first.customer.id);

    await second.client.ok(mutations.setSeats, { input: { customerId: externalId, featureCode: 'editor', count: 7 } });
    await first.client.ok(mutations.addSeats, { input: { customerId: externalId, featureCode: 'editor', count: 2 } });
    expect(await balanceOf(harness, first.customer.id, 'editor')).toBe(3);
    expect(await balanceOf(harness, secondCustomer.id, 'editor')).toBe(7);

    const firstSees = await first.client.ok(documents.customer, { id: externalId });
    const secondSees = await second.client.ok(documents.customer, { id: externalId });
    expect(firstSees.customer.id).toBe(first.customer.id);
    expect(secondSees.customer.id).toBe(secondCustomer.id);

    const duplicateCustomer = await second.client.fails(documents.createCustomer, { input: { name: 'Again', externalId } });
    expect(duplicateCustomer.extensions).toMatchObject({ code: 'conflict', type: 'conflict_error', param: 'externalId' });
    const duplicateFeature = await second.client.fails(documents.createFeature, { input: { code: 'editor', name: 'Editor', type: 'SEATS' } });
    expect(duplicateFeature.extensions).toMatchObject({ code: 'conflict', type: 'conflict_error' });
  });
});

describe('routes open without a key', () => {
  test('the GraphiQL page', async ({ harness }) => {
    const response = await send(harness, '/graphql', { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const body = await response.text();
    expect(body).toMatch(/<html/i);
    expect(body).toMatch(/graphiql/i);
  });

  test.for(['/healthz', '/readyz'])('%s', async (path, { harness }) => {
    const response = await send(harness, path);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok' });
  });

  test('introspection is not open: it needs a key', async ({ harness }) => {
    const introspection = /* GraphQL */ `{ __schema { queryType { name } types { name } } }`;
    expectUnauthorized(await graphql(harness, null, introspection));
    expectUnauthorized(await graphql(harness, `ck_live_${'Z'.repeat(32)}`, introspection));
    const { key } = await newTenant(harness);
    const allowed = await graphql(harness, key, introspection);
    expect(allowed.status).toBe(200);
    expect(allowed.data.__schema.queryType.name).toBe('Query');
  });
});

describe('keys are stored hashed', () => {
  test.for(['test', 'live'] as const)('a %s key is stored as its sha256 and nowhere in clear', async (mode, { harness }) => {
    const tenant = await newTenant(harness, mode);
    expect(tenant.key).toMatch(new RegExp(`^ck_${mode}_[A-Za-z0-9]{32}$`));
    const secret = tenant.key.slice(`ck_${mode}_`.length);

    const rows = await sql<Record<string, unknown>>(harness, `select * from api_key where organization_id = ?`, [tenant.organizationId]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.key_hash).toBe(sha256(tenant.key));
    expect(rows[0]!.mode).toBe(mode);
    for (const [column, value] of Object.entries(rows[0]!)) {
      expect(String(value), column).not.toContain(secret);
    }

    const tables = await sql<{ table_name: string }>(
      harness,
      `select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
    );
    for (const { table_name } of tables) {
      const rows = await sql(harness, `select 1 from "${table_name}" as t where t::text like ? limit 1`, [`%${secret}%`]);
      expect(rows, table_name).toEqual([]);
    }
  });

  test('the key never reaches the logs', async ({ harness, scenario: s }) => {
    await s.client.run(mutations.removeSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 99 } });
    await graphql(harness, s.key.replace('ck_test_', 'ck_live_'), queries.seatBalances, { customerId: s.customerId });
    const secret = s.key.slice('ck_test_'.length);
    expect(harness.logs.filter((line) => line.includes(secret))).toEqual([]);
  });
});

describe('request ids', () => {
  const requests: [string, (harness: Harness) => Promise<Response>][] = [
    ['an authorized query', async (harness) => graphqlRequest(harness, (await newTenant(harness)).key, /* GraphQL */ `{ features { id } }`)],
    [
      'a failing operation',
      async (harness) => graphqlRequest(harness, (await newTenant(harness)).key, /* GraphQL */ `{ seatBalances(customerId: "nobody") { current } }`),
    ],
    ['a broken query', async (harness) => graphqlRequest(harness, (await newTenant(harness)).key, '{ features {')],
    ['a request without a key', async (harness) => graphqlRequest(harness, null, /* GraphQL */ `{ features { id } }`)],
    ['the GraphiQL page', async (harness) => send(harness, '/graphql', { headers: { accept: 'text/html' } })],
    [
      'a CORS preflight',
      async (harness) => send(harness, '/graphql', { method: 'OPTIONS', headers: { origin: 'http://app.test', 'access-control-request-method': 'POST' } }),
    ],
    ['/healthz', async (harness) => send(harness, '/healthz')],
    ['an unknown path', async (harness) => send(harness, '/nowhere')],
  ];

  function graphqlRequest(harness: Harness, key: string | null, query: string, headers: Record<string, string> = {}) {
    return send(harness, '/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}), ...headers },
      body: JSON.stringify({ query }),
    });
  }

  test.for(requests)('%s answers with an x-request-id', async ([_name, request], { harness }) => {
    const [first, second] = [await request(harness), await request(harness)];
    expect(first.headers.get('x-request-id')).toEqual(expect.stringMatching(/^\S{8,}$/));
    expect(second.headers.get('x-request-id')).not.toBe(first.headers.get('x-request-id'));
  });

  test.for([
    ['an authorized request', true],
    ['an unauthorized request', false],
  ])('%s echoes a caller-supplied x-request-id', async ([_name, authorized], { harness }) => {
    const key = authorized ? (await newTenant(harness)).key : null;
    const requestId = uniqueName('req');
    const response = await graphqlRequest(harness, key, /* GraphQL */ `{ features { id } }`, { 'x-request-id': requestId });
    expect(response.status).toBe(authorized ? 200 : 401);
    expect(response.headers.get('x-request-id')).toBe(requestId);
  });

  test.for<[string, Record<string, string>]>([
    ['/healthz', {}],
    ['/graphql', { accept: 'text/html' }],
  ])('%s echoes a caller-supplied x-request-id without a key', async ([path, headers], { harness }) => {
    const response = await send(harness, path, { headers: { ...headers, 'x-request-id': 'open-route-1' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('open-route-1');
  });
});
