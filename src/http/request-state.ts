import type { Tenant } from '../tenant.js';

/** What the HTTP plugins learn about a request before GraphQL runs. */
export type RequestState = { requestId: string; tenant: Tenant | null; testClockOffsetMs: number };

export type RequestStates = WeakMap<Request, RequestState>;

export const requestIdHeader = 'x-request-id';
