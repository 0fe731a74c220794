import { test as base, describe, expect } from './fixtures.ts';
import { balanceOf, expectLedgerWhole, type GraphQLErrorShape, type Harness, mutations, queries, type SeatScenario, seatScenario } from './helpers.ts';

type Args = Record<string, unknown>;
type Via = 'variables' | 'literal';
type SeatOp = 'addSeats' | 'removeSeats' | 'setSeats';

const VIAS: Via[] = ['variables', 'literal'];
const SEAT_OPS: SeatOp[] = ['addSeats', 'removeSeats', 'setSeats'];
const SEAT_CODES = ['editor', 'viewer', 'admin'];
const TENANT_TABLES = ['feature', 'plan', 'customer', 'subscription', 'seat_balance', 'seat_event'];

/** An enum value: bare in a GraphQL literal, a string in JSON variables. */
class Enum {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  toJSON() {
    return this.name;
  }
}
const enumValue = (name: string) => new Enum(name);

type Operation = { kind: 'query' | 'mutation'; field: string; document: string };

const operation = (kind: Operation['kind'], field: string, document: string): Operation => ({ kind, field, document });

const operations = {
  addSeats: operation('mutation', 'addSeats', mutations.addSeats),
  removeSeats: operation('mutation', 'removeSeats', mutations.removeSeats),
  setSeats: operation('mutation', 'setSeats', mutations.setSeats),
  bulkSetSeats: operation('mutation', 'bulkSetSeats', mutations.bulkSetSeats),
  seatBalance: operation('query', 'seatBalance', queries.seatBalance),
  seatBalances: operation('query', 'seatBalances', queries.seatBalances),
  seatEvents: operation('query', 'seatEvents', queries.seatEvents),
  customers: operation('query', 'customers', /* GraphQL */ `query($ids: [String!]!) { customers(ids: $ids) { id } }`),
  customer: operation('query', 'customer', /* GraphQL */ `query($id: String!) { customer(id: $id) { id } }`),
  createFeature: operation('mutation', 'createFeature', /* GraphQL */ `mutation($input: CreateFeatureInput!) { createFeature(input: $input) { id } }`),
  createPlan: operation('mutation', 'createPlan', /* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`),
  createCustomer: operation('mutation', 'createCustomer', /* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`),
  createSubscription: operation(
    'mutation',
    'createSubscription',
    /* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`,
  ),
};
type OperationName = keyof typeof operations;

function literal(value: unknown): string {
  if (value instanceof Enum) return value.name;
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const fields = Object.entries(value).filter(([, field]) => field !== undefined);
    return `{${fields.map(([name, field]) => `${name}: ${literal(field)}`).join(', ')}}`;
  }
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** The same call written with variables or with every argument inline. */
function request(name: OperationName, args: Args, via: Via): [string, Args?] {
  const { kind, field, document } = operations[name];
  if (via === 'variables') return [document, args];
  const written = Object.entries(args).filter(([, value]) => value !== undefined);
  return [`${kind} { ${field}(${written.map(([arg, value]) => `${arg}: ${literal(value)}`).join(', ')}) { __typename } }`];
}

const withVias = <C extends object>(cases: C[]) => cases.flatMap((c) => VIAS.map((via) => ({ ...c, via })));

const cursorOf = (text: string) => Buffer.from(text).toString('base64url');
const inOneDay = () => new Date(Date.now() + 86_400_000).toISOString();

/** Seats held on two features. */
function heldSeats(harness: Harness) {
  return seatScenario(harness, {
    initialSeats: [
      { featureCode: 'editor', count: 3 },
      { featureCode: 'viewer', count: 1 },
    ],
  });
}

/** Here `scenario` holds seats on two features. */
const test = base.extend('scenario', ({ harness }) => heldSeats(harness));

async function bareCustomer(s: SeatScenario): Promise<string> {
  const { createCustomer } = await s.client.ok(/* GraphQL */ `mutation { createCustomer(input: {name: "Bare"}) { id } }`);
  return createCustomer.id;
}

async function tenantRows(harness: Harness, organizationId: string) {
  const counts = TENANT_TABLES.map((table) => `(select count(*)::int from ${table} where organization_id = ?) as ${table}`);
  const [row] = await harness.orm.em
    .fork()
    .getConnection()
    .execute(
      `select ${counts.join(', ')}`,
      TENANT_TABLES.map(() => organizationId),
    );
  return row;
}

/** Balances, ledger lengths (each ledger checked whole) and the tenant's row counts. */
async function stateOf(harness: Harness, s: SeatScenario) {
  const seats: Record<string, { balance: number; events: number }> = {};
  for (const code of SEAT_CODES) {
    const events = await expectLedgerWhole(harness, s.customerId, code);
    seats[code] = { balance: await balanceOf(harness, s.customerId, code), events: events.length };
  }
  return { seats, rows: await tenantRows(harness, s.organizationId) };
}

/** `param` undefined: the field cannot be named (only code, type and details are checked). */
function expectValidationError(error: GraphQLErrorShape, param?: string) {
  const { code, type, details } = error.extensions;
  expect({ code, type }, error.message).toEqual({ code: 'validation_error', type: 'validation_error' });
  expect(details?.length, 'details').toBeGreaterThan(0);
  for (const detail of details!) expect(detail).toEqual({ field: expect.any(String), message: expect.stringMatching(/\S/) });
  if (param !== undefined) {
    expect(error.extensions.param, error.message).toBe(param);
    expect(details!.map((detail) => detail.field)).toContain(param);
  }
}

/** The call fails with one validation_error and leaves the tenant exactly as it was. */
async function expectRefused(harness: Harness, s: SeatScenario, [document, variables]: [string, Args?], param?: string) {
  const before = await stateOf(harness, s);
  const error = await s.client.fails(document, variables);
  expectValidationError(error, param);
  expect(await stateOf(harness, s)).toEqual(before);
}

type SeatChangeCase = { name: string; input: Args; param: string; ops?: SeatOp[] };

const seatChangeCases: SeatChangeCase[] = [
  { name: 'count as a numeric string', input: { count: '3' }, param: 'count' },
  { name: 'count as a boolean', input: { count: true }, param: 'count' },
  { name: 'count null', input: { count: null }, param: 'count' },
  { name: 'count as an object', input: { count: { value: 3 } }, param: 'count' },
  { name: 'count as a list', input: { count: [3] }, param: 'count' },
  { name: 'negative count', input: { count: -1 }, param: 'count' },
  { name: 'zero count', input: { count: 0 }, param: 'count', ops: ['addSeats', 'removeSeats'] },
  { name: 'fractional count', input: { count: 1.5 }, param: 'count' },
  { name: 'count over 1,000,000', input: { count: 1_000_001 }, param: 'count' },
  { name: 'count of 2^31', input: { count: 2 ** 31 }, param: 'count' },
  { name: 'count of 1e20', input: { count: 1e20 }, param: 'count' },
  { name: 'count of -2^31 - 1', input: { count: -(2 ** 31) - 1 }, param: 'count' },
  { name: 'count "NaN"', input: { count: 'NaN' }, param: 'count' },
  { name: 'count NaN as a bare name', input: { count: enumValue('NaN') }, param: 'count' },
  { name: 'count "Infinity"', input: { count: 'Infinity' }, param: 'count' },
  { name: 'empty customerId', input: { customerId: '' }, param: 'customerId' },
  { name: 'customerId of 201 characters', input: { customerId: 'c'.repeat(201) }, param: 'customerId' },
  { name: 'customerId as a number', input: { customerId: 42 }, param: 'customerId' },
  { name: 'customerId null', input: { customerId: null }, param: 'customerId' },
  { name: 'customerId with a NUL', input: { customerId: 'acme\u0000' }, param: 'customerId' },
  { name: 'featureCode in capitals', input: { featureCode: 'BAD' }, param: 'featureCode' },
  { name: 'featureCode with a dash', input: { featureCode: 'has-dash' }, param: 'featureCode' },
  { name: 'featureCode with a space', input: { featureCode: 'with space' }, param: 'featureCode' },
  { name: 'empty featureCode', input: { featureCode: '' }, param: 'featureCode' },
  { name: 'featureCode of 51 characters', input: { featureCode: 'f'.repeat(51) }, param: 'featureCode' },
  { name: 'featureCode with accents', input: { featureCode: 'éditeur' }, param: 'featureCode' },
  { name: 'featureCode in another script', input: { featureCode: '编辑' }, param: 'featureCode' },
  { name: 'featureCode as a number', input: { featureCode: 42 }, param: 'featureCode' },
  { name: 'empty idempotencyKey', input: { idempotencyKey: '' }, param: 'idempotencyKey' },
  { name: 'idempotencyKey of 256 characters', input: { idempotencyKey: 'k'.repeat(256) }, param: 'idempotencyKey' },
  { name: 'idempotencyKey with a newline', input: { idempotencyKey: 'key\nwith-newline' }, param: 'idempotencyKey' },
  { name: 'idempotencyKey with a NUL', input: { idempotencyKey: 'key\u0000' }, param: 'idempotencyKey' },
  { name: 'idempotencyKey as a number', input: { idempotencyKey: 7 }, param: 'idempotencyKey' },
];

const seatChangeRows = withVias(SEAT_OPS.flatMap((op) => seatChangeCases.filter((c) => !c.ops || c.ops.includes(op)).map((c) => ({ ...c, op }))));

type BulkCase = { name: string; input: Args; param: string };

const bulkCases: BulkCase[] = [
  { name: 'no entries', input: { seats: [] }, param: 'seats' },
  {
    name: '101 entries',
    input: { seats: Array.from({ length: 101 }, (_, i) => ({ featureCode: `seat_${i}`, count: 1 })) },
    param: 'seats',
  },
  { name: 'seats null', input: { seats: null }, param: 'seats' },
  {
    name: 'the same featureCode twice',
    input: {
      seats: [
        { featureCode: 'editor', count: 4 },
        { featureCode: 'editor', count: 5 },
      ],
    },
    param: 'seats.1.featureCode',
  },
  {
    name: 'the same featureCode twice after another entry',
    input: {
      seats: [
        { featureCode: 'viewer', count: 2 },
        { featureCode: 'editor', count: 4 },
        { featureCode: 'editor', count: 5 },
      ],
    },
    param: 'seats.2.featureCode',
  },
  { name: 'a negative count', input: { seats: [{ featureCode: 'editor', count: -1 }] }, param: 'seats.0.count' },
  {
    name: 'a count over 1,000,000 in the second entry',
    input: {
      seats: [
        { featureCode: 'editor', count: 1 },
        { featureCode: 'viewer', count: 1_000_001 },
      ],
    },
    param: 'seats.1.count',
  },
  {
    name: 'a malformed featureCode in the second entry',
    input: {
      seats: [
        { featureCode: 'editor', count: 1 },
        { featureCode: 'Viewer', count: 1 },
      ],
    },
    param: 'seats.1.featureCode',
  },
  { name: 'an empty featureCode', input: { seats: [{ featureCode: '', count: 1 }] }, param: 'seats.0.featureCode' },
  { name: 'empty customerId', input: { customerId: '' }, param: 'customerId' },
  { name: 'customerId of 201 characters', input: { customerId: 'c'.repeat(201) }, param: 'customerId' },
  { name: 'empty idempotencyKey', input: { idempotencyKey: '' }, param: 'idempotencyKey' },
  { name: 'idempotencyKey of 256 characters', input: { idempotencyKey: 'k'.repeat(256) }, param: 'idempotencyKey' },
  { name: 'idempotencyKey with a newline', input: { idempotencyKey: 'key\n' }, param: 'idempotencyKey' },
];

const validBulkInput = (s: SeatScenario) => ({
  customerId: s.customerId,
  seats: [
    { featureCode: 'editor', count: 4 },
    { featureCode: 'viewer', count: 2 },
  ],
});

type CallCase = {
  name: string;
  op: OperationName;
  args: (s: SeatScenario) => Args | Promise<Args>;
  param: string;
  /**
   * No field can be named for the literal form: graphql-js reports some literal errors without a
   * location, and graphql-armor's cost limit (which counts `first` as a list size while parsing)
   * refuses a huge literal `first` before graphql-js checks it.
   */
  literalNamesNoField?: true;
};

const queryCases: CallCase[] = [
  { name: 'featureCode in capitals', op: 'seatBalance', args: (s) => ({ customerId: s.customerId, featureCode: 'BAD' }), param: 'featureCode' },
  { name: 'empty featureCode', op: 'seatBalance', args: (s) => ({ customerId: s.customerId, featureCode: '' }), param: 'featureCode' },
  { name: 'empty customerId', op: 'seatBalance', args: () => ({ customerId: '', featureCode: 'editor' }), param: 'customerId' },
  { name: 'customerId with a NUL', op: 'seatBalance', args: () => ({ customerId: 'acme\u0000', featureCode: 'editor' }), param: 'customerId' },
  { name: 'customerId of 201 characters', op: 'seatBalances', args: () => ({ customerId: 'c'.repeat(201) }), param: 'customerId' },
  { name: 'first: 0', op: 'seatEvents', args: (s) => ({ customerId: s.customerId, first: 0 }), param: 'first' },
  { name: 'first: 101', op: 'seatEvents', args: (s) => ({ customerId: s.customerId, first: 101 }), param: 'first' },
  { name: 'first: -1', op: 'seatEvents', args: (s) => ({ customerId: s.customerId, first: -1 }), param: 'first' },
  { name: 'first: 2^31', op: 'seatEvents', args: (s) => ({ customerId: s.customerId, first: 2 ** 31 }), param: 'first', literalNamesNoField: true },
  { name: 'first as a string', op: 'seatEvents', args: (s) => ({ customerId: s.customerId, first: '10' }), param: 'first' },
  { name: 'a garbage cursor', op: 'seatEvents', args: (s) => ({ customerId: s.customerId, after: 'not-a-cursor' }), param: 'after' },
  { name: 'an empty cursor', op: 'seatEvents', args: (s) => ({ customerId: s.customerId, after: '' }), param: 'after' },
  {
    name: 'a cursor of another kind',
    op: 'seatEvents',
    args: (s) => ({ customerId: s.customerId, after: cursorOf('cus:12') }),
    param: 'after',
  },
  {
    name: 'a cursor with a negative position',
    op: 'seatEvents',
    args: (s) => ({ customerId: s.customerId, after: cursorOf('sev:-1') }),
    param: 'after',
  },
  {
    name: 'a cursor beyond the 64-bit sequence range',
    op: 'seatEvents',
    args: (s) => ({ customerId: s.customerId, after: cursorOf('sev:9999999999999999999') }),
    param: 'after',
  },
  {
    name: 'featureCode with a dash',
    op: 'seatEvents',
    args: (s) => ({ customerId: s.customerId, featureCode: 'has-dash' }),
    param: 'featureCode',
  },
  { name: '101 ids', op: 'customers', args: () => ({ ids: Array.from({ length: 101 }, (_, i) => `customer-${i}`) }), param: 'ids' },
  { name: 'an empty id', op: 'customers', args: (s) => ({ ids: [s.customerId, ''] }), param: 'ids.1' },
  { name: 'an id of 201 characters', op: 'customers', args: () => ({ ids: ['c'.repeat(201)] }), param: 'ids.0' },
  { name: 'an id with a NUL', op: 'customers', args: () => ({ ids: ['acme\u0000'] }), param: 'ids.0' },
  { name: 'ids null', op: 'customers', args: () => ({ ids: null }), param: 'ids' },
  { name: 'an empty id', op: 'customer', args: () => ({ id: '' }), param: 'id' },
];

const planInput = (override: Args = {}) => ({
  code: 'pro',
  name: 'Pro',
  currency: 'EUR',
  interval: enumValue('MONTH'),
  seatFeatures: [{ featureCode: 'editor', includedSeats: 1, overageEnabled: true, unitPrice: 100 }],
  ...override,
});
const planSeat = (override: Args) => ({ seatFeatures: [{ featureCode: 'editor', includedSeats: 1, overageEnabled: true, unitPrice: 100, ...override }] });
const featureInput = (code: unknown) => ({ input: { code, name: 'Feature', type: enumValue('SEATS') } });
const subscriptionInput = async (s: SeatScenario, override: Args) => ({
  input: { customerId: await bareCustomer(s), planCode: 'team', ...override },
});

const catalogCases: CallCase[] = [
  { name: "code 'Bad-Code'", op: 'createFeature', args: () => featureInput('Bad-Code'), param: 'code' },
  { name: 'empty code', op: 'createFeature', args: () => featureInput(''), param: 'code' },
  { name: 'code of 51 characters', op: 'createFeature', args: () => featureInput('f'.repeat(51)), param: 'code' },
  { name: "currency 'XYZ1'", op: 'createPlan', args: () => ({ input: planInput({ currency: 'XYZ1' }) }), param: 'currency' },
  { name: "currency 'eur'", op: 'createPlan', args: () => ({ input: planInput({ currency: 'eur' }) }), param: 'currency' },
  {
    name: 'negative includedSeats',
    op: 'createPlan',
    args: () => ({ input: planInput(planSeat({ includedSeats: -1 })) }),
    param: 'seatFeatures.0.includedSeats',
  },
  {
    name: 'negative unitPrice',
    op: 'createPlan',
    args: () => ({ input: planInput(planSeat({ unitPrice: -1 })) }),
    param: 'seatFeatures.0.unitPrice',
  },
  {
    name: 'the same feature twice',
    op: 'createPlan',
    args: () => ({
      input: planInput({
        seatFeatures: [
          { featureCode: 'editor', includedSeats: 1, overageEnabled: true, unitPrice: 100 },
          { featureCode: 'editor', includedSeats: 2, overageEnabled: true, unitPrice: 100 },
        ],
      }),
    }),
    param: 'seatFeatures',
  },
  { name: "externalId starting with 'cus_'", op: 'createCustomer', args: () => ({ input: { name: 'Acme', externalId: 'cus_123' } }), param: 'externalId' },
  { name: 'empty externalId', op: 'createCustomer', args: () => ({ input: { name: 'Acme', externalId: '' } }), param: 'externalId' },
  { name: 'externalId with a NUL', op: 'createCustomer', args: () => ({ input: { name: 'Acme', externalId: 'acme\u0000' } }), param: 'externalId' },
  { name: 'empty name', op: 'createCustomer', args: () => ({ input: { name: '' } }), param: 'name' },
  { name: 'name with a NUL', op: 'createCustomer', args: () => ({ input: { name: 'Acme\u0000' } }), param: 'name' },
  { name: 'startAt in the future', op: 'createSubscription', args: (s) => subscriptionInput(s, { startAt: inOneDay() }), param: 'startAt' },
  {
    name: 'startAt not a date',
    op: 'createSubscription',
    args: (s) => subscriptionInput(s, { startAt: 'yesterday' }),
    param: 'startAt',
    literalNamesNoField: true,
  },
  {
    name: 'startAt without a time zone',
    op: 'createSubscription',
    args: (s) => subscriptionInput(s, { startAt: '2026-01-15T10:00:00' }),
    param: 'startAt',
    literalNamesNoField: true,
  },
  {
    name: 'startAt as a number',
    op: 'createSubscription',
    args: (s) => subscriptionInput(s, { startAt: 1_700_000_000_000 }),
    param: 'startAt',
    literalNamesNoField: true,
  },
  {
    name: 'startAt on February 30th',
    op: 'createSubscription',
    args: (s) => subscriptionInput(s, { startAt: '2026-02-30T00:00:00Z' }),
    param: 'startAt',
    literalNamesNoField: true,
  },
  {
    name: 'startAt in the year 0000',
    op: 'createSubscription',
    args: (s) => subscriptionInput(s, { startAt: '0000-01-01T00:00:00Z' }),
    param: 'startAt',
    literalNamesNoField: true,
  },
  {
    name: 'a negative initial count',
    op: 'createSubscription',
    args: (s) => subscriptionInput(s, { initialSeats: [{ featureCode: 'editor', count: -1 }] }),
    param: 'initialSeats.0.count',
  },
  {
    name: 'the same initial featureCode twice',
    op: 'createSubscription',
    args: (s) =>
      subscriptionInput(s, {
        initialSeats: [
          { featureCode: 'editor', count: 1 },
          { featureCode: 'editor', count: 2 },
        ],
      }),
    param: 'initialSeats.1.featureCode',
  },
];

async function expectCallRefused(harness: Harness, c: CallCase & { via: Via }) {
  const s = await heldSeats(harness);
  const args = await c.args(s);
  await expectRefused(harness, s, request(c.op, args, c.via), c.via === 'literal' && c.literalNamesNoField ? undefined : c.param);
}

describe('addSeats, removeSeats and setSeats refuse bad input', () => {
  for (const { op, name, input, param, via } of seatChangeRows) {
    test(`${op}: ${name} (${via})`, async ({ harness, scenario: s }) => {
      const args = { input: { customerId: s.customerId, featureCode: 'editor', count: 1, ...input } };
      await expectRefused(harness, s, request(op, args, via), param);
    });
  }
});

describe('bulkSetSeats refuses bad input, atomically', () => {
  for (const { name, input, param, via } of withVias(bulkCases)) {
    test(`${name} (${via})`, async ({ harness, scenario: s }) => {
      await expectRefused(harness, s, request('bulkSetSeats', { input: { ...validBulkInput(s), ...input } }, via), param);
    });
  }
});

describe('queries refuse bad arguments', () => {
  for (const c of withVias(queryCases)) test(`${c.op}: ${c.name} (${c.via})`, ({ harness }) => expectCallRefused(harness, c));

  test('a malformed featureCode on Customer.seatBalance', async ({ harness, scenario: s }) => {
    await expectRefused(
      harness,
      s,
      [/* GraphQL */ `query($ids: [String!]!) { customers(ids: $ids) { seatBalance(featureCode: "BAD") { current } } }`, { ids: [s.customerId] }],
      'featureCode',
    );
  });
});

describe('catalog, customers and subscriptions refuse bad input', () => {
  for (const c of withVias(catalogCases)) test(`${c.op}: ${c.name} (${c.via})`, ({ harness }) => expectCallRefused(harness, c));
});

describe('refusals by GraphQL itself answer validation_error', () => {
  test('a missing required variable', async ({ harness, scenario: s }) => {
    await expectRefused(harness, s, [mutations.addSeats, {}], 'input');
  });

  test('a variable declared with the wrong type', async ({ harness, scenario: s }) => {
    const document = /* GraphQL */ `query($customerId: Int!) { seatBalances(customerId: $customerId) { current } }`;
    await expectRefused(harness, s, [document, { customerId: 1 }], 'customerId');
  });

  test('an input variable that is not an object', async ({ harness, scenario: s }) => {
    await expectRefused(harness, s, [mutations.setSeats, { input: 'count=3' }], 'input');
  });

  test('an unknown field in an input variable', async ({ harness, scenario: s }) => {
    await expectRefused(harness, s, [mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1, seats: 1 } }]);
  });

  test('a required field missing from an inline input', async ({ harness, scenario: s }) => {
    await expectRefused(harness, s, [/* GraphQL */ `mutation { addSeats(input: {customerId: "${s.customerId}", featureCode: "editor"}) { id } }`], 'count');
  });

  test('a required field missing from an input variable', async ({ harness, scenario: s }) => {
    await expectRefused(harness, s, [mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor' } }]);
  });

  test.for(VIAS)('a fractional count inside a bulk entry (%s)', async (via, { harness, scenario: s }) => {
    await expectRefused(harness, s, request('bulkSetSeats', { input: { customerId: s.customerId, seats: [{ featureCode: 'editor', count: 1.5 }] } }, via));
  });

  test('a syntax error', async ({ harness, scenario: s }) => {
    await expectRefused(harness, s, [`mutation { addSeats(input: {count: }) { id } }`]);
  });
});

describe('params of GraphQL-level refusals use the contract notation', () => {
  test('a required field missing from an input variable names the field', async ({ harness, scenario: s }) => {
    await expectRefused(harness, s, [mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor' } }], 'count');
  });

  test('a wrongly typed count inside a bulk variable is named seats.0.count', async ({ harness, scenario: s }) => {
    await expectRefused(
      harness,
      s,
      [mutations.bulkSetSeats, { input: { customerId: s.customerId, seats: [{ featureCode: 'editor', count: '3' }] } }],
      'seats.0.count',
    );
  });

  test('a malformed inline DateTime names startAt', async ({ harness, scenario: s }) => {
    await expectRefused(harness, s, request('createSubscription', await subscriptionInput(s, { startAt: 'yesterday' }), 'literal'), 'startAt');
  });
});

describe('values at the limits pass validation', () => {
  const expectedBalance: Record<SeatOp, number> = { addSeats: 4, removeSeats: 2, setSeats: 1 };

  for (const { op, via } of withVias(SEAT_OPS.map((op) => ({ op })))) {
    test(`${op} accepts the base input of the tables (${via})`, async ({ harness, scenario: s }) => {
      await s.client.ok(...request(op, { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } }, via));
      expect(await balanceOf(harness, s.customerId, 'editor')).toBe(expectedBalance[op]);
    });
  }

  test.for(VIAS)('bulkSetSeats accepts the base input of the table (%s)', async (via, { harness, scenario: s }) => {
    await s.client.ok(...request('bulkSetSeats', { input: validBulkInput(s) }, via));
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(4);
    expect(await balanceOf(harness, s.customerId, 'viewer')).toBe(2);
  });

  test.for(VIAS)('a customerId of 200 characters is looked up: customer_not_found (%s)', async (via, { scenario: s }) => {
    const error = await s.client.fails(...request('addSeats', { input: { customerId: 'c'.repeat(200), featureCode: 'editor', count: 1 } }, via));
    expect(error.extensions).toMatchObject({ code: 'customer_not_found', param: 'customerId' });
  });

  test('a featureCode of 50 characters is looked up: feature_not_found', async ({ scenario: s }) => {
    const error = await s.client.fails(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'f'.repeat(50), count: 1 } });
    expect(error.extensions).toMatchObject({ code: 'feature_not_found', param: 'featureCode' });
  });

  test('setSeats accepts a count of 0 and addSeats a count of 1,000,000', async ({ harness, scenario: s }) => {
    await s.client.ok(mutations.setSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 0 } });
    await s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1_000_000 } });
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(1_000_000);
    await expectLedgerWhole(harness, s.customerId, 'editor');
  });

  test('an idempotencyKey of 255 printable characters', async ({ scenario: s }) => {
    const idempotencyKey = ' ~!key'.padEnd(255, 'k');
    await s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1, idempotencyKey } });
  });

  test('bulkSetSeats with 100 entries is looked up: feature_not_found', async ({ scenario: s }) => {
    const seats = Array.from({ length: 100 }, (_, i) => ({ featureCode: `seat_${i}`, count: 1 }));
    const error = await s.client.fails(mutations.bulkSetSeats, { input: { customerId: s.customerId, seats } });
    expect(error.extensions).toMatchObject({ code: 'feature_not_found', param: 'seats.0.featureCode' });
  });

  test('seatEvents accepts first: 1 and first: 100, and its own cursors', async ({ scenario: s }) => {
    const page = await s.client.ok(queries.seatEvents, { customerId: s.customerId, first: 1 });
    expect(page.seatEvents.edges).toHaveLength(1);
    const rest = await s.client.ok(queries.seatEvents, { customerId: s.customerId, first: 100, after: page.seatEvents.pageInfo.endCursor });
    expect(rest.seatEvents.edges).toHaveLength(1);
  });

  test('customers accepts 100 ids', async ({ scenario: s }) => {
    const ids = [s.customerId, ...Array.from({ length: 99 }, (_, i) => `customer-${i}`)];
    const { customers } = await s.client.ok(operations.customers.document, { ids });
    expect(customers).toHaveLength(100);
    expect(customers[0]).not.toBeNull();
  });
});
