import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../common/logger.ts';
import type { RateDecision, RateLimiter, RatePolicy } from '../common/rate-limit.ts';
import type { Orm } from '../db/orm.ts';
import type { ApiKeyCache } from './cache.ts';
import type { Authenticated } from './service.ts';

/** The header both doors read the API key from. */
export const apiKeyHeader = 'x-api-key';

/** Why a request was not authenticated, for both doors. */
const unauthorizedMessage = (key: string | null) => (key ? 'The API key is not valid.' : `Send an API key in the ${apiKeyHeader} header.`);

/** The limits the gate applies; null turns one off. */
export type GatePolicies = {
  /** Each API key's budget, whichever door and process it calls. */
  perKey: RatePolicy | null;
  /** Failed authentications per client address: guessing keys is throttled too. */
  authFailuresPerAddress: RatePolicy | null;
  /** How many proxies in front of seatgate append to X-Forwarded-For; 0 trusts none of it. */
  trustProxy: number;
};

export type Admission =
  | { ok: true; authenticated: Authenticated; quota: RateDecision | null }
  | { ok: false; code: 'unauthorized' | 'rate_limited'; message: string; status: 401 | 429; quota: RateDecision | null; retryAfterSeconds: number | null };

/** What yoga's Node adapter passes as server context; absent when the app is called in-process. */
export type ServerContext = { req?: IncomingMessage } | undefined;

/** IPv6 clients are counted by their /64: one subscriber holds a whole /64 and could rotate within it. */
function addressBucket(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIP(address) !== 6) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = address.includes('::') && tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups] : headGroups;
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * The client's address: the connection's peer, or, behind `trustProxy` proxies, the address the
 * outermost trusted proxy saw (the entry that many places from the right of X-Forwarded-For).
 * Null when the app is called in-process.
 */
export function clientAddress(request: Request, serverContext: ServerContext, trustProxy: number): string | null {
  const peer = serverContext?.req?.socket?.remoteAddress ?? null;
  if (trustProxy === 0 || !peer) return peer;
  const forwarded = (request.headers.get('x-forwarded-for') ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => isIP(entry) !== 0);
  const chain = [...forwarded, peer];
  return chain[Math.max(0, chain.length - 1 - trustProxy)]!;
}

const rateLimitedMessage = (retryAfter: number) => `Too many requests; retry in ${retryAfter} s.`;
const tooManyFailuresMessage = (retryAfter: number) => `Too many requests with a missing or invalid API key from this address; retry in ${retryAfter} s.`;

/**
 * Both doors' way in: the API key is checked (through the key cache) and its budget taken from
 * the shared buckets. A failed authentication spends its address's budget; once that is spent,
 * the address gets 429 instead of 401, and, until its retry time, only keys this process already
 * knows are looked at, so guessing costs no more lookups.
 */
export class RequestGate {
  private readonly blockedUntil = new Map<string, number>();

  private readonly orm: Orm;
  private readonly keys: ApiKeyCache;
  private readonly limiter: RateLimiter | null;
  private readonly policies: GatePolicies;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly maxBlocked;

  constructor(
    orm: Orm,
    keys: ApiKeyCache,
    limiter: RateLimiter | null,
    policies: GatePolicies,
    logger: Logger,
    now: () => number = Date.now,
    maxBlocked = 10_000,
  ) {
    this.orm = orm;
    this.keys = keys;
    this.limiter = limiter;
    this.policies = policies;
    this.logger = logger;
    this.now = now;
    this.maxBlocked = maxBlocked;
  }

  async admit(request: Request, serverContext: ServerContext): Promise<Admission> {
    const key = request.headers.get(apiKeyHeader);
    const address = this.policies.authFailuresPerAddress ? clientAddress(request, serverContext, this.policies.trustProxy) : null;
    const bucket = address === null ? null : addressBucket(address);
    const blockedFor = bucket === null ? 0 : (this.blockedUntil.get(bucket) ?? 0) - this.now();
    const authenticated = blockedFor > 0 ? this.keys.known(key) : await this.keys.authenticate(() => this.orm.em.fork(), key);
    if (!authenticated) {
      if (blockedFor > 0) {
        const retryAfterSeconds = Math.max(1, Math.ceil(blockedFor / 1000));
        return { ok: false, code: 'rate_limited', status: 429, message: tooManyFailuresMessage(retryAfterSeconds), quota: null, retryAfterSeconds };
      }
      const quota = bucket === null ? null : await this.take(`address:${bucket}`, this.policies.authFailuresPerAddress!);
      if (quota && !quota.allowed) {
        this.block(bucket!, quota.retryAfterSeconds);
        return {
          ok: false,
          code: 'rate_limited',
          status: 429,
          message: tooManyFailuresMessage(quota.retryAfterSeconds),
          quota,
          retryAfterSeconds: quota.retryAfterSeconds,
        };
      }
      return { ok: false, code: 'unauthorized', status: 401, message: unauthorizedMessage(key), quota, retryAfterSeconds: null };
    }
    const quota = this.policies.perKey ? await this.take(`key:${authenticated.keyId}`, this.policies.perKey, true) : null;
    if (quota && !quota.allowed) {
      return {
        ok: false,
        code: 'rate_limited',
        status: 429,
        message: rateLimitedMessage(quota.retryAfterSeconds),
        quota,
        retryAfterSeconds: quota.retryAfterSeconds,
      };
    }
    return { ok: true, authenticated, quota };
  }

  /**
   * A key's requests may go on before the take is answered while its budget is ample (a busy key
   * would otherwise wait a round trip each); failed authentications always wait. A limiter that
   * cannot reach its table lets requests through: they need the database anyway, and fail there.
   */
  private async take(bucket: string, policy: RatePolicy, early = false): Promise<RateDecision | null> {
    if (!this.limiter) return null;
    try {
      return await this.limiter.take({ bucket, policy, early });
    } catch (error) {
      this.logger.warn('rate limit not checked: its table did not answer', { error });
      return null;
    }
  }

  private block(bucket: string, seconds: number): void {
    this.blockedUntil.delete(bucket);
    this.blockedUntil.set(bucket, this.now() + seconds * 1000);
    if (this.blockedUntil.size > this.maxBlocked) this.blockedUntil.delete(this.blockedUntil.keys().next().value!);
  }
}
