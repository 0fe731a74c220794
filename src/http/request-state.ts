import type { TestClockState } from '../model/clock.ts';
import type { RateDecision } from '../common/rate-limit.ts';
import type { Tenant } from '../model/tenant.ts';

/** What the HTTP plugins learn about a request, for its context and its access-log line. */
export type RequestState = {
  requestId: string;
  /** performance.now() when it arrived. */
  startedAt: number;
  /** Its URL's path. */
  path: string;
  tenant: Tenant | null;
  keyId: string | null;
  testClock: TestClockState | null;
  /**
   * The GraphQL operation it ran (the client's name for it, and the root field it selects), or
   * the REST route's GraphQL twin.
   */
  operation: { name: string | null; type: string; field: string } | null;
  /** The contract code of its (first) error, when it failed. */
  errorCode: string | null;
  /** Its bucket's state after it, for the RateLimit-* headers; null when no limit applied. */
  rateLimit: RateDecision | null;
  /** When it was refused for its rate, the seconds to wait (Retry-After). */
  retryAfterSeconds: number | null;
};

export type RequestStates = WeakMap<Request, RequestState>;

/** A request's path: noted when it arrived, else (answers yoga gives before our onRequest) read from its URL. */
export const pathOf = (request: Request, state: RequestState | undefined): string => state?.path ?? new URL(request.url).pathname;

export const requestIdHeader = 'x-request-id';
