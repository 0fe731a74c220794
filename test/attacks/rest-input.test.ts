import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { test as base, describe, expect } from '../fixtures.ts';
import { loadConfig } from '../../src/config.ts';
import { type ErrorCode, errorCodes, isErrorCode } from '../../src/common/errors.ts';
import { balanceOf, createCustomerWithSubscription, type Harness, ledgerOf, rest, type RestResponse, seatScenario, type SeatScenario } from '../helpers.ts';

const maxBodyBytes = loadConfig({}).limits.maxBodyBytes;
const origin = 'http://seatgate.test';
const planFeatures = ['editor', 'viewer', 'admin'] as const;

type WriteRoute = { name: string; method: string; path: string; min: number };

const seatRoutes: WriteRoute[] = [
  { name: 'add', method: 'POST', path: '/api/v1/seats', min: 1 },
  { name: 'remove', method: 'DELETE', path: '/api/v1/seats', min: 1 },
  { name: 'remove (POST)', method: 'POST', path: '/api/v1/seats/remove', min: 1 },
  { name: 'set', method: 'PUT', path: '/api/v1/seats', min: 0 },
];
const bulkRoute: WriteRoute = { name: 'bulk set', method: 'PUT', path: '/api/v1/seats/bulk', min: 0 };
const writeRoutes = [...seatRoutes, bulkRoute];
const readRoutes = [
  { name: 'one balance', path: '/api/v1/seats/balance', params: ['customerId', 'featureCode'] },
  { name: 'all balances', path: '/api/v1/seats/balances', params: ['customerId'] },
];

/** Seats held on two features, so a wrongly applied add, remove or set shows in the balance. */
const heldSeats = (harness: Harness) =>
  seatScenario(harness, {
    initialSeats: [
      { featureCode: 'editor', count: 3 },
      { featureCode: 'viewer', count: 1 },
    ],
  });

/** Here `scenario` holds seats on two features (heldSeats). */
const test = base.extend('scenario', ({ harness }) => heldSeats(harness));

/** A body that would succeed on `route` for the scenario's customer, to break one piece at a time. */
const validBody = (s: SeatScenario, route: WriteRoute): Record<string, unknown> =>
  route === bulkRoute ? { customerId: s.customerId, seats: { editor: 1 } } : { customerId: s.customerId, featureCode: 'editor', count: 1 };

const send = (harness: Harness, s: SeatScenario, route: WriteRoute, body: unknown, headers?: Record<string, string>) =>
  rest(harness.yoga, s.key, route.method, route.path, body, headers);

/** A body given as bytes, with exactly the headers given (no Content-Type is added). */
async function sendBytes(harness: Harness, s: SeatScenario, route: WriteRoute, bytes: Uint8Array, headers: Record<string, string> = {}): Promise<RestResponse> {
  const response = await harness.yoga.fetch(`${origin}${route.path}`, { method: route.method, headers: { 'x-api-key': s.key, ...headers }, body: bytes });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text) };
}

/** One request over a real socket, so a GET's body arrives as a client would send it (Node's fetch refuses to build one). */
function overHttp(http: { endpoint: string }, method: string, path: string, headers: Record<string, string>, body: string): Promise<RestResponse> {
  const { hostname, port } = new URL(http.endpoint);
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: hostname, port, method, path, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (incoming) => {
      let text = '';
      incoming.setEncoding('utf8');
      incoming.on('data', (chunk: string) => (text += chunk));
      incoming.on('end', () =>
        resolve({ status: incoming.statusCode!, headers: new Headers(incoming.headers as Record<string, string>), body: JSON.parse(text) }),
      );
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** Every balance of the scenario's customer and how many events its ledger holds. */
async function stateOf(harness: Harness, s: SeatScenario) {
  const state: Record<string, { balance: number; events: number }> = {};
  for (const code of planFeatures) {
    state[code] = { balance: await balanceOf(harness, s.customerId, code), events: (await ledgerOf(harness, s.customerId, code)).length };
  }
  return state;
}

/** Runs `attack` and checks it left every balance and ledger of the scenario's customer as they were. */
async function unchanged<T>(harness: Harness, s: SeatScenario, attack: () => Promise<T>): Promise<T> {
  const before = await stateOf(harness, s);
  const result = await attack();
  expect(await stateOf(harness, s)).toEqual(before);
  return result;
}

type ErrorBody = {
  type: string;
  code: ErrorCode;
  message: string;
  param: string | null;
  details: { field: string; message: string }[] | null;
  doc_url: string;
};

/** The §7 failure envelope, whole and consistent with §4, whatever went wrong. */
function expectEnvelope(response: RestResponse): ErrorBody {
  const context = `${response.status} ${JSON.stringify(response.body)}`;
  expect(response.status, context).toBeGreaterThanOrEqual(400);
  expect(response.status, context).toBeLessThan(500);
  expect(response.headers.get('content-type'), context).toMatch(/^application\/json/);
  expect(Object.keys(response.body ?? {}).sort(), context).toEqual(['error', 'success']);
  expect(response.body.success, context).toBe(false);
  const error = response.body.error as ErrorBody;
  expect(Object.keys(error).sort(), context).toEqual(['code', 'details', 'doc_url', 'message', 'param', 'type']);
  expect(isErrorCode(error.code), context).toBe(true);
  expect(error.code, context).not.toBe('internal_error');
  expect(error.type, context).toBe(errorCodes[error.code].type);
  // 413 and 415 are validation errors whose status is not the code's own.
  if (response.status === 413 || response.status === 415) expect(error.code, context).toBe('validation_error');
  else expect(response.status, context).toBe(errorCodes[error.code].status);
  expect(error.message, context).toMatch(/\S/);
  expect(error.param === null || typeof error.param === 'string', context).toBe(true);
  if (error.details !== null) {
    expect(error.details.length, context).toBeGreaterThan(0);
    for (const detail of error.details) expect(detail, context).toEqual({ field: expect.any(String), message: expect.stringMatching(/\S/) });
  }
  expect(error.doc_url, context).toBe(`${origin}/docs/errors/${error.code}`);
  return error;
}

type Expected = {
  status: number;
  code: ErrorCode;
  param?: string | null;
  /** The fields `details` names (each once, in order); null when there are no details. */
  fields?: string[] | null;
  message?: RegExp;
};

function expectRefusal(response: RestResponse, expected: Expected): ErrorBody {
  const error = expectEnvelope(response);
  const context = JSON.stringify(response.body);
  expect({ status: response.status, code: error.code }, context).toEqual({ status: expected.status, code: expected.code });
  if (expected.param !== undefined) expect(error.param, context).toBe(expected.param);
  if (expected.fields !== undefined) expect(error.details && [...new Set(error.details.map((detail) => detail.field))], context).toEqual(expected.fields);
  if (expected.message) expect(error.message, context).toMatch(expected.message);
  return error;
}

const invalid = (param: string | null, fields: string[] | null = param === null ? [''] : [param]): Expected => ({
  status: 400,
  code: 'validation_error',
  param,
  fields,
});

describe('bodies that are not a JSON object', () => {
  test.for(writeRoutes)('$name: unparsable text is invalid_json, and changes nothing', async (route, { harness, scenario: s }) => {
    const texts = [
      '{bad',
      `{"customerId":`,
      '',
      ' ',
      `{"customerId":"${s.customerId}",}`,
      `{'customerId':'${s.customerId}'}`,
      'NaN',
      'undefined',
      '{"count":01}',
    ];
    for (const text of texts) {
      await unchanged(harness, s, async () =>
        expectRefusal(await send(harness, s, route, text), { status: 400, code: 'invalid_json', param: null, fields: null }),
      );
    }
  });

  test.for(writeRoutes)('$name: JSON that is not an object is a validation_error about the body', async (route, { harness, scenario: s }) => {
    for (const text of ['[]', '3', '"x"', 'null', 'true', '-0', `[${JSON.stringify(validBody(s, route))}]`]) {
      const error = await unchanged(harness, s, async () => expectRefusal(await send(harness, s, route, text), invalid(null)));
      expect(error.message).toMatch(/JSON object/);
    }
  });

  test.for(writeRoutes)('$name: an array or object in place of a string id names customerId', async (route, { harness, scenario: s }) => {
    for (const customerId of [[s.customerId], { id: s.customerId }, 3, true, null]) {
      await unchanged(harness, s, async () => expectRefusal(await send(harness, s, route, { ...validBody(s, route), customerId }), invalid('customerId')));
    }
  });

  test('bulk set: seats as an array (GraphQL’s shape), a string or null names seats', async ({ harness, scenario: s }) => {
    for (const seats of [[{ featureCode: 'editor', count: 1 }], ['editor'], 'editor', 5, null, undefined]) {
      await unchanged(harness, s, async () => expectRefusal(await send(harness, s, bulkRoute, { customerId: s.customerId, seats }), invalid('seats')));
    }
  });
});

describe('fields that break their rule', () => {
  test.for(seatRoutes)('$name: a missing field is named in param and details', async (route, { harness, scenario: s }) => {
    for (const field of ['customerId', 'featureCode', 'count']) {
      const { [field]: _missing, ...rest } = validBody(s, route);
      await unchanged(harness, s, async () => expectRefusal(await send(harness, s, route, rest), invalid(field)));
    }
    await unchanged(harness, s, async () => expectRefusal(await send(harness, s, route, {}), invalid('customerId', ['customerId', 'featureCode', 'count'])));
  });

  test.for(seatRoutes)('$name: a count that is not a number is not coerced', async (route, { harness, scenario: s }) => {
    for (const count of ['3', '1', '', true, false, null, [1], { value: 1 }]) {
      await unchanged(harness, s, async () =>
        expectRefusal(await send(harness, s, route, { ...validBody(s, route), count }), { ...invalid('count'), message: /expected number/ }),
      );
    }
  });

  test.for(seatRoutes)('$name: counts out of range, fractional or beyond a double are refused', async (route, { harness, scenario: s }) => {
    const numbers = [route.min - 1, -1, -1_000_000, 1.5, 0.1, 1_000_001, 1e308, 2 ** 53, Number.MAX_SAFE_INTEGER, -(2 ** 53)];
    for (const count of numbers) {
      await unchanged(harness, s, async () => expectRefusal(await send(harness, s, route, { ...validBody(s, route), count }), invalid('count')));
    }
    // Written into the text, as JSON.stringify would turn them into null: 1e999 parses to Infinity.
    for (const count of ['1e999', '-1e999', '1000000.5', '1E7']) {
      const text = `{"customerId":${JSON.stringify(s.customerId)},"featureCode":"editor","count":${count}}`;
      await unchanged(harness, s, async () => expectRefusal(await send(harness, s, route, text), invalid('count')));
    }
  });

  test.for(seatRoutes)('$name: ids that break their rule name their field', async (route, { harness, scenario: s }) => {
    const cases: [string, unknown][] = [
      ['customerId', ''],
      ['customerId', 'a'.repeat(201)],
      ['featureCode', ''],
      ['featureCode', 'Bad-Code'],
      ['featureCode', 'EDITOR'],
      ['featureCode', 'editor '],
      ['featureCode', 'é'],
      ['featureCode', 'a'.repeat(51)],
      ['featureCode', 7],
    ];
    for (const [field, value] of cases) {
      await unchanged(harness, s, async () => expectRefusal(await send(harness, s, route, { ...validBody(s, route), [field]: value }), invalid(field)));
    }
  });

  test('0 is refused for add and remove but is a valid set, so the rule is the route’s own', async ({ harness, scenario: s }) => {
    for (const route of seatRoutes.filter((candidate) => candidate.min === 1)) {
      await unchanged(harness, s, async () =>
        expectRefusal(await send(harness, s, route, { ...validBody(s, route), count: 0 }), { ...invalid('count'), message: />=1/ }),
      );
    }
    const set = await send(harness, s, seatRoutes.find((candidate) => candidate.name === 'set')!, {
      customerId: s.customerId,
      featureCode: 'editor',
      count: 0,
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(0);
  });
});

describe('headers of a write', () => {
  test.for(writeRoutes)('$name: a Content-Type other than JSON, or none, names Content-Type', async (route, { harness, scenario: s }) => {
    const json = JSON.stringify(validBody(s, route));
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/vnd.api+json', '']) {
      await unchanged(harness, s, async () => expectRefusal(await send(harness, s, route, json, { 'content-type': type }), invalid('Content-Type')));
    }
    await unchanged(harness, s, async () => expectRefusal(await sendBytes(harness, s, route, new TextEncoder().encode(json)), invalid('Content-Type')));
    // The check is not a blanket refusal: a JSON type with parameters reaches the customer lookup.
    const charset = await send(harness, s, route, { ...validBody(s, route), customerId: 'nobody' }, { 'content-type': 'Application/JSON; charset=utf-8' });
    expectRefusal(charset, { status: 404, code: 'customer_not_found', param: 'customerId' });
  });

  test.for(writeRoutes)('$name: a compressed body answers 415 in the envelope and is never inflated', async (route, { harness, scenario: s }) => {
    const gzip = new Uint8Array(gzipSync(JSON.stringify(validBody(s, route))));
    for (const encoding of ['gzip', 'deflate', 'br', 'gzip, identity']) {
      const response = await unchanged(harness, s, () =>
        sendBytes(harness, s, route, gzip, { 'content-type': 'application/json', 'content-encoding': encoding }),
      );
      expectRefusal(response, { status: 415, code: 'validation_error', param: 'Content-Encoding', fields: ['Content-Encoding'] });
    }
  });

  test.for(writeRoutes)('$name: an Idempotency-Key longer than 255 characters, or empty, names the header', async (route, { harness, scenario: s }) => {
    for (const key of ['k'.repeat(256), 'k'.repeat(257), '']) {
      await unchanged(harness, s, async () =>
        expectRefusal(await send(harness, s, route, validBody(s, route), { 'idempotency-key': key }), invalid('Idempotency-Key')),
      );
    }
    const accepted = await send(harness, s, route, validBody(s, route), { 'idempotency-key': 'k'.repeat(255) });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
  });
});

describe('the body size limit', () => {
  /** An add for the scenario's customer, padded with a field to exactly `bytes` bytes of UTF-8. */
  const paddedAdd = (s: SeatScenario, bytes: number, unit = 'x') => {
    const shell = (pad: string) => JSON.stringify({ customerId: s.customerId, featureCode: 'editor', count: 1, pad });
    const room = bytes - Buffer.byteLength(shell(''));
    const unitBytes = Buffer.byteLength(unit);
    const text = shell(unit.repeat(Math.floor(room / unitBytes)) + 'x'.repeat(room % unitBytes));
    expect(Buffer.byteLength(text)).toBe(bytes);
    return text;
  };

  test.for(writeRoutes)('$name: a body over the limit answers 413 in the envelope', async (route, { harness, scenario: s }) => {
    const body = JSON.stringify({ ...validBody(s, route), pad: 'x'.repeat(maxBodyBytes) });
    await unchanged(harness, s, async () =>
      expectRefusal(await send(harness, s, route, body), {
        status: 413,
        code: 'validation_error',
        param: null,
        fields: [''],
        message: new RegExp(`${maxBodyBytes} bytes`),
      }),
    );
  });

  test('the limit counts bytes, not characters: exactly the limit is read, one byte more is 413', async ({ harness, scenario: s }) => {
    const add = seatRoutes[0]!;
    // Two-byte characters: fewer characters than the limit, more bytes.
    await unchanged(harness, s, async () =>
      expectRefusal(await send(harness, s, add, paddedAdd(s, maxBodyBytes + 1, 'é')), { status: 413, code: 'validation_error' }),
    );
    await unchanged(harness, s, async () =>
      expectRefusal(await send(harness, s, add, paddedAdd(s, maxBodyBytes + 1)), { status: 413, code: 'validation_error' }),
    );
    // Padded with JSON whitespace: a field the route does not take would be refused.
    const valid = JSON.stringify({ customerId: s.customerId, featureCode: 'editor', count: 1 });
    const atLimit = await send(harness, s, add, valid + ' '.repeat(maxBodyBytes - Buffer.byteLength(valid)));
    expect(atLimit.status, JSON.stringify(atLimit.body)).toBe(200);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(4);
  });
});

describe('query strings of the reads', () => {
  const read = (harness: Harness, s: SeatScenario, path: string) => rest(harness.yoga, s.key, 'GET', path);

  test('a parameter given twice is named, even when both values agree', async ({ harness, scenario: s }) => {
    const c = encodeURIComponent(s.customerId);
    const cases: [string, string][] = [
      [`/api/v1/seats/balance?customerId=a&customerId=b&featureCode=editor`, 'customerId'],
      [`/api/v1/seats/balance?customerId=${c}&featureCode=editor&featureCode=editor`, 'featureCode'],
      [`/api/v1/seats/balances?customerId=${c}&customerId=${c}`, 'customerId'],
      [`/api/v1/seats/balances?customerId=${c}&customerId=`, 'customerId'],
    ];
    for (const [path, param] of cases) {
      const error = expectRefusal(await read(harness, s, path), invalid(param));
      expect(error.message).toMatch(/more than once/);
    }
  });

  test('a value that breaks its rule, or a missing one, names its parameter', async ({ harness, scenario: s }) => {
    const c = encodeURIComponent(s.customerId);
    const cases: [string, string][] = [
      [`/api/v1/seats/balance?customerId=${c}&featureCode=Bad-Code`, 'featureCode'],
      [`/api/v1/seats/balance?customerId=${c}&featureCode=`, 'featureCode'],
      [`/api/v1/seats/balance?customerId=${c}&featureCode=${'a'.repeat(51)}`, 'featureCode'],
      [`/api/v1/seats/balance?customerId=${c}`, 'featureCode'],
      [`/api/v1/seats/balance?featureCode=editor`, 'customerId'],
      [`/api/v1/seats/balances?customerId=`, 'customerId'],
      [`/api/v1/seats/balances?customerId`, 'customerId'],
      [`/api/v1/seats/balances?customerId=${'a'.repeat(201)}`, 'customerId'],
      [`/api/v1/seats/balances`, 'customerId'],
    ];
    for (const [path, param] of cases) expectRefusal(await read(harness, s, path), invalid(param));
    // A misspelt parameter is named too, after the one it failed to give.
    expectRefusal(await read(harness, s, `/api/v1/seats/balances?customerid=${c}`), invalid('customerId', ['customerId', 'customerid']));
    // 200 characters is still an id, just not one that exists.
    expectRefusal(await read(harness, s, `/api/v1/seats/balances?customerId=${'a'.repeat(200)}`), {
      status: 404,
      code: 'customer_not_found',
      param: 'customerId',
    });
  });

  test('__proto__, constructor and toString are unknown parameters like any other, refused by name', async ({ harness, scenario: s }) => {
    const c = encodeURIComponent(s.customerId);
    for (const name of ['__proto__', 'constructor', 'toString']) {
      expectRefusal(await read(harness, s, `/api/v1/seats/balances?customerId=${c}&${name}=1`), invalid(name));
      expectRefusal(await read(harness, s, `/api/v1/seats/balance?${name}=x&customerId=${c}&featureCode=editor`), invalid(name));
    }
  });

  test('a body on a GET is ignored: the query string decides, whatever the body says', async ({ harness, http, scenario: s }) => {
    const path = `/api/v1/seats/balances?customerId=${encodeURIComponent(s.customerId)}`;
    const headers = { 'x-api-key': s.key, 'content-type': 'application/json' };
    for (const body of ['{"customerId":"someone-else"}', '{bad', 'x'.repeat(maxBodyBytes + 1)]) {
      const response = await overHttp(http, 'GET', path, headers, body);
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(response.body).toMatchObject({ success: true, data: { object: 'seat', editor: { current: 3 }, viewer: { current: 1 } } });
    }
    const viaFetch = await harness.yoga.fetch(`${origin}${path}`, { method: 'GET', headers, body: '{"customerId":"someone-else"}' });
    expect(await viaFetch.json()).toMatchObject({ success: true, data: { editor: { current: 3 } } });
  });
});

describe('unicode and control characters in ids', () => {
  const strangers = [
    '😀',
    '客户',
    '顧客-株式会社',
    'a\u0301cme',
    '\u202Eemca',
    'مرحبا',
    '👨‍👩‍👧',
    'Ω'.repeat(200),
    '\ufffd',
    'a%00b',
    "'; drop table customer; --",
    '%',
    '_',
  ];

  test.for(seatRoutes)('$name: a unicode id that does not exist is customer_not_found', async (route, { harness, scenario: s }) => {
    for (const customerId of strangers) {
      await unchanged(harness, s, async () =>
        expectRefusal(await send(harness, s, route, { ...validBody(s, route), customerId }), { status: 404, code: 'customer_not_found', param: 'customerId' }),
      );
    }
  });

  test('reads: a unicode id that does not exist is customer_not_found', async ({ harness, scenario: s }) => {
    for (const customerId of strangers) {
      const query = new URLSearchParams({ customerId, featureCode: 'editor' });
      expectRefusal(await rest(harness.yoga, s.key, 'GET', `/api/v1/seats/balance?${query}`), { status: 404, code: 'customer_not_found', param: 'customerId' });
      query.delete('featureCode');
      expectRefusal(await rest(harness.yoga, s.key, 'GET', `/api/v1/seats/balances?${query}`), {
        status: 404,
        code: 'customer_not_found',
        param: 'customerId',
      });
    }
  });

  test.for(writeRoutes)('$name: a NUL character in an id is a validation_error, not a database error', async (route, { harness, scenario: s }) => {
    for (const customerId of ['a\u0000b', '\u0000', `${s.customerId}\u0000`]) {
      const response = await unchanged(harness, s, () => send(harness, s, route, { ...validBody(s, route), customerId }));
      expectRefusal(response, { ...invalid('customerId'), message: /NUL/ });
    }
    if (route !== bulkRoute) {
      await unchanged(harness, s, async () =>
        expectRefusal(await send(harness, s, route, { ...validBody(s, route), featureCode: 'editor\u0000' }), invalid('featureCode')),
      );
    }
  });

  test('reads: %00 in a query value is a validation_error', async ({ harness, scenario: s }) => {
    const c = encodeURIComponent(s.customerId);
    expectRefusal(await rest(harness.yoga, s.key, 'GET', `/api/v1/seats/balances?customerId=a%00b`), { ...invalid('customerId'), message: /NUL/ });
    expectRefusal(await rest(harness.yoga, s.key, 'GET', `/api/v1/seats/balance?customerId=${c}%00&featureCode=editor`), {
      ...invalid('customerId'),
      message: /NUL/,
    });
    expectRefusal(await rest(harness.yoga, s.key, 'GET', `/api/v1/seats/balance?customerId=${c}&featureCode=editor%00`), invalid('featureCode'));
  });

  test.for(writeRoutes)('$name: a lone surrogate escaped in the JSON text is a validation_error naming its field', async (route, { harness, scenario: s }) => {
    const quoted = JSON.stringify(s.customerId).slice(1, -1);
    const texts: [string, string][] = [
      [`{"customerId":"\\ud800","featureCode":"editor","count":1,"seats":{"editor":1}}`, 'customerId'],
      [`{"customerId":"${quoted}\\udfff","featureCode":"editor","count":1,"seats":{"editor":1}}`, 'customerId'],
      [`{"customerId":"\\udc00${quoted}","featureCode":"editor","count":1,"seats":{"editor":1}}`, 'customerId'],
    ];
    if (route !== bulkRoute) texts.push([`{"customerId":"${quoted}","featureCode":"edit\\ud83dor","count":1}`, 'featureCode']);
    for (const [text, param] of texts) {
      const error = await unchanged(harness, s, async () => expectRefusal(await send(harness, s, route, text), invalid(param)));
      expect(error.message).toMatch(/lone UTF-16 surrogate/);
    }
  });
});

describe('bulk set', () => {
  test('an empty seats object, 101 entries, a bad code as a key or a count out of range is a validation_error', async ({ harness, scenario: s }) => {
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [i === 0 ? 'editor' : `f${i}`, 2]));
    const cases: [Record<string, unknown>, string][] = [
      [{}, 'seats'],
      [many(101), 'seats'],
      [{ editor: 2, 'Bad-Code': 1 }, 'seats.Bad-Code'],
      [{ editor: 2, '': 1 }, 'seats.'],
      [{ editor: 2, EDITOR: 1 }, 'seats.EDITOR'],
      [{ editor: 2, [`a${'b'.repeat(50)}`]: 1 }, `seats.a${'b'.repeat(50)}`],
      [{ viewer: 0, editor: 1_000_001 }, 'seats.editor'],
      [{ viewer: 0, editor: -1 }, 'seats.editor'],
      [{ viewer: 0, editor: 1.5 }, 'seats.editor'],
      [{ viewer: 0, editor: '2' }, 'seats.editor'],
      [{ viewer: 0, editor: null }, 'seats.editor'],
      [{ viewer: 0, editor: true }, 'seats.editor'],
      [{ viewer: 0, editor: [2] }, 'seats.editor'],
      [{ viewer: 0, editor: 2 ** 53 }, 'seats.editor'],
    ];
    for (const [seats, param] of cases) {
      await unchanged(harness, s, async () => expectRefusal(await send(harness, s, bulkRoute, { customerId: s.customerId, seats }), invalid(param)));
    }
    const infinite = `{"customerId":${JSON.stringify(s.customerId)},"seats":{"viewer":0,"editor":1e999}}`;
    await unchanged(harness, s, async () => expectRefusal(await send(harness, s, bulkRoute, infinite), invalid('seats.editor')));
  });

  test('100 entries pass validation, and one unknown code among them still changes nothing', async ({ harness, scenario: s }) => {
    const seats = Object.fromEntries([['viewer', 0], ['editor', 9], ...Array.from({ length: 98 }, (_, i) => [`ghost_${i}`, 1])]);
    const error = await unchanged(harness, s, async () =>
      expectRefusal(await send(harness, s, bulkRoute, { customerId: s.customerId, seats }), { status: 404, code: 'feature_not_found' }),
    );
    expect(error.param).toMatch(/^seats\.ghost_\d+$/);
  });
});

describe('nesting as deep as a body can hold', () => {
  // 49,000 levels fit in the size limit; a recursive walk would overflow the stack (a 500).
  test('is a validation_error through REST and through GraphQL variables, never internal_error', async ({ harness, scenario: s }) => {
    const deep = `${'['.repeat(49_000)}${']'.repeat(49_000)}`;
    await unchanged(harness, s, async () => {
      expectRefusal(await send(harness, s, seatRoutes[0]!, `{"customerId":${deep},"featureCode":"editor","count":1}`), invalid('customerId'));
      const graphql = await harness.yoga.fetch('http://seatgate.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': s.key },
        body: `{"query":"mutation($input: AddSeatsInput!) { addSeats(input: $input) { id } }","variables":{"input":{"customerId":${deep},"featureCode":"editor","count":1}}}`,
      });
      const body = await graphql.json();
      expect(body.errors[0].extensions.code).toBe('validation_error');
    });
  });

  test('a feature code breaking its rule as a bulk key says which rule', async ({ harness, scenario: s }) => {
    const error = expectRefusal(await send(harness, s, bulkRoute, { customerId: s.customerId, seats: { 'Bad-Code': 1 } }), invalid('seats.Bad-Code'));
    expect(error.details?.[0]?.message).toMatch(/\^\[a-z0-9_\]\+\$/);
  });
});

describe('what JSON.parse and a lenient decoder would settle silently', () => {
  // JSON.parse makes "__proto__" an own key and every object copy (zod's record included) drops
  // it: the entry would vanish and the rest apply.
  test('bulk set: a "__proto__" key is refused, not a silently dropped entry', async ({ harness, scenario: s }) => {
    const text = `{"customerId":${JSON.stringify(s.customerId)},"seats":{"__proto__":1,"editor":7}}`;
    await unchanged(harness, s, async () => expectRefusal(await send(harness, s, bulkRoute, text), invalid('seats.__proto__')));
  });

  // §3: "no feature code twice"; JSON.parse would keep the last value.
  test('a key given twice is refused, in the seats object and at the top', async ({ harness, scenario: s }) => {
    const id = JSON.stringify(s.customerId);
    await unchanged(harness, s, async () => {
      const twice = expectRefusal(await send(harness, s, bulkRoute, `{"customerId":${id},"seats":{"editor":1,"editor":4}}`), invalid('seats.editor'));
      expect(twice.message).toMatch(/more than once/);
      expectRefusal(await send(harness, s, seatRoutes[0]!, `{"customerId":${id},"featureCode":"editor","count":1,"count":900}`), invalid('count'));
    });
  });

  // JSON.parse rounds these into integers a client never meant.
  test.for(['1e-400', '1.0000000000000001', '0.99999999999999999'])(
    'a count of %s is refused, not rounded to an integer',
    async (count, { harness, scenario: s }) => {
      const set = seatRoutes.find((route) => route.method === 'PUT')!;
      await unchanged(harness, s, async () =>
        expectRefusal(await send(harness, s, set, `{"customerId":${JSON.stringify(s.customerId)},"featureCode":"editor","count":${count}}`), invalid('count')),
      );
      // The same integers written plainly, or with a zero fraction, are fine.
      expect((await send(harness, s, set, `{"customerId":${JSON.stringify(s.customerId)},"featureCode":"editor","count":2.0}`)).status).toBe(200);
    },
  );

  test('a field the route does not take is refused; an idempotencyKey field points at the header', async ({ harness, scenario: s }) => {
    await unchanged(harness, s, async () => {
      const error = expectRefusal(
        await send(harness, s, seatRoutes[0]!, { ...validBody(s, seatRoutes[0]!), idempotencyKey: 'k-1' }),
        invalid('idempotencyKey'),
      );
      expect(error.message).toMatch(/Idempotency-Key header/);
      expectRefusal(await send(harness, s, seatRoutes[0]!, { ...validBody(s, seatRoutes[0]!), quantity: 2 }), invalid('quantity'));
    });
  });

  test('a Content-Type that only starts like JSON is refused', async ({ harness, scenario: s }) => {
    for (const type of ['application/json-seq', 'application/json-patch+json', 'application/jsonx']) {
      await unchanged(harness, s, async () =>
        expectRefusal(await send(harness, s, seatRoutes[0]!, validBody(s, seatRoutes[0]!), { 'content-type': type }), invalid('Content-Type')),
      );
    }
  });

  // The reason lone surrogates are refused (http/limits.ts) holds for invalid UTF-8 too: a lenient
  // decoder turns the byte 0xFF into U+FFFD, so "x<FF>" would name the customer "x\ufffd".
  test('bytes that are not UTF-8 are refused, not decoded into another customer’s id: body, query and GraphQL', async ({ harness, scenario: s }) => {
    const other = await createCustomerWithSubscription(s.client, { externalId: 'x\ufffd' });
    const bytes = Buffer.concat([Buffer.from('{"customerId":"x'), Buffer.from([0xff]), Buffer.from('","featureCode":"editor","count":1}')]);
    const viaRest = await sendBytes(harness, s, seatRoutes[0]!, new Uint8Array(bytes), { 'content-type': 'application/json' });
    expectRefusal(viaRest, { status: 400, code: 'invalid_json' });
    expectRefusal(await rest(harness.yoga, s.key, 'GET', `/api/v1/seats/balances?customerId=x%FF`), invalid(null));

    const query = Buffer.from(`{"query":"mutation { addSeats(input: {customerId: \\"x`);
    const rest_ = Buffer.from(`\\", featureCode: \\"editor\\", count: 1}) { id } }"}`);
    const viaGraphQL = await harness.yoga.fetch('http://seatgate.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': s.key },
      body: new Uint8Array(Buffer.concat([query, Buffer.from([0xff]), rest_])),
    });
    expect((await viaGraphQL.json()).errors[0].extensions.code).toBe('validation_error');
    const viaGet = await harness.yoga.fetch(
      `http://seatgate.test/graphql?query=${encodeURIComponent('{ customer(id: "x')}%FF${encodeURIComponent('") { id } }')}`,
      { headers: { 'x-api-key': s.key } },
    );
    expect(viaGet.status).toBe(400);
    expect((await viaGet.json()).errors[0].extensions.code).toBe('validation_error');
    expect(await balanceOf(harness, other.id, 'editor')).toBe(0);
  });
});

describe('property: nothing a client sends breaks the door or changes a balance', () => {
  const numRuns = 100;
  const allowed = [400, 404, 413, 415];

  /** Checks the answer to junk: a refusal in the envelope with an allowed status. */
  const expectJunkRefused = (response: RestResponse) => {
    expect(allowed, JSON.stringify(response.body)).toContain(response.status);
    expectEnvelope(response);
  };

  /** Sends `numRuns` values of `arbitrary` through `attack` to a fresh scenario: each answer is judged, nothing changes, nothing is logged as an error. */
  async function fuzz<T>(
    harness: Harness,
    arbitrary: (s: SeatScenario) => fc.Arbitrary<T>,
    attack: (s: SeatScenario, value: T) => Promise<RestResponse>,
    judge = expectJunkRefused,
  ) {
    const s = await heldSeats(harness);
    const logged = harness.logs.length;
    let sent = 0;
    await unchanged(harness, s, () =>
      fc.assert(
        fc.asyncProperty(arbitrary(s), async (value) => {
          sent++;
          judge(await attack(s, value));
        }),
        { numRuns },
      ),
    );
    expect(sent).toBe(numRuns);
    expect(harness.logs.slice(logged).filter((line) => JSON.parse(line).level === 'error')).toEqual([]);
  }

  const isCount = (value: unknown) => Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 1_000_000;
  /** Seats a bulk set would apply: 1 to 100 plan features, each with a valid count. */
  const appliable = (value: unknown) =>
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.keys(value).length > 0 &&
    Object.entries(value).every(([code, count]) => (planFeatures as readonly string[]).includes(code) && isCount(count));
  const notACount = fc.jsonValue().filter((value) => !isCount(value));
  const notAPlanFeature = fc
    .oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.stringMatching(/^[a-z0-9_]{1,12}$/), fc.jsonValue())
    .filter((value) => !(planFeatures as readonly unknown[]).includes(value));

  test.for(writeRoutes)('$name: arbitrary JSON values as the body', async (route, { harness }) => {
    await fuzz(
      harness,
      () => fc.jsonValue(),
      (s, value) => send(harness, s, route, JSON.stringify(value)),
    );
  });

  test.for(writeRoutes)('$name: arbitrary strings as the body text', async (route, { harness }) => {
    await fuzz(
      harness,
      () => fc.string({ unit: 'binary', maxLength: 300 }),
      (s, text) => send(harness, s, route, text),
    );
  });

  test.for(seatRoutes)('$name: the real customer with one junk field', async (route, { harness }) => {
    await fuzz(
      harness,
      (s) =>
        fc.oneof(
          fc.record({ customerId: fc.constant(s.customerId), featureCode: fc.constantFrom(...planFeatures), count: notACount }),
          fc.record({ customerId: fc.constant(s.customerId), featureCode: notAPlanFeature, count: fc.integer({ min: 0, max: 1_000_000 }) }),
        ),
      (s, body) => send(harness, s, route, body),
    );
  });

  test('bulk set: the real customer with junk seats', async ({ harness }) => {
    const entry = fc.oneof(
      fc.tuple(fc.constantFrom(...planFeatures), notACount),
      fc.tuple(
        notAPlanFeature.filter((code): code is string => typeof code === 'string'),
        fc.jsonValue(),
      ),
    );
    const entries = fc
      .uniqueArray(entry, { selector: ([code]) => code, minLength: 1, maxLength: 5 })
      .map((pairs) => Object.fromEntries(pairs))
      .filter((seats) => !appliable(seats));
    const seats = fc.oneof(
      entries,
      fc.jsonValue().filter((value) => !appliable(value)),
    );
    await fuzz(
      harness,
      () => seats,
      (s, value) => send(harness, s, bulkRoute, { customerId: s.customerId, seats: value }),
    );
  });

  test.for(readRoutes)('$name: arbitrary strings as query values and as the raw query', async ({ path, params }, { harness }) => {
    const value = (s: SeatScenario) => fc.oneof(fc.string({ unit: 'binary', maxLength: 220 }), fc.constant(s.customerId), fc.constantFrom(...planFeatures));
    // Values that would name the real customer's real balance are a valid read, not junk.
    const real = (s: SeatScenario, chosen: string[]) =>
      chosen[0] === s.customerId && (params.length === 1 || (planFeatures as readonly string[]).includes(chosen[1]!));
    const queries = (s: SeatScenario) =>
      fc.oneof(
        fc
          .tuple(...params.map(() => value(s)))
          .filter((chosen) => !real(s, chosen))
          .map((chosen) => new URLSearchParams(params.map((name, i) => [name, chosen[i]!])).toString()),
        fc.string({ unit: 'binary', maxLength: 220 }),
      );
    await fuzz(harness, queries, (s, query) => rest(harness.yoga, s.key, 'GET', `${path}?${query}`));
  });
});
