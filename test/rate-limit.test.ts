import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, test } from 'vitest';
import { clientAddress } from '../src/http/gate.js';
import { seatScenario, type ServerProcess, useHarness, useServerProcesses } from './helpers.js';

const harness = useHarness();
const startServer = useServerProcesses();

// Two processes on the run's database, with limits small enough to reach in a test.
const perSecond = 20;
const burst = 10;
const limits = { RATE_LIMIT_PER_SECOND: String(perSecond), RATE_LIMIT_BURST: String(burst), AUTH_FAILURES_PER_MINUTE: '6', AUTH_FAILURE_BURST: '5', TRUST_PROXY: '1' };
let a: ServerProcess;
let b: ServerProcess;
beforeAll(async () => {
  [a, b] = await Promise.all([startServer(limits), startServer(limits)]);
}, 60_000);

/** A documentation address (RFC 5737) of its own per test, so no other run's budget is in the way. */
const freshAddress = () => `198.51.100.${1 + (randomBytes(1)[0]! % 250)}`;
const freshIpv6 = () => `2001:db8:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}`;

async function call(url: string, key: string | null, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}), ...headers },
    body: JSON.stringify({ query: '{ features { code } }' }),
  });
  const body = (await response.json()) as { errors?: { extensions: { code: string } }[] };
  const header = (name: string) => response.headers.get(name);
  return { status: response.status, code: body.errors?.[0]?.extensions.code ?? null, header };
}

describe('a key budget shared by the fleet', () => {
  test('RateLimit-* headers count down on each answer, through either process; past the burst, 429 with Retry-After', async () => {
    const s = await seatScenario(harness);
    const seen: { remaining: number; limit: number; reset: number }[] = [];
    for (let i = 0; i < burst; i++) {
      const answer = await call(i % 2 ? a.url : b.url, s.key, { 'x-forwarded-for': freshAddress() });
      expect(answer.status).toBe(200);
      seen.push({ remaining: Number(answer.header('ratelimit-remaining')), limit: Number(answer.header('ratelimit-limit')), reset: Number(answer.header('ratelimit-reset')) });
    }
    expect(seen.every(({ limit }) => limit === burst)).toBe(true);
    // The bucket refills at 20/s meanwhile, so a count may come back by one or two; it never climbs by more.
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.remaining).toBeLessThanOrEqual(seen[i - 1]!.remaining + 2);
    expect(seen[0]!.remaining).toBe(burst - 1);
    expect(seen.every(({ reset }) => reset >= 0 && reset <= 1)).toBe(true);
    // Spend what is left, and more, at once.
    const answers = await Promise.all(Array.from({ length: burst * 2 }, (_, i) => call(i % 2 ? a.url : b.url, s.key)));
    const refused = answers.filter(({ status }) => status === 429);
    expect(refused.length).toBeGreaterThan(0);
    for (const answer of refused) {
      expect(answer.code).toBe('rate_limited');
      expect(Number(answer.header('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(answer.header('ratelimit-remaining')).toBe('0');
    }
  });

  test('two processes allow the configured rate once, not twice', async () => {
    const s = await seatScenario(harness);
    let passed = 0;
    let refused = 0;
    const started = performance.now();
    const until = started + 3000;
    const worker = async (url: string) => {
      while (performance.now() < until) {
        const answer = await call(url, s.key);
        if (answer.status === 200) passed++;
        else if (answer.status === 429) refused++;
        else throw new Error(`unexpected status ${answer.status}`);
      }
    };
    await Promise.all([...Array(4)].flatMap(() => [worker(a.url), worker(b.url)]));
    const seconds = (performance.now() - started) / 1000;
    const allowed = burst + perSecond * seconds;
    expect(refused).toBeGreaterThan(passed);
    // One budget: about burst + rate × time in all; two budgets would let through twice that.
    expect(passed).toBeGreaterThan(allowed * 0.8);
    expect(passed).toBeLessThan(allowed * 1.25);
  });

  test('another key keeps its own budget', async () => {
    const [spent, fresh] = [await seatScenario(harness), await seatScenario(harness)];
    // The bucket refills at 20/s while calls are answered, so spend it until it refuses (a slow machine needs more calls).
    let refused = false;
    for (let round = 0; round < 10 && !refused; round++) {
      const answers = await Promise.all(Array.from({ length: burst * 2 }, () => call(a.url, spent.key)));
      refused = answers.some(({ status }) => status === 429);
    }
    expect(refused).toBe(true);
    const other = await call(b.url, fresh.key);
    expect(other.status).toBe(200);
    expect(other.header('ratelimit-remaining')).toBe(String(burst - 1));
  });
});

describe('failed authentication, per client address', () => {
  const unknownKey = () => `ck_test_${randomBytes(24).toString('hex')}`;

  test('a burst of unknown keys from one address is throttled on every process; other addresses and known keys go on', async () => {
    const s = await seatScenario(harness);
    const address = freshAddress();
    const from = { 'x-forwarded-for': address };
    // The real key is used before the guessing starts, so these processes know it.
    expect((await call(a.url, s.key, from)).status).toBe(200);
    expect((await call(b.url, s.key, from)).status).toBe(200);
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await call(i % 2 ? a.url : b.url, i === 3 ? null : unknownKey(), from));
    expect(answers.map(({ status }) => status)).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    expect(answers.map(({ header }) => header('ratelimit-remaining')).slice(0, 5)).toEqual(['4', '3', '2', '1', '0']);
    for (const refused of answers.slice(5)) {
      expect(refused.code).toBe('rate_limited');
      expect(Number(refused.header('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // Another address is not held back, and a key the processes know still works from this one.
    expect((await call(a.url, unknownKey(), { 'x-forwarded-for': freshAddress() })).status).toBe(401);
    expect((await call(a.url, s.key, from)).status).toBe(200);
  });

  test('an IPv6 client is counted by its /64, so rotating addresses inside it does not help', async () => {
    const prefix = freshIpv6();
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await call(a.url, unknownKey(), { 'x-forwarded-for': `${prefix}::${(i + 1).toString(16)}` })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
  });
});

describe('client address', () => {
  const request = (forwardedFor?: string) => new Request('http://seatgate.test/graphql', { headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {} });
  const peer = (address: string) => ({ req: { socket: { remoteAddress: address } } }) as never;

  test('X-Forwarded-For is ignored unless TRUST_PROXY says how many proxies append to it', () => {
    expect(clientAddress(request('203.0.113.9'), peer('10.0.0.2'), 0)).toBe('10.0.0.2');
    expect(clientAddress(request('203.0.113.9'), peer('10.0.0.2'), 1)).toBe('203.0.113.9');
    // A client may send its own X-Forwarded-For: only the entries trusted proxies added count.
    expect(clientAddress(request('6.6.6.6, 203.0.113.9'), peer('10.0.0.2'), 1)).toBe('203.0.113.9');
    expect(clientAddress(request('6.6.6.6, 203.0.113.9, 10.0.0.1'), peer('10.0.0.2'), 2)).toBe('203.0.113.9');
    // More trusted proxies than entries: the leftmost address there is.
    expect(clientAddress(request('203.0.113.9'), peer('10.0.0.2'), 3)).toBe('203.0.113.9');
    // Entries that are not addresses are skipped.
    expect(clientAddress(request('not-an-ip'), peer('10.0.0.2'), 1)).toBe('10.0.0.2');
    // Called in-process, there is no address, and no per-address limit.
    expect(clientAddress(request('203.0.113.9'), undefined, 1)).toBeNull();
  });
});
