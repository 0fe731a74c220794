import { type DocumentNode, getOperationAST, type GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../common/logger.ts';
import { operationLabel } from './metrics.ts';
import { pathOf, requestIdHeader, type RequestStates } from './request-state.ts';

/**
 * One `request` line per answer, at info: method, path, operation, status, error code,
 * duration, request id, organization, mode and key id. Never the key: the key id names it.
 * A subscription's line is written when its stream starts.
 */
export function useAccessLog(states: RequestStates, logger: Logger): Plugin {
  const noteOperation = (args: { schema: GraphQLSchema; contextValue: unknown; document: DocumentNode; operationName?: string | null }) => {
    const request = (args.contextValue as { request?: Request }).request;
    const state = request && states.get(request);
    const operation = getOperationAST(args.document, args.operationName);
    if (state && operation)
      state.operation = {
        name: operation.name?.value ?? null,
        type: operation.operation,
        field: operationLabel(args.schema, args.document, args.operationName),
      };
  };
  return {
    onExecute: ({ args }) => noteOperation(args),
    onSubscribe: ({ args }) => noteOperation(args),
    onResponse({ request, response }) {
      const state = states.get(request);
      logger.flat('request', {
        requestId: state?.requestId ?? response.headers.get(requestIdHeader),
        method: request.method,
        path: pathOf(request, state),
        operationName: state?.operation?.name ?? null,
        operationType: state?.operation?.type ?? null,
        status: response.status,
        errorCode: state?.errorCode ?? null,
        durationMs: state ? Math.round((performance.now() - state.startedAt) * 10) / 10 : null,
        organizationId: state?.tenant?.organizationId ?? null,
        mode: state?.tenant?.mode ?? null,
        keyId: state?.keyId ?? null,
      });
    },
  };
}
