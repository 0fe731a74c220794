import { GraphQLError } from 'graphql';
import { type Plugin, shouldRenderGraphiQL } from 'graphql-yoga';
import { errorExtensions, internalError } from './errors.ts';
import type { Admission, RequestGate, ServerContext } from '../auth/gate.ts';
import type { RequestStates } from './request-state.ts';
import type { Logger } from '../common/logger.ts';

/**
 * Every GraphQL request needs an API key and budget left; without them it is answered 401 or 429
 * before anything is parsed, read or written. The GraphiQL page itself opens without one.
 */
export function useApiKeyAuth(gate: RequestGate, states: RequestStates, graphqlPath: string, logger: Logger): Plugin {
  return {
    async onRequest({ request, url, endResponse, fetchAPI, serverContext }) {
      if (url.pathname !== graphqlPath || request.method === 'OPTIONS' || shouldRenderGraphiQL(request)) return;
      const state = states.get(request);
      let admission: Admission;
      try {
        admission = await gate.admit(request, serverContext as ServerContext);
      } catch (error) {
        const requestId = state?.requestId ?? 'unknown';
        if (state) state.errorCode = 'internal_error';
        logger.error('authentication failed unexpectedly', { requestId, error });
        endResponse(fetchAPI.Response.json({ errors: [internalError(requestId).toJSON()] }, { status: 500 }));
        return;
      }
      if (state) state.rateLimit = admission.quota;
      if (admission.ok) {
        if (state) {
          state.tenant = admission.authenticated.tenant;
          state.keyId = admission.authenticated.keyId;
          state.testClock = admission.authenticated.testClock;
        }
        return;
      }
      if (state) {
        state.errorCode = admission.code;
        state.retryAfterSeconds = admission.retryAfterSeconds;
      }
      const error = new GraphQLError(admission.message, { extensions: errorExtensions(admission.code, null, null) });
      endResponse(fetchAPI.Response.json({ errors: [error.toJSON()] }, { status: admission.status }));
    },
  };
}
