import { describe, expect, test } from './fixtures.ts';
import { expectLedgerWhole, type Harness, ledgerOf, mutations, newTenant, queries, rest, uniqueName } from './helpers.ts';

// Seat limits per plan feature (minimumSeats, maximumSeats): the plan's own rules, where a new
// balance starts, and every change outside the limits refused through both doors, changing nothing.

const createFeature = /* GraphQL */ `mutation($input: CreateFeatureInput!) { createFeature(input: $input) { id } }`;
const createPlan = /* GraphQL */ `mutation($input: CreatePlanInput!) {
  createPlan(input: $input) { code seatFeatures { featureCode includedSeats overageEnabled unitPrice minimumSeats maximumSeats } }
}`;
const createCustomer = /* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id externalId } }`;
const createSubscription = /* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`;
const eventsWithCharges = /* GraphQL */ `query($customerId: String!, $featureCode: String) {
  seatEvents(customerId: $customerId, featureCode: $featureCode) { nodes { featureCode kind count previousBalance newBalance charge { kind quantity amount } } }
}`;

type Terms = {
  featureCode: string;
  includedSeats: number;
  overageEnabled: boolean;
  unitPrice: number;
  unlimited?: boolean;
  minimumSeats?: number | null;
  maximumSeats?: number | null;
};

const planInput = (seatFeatures: Terms[], code = 'bounded') => ({ input: { code, name: 'Bounded', currency: 'EUR', interval: 'MONTH', seatFeatures } });

/**
 * The catalog of these tests: `editor` holds 2 to 10 seats, 5 included and overage allowed;
 * `seat` holds at least 3, none included, 1000 per seat; `guest` has no limits.
 */
const bounded: Terms[] = [
  { featureCode: 'editor', includedSeats: 5, overageEnabled: true, unitPrice: 2500, minimumSeats: 2, maximumSeats: 10 },
  { featureCode: 'seat', includedSeats: 0, overageEnabled: true, unitPrice: 1000, minimumSeats: 3 },
  { featureCode: 'guest', includedSeats: 1, overageEnabled: false, unitPrice: 0 },
];

async function catalogTenant(harness: Harness) {
  const tenant = await newTenant(harness);
  for (const code of ['editor', 'seat', 'guest']) await tenant.client.ok(createFeature, { input: { code, name: code, type: 'SEATS' } });
  return tenant;
}

type Tenant = Awaited<ReturnType<typeof catalogTenant>>;

async function newCustomer(tenant: Tenant) {
  const { createCustomer: customer } = await tenant.client.ok(createCustomer, { input: { name: 'Acme', externalId: uniqueName('acme') } });
  return customer.externalId as string;
}

/** A tenant with the bounded plan and one customer subscribed without initialSeats. */
async function limitsScenario(harness: Harness) {
  const tenant = await catalogTenant(harness);
  await tenant.client.ok(createPlan, planInput(bounded));
  const customerId = await newCustomer(tenant);
  await tenant.client.ok(createSubscription, { input: { customerId, planCode: 'bounded' } });
  return { ...tenant, customerId };
}

type Scenario = Awaited<ReturnType<typeof limitsScenario>>;

/** Everything a refused change must leave as it was: every balance and every event of the customer. */
async function stateOf(harness: Harness, s: Scenario) {
  const { seatBalances } = await s.client.ok(queries.seatBalances, { customerId: s.customerId });
  const ledgers = await Promise.all(['editor', 'seat', 'guest'].map((code) => ledgerOf(harness, s.customerId, code)));
  return { balances: seatBalances.map((b: any) => [b.featureCode, b.current, b.asOf]), ledgers };
}

const limitDetail = (field: string, featureCode: string, limit: 'MINIMUM' | 'MAXIMUM', value: number) => ({
  field,
  message: expect.any(String),
  featureCode,
  limit,
  value,
});

describe('createPlan: the limits of each seat feature', () => {
  test('are stored and read back; left out, there is no minimum and no maximum', async ({ harness }) => {
    const tenant = await catalogTenant(harness);
    const { createPlan: plan } = await tenant.client.ok(
      createPlan,
      planInput([
        // Exactly at the bounds: the minimum equals the maximum equals the included seats.
        { featureCode: 'editor', includedSeats: 4, overageEnabled: false, unitPrice: 0, minimumSeats: 4, maximumSeats: 4 },
        { featureCode: 'guest', includedSeats: 1, overageEnabled: true, unitPrice: 100 },
        { featureCode: 'seat', includedSeats: 0, overageEnabled: true, unitPrice: 100, minimumSeats: null, maximumSeats: 1 },
      ]),
    );
    expect(plan.seatFeatures.map((f: any) => [f.featureCode, f.minimumSeats, f.maximumSeats])).toEqual([
      ['editor', 4, 4],
      ['guest', 0, null],
      ['seat', 0, 1],
    ]);
    const { plans } = await tenant.client.ok(/* GraphQL */ `{ plans { seatFeatures { featureCode minimumSeats maximumSeats } } }`);
    expect(plans[0].seatFeatures).toEqual(
      plan.seatFeatures.map(({ featureCode, minimumSeats, maximumSeats }: any) => ({ featureCode, minimumSeats, maximumSeats })),
    );
  });

  const editor = { featureCode: 'editor', includedSeats: 5, overageEnabled: true, unitPrice: 2500 };
  test.for<[string, Partial<Terms>, string]>([
    ['a negative minimumSeats', { minimumSeats: -1 }, 'minimumSeats'],
    ['a minimumSeats above 1,000,000', { minimumSeats: 1_000_001 }, 'minimumSeats'],
    // No seat included, so only the range of maximumSeats refuses it.
    ['a maximumSeats of 0', { includedSeats: 0, maximumSeats: 0 }, 'maximumSeats'],
    ['a maximumSeats above 10,000,000', { maximumSeats: 10_000_001 }, 'maximumSeats'],
    ['a maximumSeats below minimumSeats', { minimumSeats: 8, maximumSeats: 7 }, 'maximumSeats'],
    ['a maximumSeats below includedSeats', { maximumSeats: 4 }, 'maximumSeats'],
    ['a maximumSeats on an unlimited feature', { unlimited: true, maximumSeats: 10 }, 'maximumSeats'],
    ['a minimumSeats above includedSeats without overage', { overageEnabled: false, minimumSeats: 6 }, 'minimumSeats'],
    ['a minimumSeats billing past 10^13 per period', { includedSeats: 0, unitPrice: 1_000_000_000, minimumSeats: 10_001 }, 'minimumSeats'],
  ])('%s is a validation_error naming the field, and creates nothing', async ([_name, override, field], { harness }) => {
    const tenant = await catalogTenant(harness);
    // The faulty feature second, so the name carries its index.
    const error = await tenant.client.fails(createPlan, planInput([{ ...bounded[2]! }, { ...editor, ...override }]));
    expect(error.extensions).toMatchObject({ code: 'validation_error', type: 'validation_error', param: `seatFeatures.1.${field}` });
    expect(error.extensions.details).toContainEqual({ field: `seatFeatures.1.${field}`, message: expect.any(String) });
    expect((await tenant.client.ok(/* GraphQL */ `{ plans { code } }`)).plans).toEqual([]);
  });

  test('every broken rule is listed', async ({ harness }) => {
    const tenant = await catalogTenant(harness);
    const error = await tenant.client.fails(createPlan, planInput([{ ...editor, minimumSeats: 8, maximumSeats: 4 }]));
    expect((error.extensions.details as { field: string; message: string }[]).map((d) => [d.field, d.message])).toEqual([
      ['seatFeatures.0.maximumSeats', 'must be at least minimumSeats'],
      ['seatFeatures.0.maximumSeats', 'must be at least includedSeats'],
    ]);
  });
});

describe('createSubscription: balances start within the limits', () => {
  test('a balance not in initialSeats starts at its minimum, recorded as a SET and billed in advance', async ({ harness }) => {
    const s = await limitsScenario(harness);
    const { seatBalances } = await s.client.ok(queries.seatBalances, { customerId: s.customerId });
    expect(seatBalances.map((b: any) => [b.featureCode, b.current])).toEqual([
      ['editor', 2],
      ['guest', 0],
      ['seat', 3],
    ]);
    const { seatEvents } = await s.client.ok(eventsWithCharges, { customerId: s.customerId });
    // Newest first; a zero minimum records nothing. seat: 3 billable seats at 1000 for the whole period.
    expect(seatEvents.nodes).toEqual([
      { featureCode: 'seat', kind: 'SET', count: 3, previousBalance: 0, newBalance: 3, charge: { kind: 'ADVANCE', quantity: 3, amount: 3000 } },
      { featureCode: 'editor', kind: 'SET', count: 2, previousBalance: 0, newBalance: 2, charge: null },
    ]);
    for (const code of ['editor', 'seat', 'guest']) await expectLedgerWhole(harness, s.customerId, code);
  });

  test.for<[string, number, 'MINIMUM' | 'MAXIMUM', number]>([
    ['above the maximum', 11, 'MAXIMUM', 10],
    ['below the minimum', 1, 'MINIMUM', 2],
    ['0 under a minimum', 0, 'MINIMUM', 2],
  ])('initialSeats %s are refused with the limit, and nothing is created', async ([_name, count, limit, value], { harness }) => {
    const tenant = await catalogTenant(harness);
    await tenant.client.ok(createPlan, planInput(bounded));
    const customerId = await newCustomer(tenant);
    const error = await tenant.client.fails(createSubscription, {
      input: {
        customerId,
        planCode: 'bounded',
        initialSeats: [
          { featureCode: 'seat', count: 4 },
          { featureCode: 'editor', count },
        ],
      },
    });
    expect(error.extensions).toEqual({
      code: 'seat_limit_exceeded',
      type: 'billing_error',
      param: 'initialSeats.1.count',
      details: [limitDetail('initialSeats.1.count', 'editor', limit, value)],
    });
    const { customer } = await tenant.client.ok(/* GraphQL */ `query($id: String!) { customer(id: $id) { subscription { id } seatBalances { current } } }`, {
      id: customerId,
    });
    expect(customer).toEqual({ subscription: null, seatBalances: [] });
    expect(await ledgerOf(harness, customerId, 'seat')).toEqual([]);
  });

  test('initialSeats exactly at the bounds are accepted', async ({ harness }) => {
    const tenant = await catalogTenant(harness);
    await tenant.client.ok(createPlan, planInput(bounded));
    for (const count of [2, 10]) {
      const customerId = await newCustomer(tenant);
      await tenant.client.ok(createSubscription, { input: { customerId, planCode: 'bounded', initialSeats: [{ featureCode: 'editor', count }] } });
      const { seatBalance } = await tenant.client.ok(queries.seatBalance, { customerId, featureCode: 'editor' });
      expect(seatBalance.current).toBe(count);
    }
  });
});

/** One refused change through either door: what it answered, in the fields both doors share. */
type Refusal = { code: string; type: string; param: string | null; details: unknown };

const viaGraphQL = {
  async add(s: Scenario, featureCode: string, count: number) {
    return (await s.client.fails(mutations.addSeats, { input: { customerId: s.customerId, featureCode, count } })).extensions as Refusal;
  },
  async remove(s: Scenario, featureCode: string, count: number) {
    return (await s.client.fails(mutations.removeSeats, { input: { customerId: s.customerId, featureCode, count } })).extensions as Refusal;
  },
  async set(s: Scenario, featureCode: string, count: number) {
    return (await s.client.fails(mutations.setSeats, { input: { customerId: s.customerId, featureCode, count } })).extensions as Refusal;
  },
  async bulk(s: Scenario, seats: Record<string, number>) {
    const entries = Object.entries(seats).map(([featureCode, count]) => ({ featureCode, count }));
    return (await s.client.fails(mutations.bulkSetSeats, { input: { customerId: s.customerId, seats: entries } })).extensions as Refusal;
  },
};

function viaRest(harness: Harness) {
  const call = async (s: Scenario, method: string, path: string, body: object): Promise<Refusal> => {
    const response = await rest(harness.yoga, s.key, method, `/api/v1/seats${path}`, { customerId: s.customerId, ...body });
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.body.success).toBe(false);
    const { code, type, param, details } = response.body.error;
    return { code, type, param, details };
  };
  return {
    add: (s: Scenario, featureCode: string, count: number) => call(s, 'POST', '', { featureCode, count }),
    remove: (s: Scenario, featureCode: string, count: number) => call(s, 'DELETE', '', { featureCode, count }),
    set: (s: Scenario, featureCode: string, count: number) => call(s, 'PUT', '', { featureCode, count }),
    bulk: (s: Scenario, seats: Record<string, number>) => call(s, 'PUT', '/bulk', { seats }),
  };
}

const refusal = (param: string, featureCode: string, limit: 'MINIMUM' | 'MAXIMUM', value: number) => ({
  code: 'seat_limit_exceeded',
  type: 'billing_error',
  param,
  details: [limitDetail(param, featureCode, limit, value)],
});

describe.for([
  ['GraphQL', false],
  ['REST', true],
] as const)('seat changes outside the limits, through %s', ([_door, isRest]) => {
  const doorOf = (harness: Harness) => (isRest ? viaRest(harness) : viaGraphQL);
  // REST names a bulk entry by its feature code, GraphQL by its index.
  const bulkParam = (index: number, featureCode: string) => (isRest ? `seats.${featureCode}` : `seats.${index}.count`);

  test('add, set and bulk set past the maximum are refused with MAXIMUM and change nothing', async ({ harness }) => {
    const s = await limitsScenario(harness);
    const door = doorOf(harness);
    const before = await stateOf(harness, s);
    expect(await door.add(s, 'editor', 9)).toEqual(refusal('count', 'editor', 'MAXIMUM', 10));
    expect(await door.set(s, 'editor', 11)).toEqual(refusal('count', 'editor', 'MAXIMUM', 10));
    expect(await door.bulk(s, { seat: 5, editor: 11 })).toEqual(refusal(bulkParam(1, 'editor'), 'editor', 'MAXIMUM', 10));
    expect(await stateOf(harness, s)).toEqual(before);
  });

  test('remove, set and bulk set below the minimum are refused with MINIMUM and change nothing', async ({ harness }) => {
    const s = await limitsScenario(harness);
    const door = doorOf(harness);
    const before = await stateOf(harness, s);
    expect(await door.remove(s, 'editor', 1)).toEqual(refusal('count', 'editor', 'MINIMUM', 2));
    expect(await door.set(s, 'editor', 1)).toEqual(refusal('count', 'editor', 'MINIMUM', 2));
    expect(await door.set(s, 'seat', 0)).toEqual(refusal('count', 'seat', 'MINIMUM', 3));
    expect(await door.bulk(s, { editor: 4, seat: 2 })).toEqual(refusal(bulkParam(1, 'seat'), 'seat', 'MINIMUM', 3));
    expect(await stateOf(harness, s)).toEqual(before);
  });

  test('removing more than held stays insufficient_seats; the cap without overage keeps its own refusal', async ({ harness }) => {
    const s = await limitsScenario(harness);
    const door = doorOf(harness);
    const before = await stateOf(harness, s);
    expect(await door.remove(s, 'editor', 3)).toMatchObject({ code: 'insufficient_seats', param: 'count' });
    const capped = await door.add(s, 'guest', 2);
    expect(capped).toMatchObject({ code: 'seat_limit_exceeded', param: 'count' });
    expect(capped.details).toBeNull();
    expect(await stateOf(harness, s)).toEqual(before);
  });
});

describe('changes exactly at the limits', () => {
  test('are accepted through both doors, and the ledger stays whole', async ({ harness }) => {
    const s = await limitsScenario(harness);
    await s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 8 } });
    expect((await s.client.ok(queries.seatBalance, { customerId: s.customerId, featureCode: 'editor' })).seatBalance.current).toBe(10);
    const removed = await rest(harness.yoga, s.key, 'DELETE', '/api/v1/seats', { customerId: s.customerId, featureCode: 'editor', count: 8 });
    expect(removed.body.data).toMatchObject({ previousBalance: 10, newBalance: 2 });
    const bulk = await rest(harness.yoga, s.key, 'PUT', '/api/v1/seats/bulk', { customerId: s.customerId, seats: { editor: 10, seat: 3 } });
    expect(bulk.body.data.map((e: any) => [e.featureCode, e.newBalance])).toEqual([
      ['editor', 10],
      ['seat', 3],
    ]);
    const { setSeats } = await s.client.ok(mutations.setSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 2 } });
    expect(setSeats).toMatchObject({ previousBalance: 10, newBalance: 2 });
    await expectLedgerWhole(harness, s.customerId, 'editor');
    await expectLedgerWhole(harness, s.customerId, 'seat');
  });
});

describe('the outbox on a refusal', () => {
  const outboxOf = (harness: Harness, customerRef: string) =>
    harness.orm.em
      .fork()
      .getConnection()
      .execute<{ type: string; payload: any }[]>(
        `select o.type, o.payload from outbox_event o join customer c on c.id = o.customer_id where c.external_id = ? order by o.seq`,
        [customerRef],
      );

  test('a refusal at the maximum tells seat.limit_reached with the maximum; one at the minimum tells nothing', async ({ harness }) => {
    const s = await limitsScenario(harness);
    const before = (await outboxOf(harness, s.customerId)).length;
    await viaGraphQL.add(s, 'editor', 9);
    const told = (await outboxOf(harness, s.customerId)).slice(before);
    expect(told.map((row) => row.type)).toEqual(['seat.limit_reached']);
    expect(told[0]!.payload).toMatchObject({ featureCode: 'editor', reason: 'refused', current: 2, requested: 11, includedSeats: 5, maximumSeats: 10 });
    await viaGraphQL.remove(s, 'editor', 1);
    expect((await outboxOf(harness, s.customerId)).slice(before)).toHaveLength(1);
  });
});
