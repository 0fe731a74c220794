import type { RequestStates } from './request-state.js';
import { createHash } from 'node:crypto';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { apiKeyHeader } from '../auth/plugin.js';
import { errorExtensions } from './errors.js';

type Bucket = { tokens: number; at: number };

/**
 * Token buckets per API key, in this process: `burst` requests at once, refilled at `perSecond`.
 * Several processes each keep their own buckets, so the fleet allows N times the rate.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes one request from the key's bucket: 0 when allowed, else the seconds to wait. */
  take(key: string): number {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    // Refresh the key's place in insertion order, so the oldest idle keys are dropped first.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond));
  }
}

export const rateLimitedMessage = (retryAfter: number) => `Too many requests for this API key; retry in ${retryAfter} s.`;

/** The bucket of an API key: a hash, so the limiter never holds keys. Both doors share it. */
export const rateLimitBucketOf = (apiKey: string) => createHash('sha256').update(apiKey).digest('hex');

/** Answers 429 rate_limited, with Retry-After, once a key has spent its bucket. */
export function useRateLimit(limiter: RateLimiter | null, graphqlPath: string, states: RequestStates): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      const key = request.headers.get(apiKeyHeader);
      if (!limiter || !key || url.pathname !== graphqlPath) return;
      const retryAfter = limiter.take(rateLimitBucketOf(key));
      if (retryAfter === 0) return;
      const error = new GraphQLError(rateLimitedMessage(retryAfter), {
        extensions: errorExtensions('rate_limited', null, null),
      });
      const state = states.get(request);
      if (state) state.errorCode = 'rate_limited';
      endResponse(fetchAPI.Response.json({ errors: [error.toJSON()] }, { status: 429, headers: { 'retry-after': String(retryAfter) } }));
    },
  };
}
