import type { Plugin } from 'graphql-yoga';
import type { RateDecision } from '../common/rate-limit.ts';
import type { RequestStates } from './request-state.ts';

/** The IETF draft's RateLimit-* headers for a decision, and Retry-After on a refusal. */
function rateLimitHeaders(quota: RateDecision | null, retryAfterSeconds: number | null): Record<string, string> {
  return {
    ...(quota ? { 'ratelimit-limit': String(quota.limit), 'ratelimit-remaining': String(quota.remaining), 'ratelimit-reset': String(quota.resetSeconds) } : {}),
    ...(retryAfterSeconds ? { 'retry-after': String(retryAfterSeconds) } : {}),
  };
}

/** Headers every answer of a client may read: the request id, the rate-limit state, and Allow. */
export const exposedHeaders = ['allow', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after'];

/** Puts each answer's rate-limit state in its headers, whichever door answered. */
export function useRateLimitHeaders(states: RequestStates): Plugin {
  return {
    onResponse({ request, response }) {
      const state = states.get(request);
      for (const [name, value] of Object.entries(rateLimitHeaders(state?.rateLimit ?? null, state?.retryAfterSeconds ?? null)))
        response.headers.set(name, value);
    },
  };
}
