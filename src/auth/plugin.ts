import { GraphQLError } from 'graphql';
import { type Plugin, shouldRenderGraphiQL } from 'graphql-yoga';
import type { Orm } from '../db/orm.js';
import { errorExtensions, internalError } from '../http/errors.js';
import type { Logger } from '../logger.js';
import type { RequestStates } from '../http/request-state.js';
import type { ApiKeyCache } from './cache.js';

export const apiKeyHeader = 'x-api-key';

/** Why a request was not authenticated, for both doors. */
export const unauthorizedMessage = (key: string | null) => (key ? 'The API key is not valid.' : `Send an API key in the ${apiKeyHeader} header.`);

/**
 * Every GraphQL request needs an API key; without a valid one it is answered 401 before anything
 * is parsed, read or written. The GraphiQL page itself opens without one.
 */
export function useApiKeyAuth(orm: Orm, keys: ApiKeyCache, states: RequestStates, graphqlPath: string, logger: Logger): Plugin {
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname !== graphqlPath || request.method === 'OPTIONS' || shouldRenderGraphiQL(request)) return;
      const state = states.get(request);
      let authenticated;
      try {
        authenticated = await keys.authenticate(orm.em.fork(), request.headers.get(apiKeyHeader));
      } catch (error) {
        const requestId = state?.requestId ?? 'unknown';
        if (state) state.errorCode = 'internal_error';
        logger.error('authentication failed unexpectedly', { requestId, error });
        endResponse(fetchAPI.Response.json({ errors: [internalError(requestId).toJSON()] }, { status: 500 }));
        return;
      }
      if (authenticated && state) {
        state.tenant = authenticated.tenant;
        state.keyId = authenticated.keyId;
        state.testClock = authenticated.testClock;
        return;
      }
      if (state) state.errorCode = 'unauthorized';
      const error = new GraphQLError(unauthorizedMessage(request.headers.get(apiKeyHeader)), { extensions: errorExtensions('unauthorized', null, null) });
      endResponse(fetchAPI.Response.json({ errors: [error.toJSON()] }, { status: 401 }));
    },
  };
}
