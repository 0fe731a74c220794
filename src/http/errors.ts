import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { paramOf } from '../common/validation.ts';
import { DomainError, type ErrorCode, errorCodes, isErrorCode } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { RequestStates } from './request-state.ts';

export function errorExtensions(code: ErrorCode, param: string | null, details: DomainError['details']) {
  return { code, type: errorCodes[code].type, param, details };
}

/** A contract-shaped copy of `from`: its message and extensions replaced, its place in the document kept. */
const reshaped = (from: GraphQLError | undefined, message: string, extensions: GraphQLError['extensions']): GraphQLError =>
  new GraphQLError(message, { nodes: from?.nodes, source: from?.source, positions: from?.positions, path: from?.path, extensions });

const domainGraphQLError = (error: DomainError, from?: GraphQLError): GraphQLError =>
  reshaped(from, error.message, errorExtensions(error.code, error.param, error.details));

/**
 * The field a GraphQL-level input error is about, read from graphql-js's messages: variable
 * coercion (`at "input.count"`), missing fields (`Field "AddSeatsInput.count"`), or the literal
 * argument just before the error's position in the document.
 */
function paramOfInputError(error: GraphQLError): string | null {
  const variable = /Variable "\$(\w+)" got invalid value .*?(?: at "([^"]+)")?; (.*)$/s.exec(error.message);
  if (variable) {
    // graphql-js writes `input.seats[0].count`; the contract's notation is `seats.0.count`.
    const path = (variable[2] ?? variable[1]!)
      .split(/[.[\]]+/)
      .filter(Boolean)
      .slice(1);
    const missing = /Field "(\w+)" of required type/.exec(variable[3]!);
    if (missing) path.push(missing[1]!);
    return paramOf(path) || variable[1]!;
  }
  const bareVariable = /Variable "\$(\w+)"/.exec(error.message);
  if (bareVariable) return bareVariable[1]!;
  const field = /Field "\w+\.(\w+)" of required type/.exec(error.message) ?? /Field "(\w+)" is not defined by type/.exec(error.message);
  if (field) return field[1]!;
  const argument = /Argument "(\w+)" of required type/.exec(error.message) ?? /Unknown argument "(\w+)"/.exec(error.message);
  if (argument) return argument[1]!;
  const position = error.positions?.[0];
  if (error.source && position !== undefined) {
    const before = /(\w+)\s*:\s*\[?\s*$/.exec(error.source.body.slice(0, position));
    if (before) return before[1]!;
  }
  return null;
}

/**
 * What a caller may see of an error: a contract code, never a stack, SQL or internal message.
 * A request whose client hung up fails in unexpected ways (its body stops short); that is the
 * client's doing, not an outage, so it is logged at info.
 */
/**
 * The GraphQL-over-HTTP statuses: a request refused before execution answers 400 to clients
 * that accept application/graphql-response+json, and 200 to application/json clients (yoga
 * skips statuses marked `spec` for them). yoga marks validation errors so, but not variable
 * coercion errors; statuses of the HTTP layer itself (413, 415) stand for both.
 */
function httpOfRequestError(error: GraphQLError): { http?: Record<string, unknown> } {
  const http = error.extensions?.http as { status?: number; [key: string]: unknown } | undefined;
  if (error.path) return http ? { http } : {};
  return { http: !http?.status || http.status === 400 ? { ...http, status: 400, spec: true } : http };
}

type Shaping = { requestId: string; logger: Logger; clientGone: boolean; hideSuggestions: boolean };

// graphql-js suggests names in variable coercion and enum errors too, outside the validation
// step graphql-armor's plugin covers.
const suggestion = / ?Did you mean [^?]*\?/g;

function toClientError(error: GraphQLError, { requestId, logger, clientGone, hideSuggestions }: Shaping): GraphQLError {
  const original = error.originalError;
  if (original instanceof DomainError) return domainGraphQLError(original, error);
  if (isErrorCode(error.extensions?.code) && errorCodes[error.extensions.code as ErrorCode]) return error;
  const fromGraphQL = !original || original instanceof GraphQLError;
  if (fromGraphQL) {
    // Parse, validation and coercion failures: the caller sent something the schema refuses.
    const param = paramOfInputError(error);
    const message = hideSuggestions ? error.message.replace(suggestion, '') : error.message;
    return reshaped(error, message, { ...errorExtensions('validation_error', param, [{ field: param ?? '', message }]), ...httpOfRequestError(error) });
  }
  if (clientGone) logger.info('client went away before the answer', { requestId, error: original?.message });
  else logger.error('unexpected error', { requestId, path: error.path?.join('.'), error: original });
  return internalError(requestId, error.path);
}

export function internalError(requestId: string, path?: readonly (string | number)[]): GraphQLError {
  return new GraphQLError(`An unexpected error occurred. Reference: ${requestId}.`, {
    path,
    extensions: { ...errorExtensions('internal_error', null, null), requestId },
  });
}

/** Rewrites every error of every result into the contract's shape, logging the unexpected ones. */
export function useContractErrors(states: RequestStates, logger: Logger, options: { hideSuggestions: boolean }): Plugin {
  return {
    onResultProcess({ request, result, setResult }) {
      if (Array.isArray(result) || !('errors' in result) || !result.errors?.length) return;
      const shaping = {
        requestId: states.get(request)?.requestId ?? 'unknown',
        logger,
        clientGone: request.signal?.aborted === true,
        hideSuggestions: options.hideSuggestions,
      };
      const errors = result.errors.map((error: unknown) =>
        toClientError(error instanceof GraphQLError ? error : new GraphQLError('wrapped', { originalError: error as Error }), shaping),
      );
      const state = states.get(request);
      if (state) state.errorCode = String(errors[0]?.extensions.code ?? 'internal_error');
      setResult({ ...result, errors });
    },
  };
}
