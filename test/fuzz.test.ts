import fc from 'fast-check';
import { expect, test } from './fixtures.ts';
import { errorCodes } from '../src/common/errors.ts';
import { schema } from '../src/graphql/schema.ts';
import { expectLedgerWhole, seatScenario } from './helpers.ts';

const fuzzRuns = 400;

/** Anything a client could send: plausible values to reach deep paths, and junk of every kind. */
const junk = fc.oneof(
  fc.jsonValue(),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.double({ noNaN: true }),
  fc.constantFrom(null, true, false, '', ' ', '\u0000', 2 ** 31, -(2 ** 31) - 1, 1e300, -0, [], {}),
);
const either = <T>(plausible: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 1, arbitrary: junk });

type Refs = { customerId: string; ownId: string; lone: string; endpointId: string };
const field = (refs: Refs) => ({
  customerId: either(fc.constantFrom(refs.customerId, refs.ownId, refs.lone, 'nobody', 'cus_00000000000000000000000000')),
  featureCode: either(fc.constantFrom('editor', 'viewer', 'admin', 'auditor', 'ghost')),
  count: either(fc.integer({ min: -3, max: 40 })),
  kind: either(fc.constantFrom('ADD', 'REMOVE', 'SET')),
  key: either(fc.string({ minLength: 1, maxLength: 12 })),
  date: either(fc.date({ min: new Date('1960-01-01T00:00:00Z'), max: new Date('2080-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString())),
  days: either(fc.integer({ min: -2, max: 400 })),
  code: either(fc.stringMatching(/^[a-z0-9_]{1,12}$/)),
  endpointId: either(fc.constantFrom(refs.endpointId, 'we_00000000000000000000000000', 'nobody')),
  nodeId: either(
    fc.constantFrom(refs.ownId, refs.lone, refs.endpointId, refs.customerId, 'sev_00000000000000000000000000', 'xyz_00000000000000000000000000', 'nobody'),
  ),
  url: either(
    fc.constantFrom(
      'http://127.0.0.1:9/fuzz',
      'https://10.0.0.1/in',
      'http://example.com/in',
      'https://user:pw@example.com/',
      `https://example.com/${'a'.repeat(2100)}`,
    ),
  ),
  eventTypes: either(fc.array(either(fc.constantFrom('SEAT_CHANGED', 'CHARGE_CREATED', 'SEAT_LIMIT_REACHED', 'SUBSCRIPTION_CANCELED')), { maxLength: 4 })),
});

/** Every operation of the schema with its variables; a test checks none is missing. */
function operations(refs: Refs) {
  const f = field(refs);
  const seatInput = fc.record(
    {
      customerId: f.customerId,
      featureCode: f.featureCode,
      count: f.count,
      timing: either(fc.constantFrom('IMMEDIATELY', 'AT_PERIOD_END')),
      idempotencyKey: fc.option(f.key, { nil: undefined }),
    },
    { requiredKeys: [] },
  );
  const planChangeInput = fc.record(
    {
      customerId: f.customerId,
      planCode: either(fc.constantFrom('team', 'business', 'starter', 'ghost')),
      timing: either(fc.constantFrom('AUTO', 'IMMEDIATELY', 'AT_PERIOD_END')),
    },
    { requiredKeys: [] },
  );
  const op = (name: string, document: string, variables: fc.Arbitrary<Record<string, unknown>>) =>
    fc.record({ name: fc.constant(name), document: fc.constant(document), variables });
  const events = 'id kind previousBalance newBalance charge { amount }';
  return {
    addSeats: op(
      'addSeats',
      /* GraphQL */ `mutation($input: AddSeatsInput!) { addSeats(input: $input) { ${events} } }`,
      fc.record({ input: either(seatInput) }),
    ),
    removeSeats: op(
      'removeSeats',
      /* GraphQL */ `mutation($input: RemoveSeatsInput!) { removeSeats(input: $input) { ${events} } }`,
      fc.record({ input: either(seatInput) }),
    ),
    setSeats: op(
      'setSeats',
      /* GraphQL */ `mutation($input: SetSeatsInput!) { setSeats(input: $input) { ${events} } }`,
      fc.record({ input: either(seatInput) }),
    ),
    bulkSetSeats: op(
      'bulkSetSeats',
      /* GraphQL */ `mutation($input: BulkSetSeatsInput!) { bulkSetSeats(input: $input) { ${events} } }`,
      fc.record({
        input: either(
          fc.record({
            customerId: f.customerId,
            seats: either(fc.array(either(fc.record({ featureCode: f.featureCode, count: f.count })), { maxLength: 4 })),
            timing: fc.option(either(fc.constantFrom('IMMEDIATELY', 'AT_PERIOD_END')), { nil: undefined }),
          }),
        ),
      }),
    ),
    seatBalance: op(
      'seatBalance',
      /* GraphQL */ `query($c: String!, $f: String!) { seatBalance(customerId: $c, featureCode: $f) { current asOf } }`,
      fc.record({ c: f.customerId, f: f.featureCode }),
    ),
    seatBalances: op(
      'seatBalances',
      /* GraphQL */ `query($c: String!) { seatBalances(customerId: $c) { featureCode current } }`,
      fc.record({ c: f.customerId }),
    ),
    seatEvents: op(
      'seatEvents',
      /* GraphQL */ `query($c: String!, $f: String, $first: Int, $after: String, $last: Int, $before: String) { seatEvents(customerId: $c, featureCode: $f, first: $first, after: $after, last: $last, before: $before) { edges { cursor node { id charge { amount } } } pageInfo { hasPreviousPage startCursor } } }`,
      fc.record({
        c: f.customerId,
        f: fc.option(f.featureCode),
        first: fc.option(f.count),
        after: fc.option(either(fc.constantFrom('c2V2OjE', 'c2V2Ojk5OTk5OTk5OTk5OTk5OTk5OTk5', 'bGVkZ2VyLnYyOnNldl8wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA'))),
        last: fc.option(f.count),
        before: fc.option(either(fc.constantFrom('c2V2OjE', 'bGVkZ2VyLnYyOnNldl8wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA'))),
      }),
    ),
    node: op(
      'node',
      /* GraphQL */ `query($id: ID!) { node(id: $id) { __typename id ... on Customer { seatBalances { current } } ... on SeatEvent { charge { amount } } } }`,
      fc.record({ id: f.nodeId }),
    ),
    nodes: op(
      'nodes',
      /* GraphQL */ `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`,
      fc.record({ ids: either(fc.array(f.nodeId, { maxLength: 5 })) }),
    ),
    customer: op(
      'customer',
      /* GraphQL */ `query($id: String!) { customer(id: $id) { id subscription { currentPeriodEnd } seatBalances { current } } }`,
      fc.record({ id: f.customerId }),
    ),
    customers: op(
      'customers',
      /* GraphQL */ `query($ids: [String!]!) { customers(ids: $ids) { id seatBalance(featureCode: "editor") { current } } }`,
      fc.record({ ids: either(fc.array(f.customerId, { maxLength: 5 })) }),
    ),
    features: op('features', /* GraphQL */ `{ features { code } }`, fc.constant({})),
    plans: op('plans', /* GraphQL */ `{ plans { code seatFeatures { featureCode } } }`, fc.constant({})),
    seatCharges: op(
      'seatCharges',
      /* GraphQL */ `query($c: String!, $from: DateTime, $to: DateTime) { seatCharges(customerId: $c, from: $from, to: $to) { amount } }`,
      fc.record({ c: f.customerId, from: fc.option(f.date), to: fc.option(f.date) }),
    ),
    upcomingInvoice: op(
      'upcomingInvoice',
      /* GraphQL */ `query($c: String!) { upcomingInvoice(customerId: $c) { total lines { amount } } }`,
      fc.record({ c: f.customerId }),
    ),
    previewSeatChange: op(
      'previewSeatChange',
      /* GraphQL */ `query($input: PreviewSeatChangeInput!) { previewSeatChange(input: $input) { newBalance charge { amount } error { code } } }`,
      fc.record({ input: either(fc.record({ customerId: f.customerId, featureCode: f.featureCode, kind: f.kind, count: f.count })) }),
    ),
    testClock: op('testClock', /* GraphQL */ `{ testClock { now } }`, fc.constant({})),
    advanceTestClock: op(
      'advanceTestClock',
      /* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`,
      fc.record({ input: either(fc.record({ to: f.date, days: f.days }, { requiredKeys: [] })) }),
    ),
    renewDueSubscriptions: op('renewDueSubscriptions', /* GraphQL */ `mutation { renewDueSubscriptions { periods } }`, fc.constant({})),
    deleteTestData: op('deleteTestData', /* GraphQL */ `mutation { deleteTestData { customers complete } }`, fc.constant({})),
    createFeature: op(
      'createFeature',
      /* GraphQL */ `mutation($input: CreateFeatureInput!) { createFeature(input: $input) { code } }`,
      fc.record({ input: either(fc.record({ code: f.code, name: either(fc.string()), type: either(fc.constant('SEATS')) })) }),
    ),
    createPlan: op(
      'createPlan',
      /* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { code } }`,
      fc.record({
        input: either(
          fc.record({
            code: f.code,
            name: either(fc.string()),
            currency: either(fc.constantFrom('EUR', 'USD', 'XXX', 'eur')),
            interval: either(fc.constantFrom('MONTH', 'YEAR')),
            seatFeatures: either(
              fc.array(
                fc.record(
                  {
                    featureCode: f.featureCode,
                    includedSeats: f.count,
                    overageEnabled: either(fc.boolean()),
                    unitPrice: f.count,
                    minimumSeats: fc.option(f.count),
                    maximumSeats: fc.option(f.count),
                  },
                  { requiredKeys: ['featureCode', 'includedSeats', 'overageEnabled', 'unitPrice'] },
                ),
                { maxLength: 3 },
              ),
            ),
          }),
        ),
      }),
    ),
    webhookEndpoints: op('webhookEndpoints', /* GraphQL */ `{ webhookEndpoints { id url enabled } }`, fc.constant({})),
    webhookDeliveries: op(
      'webhookDeliveries',
      /* GraphQL */ `query($e: ID!, $first: Int, $after: String, $last: Int, $before: String) { webhookDeliveries(endpointId: $e, first: $first, after: $after, last: $last, before: $before) { nodes { id status attempts { statusCode } } pageInfo { endCursor startCursor } } }`,
      fc.record({
        e: f.endpointId,
        first: fc.option(f.count),
        after: fc.option(either(fc.constantFrom('d2hkOm1zZ18w', 'whd:msg_0'))),
        last: fc.option(f.count),
        before: fc.option(either(fc.constantFrom('d2hkOm1zZ18w', 'd2hkOm1zZ18wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA'))),
      }),
    ),
    createWebhookEndpoint: op(
      'createWebhookEndpoint',
      /* GraphQL */ `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }`,
      fc.record({
        input: either(fc.record({ url: f.url, events: f.eventTypes, description: fc.option(either(fc.string())) }, { requiredKeys: ['url', 'events'] })),
      }),
    ),
    disableWebhookEndpoint: op(
      'disableWebhookEndpoint',
      /* GraphQL */ `mutation($id: ID!) { disableWebhookEndpoint(id: $id) { enabled } }`,
      fc.record({ id: f.endpointId }),
    ),
    enableWebhookEndpoint: op(
      'enableWebhookEndpoint',
      /* GraphQL */ `mutation($id: ID!) { enableWebhookEndpoint(id: $id) { enabled } }`,
      fc.record({ id: f.endpointId }),
    ),
    rotateWebhookSecret: op(
      'rotateWebhookSecret',
      /* GraphQL */ `mutation($id: ID!) { rotateWebhookSecret(id: $id) { endpoint { id } } }`,
      fc.record({ id: f.endpointId }),
    ),
    redeliverWebhook: op(
      'redeliverWebhook',
      /* GraphQL */ `mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { status } }`,
      fc.record({ id: either(fc.constantFrom('msg_00000000000000000000000000', 'nobody')) }),
    ),
    createCustomer: op(
      'createCustomer',
      /* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`,
      fc.record({ input: either(fc.record({ name: either(fc.string()), externalId: fc.option(f.code) })) }),
    ),
    createSubscription: op(
      'createSubscription',
      /* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`,
      fc.record({
        input: either(
          fc.record({
            customerId: f.customerId,
            planCode: either(fc.constantFrom('team', 'ghost')),
            startAt: fc.option(f.date),
            initialSeats: fc.option(fc.array(fc.record({ featureCode: f.featureCode, count: f.count }), { maxLength: 3 })),
          }),
        ),
      }),
    ),
    cancelSubscription: op(
      'cancelSubscription',
      /* GraphQL */ `mutation($input: CancelSubscriptionInput!) { cancelSubscription(input: $input) { id status } }`,
      fc.record({
        input: either(
          fc.record({
            customerId: f.customerId,
            // Mostly at period end: an immediate cancel ends the scenario's subscription for the rest of the run.
            timing: either(fc.constantFrom('AT_PERIOD_END', 'AT_PERIOD_END', 'AT_PERIOD_END', 'IMMEDIATELY')),
            reason: fc.option(either(fc.constantFrom('TOO_EXPENSIVE', 'UNUSED', 'OTHER'))),
            comment: fc.option(either(fc.string({ maxLength: 600 }))),
            idempotencyKey: fc.option(f.key, { nil: undefined }),
          }),
        ),
      }),
    ),
    resumeSubscription: op(
      'resumeSubscription',
      /* GraphQL */ `mutation($input: ResumeSubscriptionInput!) { resumeSubscription(input: $input) { id cancelAtPeriodEnd } }`,
      fc.record({ input: either(fc.record({ customerId: f.customerId, idempotencyKey: fc.option(f.key, { nil: undefined }) })) }),
    ),
    changePlan: op(
      'changePlan',
      /* GraphQL */ `mutation($input: ChangePlanInput!) { changePlan(input: $input) { id planCode scheduledPlanChange { planCode seatLimitWarnings { limit } } } }`,
      fc.record({
        input: either(
          planChangeInput.chain((input) => fc.record({ idempotencyKey: fc.option(f.key, { nil: undefined }) }).map((key) => ({ ...input, ...key }))),
        ),
      }),
    ),
    previewPlanChange: op(
      'previewPlanChange',
      /* GraphQL */ `query($input: PreviewPlanChangeInput!) { previewPlanChange(input: $input) { timing total charges { kind amount } seatLimitWarnings { limit } } }`,
      fc.record({ input: either(planChangeInput) }),
    ),
    revokeScheduledPlanChange: op(
      'revokeScheduledPlanChange',
      /* GraphQL */ `mutation($input: RevokeScheduledPlanChangeInput!) { revokeScheduledPlanChange(input: $input) { id scheduledPlanChange { planCode } } }`,
      fc.record({ input: either(fc.record({ customerId: f.customerId, idempotencyKey: fc.option(f.key, { nil: undefined }) })) }),
    ),
    organizationSettings: op('organizationSettings', /* GraphQL */ `{ organizationSettings { seatDecreaseTiming } }`, fc.constant({})),
    updateOrganizationSettings: op(
      'updateOrganizationSettings',
      /* GraphQL */ `mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) { seatDecreaseTiming } }`,
      fc.record({ input: either(fc.record({ seatDecreaseTiming: either(fc.constantFrom('IMMEDIATELY', 'AT_PERIOD_END')) }, { requiredKeys: [] })) }),
    ),
  };
}

test('every query and mutation is fuzzed', () => {
  const fuzzed = Object.keys(operations({ customerId: '', ownId: '', lone: '', endpointId: '' }));
  const fields = [schema.getQueryType()!, schema.getMutationType()!].flatMap((type) => Object.keys(type.getFields()));
  expect(fields.filter((name) => !fuzzed.includes(name))).toEqual([]);
});

test(`random arguments to every operation (${fuzzRuns} requests) never answer a 5xx or internal_error nor log an error, and the ledgers stay whole`, async ({
  harness,
  http,
}) => {
  const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 6 }] });
  const lone = await s.client.ok(/* GraphQL */ `mutation { createCustomer(input: { name: "Lone", externalId: "lone" }) { id } }`);
  // Plans to change to: a dearer one (applied now under AUTO) and a cheaper, narrower one (scheduled, clamping).
  for (const [code, includedSeats, unitPrice, maximumSeats] of [
    ['business', 2, 5000, null],
    ['starter', 1, 1000, 3],
  ] as const) {
    await s.client.ok(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
      input: {
        code,
        name: code,
        currency: 'EUR',
        interval: 'MONTH',
        seatFeatures: [{ featureCode: 'editor', includedSeats, overageEnabled: true, unitPrice, maximumSeats }],
      },
    });
  }
  const hook = await s.client.ok(
    /* GraphQL */ `mutation { createWebhookEndpoint(input: { url: "http://127.0.0.1:9/fuzz", events: [SEAT_CHANGED] }) { endpoint { id } } }`,
  );
  const refs: Refs = { customerId: s.customerId, ownId: s.customer.id, lone: lone.createCustomer.id, endpointId: hook.createWebhookEndpoint.endpoint.id };
  const all = Object.values(operations(refs));
  const request = fc.oneof(
    { weight: 20, arbitrary: fc.oneof(...all).map((o) => ({ body: JSON.stringify({ query: o.document, variables: o.variables }), name: o.name })) },
    // Whole bodies and documents of junk.
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((body) => ({ body, name: 'raw body' })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((query) => ({ body: JSON.stringify({ query }), name: 'raw document' })) },
    { weight: 1, arbitrary: junk.map((value) => ({ body: JSON.stringify(value), name: 'raw JSON' })) },
  );
  const known = new Set(Object.keys(errorCodes));
  let sent = 0;
  await fc.assert(
    fc.asyncProperty(request, fc.option(fc.string({ minLength: 1, maxLength: 20 })), async ({ body, name }, idempotencyKey) => {
      const response = await fetch(http.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': s.key, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
        body,
      });
      sent++;
      const text = await response.text();
      expect(response.status, `${name}: ${body} → ${text}`).toBeLessThan(500);
      const json = JSON.parse(text) as { errors?: { extensions?: { code?: string } }[] };
      for (const error of json.errors ?? []) {
        expect(error.extensions?.code, `${name}: ${body} → ${text}`).not.toBe('internal_error');
        expect(known.has(error.extensions?.code ?? ''), `${name}: ${body} → ${text}`).toBe(true);
      }
    }),
    { numRuns: fuzzRuns },
  );
  expect(sent).toBe(fuzzRuns);
  // No input, however wrong, looks like an outage in the log either.
  expect(harness.logs.filter((line) => JSON.parse(line).level === 'error')).toEqual([]);

  // Every customer still there (deleteTestData is fuzzed too), created before or by the fuzzing, keeps whole ledgers.
  const subscribed = await harness.orm.em
    .fork()
    .getConnection()
    .execute<{ customer_id: string; code: string }[]>(
      `select b.customer_id, f.code from seat_balance b join feature f on f.id = b.feature_id where b.organization_id = ?`,
      [s.organizationId],
    );
  for (const row of subscribed) await expectLedgerWhole(harness, row.customer_id, row.code);
});
