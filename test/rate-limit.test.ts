import { randomBytes } from 'node:crypto';
import { describe, expect, type ServerProcess, test } from './fixtures.ts';
import { clientAddress } from '../src/auth/gate.ts';
import { seatScenario } from './helpers.ts';
import { limiterNow } from './limiter-clock.ts';

// Two processes on the run's database, with limits small enough to reach in a test. Budgets
// refill as slowly as the settings allow, so that counts, not timings, decide every assertion:
// a key regains one request a second, counted on the limiter's own clock (limiterNow); a failed
// authentication comes back after a minute, longer than any test here may run.
const perSecond = 1;
const burst = 40;
const limits = {
  RATE_LIMIT_PER_SECOND: String(perSecond),
  RATE_LIMIT_BURST: String(burst),
  AUTH_FAILURES_PER_MINUTE: '1',
  AUTH_FAILURE_BURST: '5',
  TRUST_PROXY: '1',
};
let a: ServerProcess;
let b: ServerProcess;
test.beforeAll(async ({ startServer }) => {
  [a, b] = await Promise.all([startServer(limits), startServer(limits)]);
}, 60_000);

/** A documentation address (RFC 5737) that no other call of this file uses, so no other budget is in the way. */
let addresses = 0;
const freshAddress = () => `198.51.100.${++addresses}`;
const freshIpv6 = () => `2001:db8:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}`;

/** The most requests a key's budget can have regained between two readings of limiterNow. */
const regainedBetween = (fromMs: number, toMs: number) => Math.floor(((toMs - fromMs) / 1000) * perSecond);

async function call(url: string, key: string | null, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}), ...headers },
    body: JSON.stringify({ query: /* GraphQL */ `{ features { code } }` }),
  });
  const body = (await response.json()) as { errors?: { extensions: { code: string } }[] };
  const header = (name: string) => response.headers.get(name);
  return { status: response.status, code: body.errors?.[0]?.extensions.code ?? null, header };
}

describe('a key budget shared by the fleet', () => {
  test('RateLimit-* headers count down on each answer, through either process; past the burst, 429 with Retry-After', async ({ harness, scenario: s }) => {
    const from = await limiterNow(harness);
    const seen: { process: 'a' | 'b'; remaining: number; limit: number; reset: number }[] = [];
    for (let i = 0; i < 10; i++) {
      const process = i % 2 ? 'a' : 'b';
      const answer = await call(process === 'a' ? a.url : b.url, s.key, { 'x-forwarded-for': freshAddress() });
      expect(answer.status).toBe(200);
      seen.push({
        process,
        remaining: Number(answer.header('ratelimit-remaining')),
        limit: Number(answer.header('ratelimit-limit')),
        reset: Number(answer.header('ratelimit-reset')),
      });
    }
    const regained = regainedBetween(from, await limiterNow(harness));
    expect(seen.every(({ limit }) => limit === burst)).toBe(true);
    expect(seen[0]!.remaining).toBe(burst - 1);
    // a's first answer waits for the database, where b's request is already counted: one budget.
    expect(seen[1]!.remaining).toBeLessThanOrEqual(burst - 2 + regained);
    seen.forEach(({ process, remaining }, i) => {
      // Never less left than both processes' requests so far leave, nor more than this process's own
      // (a process may answer before it hears of the other's latest requests).
      const own = seen.slice(0, i + 1).filter((answer) => answer.process === process).length;
      expect(remaining).toBeGreaterThanOrEqual(burst - (i + 1));
      expect(remaining).toBeLessThanOrEqual(burst - own + regained);
    });
    expect(seen.every(({ reset }) => reset >= 0 && reset <= burst / perSecond)).toBe(true);
    // Spend what is left, and more, at once, through both processes, until some are refused.
    const refused: Awaited<ReturnType<typeof call>>[] = [];
    for (let round = 0; round < 5 && refused.length === 0; round++) {
      const answers = await Promise.all(Array.from({ length: burst * 2 }, (_, i) => call(i % 2 ? a.url : b.url, s.key)));
      expect(answers.every(({ status }) => status === 200 || status === 429)).toBe(true);
      refused.push(...answers.filter(({ status }) => status === 429));
    }
    expect(refused.length).toBeGreaterThan(0);
    for (const answer of refused) {
      expect(answer.code).toBe('rate_limited');
      expect(Number(answer.header('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(answer.header('ratelimit-remaining')).toBe('0');
    }
  });

  test('two processes allow the configured rate once, not twice', async ({ harness, scenario: s }) => {
    const passed = (statuses: number[]) => statuses.filter((status) => status === 200).length;
    const from = await limiterNow(harness);
    // a spends the key's budget until it refuses.
    const throughA: number[] = [];
    for (let i = 0; i < 3 * burst && !throughA.includes(429); i++) throughA.push((await call(a.url, s.key)).status);
    // Then b, which has not seen this key yet, gets as many requests as a budget of its own would let through.
    const throughB: number[] = [];
    for (let i = 0; i < burst; i++) throughB.push((await call(b.url, s.key)).status);
    const regained = regainedBetween(from, await limiterNow(harness));
    expect([...throughA, ...throughB].every((status) => status === 200 || status === 429)).toBe(true);
    expect(throughA.at(-1)).toBe(429);
    expect(passed(throughA)).toBeGreaterThanOrEqual(burst);
    // One budget: both together let through the burst and what it regained meanwhile; two budgets
    // would have let b through a burst of its own.
    expect(passed(throughA) + passed(throughB)).toBeLessThanOrEqual(burst + regained);
  });

  test('another key keeps its own budget', async ({ harness }) => {
    const [spent, fresh] = [await seatScenario(harness), await seatScenario(harness)];
    let refused = false;
    for (let i = 0; i < 3 * burst && !refused; i++) refused = (await call(a.url, spent.key)).status === 429;
    expect(refused).toBe(true);
    const other = await call(b.url, fresh.key);
    expect(other.status).toBe(200);
    expect(other.header('ratelimit-remaining')).toBe(String(burst - 1));
  });
});

describe('failed authentication, per client address', () => {
  const unknownKey = () => `ck_test_${randomBytes(24).toString('hex')}`;

  test('a burst of unknown keys from one address is throttled on every process; other addresses and known keys go on', async ({ scenario: s }) => {
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
