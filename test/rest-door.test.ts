import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { compileErrors, dereference, validate } from '@readme/openapi-parser';
import type { OpenAPIV3_1 } from 'openapi-types';
import type { ZodType } from 'zod';
import { describe, expect, test } from './fixtures.ts';
import { type App, createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { type ErrorCode, errorCodes } from '../src/common/errors.ts';
import { createLogger } from '../src/common/logger.ts';
import { matchPath } from '../src/rest/paths.ts';
import { graphqlOnly, type Route, routes } from '../src/rest/routes.ts';
import { schema } from '../src/graphql/schema.ts';
import { balanceOf, graphql, type Harness, planChangeTargets, rest, type RestResponse, type SeatScenario, seatScenario } from './helpers.ts';

const origin = 'http://seatgate.test';
const prefix = '/api/v1';

const inputFields = (route: Route) => Object.keys(route.input.shape);
const pathFields = (route: Route) => Object.keys(route.params?.shape ?? {});
const requiredFields = (route: Route) => inputFields(route).filter((name) => !(route.input.shape[name] as ZodType).safeParse(undefined).success);
const routeName = (route: Route) => `${route.method} ${route.path}`;
const isSubscriptionRoute = (route: Route) => route.path.startsWith(`${prefix}/subscriptions/{id}/`);

/** The scenario customer's subscription id, which the subscription routes take in their path. */
async function subscriptionIdOf(s: SeatScenario): Promise<string> {
  return (await s.client.ok(/* GraphQL */ `query($id: String!) { customer(id: $id) { subscription { id } } }`, { id: s.customerId })).customer.subscription.id;
}

/** What each subscription route's valid call sends: a change of plan waits for the period end, its preview would apply now. */
const subscriptionBodies: Record<string, object> = { changePlan: { newPlanId: 'smaller' }, previewPlanChange: { planId: 'bigger' } };

/**
 * A valid call of `route` for the scenario's customer: on the `editor` balance, or on its
 * subscription (a cancellation at the period end; its revocation; a plan change at the period
 * end; a preview of another).
 */
async function callOf(route: Route, s: SeatScenario): Promise<{ path: string; body?: unknown }> {
  if (isSubscriptionRoute(route)) {
    if (route.graphql in subscriptionBodies) await planChangeTargets(s.client);
    return { path: route.path.replace('{id}', await subscriptionIdOf(s)), body: subscriptionBodies[route.graphql] ?? {} };
  }
  if (route.from === 'query') {
    const query = new URLSearchParams({ customerId: s.customerId, ...(inputFields(route).includes('featureCode') ? { featureCode: 'editor' } : {}) });
    return { path: `${route.path}?${query}` };
  }
  if (route.graphql === 'bulkSetSeats') return { path: route.path, body: { customerId: s.customerId, seats: { editor: 7 } } };
  return { path: route.path, body: { customerId: s.customerId, featureCode: 'editor', count: 1 } };
}

async function call(app: App, key: string | null, route: Route, s: SeatScenario, headers: Record<string, string> = {}) {
  const { path, body } = await callOf(route, s);
  return rest(app, key, route.method, path, body, headers);
}

/** Asserts Commet's failure envelope, exactly its six fields, with the code's own type and status. */
function expectFailure(response: RestResponse, code: ErrorCode, status: number = errorCodes[code].status) {
  const context = JSON.stringify(response.body);
  expect(response.status, context).toBe(status);
  expect(response.headers.get('content-type'), context).toMatch(/^application\/json/);
  expect(response.body.success, context).toBe(false);
  expect(Object.keys(response.body.error).sort(), context).toEqual(['code', 'details', 'doc_url', 'message', 'param', 'type']);
  expect(response.body.error, context).toMatchObject({ code, type: errorCodes[code].type, doc_url: `${origin}/docs/errors/${code}` });
  expect(typeof response.body.error.message, context).toBe('string');
  return response.body.error as { type: string; code: string; message: string; param: string | null; details: unknown; doc_url: string };
}

const accessControl = (headers: Headers) => Object.fromEntries([...headers].filter(([name]) => name.startsWith('access-control-')));

const wellShapedUnknownKey = (mode: 'test' | 'live') => `ck_${mode}_${randomBytes(24).toString('base64url').replace(/[-_]/g, 'a').slice(0, 32)}`;

describe('parity by construction: every GraphQL operation has a REST route or a reason not to', () => {
  const queryFields = schema.getQueryType()!.getFields();
  const mutationFields = schema.getMutationType()!.getFields();
  const twinned = new Set(routes.map((route) => route.graphql));

  test.each([...Object.keys(queryFields).map((name) => ['Query', name]), ...Object.keys(mutationFields).map((name) => ['Mutation', name])])(
    '%s.%s is a route twin or graphqlOnly, not both',
    (_type, field) => {
      const placed = [twinned.has(field) && 'a route twin', Object.hasOwn(graphqlOnly, field) && 'graphqlOnly'].filter(Boolean);
      expect(placed, `GraphQL field '${field}' must be exactly one of: a route's graphql twin, a key of graphqlOnly`).toHaveLength(1);
    },
  );

  test('every route twins a real GraphQL field of its kind, and takes only inputs that field takes', () => {
    for (const route of routes) {
      // A read sent as POST (Commet's previews) twins a query too.
      const reads = route.method === 'GET' || route.readOnly === true;
      const fields = reads ? queryFields : mutationFields;
      const kind = reads ? 'Query' : 'Mutation';
      const field = fields[route.graphql];
      expect(field, `${routeName(route)} twins '${route.graphql}', which is no ${kind} field`).toBeDefined();
      // Arguments, or the fields of a lone `input` argument: REST names its inputs as GraphQL does.
      const input = field!.args.find((arg) => arg.name === 'input');
      const named = input
        ? Object.keys((schema.getType(String(input.type).replace(/!$/, '')) as { getFields(): object }).getFields())
        : field!.args.map((arg) => arg.name);
      // A field named otherwise (the path's subscription id for the twin's customerId) says which it becomes.
      for (const name of [...pathFields(route), ...inputFields(route)]) {
        for (const twin of route.graphqlFields?.[name] ?? [name]) {
          expect(named, `${routeName(route)} takes '${name}', as '${twin}', which '${route.graphql}' does not take`).toContain(twin);
        }
      }
      for (const name of Object.keys(route.graphqlFields ?? {})) {
        expect([...pathFields(route), ...inputFields(route)], `${routeName(route)} maps '${name}', which it does not take`).toContain(name);
      }
    }
  });

  test('every key of graphqlOnly is a real GraphQL field', () => {
    for (const name of Object.keys(graphqlOnly)) {
      expect(Object.hasOwn(queryFields, name) || Object.hasOwn(mutationFields, name), `graphqlOnly names '${name}', which is no Query or Mutation field`).toBe(
        true,
      );
    }
  });

  test('no two routes share a method and path', () => {
    const keys = routes.map(routeName);
    expect(keys.filter((key, i) => keys.indexOf(key) !== i)).toEqual([]);
  });
});

describe('OpenAPI document', () => {
  const fetchDocument = async (harness: Harness) => {
    const response = await rest<OpenAPIV3_1.Document>(harness.yoga, null, 'GET', `${prefix}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    return response.body;
  };

  test('is served without a key and is valid OpenAPI 3.1', async ({ harness }) => {
    const document = await fetchDocument(harness);
    expect(document.openapi).toMatch(/^3\.1\./);
    expect(document.servers?.[0]?.url).toBe(prefix);
    // validate() dereferences in place: give it a copy.
    const result = await validate(structuredClone(document) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  test('describes every route: method, 200, its inputs and the x-api-key scheme', async ({ harness }) => {
    const document = await fetchDocument(harness);
    const schemes = document.components?.securitySchemes ?? {};
    const resolved = (await dereference(structuredClone(document) as never)) as OpenAPIV3_1.Document;
    for (const route of routes) {
      const name = routeName(route);
      const operation = resolved.paths?.[route.path.slice(prefix.length)]?.[route.method.toLowerCase() as 'get'];
      expect(operation, `${name} is missing from paths`).toBeDefined();
      expect(operation!.responses?.['200'], `${name} has no 200 response`).toBeDefined();
      const security = (document.paths![route.path.slice(prefix.length)]![route.method.toLowerCase() as 'get']!.security ?? []).flatMap((requirement) =>
        Object.keys(requirement),
      );
      expect(
        security.map((scheme) => schemes[scheme]),
        `${name} does not require the x-api-key scheme`,
      ).toContainEqual({ type: 'apiKey', in: 'header', name: 'x-api-key' });
      if (route.from === 'body') {
        const body = (operation!.requestBody as OpenAPIV3_1.RequestBodyObject | undefined)?.content['application/json']?.schema as
          | OpenAPIV3_1.SchemaObject
          | undefined;
        expect(body, `${name} has no JSON request body`).toBeDefined();
        expect(Object.keys(body!.properties ?? {}).sort(), `${name}'s body schema`).toEqual(inputFields(route).sort());
        expect((body!.required ?? []).sort(), `${name}'s required body fields`).toEqual(requiredFields(route).sort());
      } else {
        const query = ((operation!.parameters ?? []) as OpenAPIV3_1.ParameterObject[]).filter((parameter) => parameter.in === 'query');
        expect(query.map((parameter) => parameter.name).sort(), `${name}'s query parameters`).toEqual(inputFields(route).sort());
        expect(
          query.every((parameter) => parameter.required),
          `${name}'s query parameters are required`,
        ).toBe(true);
      }
      const inPath = ((operation!.parameters ?? []) as OpenAPIV3_1.ParameterObject[]).filter((parameter) => parameter.in === 'path');
      expect(inPath.map((parameter) => parameter.name).sort(), `${name}'s path parameters`).toEqual(pathFields(route).sort());
      expect(
        inPath.every((parameter) => parameter.required),
        `${name}'s path parameters are required`,
      ).toBe(true);
    }
  });

  test('is generated from the validating schemas: the documented bounds are the enforced ones', async ({ harness }) => {
    const resolved = (await dereference(structuredClone(await fetchDocument(harness)) as never)) as OpenAPIV3_1.Document;
    const bodyOf = (method: 'post' | 'put' | 'delete', path: string) =>
      ((resolved.paths![path]![method]!.requestBody as OpenAPIV3_1.RequestBodyObject).content['application/json']!.schema as OpenAPIV3_1.SchemaObject)
        .properties!;
    const count = bodyOf('post', '/seats').count as OpenAPIV3_1.SchemaObject;
    // The contract's bounds (SEAT-CONTRACT.md §3: count 1…1,000,000, 0 for a set), not the code's constant.
    expect(count).toMatchObject({ type: 'integer', minimum: 1, maximum: 1_000_000 });
    expect(bodyOf('put', '/seats').count).toMatchObject({ type: 'integer', minimum: 0, maximum: 1_000_000 });
    const featureCode = bodyOf('post', '/seats').featureCode as OpenAPIV3_1.SchemaObject;

    // A body built from the document's own example bounds: just inside is a valid request,
    // just outside is refused by the door naming the field.
    const s = await seatScenario(harness);
    const body = { customerId: s.customerId, featureCode: 'editor', count: count.minimum };
    expect(new RegExp(featureCode.pattern!).test(body.featureCode)).toBe(true);
    const inside = await rest(harness.yoga, s.key, 'POST', `${prefix}/seats`, body);
    expect(inside.status, JSON.stringify(inside.body)).toBe(200);
    expect(inside.body.data).toMatchObject({ previousBalance: 0, newBalance: count.minimum });
    for (const outside of [{ count: count.minimum! - 1 }, { count: count.maximum! + 1 }, { count: 1.5 }, { featureCode: 'Editor' }]) {
      const refused = await rest(harness.yoga, s.key, 'POST', `${prefix}/seats`, { ...body, ...outside });
      expect(expectFailure(refused, 'validation_error').param, JSON.stringify(outside)).toBe(Object.keys(outside)[0]);
    }
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(count.minimum);
  });
});

describe('unknown paths and wrong methods', () => {
  test.for([
    `${prefix}/nope`,
    prefix,
    `${prefix}/seats/`,
    `${prefix}/seats/balance/`,
    `${prefix}/SEATS`,
    // A path parameter takes exactly one segment, never an empty one.
    `${prefix}/subscriptions/cancel`,
    `${prefix}/subscriptions//cancel`,
    `${prefix}/subscriptions/sub_1/2/cancel`,
    `${prefix}/subscriptions/sub_1/cancel/`,
    `${prefix}/subscriptions/sub_1`,
  ])('%s answers 404 route_not_found, with or without a key', async (path, { harness, scenario: s }) => {
    for (const key of [null, s.key]) expectFailure(await rest(harness.yoga, key, 'GET', path), 'route_not_found');
    expectFailure(await rest(harness.yoga, s.key, 'POST', path, { customerId: s.customerId, featureCode: 'editor', count: 1 }), 'route_not_found');
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(0);
  });

  test.for<[string, string]>([
    ['PATCH', `${prefix}/seats`],
    ['GET', `${prefix}/seats`],
    ['POST', `${prefix}/seats/balance`],
    ['DELETE', `${prefix}/seats/bulk`],
    ['GET', `${prefix}/seats/remove`],
    ['GET', `${prefix}/subscriptions/sub_anything/cancel`],
    ['DELETE', `${prefix}/subscriptions/sub_anything/uncancel`],
    ['GET', `${prefix}/subscriptions/sub_anything/change-plan`],
    ['PUT', `${prefix}/subscriptions/sub_anything/preview-change`],
  ])(
    '%s %s answers 405 method_not_allowed with an Allow header of the route table, with or without a key',
    async ([method, path], { harness, scenario: s }) => {
      const methods = routes.filter((route) => matchPath(route.path, path)).map((route) => route.method);
      expect(methods.length).toBeGreaterThan(0);
      // HEAD goes wherever GET does (RFC 9110).
      const allowed = methods.includes('GET') ? [...methods, 'HEAD'] : methods;
      for (const key of [null, s.key]) {
        const body = method === 'GET' ? undefined : { customerId: s.customerId, featureCode: 'editor', count: 1 };
        const response = await rest(harness.yoga, key, method, path, body);
        expectFailure(response, 'method_not_allowed');
        const allow = response.headers
          .get('allow')
          ?.split(',')
          .map((m) => m.trim());
        expect(allow?.sort()).toEqual([...allowed].sort());
      }
      expect(await balanceOf(harness, s.customerId, 'editor')).toBe(0);
    },
  );
});

describe('HEAD and the documents', () => {
  test('HEAD on a GET route answers what GET answers, without the body', async ({ harness, scenario: s }) => {
    const path = `${prefix}/seats/balances?customerId=${encodeURIComponent(s.customerId)}`;
    const head = await harness.yoga.fetch(`${origin}${path}`, { method: 'HEAD', headers: { 'x-api-key': s.key } });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await head.text()).toBe('');
    const missing = await harness.yoga.fetch(`${origin}${prefix}/seats/balances?customerId=nobody`, { method: 'HEAD', headers: { 'x-api-key': s.key } });
    expect(missing.status).toBe(404);
  });

  test.for([`${prefix}/openapi.json`, '/docs/errors', '/docs/errors/unauthorized'])(
    '%s is read-only: other methods answer 405 with Allow: GET, HEAD',
    async (path, { harness }) => {
      const response = await rest(harness.yoga, null, 'POST', path, {});
      expectFailure(response, 'method_not_allowed');
      expect(response.headers.get('allow')).toBe('GET, HEAD');
      expect((await harness.yoga.fetch(`${origin}${path}`, { method: 'HEAD' })).status).toBe(200);
    },
  );

  test('behind a proxy, PUBLIC_URL names the origin doc_url uses', async ({ harness, scenario: s }) => {
    const proxied = createApp({
      orm: harness.orm,
      logger: createLogger('silent'),
      limits: { ...loadConfig({}).limits, rateLimitPerSecond: 0 },
      publicUrl: 'https://seats.example.com',
    });
    const response = await rest(proxied, s.key, 'GET', `${prefix}/seats/balances?customerId=nobody`);
    expect(response.body.error.doc_url).toBe('https://seats.example.com/docs/errors/customer_not_found');
    expect(loadConfig({ PUBLIC_URL: 'https://seats.example.com/' }).publicUrl).toBe('https://seats.example.com');
    for (const notAnOrigin of ['https://seats.example.com/api', 'https://seats.example.com?x=1', 'https://u:p@seats.example.com', 'ftp://seats.example.com']) {
      expect(() => loadConfig({ PUBLIC_URL: notAnOrigin }), notAnOrigin).toThrow(/PUBLIC_URL/);
    }
  });
});

describe('authentication', () => {
  const badKeys: [string, string | null][] = [
    ['no key', null],
    ['a malformed key', 'ck_test_nope'],
    ['a key of another shape', 'Bearer sk_test_123'],
    ['an unknown test key', wellShapedUnknownKey('test')],
    ['an unknown live key', wellShapedUnknownKey('live')],
  ];

  test.for(badKeys)('%s answers 401 unauthorized on every route and writes nothing', async ([_name, key], { harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 3 }] });
    for (const route of routes) {
      const error = expectFailure(await call(harness.yoga, key, route, s, { 'idempotency-key': `auth-${randomBytes(4).toString('hex')}` }), 'unauthorized');
      expect(error.message, routeName(route)).toBe(key ? 'The API key is not valid.' : 'Send an API key in the x-api-key header.');
    }
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(3);
    const events = await s.client.ok(/* GraphQL */ `query($c: String!) { seatEvents(customerId: $c) { edges { node { id } } } }`, { c: s.customerId });
    expect(events.seatEvents.edges).toHaveLength(1); // the subscription's initial seats only
  });

  test.for(['test', 'live'] as const)('a %s key sees livemode on every success shape, each route doing its own operation', async (mode, { harness }) => {
    const s = await seatScenario(harness, { mode, initialSeats: [{ featureCode: 'editor', count: 3 }] });
    // What each twin does to the editor balance with callOf's input.
    const effect: Record<string, (balance: number) => number> = {
      addSeats: (b) => b + 1,
      removeSeats: (b) => b - 1,
      setSeats: () => 1,
      bulkSetSeats: () => 7,
    };
    let balance = 3;
    const subscriptionId = await subscriptionIdOf(s);
    for (const route of routes) {
      const response = await call(harness.yoga, s.key, route, s);
      expect(response.status, `${routeName(route)}: ${JSON.stringify(response.body)}`).toBe(200);
      expect(response.body.success).toBe(true);
      const shapes = Array.isArray(response.body.data) ? response.body.data : [response.body.data];
      expect(shapes.length, routeName(route)).toBeGreaterThan(0);
      const object = isSubscriptionRoute(route) ? 'subscription' : 'seat';
      for (const shape of shapes) expect(shape, routeName(route)).toMatchObject({ object, livemode: mode === 'live' });
      const change = effect[route.graphql];
      if (route.graphql === 'changePlan') {
        expect(shapes[0], routeName(route)).toMatchObject({ id: subscriptionId, customerId: s.customerId, scheduled: true });
      } else if (route.graphql === 'previewPlanChange') {
        expect(shapes[0], routeName(route)).toMatchObject({ currency: 'EUR', isUpgrade: true });
      } else if (isSubscriptionRoute(route)) {
        // Cancelled at the period end, then revoked: active throughout.
        expect(shapes[0], routeName(route)).toMatchObject({ id: subscriptionId, customerId: s.customerId, status: 'active' });
      } else if (change) {
        expect(shapes[0], routeName(route)).toMatchObject({ featureCode: 'editor', previousBalance: balance, newBalance: change(balance) });
        balance = change(balance);
      } else {
        const current = route.graphql === 'seatBalance' ? shapes[0].current : shapes[0].editor.current;
        expect(current, routeName(route)).toBe(balance);
      }
    }
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(balance);
  });
});

describe('error documentation (doc_url)', () => {
  test('every error doc_url is <origin>/docs/errors/<code> and resolves to a page about that code', async ({ harness, scenario: s }) => {
    const add = (body: unknown, headers: Record<string, string> = {}) => rest(harness.yoga, s.key, 'POST', `${prefix}/seats`, body, headers);
    const failures: [ErrorCode, RestResponse][] = [
      ['unauthorized', await rest(harness.yoga, null, 'GET', `${prefix}/seats/balances?customerId=x`)],
      ['route_not_found', await rest(harness.yoga, s.key, 'GET', `${prefix}/nope`)],
      ['method_not_allowed', await rest(harness.yoga, s.key, 'PATCH', `${prefix}/seats`)],
      ['validation_error', await add({ customerId: s.customerId, featureCode: 'editor', count: 0 })],
      ['invalid_json', await add('{"customerId":')],
      ['customer_not_found', await add({ customerId: 'nobody-here', featureCode: 'editor', count: 1 })],
      ['feature_not_found', await add({ customerId: s.customerId, featureCode: 'nope', count: 1 })],
      ['feature_not_in_plan', await add({ customerId: s.customerId, featureCode: 'auditor', count: 1 })],
      ['seat_limit_exceeded', await add({ customerId: s.customerId, featureCode: 'viewer', count: 3 })],
      ['insufficient_seats', await rest(harness.yoga, s.key, 'DELETE', `${prefix}/seats`, { customerId: s.customerId, featureCode: 'editor', count: 1 })],
    ];
    await add({ customerId: s.customerId, featureCode: 'editor', count: 1 }, { 'idempotency-key': 'doc-url-1' });
    failures.push(['idempotency_key_mismatch', await add({ customerId: s.customerId, featureCode: 'editor', count: 2 }, { 'idempotency-key': 'doc-url-1' })]);

    for (const [code, response] of failures) {
      const { doc_url } = expectFailure(response, code);
      const page = await harness.yoga.fetch(doc_url);
      expect(page.status, doc_url).toBe(200);
      const html = await page.text();
      expect(html, doc_url).toContain(`<code>${code}</code>`);
    }
  });

  test.for(Object.entries(errorCodes))('/docs/errors/%s names the code, its type and HTTP status', async ([code, { type, status }], { harness }) => {
    const page = await harness.yoga.fetch(`${origin}/docs/errors/${code}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('x-request-id')).toBeTruthy();
    const html = await page.text();
    expect(html).toContain(`<h1><code>${code}</code></h1>`);
    expect(html).toContain(`type <code>${type}</code>`);
    expect(html).toContain(`HTTP ${status}`);
    // Served by seatgate itself: nothing points to an outside site.
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/(href|src)\s*=\s*["']?\/\//i);
  });

  test('/docs/errors lists every code with its type and status; an unknown code is 404', async ({ harness }) => {
    const index = await harness.yoga.fetch(`${origin}/docs/errors`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await index.text();
    for (const [code, { type, status }] of Object.entries(errorCodes)) {
      expect(html, code).toContain(`<a href="/docs/errors/${code}"><code>${code}</code></a></td><td>${type}</td><td>${status}</td>`);
    }
    expect(html).not.toMatch(/https?:\/\//i);

    const unknown = await harness.yoga.fetch(`${origin}/docs/errors/nope`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await unknown.text()).not.toContain('<code>nope</code>');
  });
});

describe('headers', () => {
  test('every REST response carries x-request-id, and echoes a well-formed one', async ({ harness, scenario: s }) => {
    const add = { customerId: s.customerId, featureCode: 'editor', count: 1 };
    const responses: [string, () => Promise<RestResponse>][] = [
      ['success', () => rest(harness.yoga, s.key, 'POST', `${prefix}/seats`, add)],
      ['400', () => rest(harness.yoga, s.key, 'POST', `${prefix}/seats`, { ...add, count: -1 })],
      ['401', () => rest(harness.yoga, null, 'POST', `${prefix}/seats`, add)],
      ['404', () => rest(harness.yoga, s.key, 'GET', `${prefix}/nope`)],
      ['405', () => rest(harness.yoga, s.key, 'PATCH', `${prefix}/seats`, add)],
      ['openapi.json', () => rest(harness.yoga, null, 'GET', `${prefix}/openapi.json`)],
    ];
    const seen = new Set<string>();
    for (const [name, send] of responses) {
      const id = (await send()).headers.get('x-request-id');
      expect(id, name).toMatch(/^[\w.:-]{1,100}$/);
      seen.add(id!);
    }
    expect(seen.size, 'each request gets its own id').toBe(responses.length);

    const rid = (headers: Record<string, string>) =>
      rest(harness.yoga, s.key, 'POST', `${prefix}/seats`, add, headers).then((r) => r.headers.get('x-request-id'));
    expect(await rid({ 'x-request-id': 'client-req.42:a_b' })).toBe('client-req.42:a_b');
    expect((await rest(harness.yoga, s.key, 'GET', `${prefix}/nope`, undefined, { 'x-request-id': 'client-404' })).headers.get('x-request-id')).toBe(
      'client-404',
    );
    // An id that could smuggle text into logs is replaced, not echoed.
    const replaced = await rid({ 'x-request-id': 'bad id <script>' });
    expect(replaced).not.toBe('bad id <script>');
    expect(replaced).toMatch(/^[\w.:-]{1,100}$/);
  });

  test('a CORS preflight to the REST door answers what the same preflight to /graphql answers', async ({ harness }) => {
    const preflight = (path: string) =>
      harness.yoga.fetch(`${origin}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.example.com',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'x-api-key, content-type, idempotency-key',
        },
      });
    const restPreflight = await preflight(`${prefix}/seats`);
    const graphqlPreflight = await preflight('/graphql');
    expect(restPreflight.status).toBe(graphqlPreflight.status);
    expect(restPreflight.status).toBeLessThan(300);
    expect(accessControl(restPreflight.headers)).toEqual(accessControl(graphqlPreflight.headers));
    // Not vacuous: the preflight does allow the call.
    expect(restPreflight.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(restPreflight.headers.get('access-control-allow-methods')).toMatch(/POST/);
    for (const header of ['x-api-key', 'content-type', 'idempotency-key']) {
      expect(restPreflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain(header);
    }
  });

  test('a REST request with an Origin gets the allow-origin a GraphQL request gets', async ({ harness, scenario: s }) => {
    const headers = { origin: 'https://app.example.com' };
    const viaRest = await rest(harness.yoga, s.key, 'GET', `${prefix}/seats/balances?customerId=${encodeURIComponent(s.customerId)}`, undefined, headers);
    const viaGraphql = await harness.yoga.fetch(`${origin}/graphql`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'x-api-key': s.key },
      body: JSON.stringify({ query: /* GraphQL */ `{ features { code } }` }),
    });
    expect(viaRest.status).toBe(200);
    expect(viaGraphql.status).toBe(200);
    expect(viaRest.headers.get('access-control-allow-origin')).toBe(viaGraphql.headers.get('access-control-allow-origin'));
    expect(viaRest.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    // A browser client can read the request id, Retry-After, Allow and the rate-limit headers (those of open subscriptions too), through either door.
    for (const response of [viaRest, viaGraphql]) {
      expect(response.headers.get('access-control-expose-headers')?.split(/,\s*/).sort()).toEqual([
        'allow',
        'ratelimit',
        'ratelimit-limit',
        'ratelimit-policy',
        'ratelimit-remaining',
        'ratelimit-reset',
        'retry-after',
        'x-request-id',
      ]);
    }
    // Failures are readable cross-origin too, or a browser client could not show the error.
    const failed = await rest(harness.yoga, null, 'GET', `${prefix}/nope`, undefined, headers);
    expect(failed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
  });
});

describe('rate limit (shared with GraphQL, per key)', () => {
  // A slow refill (one request per 100 s) so a slow run never earns a token back mid-test.
  const limitedApp = (harness: Harness) =>
    createApp({ orm: harness.orm, logger: createLogger('silent'), limits: { ...loadConfig({}).limits, rateLimitPerSecond: 0.01, rateLimitBurst: 2 } });
  const balances = (s: SeatScenario) => `${prefix}/seats/balances?customerId=${encodeURIComponent(s.customerId)}`;
  const expectLimited = (response: RestResponse) => {
    expectFailure(response, 'rate_limited');
    const retryAfter = response.headers.get('retry-after');
    expect(retryAfter).toMatch(/^[1-9]\d*$/);
  };

  test('past its burst a key answers 429 rate_limited with Retry-After; the refused write changes nothing; other keys go on', async ({ harness }) => {
    const [a, b] = [await seatScenario(harness), await seatScenario(harness)];
    const app = limitedApp(harness);
    for (let i = 0; i < 2; i++) expect((await rest(app, a.key, 'GET', balances(a))).status).toBe(200);
    expectLimited(await rest(app, a.key, 'POST', `${prefix}/seats`, { customerId: a.customerId, featureCode: 'editor', count: 1 }));
    expectLimited(await rest(app, a.key, 'GET', balances(a)));
    expect(await balanceOf(harness, a.customerId, 'editor')).toBe(0);
    expect((await rest(app, b.key, 'GET', balances(b))).status).toBe(200);
  });

  test('a budget spent through GraphQL is spent for REST, and the other way round', async ({ harness }) => {
    const app = limitedApp(harness);
    const viaGraphql = (key: string) =>
      app.fetch(`${origin}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify({ query: /* GraphQL */ `{ features { code } }` }),
      });

    const first = await seatScenario(harness);
    for (let i = 0; i < 2; i++) expect((await viaGraphql(first.key)).status).toBe(200);
    expectLimited(await rest(app, first.key, 'POST', `${prefix}/seats`, { customerId: first.customerId, featureCode: 'editor', count: 1 }));
    expect(await balanceOf(harness, first.customerId, 'editor')).toBe(0);

    const second = await seatScenario(harness);
    for (let i = 0; i < 2; i++) expect((await rest(app, second.key, 'GET', balances(second))).status).toBe(200);
    const refused = await viaGraphql(second.key);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('rate_limited');
  });
});

describe('over real HTTP', () => {
  const urlOf = (http: { endpoint: string }, path: string) => http.endpoint.replace(/\/graphql$/, path);
  const send = async (http: { endpoint: string }, method: string, path: string, key: string, body: unknown) => {
    const response = await fetch(urlOf(http, path), { method, headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as any, headers: response.headers };
  };

  test('DELETE /api/v1/seats with a JSON body and POST /api/v1/seats/remove both remove seats', async ({ harness, http }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 5 }] });
    const removed = await send(http, 'DELETE', `${prefix}/seats`, s.key, { customerId: s.customerId, featureCode: 'editor', count: 2 });
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(removed.body).toMatchObject({
      success: true,
      data: { customerId: s.customerId, featureCode: 'editor', previousBalance: 5, newBalance: 3, object: 'seat', livemode: false },
    });
    expect(removed.headers.get('x-request-id')).toBeTruthy();

    const viaPost = await send(http, 'POST', `${prefix}/seats/remove`, s.key, { customerId: s.customerId, featureCode: 'editor', count: 1 });
    expect(viaPost.status, JSON.stringify(viaPost.body)).toBe(200);
    expect(viaPost.body.data).toMatchObject({ previousBalance: 3, newBalance: 2 });
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(2);

    // The same door also reads GraphQL's view of the same ledger.
    const read = await graphql(harness, s.key, /* GraphQL */ `query($c: String!) { seatBalance(customerId: $c, featureCode: "editor") { current } }`, {
      c: s.customerId,
    });
    expect(read.data?.seatBalance.current).toBe(2);
  });

  test("a Host header no URL can be built from answers 400 in each door's shape, not a 500 stack trace", async ({ http }) => {
    const { port } = new URL(http.endpoint);
    const raw = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () =>
          socket.write(`GET ${path} HTTP/1.1\r\nHost: evil.example"><script>\r\nConnection: close\r\n\r\n`),
        );
        let data = '';
        socket.on('data', (chunk) => (data += chunk));
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
    for (const [path, shape] of [
      [`${prefix}/seats/balances?customerId=x`, 'success'],
      ['/graphql?query={features{code}}', 'errors'],
    ] as const) {
      const answer = await raw(path);
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).not.toMatch(/TypeError|at new URL/);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
      expect(body).toHaveProperty(shape);
      expect(JSON.stringify(body)).toContain('"param":"Host"');
    }
  });

  test('openapi.json and a 404 answer over real HTTP', async ({ http }) => {
    const document = await fetch(urlOf(http, `${prefix}/openapi.json`));
    expect(document.status).toBe(200);
    expect(((await document.json()) as { openapi: string }).openapi).toMatch(/^3\.1\./);
    const missing = await fetch(urlOf(http, `${prefix}/nope`));
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { doc_url: string } }).error.doc_url).toBe(`${urlOf(http, '')}/docs/errors/route_not_found`);
  });
});

describe('path parameters', () => {
  const cancelPath = (id: string) => `${prefix}/subscriptions/${id}/cancel`;

  test('are decoded, then validated as body fields are, each named by its own name; nothing changes', async ({ harness, scenario: s }) => {
    const id = await subscriptionIdOf(s);
    const refusals: [string, string][] = [
      ['%E0%A4%A', 'a %-escape that is not UTF-8'],
      ['%ED%A0%80', 'a lone surrogate'],
      ['sub_%00', 'a NUL character'],
      ['s'.repeat(101), 'over 100 characters'],
    ];
    for (const [segment, why] of refusals) {
      const error = expectFailure(await rest(harness.yoga, s.key, 'POST', cancelPath(segment), {}), 'validation_error');
      expect(error.param, why).toBe('id');
    }
    // A well-formed id of no subscription of the tenant, and an escaped slash kept inside its segment.
    for (const unknown of ['sub_nope', encodeURIComponent(`${id}/x`)]) {
      expect(expectFailure(await rest(harness.yoga, s.key, 'POST', cancelPath(unknown), {}), 'subscription_not_found').param).toBe('id');
    }
    // The key is checked before the path.
    expectFailure(await rest(harness.yoga, null, 'POST', cancelPath('%E0%A4%A'), {}), 'unauthorized');
    const { customer } = await s.client.ok(/* GraphQL */ `query($id: String!) { customer(id: $id) { subscription { status cancelAtPeriodEnd } } }`, {
      id: s.customerId,
    });
    expect(customer.subscription).toEqual({ status: 'ACTIVE', cancelAtPeriodEnd: false });
  });

  test('a path parameter sent in the body is refused, pointing at the path; a route with no body fields says so', async ({ harness, scenario: s }) => {
    const id = await subscriptionIdOf(s);
    const inBody = expectFailure(await rest(harness.yoga, s.key, 'POST', cancelPath(id), { id }), 'validation_error');
    expect(inBody).toMatchObject({ param: 'id', details: [{ field: 'id', message: expect.stringMatching(/in the path/) }] });
    const extra = expectFailure(await rest(harness.yoga, s.key, 'POST', `${prefix}/subscriptions/${id}/uncancel`, { at: 'now' }), 'validation_error');
    expect(extra).toMatchObject({ param: 'at', details: [{ field: 'at', message: expect.stringMatching(/which takes none$/) }] });
  });

  test('every route of the table declares exactly the parameters its path names', () => {
    for (const route of routes) {
      const named = [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
      expect(pathFields(route), routeName(route)).toEqual(named);
      for (const name of named) expect(inputFields(route), routeName(route)).not.toContain(name);
    }
  });
});
