import { describe, expect, test } from './fixtures.ts';
import { createCustomerWithSubscription, expectLedgerWhole, newTenant, queries, uniqueName } from './helpers.ts';

const createFeature = /* GraphQL */ `mutation($input: CreateFeatureInput!) { createFeature(input: $input) { id code name type livemode createdAt } }`;
const createPlan = /* GraphQL */ `mutation($input: CreatePlanInput!) {
  createPlan(input: $input) { id code name currency interval livemode seatFeatures { featureCode includedSeats unlimited overageEnabled unitPrice } }
}`;
const createCustomer = /* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id externalId name livemode } }`;
const createSubscription = /* GraphQL */ `mutation($input: CreateSubscriptionInput!) {
  createSubscription(input: $input) { id customerId planCode status startAt currentPeriodStart currentPeriodEnd livemode }
}`;

const plan = (seatFeatures: object[], code = 'team') => ({ input: { code, name: 'Team', currency: 'EUR', interval: 'MONTH', seatFeatures } });

describe('features and plans', () => {
  test('are created, listed, and refuse a second use of their code', async ({ harness }) => {
    const { client } = await newTenant(harness);
    const { createFeature: feature } = await client.ok(createFeature, { input: { code: 'editor', name: 'Editor', type: 'SEATS' } });
    expect(feature).toMatchObject({ code: 'editor', name: 'Editor', type: 'SEATS', livemode: false });
    expect(feature.id).toMatch(/^feat_/);
    const again = await client.fails(createFeature, { input: { code: 'editor', name: 'Other', type: 'SEATS' } });
    expect(again.extensions).toMatchObject({ code: 'conflict', type: 'conflict_error', param: 'code' });

    const { createPlan: created } = await client.ok(createPlan, plan([{ featureCode: 'editor', includedSeats: 5, overageEnabled: true, unitPrice: 2500 }]));
    expect(created).toMatchObject({
      code: 'team',
      currency: 'EUR',
      interval: 'MONTH',
      seatFeatures: [{ featureCode: 'editor', includedSeats: 5, unlimited: false, overageEnabled: true, unitPrice: 2500 }],
    });
    const duplicate = await client.fails(createPlan, plan([]));
    expect(duplicate.extensions).toMatchObject({ code: 'conflict', param: 'code' });

    const { features, plans } = await client.ok(/* GraphQL */ `{ features { code } plans { code seatFeatures { featureCode } } }`);
    expect(features).toEqual([{ code: 'editor' }]);
    expect(plans).toEqual([{ code: 'team', seatFeatures: [{ featureCode: 'editor' }] }]);
  });

  test("a plan's seat features read by featureCode, whatever order they were given in, from createPlan and from every read", async ({ harness }) => {
    const { client } = await newTenant(harness);
    const codes = ['viewer', 'admin', 'editor', 'guest', 'reviewer'];
    for (const code of codes) await client.ok(createFeature, { input: { code, name: code, type: 'SEATS' } });
    const given = codes.map((featureCode) => ({ featureCode, includedSeats: 1, overageEnabled: true, unitPrice: 100 }));
    const { createPlan: created } = await client.ok(createPlan, plan(given));
    const sorted = [...codes].sort();
    expect(created.seatFeatures.map((f: { featureCode: string }) => f.featureCode)).toEqual(sorted);
    for (let read = 0; read < 5; read++) {
      const { plans } = await client.ok(/* GraphQL */ `{ plans { seatFeatures { featureCode } } }`);
      expect(plans[0].seatFeatures.map((f: { featureCode: string }) => f.featureCode)).toEqual(sorted);
    }
  });

  test('a plan naming an unknown feature is refused and not created', async ({ harness }) => {
    const { client } = await newTenant(harness);
    const error = await client.fails(createPlan, plan([{ featureCode: 'ghost', includedSeats: 1, overageEnabled: false, unitPrice: 0 }]));
    expect(error.extensions).toMatchObject({ code: 'feature_not_found', param: 'seatFeatures.0.featureCode' });
    expect((await client.ok(/* GraphQL */ `{ plans { code } }`)).plans).toEqual([]);
  });
});

describe('customers', () => {
  test('external ids are unique per tenant; a customer is found by either id', async ({ harness }) => {
    const { client } = await newTenant(harness);
    const externalId = uniqueName('ext');
    const { createCustomer: customer } = await client.ok(createCustomer, { input: { name: 'Acme', externalId } });
    expect(customer).toMatchObject({ externalId, name: 'Acme', livemode: false });
    expect(customer.id).toMatch(/^cus_/);
    const duplicate = await client.fails(createCustomer, { input: { name: 'Other', externalId } });
    expect(duplicate.extensions).toMatchObject({ code: 'conflict', param: 'externalId' });

    const byBoth = await client.ok(
      /* GraphQL */ `query($a: String!, $b: String!) { a: customer(id: $a) { id } b: customer(id: $b) { id } none: customer(id: "nope") { id } }`,
      {
        a: customer.id,
        b: externalId,
      },
    );
    expect(byBoth).toEqual({ a: { id: customer.id }, b: { id: customer.id }, none: null });
  });
});

describe('subscriptions', () => {
  test('initialSeats set the first balances as SET events at the start; a second active subscription is a conflict', async ({ harness, scenario: s }) => {
    const { createCustomer: customer } = await s.client.ok(createCustomer, { input: { name: 'Beta' } });
    // A start may lie at most one period back: the clock stands two weeks after a 31 January start.
    const { advanceTestClock: clock } = await s.client.ok(/* GraphQL */ `mutation { advanceTestClock(input: { to: "2030-02-14T00:00:00Z" }) { now } }`);
    const now = () => new Date(clock.now).getTime();
    const startAt = '2030-01-31T10:00:00.000Z';
    const { createSubscription: subscription } = await s.client.ok(createSubscription, {
      input: {
        customerId: customer.id,
        planCode: 'team',
        startAt,
        initialSeats: [
          { featureCode: 'editor', count: 7 },
          { featureCode: 'viewer', count: 0 },
        ],
      },
    });
    expect(subscription).toMatchObject({ customerId: customer.id, planCode: 'team', status: 'ACTIVE', startAt, livemode: false });
    expect(subscription.id).toMatch(/^sub_/);
    // Anchored on Jan 31: periods end on the last day of shorter months, then on the 31st again.
    const start = new Date(subscription.currentPeriodStart);
    expect(start.getTime()).toBeLessThanOrEqual(now());
    expect(new Date(subscription.currentPeriodEnd).getTime()).toBeGreaterThan(now());
    expect(start.getUTCHours()).toBe(10);

    const { seatEvents } = await s.client.ok(queries.seatEvents, { customerId: customer.id });
    expect(seatEvents.edges.map((e: any) => [e.node.featureCode, e.node.kind, e.node.previousBalance, e.node.newBalance, e.node.ts])).toEqual([
      ['viewer', 'SET', 0, 0, startAt],
      ['editor', 'SET', 0, 7, startAt],
    ]);
    await expectLedgerWhole(harness, customer.id, 'editor');

    const second = await s.client.fails(createSubscription, { input: { customerId: customer.id, planCode: 'team' } });
    expect(second.extensions).toMatchObject({ code: 'conflict', type: 'conflict_error', param: 'customerId' });
  });

  test.for<[string, Record<string, unknown>, string, string]>([
    ['an unknown customer', { customerId: 'nobody' }, 'customer_not_found', 'customerId'],
    ['an unknown plan', { planCode: 'ghost' }, 'plan_not_found', 'planCode'],
    ['initial seats of an unknown feature', { initialSeats: [{ featureCode: 'ghost', count: 1 }] }, 'feature_not_found', 'initialSeats.0.featureCode'],
    ['initial seats outside the plan', { initialSeats: [{ featureCode: 'auditor', count: 1 }] }, 'feature_not_in_plan', 'initialSeats.0.featureCode'],
    ['initial seats over a hard limit', { initialSeats: [{ featureCode: 'viewer', count: 3 }] }, 'seat_limit_exceeded', 'initialSeats.0.count'],
    [
      'a feature listed twice',
      {
        initialSeats: [
          { featureCode: 'editor', count: 1 },
          { featureCode: 'editor', count: 2 },
        ],
      },
      'validation_error',
      'initialSeats.1.featureCode',
    ],
  ])('%s is refused and creates nothing', async ([_name, override, code, param], { scenario: s }) => {
    const { createCustomer: customer } = await s.client.ok(createCustomer, { input: { name: 'Gamma' } });
    const error = await s.client.fails(createSubscription, { input: { customerId: customer.id, planCode: 'team', ...override } });
    expect(error.extensions).toMatchObject({ code, param });
    const { customer: after } = await s.client.ok(/* GraphQL */ `query($id: String!) { customer(id: $id) { subscription { id } seatBalances { current } } }`, {
      id: customer.id,
    });
    expect(after).toEqual({ subscription: null, seatBalances: [] });
  });

  test('a plan without seat features still subscribes, with no balances', async ({ harness }) => {
    const { client } = await newTenant(harness);
    await client.ok(createPlan, plan([], 'free'));
    const customer = await createCustomerWithSubscription(client, { planCode: 'free' });
    const { seatBalances } = await client.ok(queries.seatBalances, { customerId: customer.id });
    expect(seatBalances).toEqual([]);
  });
});
