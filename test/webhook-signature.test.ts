import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { newWebhookSecret, signWebhook, verifyWebhook, webhookHeaders } from '../src/webhooks/signature.ts';

// The Standard Webhooks specification's published test vector.
const vector = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const { secret, id, timestamp, body } = vector;
const now = timestamp;

describe('signing', () => {
  test('the specification’s test vector', () => {
    expect(signWebhook(secret, id, timestamp, body)).toBe(vector.signature);
  });

  test('the headers of a delivery', () => {
    expect(webhookHeaders(secret, id, timestamp, body)).toEqual({
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': '1614265330',
      'webhook-signature': vector.signature,
    });
  });

  test('a new secret is whsec_ and 32 random bytes in base64, and signs', () => {
    const fresh = newWebhookSecret();
    expect(fresh).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(fresh.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(newWebhookSecret()).not.toBe(fresh);
    expect(verifyWebhook(fresh, webhookHeaders(fresh, id, timestamp, body), body, { now })).toBe(true);
  });

  test.each([
    ['no prefix', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    ['another prefix', 'whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    ['nothing after the prefix', 'whsec_'],
    ['characters outside base64', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa!w'],
    ['base64url characters', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-w'],
    ['a space inside', 'whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw'],
    ['missing padding', `whsec_${Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')}`],
    ['fewer than 24 bytes', `whsec_${Buffer.alloc(23, 7).toString('base64')}`],
  ])('a malformed secret throws: %s', (_name, malformed) => {
    expect(() => signWebhook(malformed, id, timestamp, body)).toThrow(/whsec_/);
    expect(() => verifyWebhook(malformed, webhookHeaders(secret, id, timestamp, body), body, { now })).toThrow(/whsec_/);
  });

  test.each([1.5, -1, Number.NaN, 2 ** 53])('a timestamp that is not whole unix seconds throws: %s', (bad) => {
    expect(() => signWebhook(secret, id, bad, body)).toThrow(RangeError);
    expect(() => signWebhook(secret, id, bad, body)).toThrow(/whole number of unix seconds/);
  });

  test('the epoch itself is a whole number of unix seconds', () => {
    expect(verifyWebhook(secret, webhookHeaders(secret, id, 0, body), body, { now: 0 })).toBe(true);
  });
});

describe('verifying', () => {
  const headers = webhookHeaders(secret, id, timestamp, body);

  test('a genuine delivery verifies, from a record or from Headers, whatever the case of the names', () => {
    expect(verifyWebhook(secret, headers, body, { now })).toBe(true);
    expect(verifyWebhook(secret, new Headers(headers), body, { now })).toBe(true);
    const shouted = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toUpperCase(), value]));
    expect(verifyWebhook(secret, shouted, body, { now })).toBe(true);
  });

  test.each([
    ['the body', { ...headers }, `${body} `],
    ['the id', { ...headers, 'webhook-id': 'msg_other' }, body],
    ['the timestamp', { ...headers, 'webhook-timestamp': String(timestamp + 1) }, body],
    ['the signature', { ...headers, 'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=' }, body],
  ])('tampering with %s fails', (_name, tampered, tamperedBody) => {
    expect(verifyWebhook(secret, tampered, tamperedBody, { now })).toBe(false);
  });

  test('another secret fails', () => {
    expect(verifyWebhook(newWebhookSecret(), headers, body, { now })).toBe(false);
  });

  test.each([['webhook-id'], ['webhook-timestamp'], ['webhook-signature']])('a delivery without %s fails', (name) => {
    expect(verifyWebhook(secret, { ...headers, [name]: undefined }, body, { now })).toBe(false);
    const { [name]: _left, ...without } = headers;
    expect(verifyWebhook(secret, without, body, { now })).toBe(false);
  });

  test('a missing webhook-id is not read as the text "undefined"', () => {
    const overUndefined = webhookHeaders(secret, 'undefined', timestamp, body);
    expect(verifyWebhook(secret, overUndefined, body, { now })).toBe(true);
    expect(verifyWebhook(secret, { ...overUndefined, 'webhook-id': undefined }, body, { now })).toBe(false);
  });

  test('a header given as a list (a repeated header in Node) is not taken', () => {
    // node:http gives repeated headers as arrays; which one to trust is ambiguous, so none is.
    expect(verifyWebhook(secret, { ...headers, 'webhook-id': [id] }, body, { now })).toBe(false);
    expect(verifyWebhook(secret, { ...headers, 'webhook-signature': [vector.signature] }, body, { now })).toBe(false);
  });

  test.each([
    ['a fraction', '1614265330.0'],
    ['a sign', '+1614265330'],
    ['words', 'yesterday'],
    ['nothing', ''],
  ])('a timestamp written as %s fails', (_name, written) => {
    expect(verifyWebhook(secret, { ...headers, 'webhook-timestamp': written }, body, { now })).toBe(false);
  });

  test('the timestamp must be within the tolerance, 5 minutes unless told, either way', () => {
    expect(verifyWebhook(secret, headers, body, { now: now + 300 })).toBe(true);
    expect(verifyWebhook(secret, headers, body, { now: now - 300 })).toBe(true);
    expect(verifyWebhook(secret, headers, body, { now: now + 301 })).toBe(false);
    expect(verifyWebhook(secret, headers, body, { now: now - 301 })).toBe(false);
    expect(verifyWebhook(secret, headers, body, { now: now + 600, toleranceSeconds: 600 })).toBe(true);
    expect(verifyWebhook(secret, headers, body, { now: now + 61, toleranceSeconds: 60 })).toBe(false);
    // Without `now`, the clock decides: the vector is from 2021.
    expect(verifyWebhook(secret, headers, body)).toBe(false);
  });

  test('a fresh delivery verifies by the clock', () => {
    const current = Math.floor(Date.now() / 1000);
    expect(verifyWebhook(secret, webhookHeaders(secret, id, current, body), body)).toBe(true);
  });

  test('any one of several signatures may match, as during a secret rotation', () => {
    const rotated = newWebhookSecret();
    const both = `${signWebhook(rotated, id, timestamp, body)} ${vector.signature}`;
    expect(verifyWebhook(secret, { ...headers, 'webhook-signature': both }, body, { now })).toBe(true);
    expect(verifyWebhook(rotated, { ...headers, 'webhook-signature': both }, body, { now })).toBe(true);
    expect(verifyWebhook(secret, { ...headers, 'webhook-signature': `v1,bm90IGl0 v1a,c2lnbmVk ${vector.signature}` }, body, { now })).toBe(true);
    expect(verifyWebhook(newWebhookSecret(), { ...headers, 'webhook-signature': both }, body, { now })).toBe(false);
  });

  test('only the v1 scheme counts', () => {
    const otherScheme = vector.signature.replace(/^v1,/, 'v2,');
    expect(verifyWebhook(secret, { ...headers, 'webhook-signature': otherScheme }, body, { now })).toBe(false);
    expect(verifyWebhook(secret, { ...headers, 'webhook-signature': vector.signature.slice('v1,'.length) }, body, { now })).toBe(false);
  });
});

describe('properties', () => {
  const secrets = fc.uint8Array({ minLength: 24, maxLength: 64 }).map((bytes) => `whsec_${Buffer.from(bytes).toString('base64')}`);
  const ids = fc.string({ minLength: 1, maxLength: 64 });
  const timestamps = fc.integer({ min: 0, max: 2 ** 40 });
  const bodies = fc.string({ maxLength: 500, unit: 'binary' });

  test('whatever is signed verifies', () => {
    fc.assert(
      fc.property(secrets, ids, timestamps, bodies, (key, messageId, at, payload) => {
        expect(verifyWebhook(key, webhookHeaders(key, messageId, at, payload), payload, { now: at })).toBe(true);
      }),
    );
  });

  test('a changed body never verifies', () => {
    fc.assert(
      fc.property(secrets, ids, timestamps, bodies, bodies, (key, messageId, at, payload, other) => {
        fc.pre(payload !== other);
        expect(verifyWebhook(key, webhookHeaders(key, messageId, at, payload), other, { now: at })).toBe(false);
      }),
    );
  });
});

describe('the ten lines of Node in docs/live-updates.md', () => {
  /** The verify-webhook block of docs/live-updates.md, as a module of its own. */
  async function readmeVerifier(): Promise<(secret: string, headers: Record<string, string>, body: string) => boolean> {
    const readme = await readFile(new URL('../docs/live-updates.md', import.meta.url), 'utf8');
    const block = /<!-- verify-webhook[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block, 'docs/live-updates.md has lost its verify-webhook block').toBeDefined();
    const folder = await mkdtemp(path.join(tmpdir(), 'seatgate-readme-'));
    const file = path.join(folder, 'verify.mjs');
    try {
      await writeFile(file, block!.replace(/^ {2}/gm, ''));
      return (await import(pathToFileURL(file).href)).verifyWebhook;
    } finally {
      // Once imported, the module lives in memory: its file is not needed, and no run leaves it behind.
      await rm(folder, { recursive: true, force: true });
    }
  }

  test('accept what seatgate signs, and refuse a changed body, another secret and a stale timestamp', async () => {
    const verify = await readmeVerifier();
    const fresh = Math.floor(Date.now() / 1000);
    const key = newWebhookSecret();
    const payload = JSON.stringify({ type: 'seat.changed', data: { n: 'é ✓' } });
    const headers = webhookHeaders(key, 'msg_readme', fresh, payload);
    expect(verify(key, headers, payload)).toBe(true);
    expect(verify(key, headers, payload.replace('é', 'e'))).toBe(false);
    expect(verify(newWebhookSecret(), headers, payload)).toBe(false);
    expect(verify(key, webhookHeaders(key, 'msg_readme', fresh - 600, payload), payload)).toBe(false);
    expect(verify(key, { ...headers, 'webhook-timestamp': '' }, payload)).toBe(false);
    // Several signatures (a rotation in progress, in the specification's terms): one match suffices.
    expect(verify(key, { ...headers, 'webhook-signature': `v1,bm90IGl0 ${headers['webhook-signature']}` }, payload)).toBe(true);
  });
});
