import { describe, expect, test } from './fixtures.ts';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/common/logger.ts';
import type { Harness } from './helpers.ts';

// Which browser origins may call the API: CORS_ORIGINS, else localhost outside production.

const allowed = 'https://app.example.com';
const refused = 'https://evil.example.net';

const accessControl = (response: Response) => Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-')));

const preflight = (harness: Harness, path: string, origin: string) =>
  harness.yoga.fetch(`http://seatgate.test${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-api-key, idempotency-key' },
  });

describe('CORS_ORIGINS', () => {
  test('unset: localhost origins outside production, none in production', () => {
    expect(loadConfig({}).cors).toEqual({ anyOrigin: false, origins: [], localhost: true });
    expect(loadConfig({ NODE_ENV: 'production' }).cors).toEqual({ anyOrigin: false, origins: [], localhost: false });
  });

  test('a list of origins, or "*"', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:3000' }).cors).toEqual({
      anyOrigin: false,
      origins: ['https://app.example.com', 'http://localhost:3000'],
      localhost: false,
    });
    expect(loadConfig({ CORS_ORIGINS: '*', NODE_ENV: 'production' }).cors).toMatchObject({ anyOrigin: true });
  });

  test.each([
    'https://app.example.com/',
    'https://app.example.com/path',
    'app.example.com',
    'ftp://files.example.com',
    'https://u:p@app.example.com',
    '*,https://app.example.com',
  ])('refuses %s, naming the variable', (value) => {
    expect(() => loadConfig({ CORS_ORIGINS: value })).toThrow(/CORS_ORIGINS/);
  });
});

describe('answers', () => {
  test('an allowed origin is echoed, with the headers a client reads exposed, and no credentials', async ({ harness, scenario: s }) => {
    const response = await harness.yoga.fetch('http://seatgate.test/graphql', {
      method: 'POST',
      headers: { origin: allowed, 'content-type': 'application/json', 'x-api-key': s.key },
      body: JSON.stringify({ query: /* GraphQL */ `{ features { code } }` }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(allowed);
    expect(response.headers.get('vary')).toMatch(/Origin/);
    expect(response.headers.get('access-control-expose-headers')).toBe(
      'x-request-id, allow, ratelimit-limit, ratelimit-remaining, ratelimit-reset, retry-after, ratelimit-policy, ratelimit',
    );
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });

  test('another origin gets no CORS header, so its browser keeps the answer from it', async ({ harness, scenario: s }) => {
    const response = await harness.yoga.fetch('http://seatgate.test/graphql', {
      method: 'POST',
      headers: { origin: refused, 'content-type': 'application/json', 'x-api-key': s.key },
      body: JSON.stringify({ query: /* GraphQL */ `{ features { code } }` }),
    });
    expect(accessControl(response)).toEqual({});
    // Not even the literal "null" origin, which sandboxed documents send.
    expect(accessControl(await preflight(harness, '/graphql', 'null'))).toEqual({});
  });

  test.for(['/graphql', '/api/v1/seats'])('the preflight of %s allows the configured origin only', async (path, { harness }) => {
    const ok = await preflight(harness, path, allowed);
    expect(ok.status).toBe(204);
    expect(accessControl(ok)).toMatchObject({
      'access-control-allow-origin': allowed,
      'access-control-allow-methods': 'POST',
      'access-control-max-age': '600',
    });
    expect(ok.headers.get('access-control-allow-headers')).toContain('x-api-key');
    const no = await preflight(harness, path, refused);
    expect(accessControl(no)).toEqual({});
  });

  test('localhost origins on any port, when the policy admits them; never a look-alike', async ({ harness }) => {
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:3000', 'http://[::1]:8080', 'https://localhost']) {
      expect((await preflight(harness, '/graphql', origin)).headers.get('access-control-allow-origin'), origin).toBe(origin);
    }
    for (const origin of ['http://localhost.evil.example', 'http://127.0.0.2:3000', 'http://localhost:3000/path']) {
      expect(accessControl(await preflight(harness, '/graphql', origin)), origin).toEqual({});
    }
    const production = createApp({
      orm: harness.orm,
      logger: createLogger('silent'),
      limits: loadConfig({}).limits,
      cors: loadConfig({ NODE_ENV: 'production' }).cors,
    });
    const answer = await production.fetch('http://seatgate.test/graphql', {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' },
    });
    expect(accessControl(answer)).toEqual({});
    await production.dispose();
  });
});
