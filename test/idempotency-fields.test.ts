import { describe, expect, test } from './fixtures.ts';
import { routes } from '../src/rest/routes.ts';
import { createCustomerWithSubscription, type Harness, mutations, planChangeTargets, rest, seatScenario, uniqueName } from './helpers.ts';

// The same idempotency key with anything else answers idempotency_key_mismatch and changes
// nothing: every field of every keyed mutation changed on its own, through both doors, and every
// other operation. The tables below are what a new field or mutation adds a row to; the first
// tests fail while one is missing.

const initialSeats = [
  { featureCode: 'editor', count: 6 },
  { featureCode: 'viewer', count: 1 },
  { featureCode: 'admin', count: 4 },
];

/**
 * seatScenario's catalog (editor: 5 included, overage at 2500; viewer: capped at 2; admin:
 * unlimited) with seats held, and a second customer on the same plan: what a changed customerId
 * points at. The first calls below raise editor past its mark, so they record charges too.
 */
async function keyedScenario(harness: Harness) {
  const s = await seatScenario(harness, { initialSeats });
  const other = await createCustomerWithSubscription(s.client, { externalId: uniqueName('other'), initialSeats });
  // The REST door names subscriptions by id.
  const { customers } = await s.client.ok(/* GraphQL */ `query($ids: [String!]!) { customers(ids: $ids) { subscription { id } } }`, {
    ids: [s.customerId, other.externalId],
  });
  return {
    ...s,
    otherCustomerId: other.externalId!,
    subscriptionId: customers[0].subscription.id as string,
    otherSubscriptionId: customers[1].subscription.id as string,
  };
}
type KeyedScenario = Awaited<ReturnType<typeof keyedScenario>>;

/** Everything a call could change for the organization: balances with their ledger lengths, charges, outbox rows and claimed keys. */
async function stateOf(harness: Harness, s: KeyedScenario) {
  const connection = harness.orm.em.fork().getConnection();
  const balances = await connection.execute(
    `select c.external_id as customer, f.code as feature, b.current,
            (select count(*)::int from seat_event e where e.customer_id = b.customer_id and e.feature_id = b.feature_id) as events
       from seat_balance b join customer c on c.id = b.customer_id join feature f on f.id = b.feature_id
      where b.organization_id = ? order by c.external_id, f.code`,
    [s.organizationId],
  );
  const [counts] = await connection.execute(
    `select (select count(*)::int from seat_charge where organization_id = ?) as charges,
            (select count(*)::int from outbox_event where organization_id = ?) as outbox,
            (select count(*)::int from idempotency_key where organization_id = ?) as keys`,
    [s.organizationId, s.organizationId, s.organizationId],
  );
  return { balances, ...counts };
}

type Input = Record<string, any>;
/** One changed field: the path it sets, a label when the path alone does not say how, and the new value. */
type FieldChange = { field: string; label?: string; to: (input: Input, s: KeyedScenario) => unknown };

/** A copy of `input` with the value at a dotted path replaced. */
function withChange(input: Input, path: string, value: unknown): Input {
  const copy = structuredClone(input);
  const keys = path.split('.');
  let target: any = copy;
  for (const key of keys.slice(0, -1)) target = target[key];
  target[keys.at(-1)!] = value;
  return copy;
}

const anotherCustomer: FieldChange = { field: 'customerId', label: 'another customer', to: (_input, s) => s.otherCustomerId };

// ---- GraphQL: every mutation taking an idempotencyKey. ----

type SeatMutation = 'addSeats' | 'removeSeats' | 'setSeats' | 'bulkSetSeats';
type KeyedMutation = SeatMutation | 'cancelSubscription' | 'resumeSubscription' | 'changePlan' | 'revokeScheduledPlanChange';

const documents: Record<KeyedMutation, string> = {
  ...mutations,
  cancelSubscription: /* GraphQL */ `mutation($input: CancelSubscriptionInput!) { cancelSubscription(input: $input) { id status cancelAtPeriodEnd cancellation { reason comment } } }`,
  resumeSubscription: /* GraphQL */ `mutation($input: ResumeSubscriptionInput!) { resumeSubscription(input: $input) { id status cancelAtPeriodEnd } }`,
  changePlan: /* GraphQL */ `mutation($input: ChangePlanInput!) { changePlan(input: $input) { id planCode scheduledPlanChange { planCode } } }`,
  revokeScheduledPlanChange: /* GraphQL */ `mutation($input: RevokeScheduledPlanChangeInput!) { revokeScheduledPlanChange(input: $input) { id planCode scheduledPlanChange { planCode } } }`,
};

/** `prepare` readies the scenario for the first call (a resume needs a cancellation scheduled). */
const graphqlTable: {
  mutation: KeyedMutation;
  input: (s: KeyedScenario) => Input;
  changes: FieldChange[];
  prepare?: (s: KeyedScenario) => Promise<unknown>;
}[] = [
  {
    mutation: 'addSeats',
    input: (s) => ({ customerId: s.customerId, featureCode: 'editor', count: 2 }),
    changes: [anotherCustomer, { field: 'featureCode', to: () => 'admin' }, { field: 'count', to: () => 3 }],
  },
  {
    mutation: 'removeSeats',
    input: (s) => ({ customerId: s.customerId, featureCode: 'editor', count: 1 }),
    changes: [
      anotherCustomer,
      { field: 'featureCode', to: () => 'admin' },
      { field: 'count', to: () => 2 },
      // The organization default is IMMEDIATELY, so naming it is still another input.
      { field: 'timing', label: 'named, as the default', to: () => 'IMMEDIATELY' },
      { field: 'timing', label: 'at period end', to: () => 'AT_PERIOD_END' },
    ],
  },
  {
    mutation: 'setSeats',
    input: (s) => ({ customerId: s.customerId, featureCode: 'editor', count: 9 }),
    changes: [
      anotherCustomer,
      { field: 'featureCode', to: () => 'admin' },
      { field: 'count', to: () => 8 },
      // An increase applies now whatever the timing, but the input differs.
      { field: 'timing', to: () => 'AT_PERIOD_END' },
    ],
  },
  {
    mutation: 'bulkSetSeats',
    input: (s) => ({
      customerId: s.customerId,
      seats: [
        { featureCode: 'editor', count: 9 },
        { featureCode: 'viewer', count: 2 },
      ],
    }),
    changes: [
      anotherCustomer,
      { field: 'seats.0.featureCode', to: () => 'admin' },
      { field: 'seats.0.count', to: () => 10 },
      { field: 'seats.1.featureCode', to: () => 'admin' },
      { field: 'seats.1.count', to: () => 0 },
      // The events come back in the order given, so another order is another call.
      { field: 'seats', label: 'in another order', to: (input) => [...input.seats].reverse() },
      { field: 'seats', label: 'one entry more', to: (input) => [...input.seats, { featureCode: 'admin', count: 5 }] },
      { field: 'seats', label: 'one entry fewer', to: (input) => input.seats.slice(0, 1) },
      { field: 'timing', to: () => 'AT_PERIOD_END' },
    ],
  },
  {
    mutation: 'cancelSubscription',
    input: (s) => ({ customerId: s.customerId, timing: 'AT_PERIOD_END', reason: 'UNUSED', comment: 'Quiet month' }),
    changes: [
      anotherCustomer,
      { field: 'timing', to: () => 'IMMEDIATELY' },
      { field: 'reason', to: () => 'OTHER' },
      { field: 'comment', to: () => 'Another month' },
    ],
  },
  {
    mutation: 'resumeSubscription',
    input: (s) => ({ customerId: s.customerId }),
    prepare: (s) => s.client.ok(documents.cancelSubscription, { input: { customerId: s.customerId, timing: 'AT_PERIOD_END' } }),
    changes: [anotherCustomer],
  },
  {
    mutation: 'changePlan',
    input: (s) => ({ customerId: s.customerId, planCode: 'bigger', timing: 'AT_PERIOD_END' }),
    prepare: (s) => planChangeTargets(s.client),
    changes: [anotherCustomer, { field: 'planCode', to: () => 'smaller' }, { field: 'timing', to: () => 'IMMEDIATELY' }],
  },
  {
    mutation: 'revokeScheduledPlanChange',
    input: (s) => ({ customerId: s.customerId }),
    prepare: async (s) => {
      await planChangeTargets(s.client);
      await s.client.ok(documents.changePlan, { input: { customerId: s.customerId, planCode: 'smaller', timing: 'AT_PERIOD_END' } });
    },
    changes: [anotherCustomer],
  },
];

const typeRef = 'kind name ofType { kind name ofType { kind name ofType { kind name } } }';
/** The named type under NON_NULL and LIST wrappers, and whether a list was among them. */
function unwrap(type: { kind: string; name: string | null; ofType: any }): { name: string; list: boolean } {
  let list = false;
  while (type.name === null) {
    if (type.kind === 'LIST') list = true;
    type = type.ofType;
  }
  return { name: type.name, list };
}

describe('the tables cover every keyed mutation and field', () => {
  test('GraphQL: each mutation whose input takes an idempotencyKey has a row, and each of its fields a change', async ({ scenario: s }) => {
    const inputFieldsOf = async (name: string): Promise<{ name: string; type: any }[]> =>
      (await s.client.ok(/* GraphQL */ `query($name: String!) { __type(name: $name) { inputFields { name type { ${typeRef} } } } }`, { name })).__type
        .inputFields ?? [];
    const { __type } = await s.client.ok(/* GraphQL */ `{ __type(name: "Mutation") { fields { name args { name type { ${typeRef} } } } } }`);
    const keyed = new Map<string, { name: string; list: boolean; type: string }[]>();
    for (const field of __type.fields as { name: string; args: { name: string; type: any }[] }[]) {
      for (const arg of field.args) {
        const fields = await inputFieldsOf(unwrap(arg.type).name);
        if (!fields.some((f) => f.name === 'idempotencyKey')) continue;
        keyed.set(
          field.name,
          fields.map((f) => ({ name: f.name, list: unwrap(f.type).list, type: unwrap(f.type).name })),
        );
      }
    }
    expect([...keyed.keys()].sort()).toEqual(graphqlTable.map((row) => row.mutation).sort());

    for (const row of graphqlTable) {
      const changed = new Set(row.changes.map((change) => change.field));
      for (const field of keyed.get(row.mutation)!.filter((f) => f.name !== 'idempotencyKey')) {
        expect(changed, `${row.mutation}.${field.name}`).toContain(field.name);
        // A list of input objects: each field of an entry is changed on its own too.
        const entryFields = field.list ? await inputFieldsOf(field.type) : [];
        for (const entryField of entryFields) {
          expect(
            [...changed].some((path) => new RegExp(`^${field.name}\\.\\d+\\.${entryField.name}$`).test(path)),
            `${row.mutation}.${field.name}.N.${entryField.name}`,
          ).toBe(true);
        }
      }
    }
  });

  test('REST: each write route has a row, and each field of its path and body a change', () => {
    // Previews sent as POST record nothing and take no key.
    const writes = routes.filter((route) => route.method !== 'GET' && !route.readOnly);
    expect(writes.map((route) => `${route.method} ${route.path}`).sort()).toEqual(restTable.map((row) => `${row.method} ${row.path}`).sort());
    for (const row of restTable) {
      const route = writes.find((candidate) => candidate.method === row.method && candidate.path === row.path)!;
      expect(row.operation).toBe(route.graphql);
      const roots = new Set([...row.changes, ...(row.sameCall ?? [])].map((change) => change.field.split('.')[0]));
      for (const field of [...Object.keys(route.params?.shape ?? {}), ...Object.keys(route.input.shape)]) {
        expect(roots, `${row.method} ${row.path} ${field}`).toContain(field);
      }
    }
  });
});

const graphqlCases = graphqlTable.flatMap((row) =>
  row.changes.map((change) => ({ ...row, change, name: `${row.mutation}: ${change.field}${change.label ? ` (${change.label})` : ''}` })),
);

const MISMATCH = { code: 'idempotency_key_mismatch', type: 'conflict_error', param: 'idempotencyKey' };

describe('GraphQL: the same key with one field changed', () => {
  test.for(graphqlCases)('$name', async ({ mutation, input, change, prepare }, { harness }) => {
    const s = await keyedScenario(harness);
    await prepare?.(s);
    const key = uniqueName('fields');
    const original = input(s);
    const first = await s.client.ok(documents[mutation], { input: { ...original, idempotencyKey: key } });
    const before = await stateOf(harness, s);

    const changed = withChange(original, change.field, change.to(original, s));
    // Compared as sent: a change of order is a change.
    expect(JSON.stringify(changed)).not.toBe(JSON.stringify(original));
    const refused = await s.client.fails(documents[mutation], { input: { ...changed, idempotencyKey: key } });
    expect(refused.extensions).toMatchObject(MISMATCH);
    expect(await stateOf(harness, s)).toEqual(before);

    // The key still belongs to its own call: the unchanged repeat answers the original events.
    const again = await s.client.ok(documents[mutation], { input: { ...original, idempotencyKey: key } });
    expect(again).toEqual(first);
    expect(await stateOf(harness, s)).toEqual(before);
  });

  test.for(graphqlTable)('$mutation: the customer named by its cus_ id is the same call, a repeat', async ({ mutation, input, prepare }, { harness }) => {
    const s = await keyedScenario(harness);
    await prepare?.(s);
    const key = uniqueName('same-customer');
    const original = input(s);
    const first = await s.client.ok(documents[mutation], { input: { ...original, idempotencyKey: key } });
    const before = await stateOf(harness, s);
    const again = await s.client.ok(documents[mutation], { input: { ...original, customerId: s.customer.id, idempotencyKey: key } });
    expect(again).toEqual(first);
    expect(await stateOf(harness, s)).toEqual(before);
  });
});

/** The input of `to` for the change `from` made: the same customer, feature and count as far as the operation takes them. */
function sameChangeAs(from: Input, to: SeatMutation): Input {
  const entries: { featureCode: string; count: number }[] = from.seats ?? [{ featureCode: from.featureCode, count: from.count }];
  if (to === 'bulkSetSeats') return { customerId: from.customerId, seats: entries };
  return { customerId: from.customerId, featureCode: entries[0]!.featureCode, count: Math.max(1, entries[0]!.count) };
}

// Between seat changes; cancel.test.ts tries a cancel's key on a resume.
const seatRows = graphqlTable.filter((row): row is (typeof graphqlTable)[number] & { mutation: SeatMutation } => row.mutation in mutations);
const operationPairs = seatRows.flatMap((first) =>
  seatRows
    .filter((second) => second.mutation !== first.mutation)
    .map((second) => ({ first, second: second.mutation, name: `${first.mutation} then ${second.mutation}` })),
);

describe('GraphQL: the same key on another operation', () => {
  test.for(operationPairs)('$name', async ({ first, second }, { harness }) => {
    const s = await keyedScenario(harness);
    const key = uniqueName('operation');
    const original = first.input(s);
    await s.client.ok(mutations[first.mutation], { input: { ...original, idempotencyKey: key } });
    const before = await stateOf(harness, s);
    const refused = await s.client.fails(mutations[second], { input: { ...sameChangeAs(original, second), idempotencyKey: key } });
    expect(refused.extensions).toMatchObject(MISMATCH);
    expect(await stateOf(harness, s)).toEqual(before);
  });
});

// ---- REST: every write route, the key in the Idempotency-Key header. ----

/**
 * A REST row's input holds its path parameters with its body fields, so a change of either is a
 * field change; `send` puts each where the route takes it. `prepare` as for GraphQL.
 */
type RestRow = {
  method: string;
  path: string;
  operation: KeyedMutation;
  body: (s: KeyedScenario) => Input;
  changes: FieldChange[];
  /** Fields that name nothing the twin takes (checked against the other fields, or ignored): changed, the call is still a repeat. */
  sameCall?: FieldChange[];
  prepare?: (s: KeyedScenario) => Promise<unknown>;
};

const anotherSubscription: FieldChange = { field: 'id', label: "another customer's subscription", to: (_input, s) => s.otherSubscriptionId };
const scheduleCancellation = (s: KeyedScenario) => s.client.ok(documents.cancelSubscription, { input: { customerId: s.customerId, timing: 'AT_PERIOD_END' } });

const restTable: RestRow[] = [
  ...(
    [
      ['POST', '/api/v1/seats', 'addSeats', 2],
      ['DELETE', '/api/v1/seats', 'removeSeats', 1],
      ['POST', '/api/v1/seats/remove', 'removeSeats', 1],
      ['PUT', '/api/v1/seats', 'setSeats', 9],
    ] as const
  ).map(([method, path, operation, count]) => ({
    method,
    path,
    operation,
    body: (s: KeyedScenario) => ({ customerId: s.customerId, featureCode: 'editor', count }),
    changes: [anotherCustomer, { field: 'featureCode', to: () => 'admin' }, { field: 'count', to: () => count + 1 }],
  })),
  {
    method: 'PUT',
    path: '/api/v1/seats/bulk',
    operation: 'bulkSetSeats',
    body: (s) => ({ customerId: s.customerId, seats: { editor: 9, viewer: 2 } }),
    changes: [
      anotherCustomer,
      { field: 'seats.editor', to: () => 10 },
      { field: 'seats.viewer', to: () => 0 },
      { field: 'seats', label: 'editor replaced by admin', to: () => ({ admin: 9, viewer: 2 }) },
      // Entries apply and answer in the order written, so another order is another call.
      { field: 'seats', label: 'in another order', to: () => ({ viewer: 2, editor: 9 }) },
      { field: 'seats', label: 'one entry more', to: () => ({ editor: 9, viewer: 2, admin: 5 }) },
      { field: 'seats', label: 'one entry fewer', to: () => ({ editor: 9 }) },
    ],
  },
  {
    method: 'POST',
    path: '/api/v1/subscriptions/{id}/cancel',
    operation: 'cancelSubscription',
    body: (s) => ({ id: s.subscriptionId, immediate: false, reason: 'unused' }),
    changes: [
      anotherSubscription,
      { field: 'immediate', to: () => true },
      { field: 'reason', label: 'another known reason', to: () => 'too_expensive' },
      { field: 'reason', label: 'words of its own', to: () => 'Quiet month' },
    ],
  },
  {
    method: 'POST',
    path: '/api/v1/subscriptions/{id}/uncancel',
    operation: 'resumeSubscription',
    body: (s) => ({ id: s.subscriptionId }),
    prepare: scheduleCancellation,
    changes: [anotherSubscription],
  },
  {
    method: 'POST',
    path: '/api/v1/subscriptions/{id}/change-plan',
    operation: 'changePlan',
    // A cheaper plan: scheduled for the period end, so a repeat answers as the first call did.
    body: (s) => ({ id: s.subscriptionId, newPlanId: 'smaller' }),
    prepare: (s) => planChangeTargets(s.client),
    changes: [anotherSubscription, { field: 'newPlanId', to: () => 'bigger' }],
    sameCall: [
      { field: 'newBillingInterval', label: "the plan's own", to: () => 'monthly' },
      { field: 'successUrl', to: () => 'https://example.com/done' },
    ],
  },
];

/** Sends a row's input: `{name}` parameters in the path, the other fields as the body. */
function send(harness: Harness, s: KeyedScenario, row: RestRow, input: Input, headers: Record<string, string>) {
  const body = { ...input };
  const path = row.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = body[name];
    delete body[name];
    return encodeURIComponent(value);
  });
  return rest(harness.yoga, s.key, row.method, path, body, headers);
}

/** The GraphQL input of the call a REST input makes: the same key spans both doors. */
function graphqlInputOf(operation: KeyedMutation, input: Input, s: KeyedScenario): Input {
  const customerOf = (id: string) => (id === s.subscriptionId ? s.customerId : s.otherCustomerId);
  switch (operation) {
    case 'bulkSetSeats':
      return { customerId: input.customerId, seats: Object.entries(input.seats).map(([featureCode, count]) => ({ featureCode, count })) };
    case 'cancelSubscription':
      // A known reason's name is that reason; other words are OTHER with them as the comment.
      return {
        customerId: customerOf(input.id),
        timing: input.immediate ? 'IMMEDIATELY' : 'AT_PERIOD_END',
        ...(/^[a-z_]+$/.test(input.reason) ? { reason: input.reason.toUpperCase() } : { reason: 'OTHER', comment: input.reason }),
      };
    case 'resumeSubscription':
      return { customerId: customerOf(input.id) };
    case 'changePlan':
      // Commet's changePlan decides the timing itself: AUTO.
      return { customerId: customerOf(input.id), planCode: input.newPlanId, timing: 'AUTO' };
    default:
      return input;
  }
}

const restCases = restTable.flatMap((row) =>
  (['REST', 'GraphQL'] as const).flatMap((firstDoor) =>
    row.changes.map((change) => ({
      ...row,
      change,
      firstDoor,
      name: `${row.method} ${row.path}, first through ${firstDoor}: ${change.field}${change.label ? ` (${change.label})` : ''}`,
    })),
  ),
);

function expectRestMismatch(response: { status: number; body: any }) {
  expect(response.status, JSON.stringify(response.body)).toBe(409);
  expect(response.body).toMatchObject({ success: false, error: { code: 'idempotency_key_mismatch', type: 'conflict_error' } });
}

describe('REST: the same key with one field changed', () => {
  test.for(restCases)('$name', async (row, { harness }) => {
    const { operation, body, change, firstDoor, prepare } = row;
    const s = await keyedScenario(harness);
    await prepare?.(s);
    const key = uniqueName('rest-fields');
    const headers = { 'idempotency-key': key };
    const original = body(s);
    if (firstDoor === 'REST') {
      const first = await send(harness, s, row, original, headers);
      expect(first.status, JSON.stringify(first.body)).toBe(200);
    } else {
      await s.client.ok(documents[operation], { input: { ...graphqlInputOf(operation, original, s), idempotencyKey: key } });
    }
    const before = await stateOf(harness, s);

    const changed = withChange(original, change.field, change.to(original, s));
    // Compared as sent: a change of order is a change.
    expect(JSON.stringify(changed)).not.toBe(JSON.stringify(original));
    expectRestMismatch(await send(harness, s, row, changed, headers));
    expect(await stateOf(harness, s)).toEqual(before);

    const again = await send(harness, s, row, original, headers);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(await stateOf(harness, s)).toEqual(before);
  });

  test.for(restTable)('$method $path: the same call written otherwise is a repeat', async (row, { harness }) => {
    const s = await keyedScenario(harness);
    await row.prepare?.(s);
    const headers = { 'idempotency-key': uniqueName('rest-same') };
    const original = row.body(s);
    const first = await send(harness, s, row, original, headers);
    expect(first.status).toBe(200);
    const before = await stateOf(harness, s);
    // An uncancel answers the instant of each answer as its updatedAt.
    const answered = (response: { body: any }) =>
      row.operation === 'resumeSubscription' ? { ...response.body, data: { ...response.body.data, updatedAt: undefined } } : response.body;
    const repeats: [string, () => Promise<{ body: any }>][] = [];
    if ('customerId' in original)
      repeats.push(['the customer by its cus_ id', () => send(harness, s, row, { ...original, customerId: s.customer.id }, headers)]);
    if ('id' in original) {
      // The path is decoded before the id is read.
      const { id, ...body } = original;
      const path = row.path.replace('{id}', `%${id.charCodeAt(0).toString(16)}${id.slice(1)}`);
      repeats.push([`the id %-escaped, ${path}`, () => rest(harness.yoga, s.key, row.method, path, body, headers)]);
    }
    for (const change of row.sameCall ?? []) {
      const changed = withChange(original, change.field, change.to(original, s));
      repeats.push([`${change.field} (${change.label ?? 'changed'})`, () => send(harness, s, row, changed, headers)]);
    }
    const reordered = Object.fromEntries(Object.entries(original).reverse());
    if (Object.keys(original).length > 1) repeats.push(['the fields in another order', () => send(harness, s, row, reordered, headers)]);
    expect(repeats.length).toBeGreaterThan(0);
    for (const [name, repeat] of repeats) expect(answered(await repeat()), name).toEqual(answered(first));
    expect(await stateOf(harness, s)).toEqual(before);
  });
});

/** An input for `row` making the same change as `from` did, as far as its operation takes one. */
function sameInputAs(from: Input, row: RestRow, s: KeyedScenario): Input {
  if (row.operation === 'cancelSubscription' || row.operation === 'resumeSubscription') return { id: s.subscriptionId };
  if (row.operation === 'changePlan') return { id: s.subscriptionId, newPlanId: 'smaller' };
  const [featureCode, count] = from.seats ? Object.entries(from.seats)[0]! : from.featureCode ? [from.featureCode, from.count] : ['editor', 1];
  const customerId = from.customerId ?? s.customerId;
  if (row.operation === 'bulkSetSeats') return { customerId, seats: from.seats ?? { [featureCode]: count } };
  return { customerId, featureCode, count: Math.max(1, count as number) };
}

const restOperationPairs = restTable.flatMap((first) =>
  restTable
    .filter((second) => second.operation !== first.operation)
    .map((second) => ({ first, second, name: `${first.method} ${first.path} then ${second.method} ${second.path}` })),
);

describe('REST: the same key on another operation', () => {
  test.for(restOperationPairs)('$name', async ({ first, second }, { harness }) => {
    const s = await keyedScenario(harness);
    await first.prepare?.(s);
    // The plan a change names must exist, or plan_not_found answers before the key is looked at.
    if (second.operation === 'changePlan' && first.operation !== 'changePlan') await planChangeTargets(s.client);
    const headers = { 'idempotency-key': uniqueName('rest-operation') };
    const original = first.body(s);
    expect((await send(harness, s, first, original, headers)).status).toBe(200);
    const before = await stateOf(harness, s);
    expectRestMismatch(await send(harness, s, second, sameInputAs(original, second, s), headers));
    expect(await stateOf(harness, s)).toEqual(before);
  });
});
