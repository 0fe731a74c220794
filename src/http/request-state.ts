import type { TestClockState } from '../clock/store.js';
import type { Tenant } from '../tenant.js';

/** What the HTTP plugins learn about a request before GraphQL runs. */
export type RequestState = { requestId: string; tenant: Tenant | null; testClock: TestClockState | null };

export type RequestStates = WeakMap<Request, RequestState>;

export const requestIdHeader = 'x-request-id';
