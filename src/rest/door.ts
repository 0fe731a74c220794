import type { Plugin } from 'graphql-yoga';
import type { TestClockState } from '../model/clock.ts';
import { checkIdempotencyKeyHeader, validationErrorOf, zodErrorDetails } from '../common/validation.ts';
import type { Context } from '../types.ts';
import { DomainError, type ErrorCode, validationError } from '../common/errors.ts';
import { BodyTooLarge, decodeUtf8, hasMalformedEscapes, illFormedString, malformedEscapesMessage, readLimitedBytes, refusedEncoding } from '../http/limits.ts';
import type { RequestGate, ServerContext } from '../auth/gate.ts';
import type { RequestStates } from '../http/request-state.ts';
import type { Logger } from '../common/logger.ts';
import type { Tenant } from '../model/tenant.ts';
import { errorIndex, errorPage } from './docs.ts';
import { type JsonBody, parseJson } from './json.ts';
import { openApiDocument } from './openapi.ts';
import { matchPath } from './paths.ts';
import { restPrefix, type Route, routes } from './routes.ts';

const openApiPath = `${restPrefix}/openapi.json`;
const errorDocsPath = '/docs/errors';

export type RestDoorOptions = {
  /** Checks the API key and takes its rate-limit budget, as for GraphQL. */
  gate: RequestGate;
  states: RequestStates;
  logger: Logger;
  maxBodyBytes: number;
  /** The origin callers use, for `doc_url`; unset, each request's own. */
  publicUrl?: string;
  /** The request context GraphQL resolvers get, for the same tenant and request. */
  contextFor(request: { tenant: Tenant; testClock: TestClockState | null; requestId: string; idempotencyKey: string | null }): Context;
};

/** A failure whose HTTP status or headers are not the code's own (413, 415, 405 with Allow, 429 with Retry-After). */
class RestFailure extends Error {
  readonly error: DomainError;
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(error: DomainError, status: number = error.status, headers: Record<string, string> = {}) {
    super(error.message);
    this.error = error;
    this.status = status;
    this.headers = headers;
  }
}

/** Commet's envelope for a failure, with `doc_url` pointing at seatgate's own page about the code. */
function failure({ error, status, headers }: RestFailure, origin: string): Response {
  return Response.json(
    {
      success: false,
      error: {
        type: error.type,
        code: error.code,
        message: error.message,
        param: error.param,
        details: error.details,
        doc_url: `${origin}${errorDocsPath}/${error.code}`,
      },
    },
    { status, headers },
  );
}

const fail = (code: ErrorCode, message: string, options: { status?: number; headers?: Record<string, string> } = {}) =>
  new RestFailure(new DomainError(code, message), options.status, options.headers);

const allowedMethods = (methods: string[]) => (methods.includes('GET') ? [...methods, 'HEAD'] : methods).join(', ');

const methodNotAllowed = (request: Request, url: URL, allowed: string) =>
  fail('method_not_allowed', `${url.pathname} takes ${allowed}, not ${request.method}.`, { headers: { allow: allowed } });

/** The body of a write: a JSON object, within the size limit, of well-formed UTF-8 text. */
async function bodyOf(request: Request, url: URL, maxBytes: number): Promise<JsonBody> {
  const query = [...url.searchParams.keys()];
  if (query.length > 0) throw validationError(query[0]!, `${request.method} ${url.pathname} takes its input in the JSON body, not the query string.`);
  if (!/^application\/json\s*(;|$)/i.test(request.headers.get('content-type') ?? '')) {
    throw validationError('Content-Type', 'Send the body as JSON, with Content-Type: application/json.');
  }
  const bytes = await readLimitedBytes(request, maxBytes).catch((error: unknown) => {
    throw error instanceof BodyTooLarge ? new RestFailure(validationError(null, error.message, [{ field: '', message: error.detail }]), 413) : error;
  });
  const text = decodeUtf8(bytes);
  if (text === null) throw fail('invalid_json', 'The body is not valid UTF-8 text.');
  const body = parseJson(text);
  if (body.value === null || typeof body.value !== 'object' || Array.isArray(body.value)) throw validationError(null, 'The body must be a JSON object.');
  return body;
}

/** The query string as one value per name; a name given twice is a mistake worth saying. */
function queryOf(url: URL): Record<string, string> {
  if (hasMalformedEscapes(url.search)) throw validationError(null, malformedEscapesMessage);
  // No prototype: `__proto__` becomes a name like any other, so it is refused as unknown, not dropped.
  const values: Record<string, string> = Object.create(null);
  for (const [name, value] of url.searchParams) {
    if (Object.hasOwn(values, name)) throw validationError(name, `${name} is given more than once.`);
    values[name] = value;
  }
  return values;
}

/**
 * The routes whose path matches, with the raw segments their parameters take. Where a literal
 * path and a parametrized one both match (`/subscriptions/active`, `/subscriptions/{id}`), the
 * one with fewer parameters is the resource meant, for its methods as for a 405's Allow.
 */
function routesAt(pathname: string): { route: Route; parameters: Record<string, string> }[] {
  const matching = routes.flatMap((route) => {
    const parameters = matchPath(route.path, pathname);
    return parameters ? [{ route, parameters }] : [];
  });
  const fewest = Math.min(...matching.map(({ parameters }) => Object.keys(parameters).length));
  return matching.filter(({ parameters }) => Object.keys(parameters).length === fewest);
}

/** The path parameters, decoded and validated as the body's fields are, named by their own names. */
function parametersOf(route: Route, raw: Record<string, string>): object {
  if (!route.params) return {};
  const decoded: Record<string, string> = {};
  for (const [name, segment] of Object.entries(raw)) {
    try {
      decoded[name] = decodeURIComponent(segment);
    } catch {
      throw validationError(name, `${name} holds a %-escape that is not UTF-8; send well-formed Unicode text.`);
    }
  }
  const parsed = route.params.safeParse(decoded);
  if (!parsed.success) throw validationErrorOf(zodErrorDetails(parsed.error));
  return parsed.data;
}

/**
 * The route's input, or one validation_error listing every problem: each rule broken, then each
 * field the route does not take (refused, not ignored: a misspelt field must not pass silently).
 */
function inputOf<Input>(route: Route<Input>, raw: object): Input {
  const lone = illFormedString(raw);
  if (lone) throw validationError(lone.join('.'), `${lone.join('.')} holds a lone UTF-16 surrogate; send well-formed Unicode text.`);
  const parsed = route.input.safeParse(raw);
  const known = Object.keys(route.input.shape);
  const inPath = Object.keys(route.params?.shape ?? {});
  const unknown = Object.keys(raw)
    .filter((name) => !known.includes(name))
    .map((field) => ({
      field,
      message:
        field === 'idempotencyKey'
          ? 'is not a field here: send the idempotency key in the Idempotency-Key header'
          : inPath.includes(field)
            ? `is not a field here: ${route.path} takes it in the path`
            : `is not a field of ${route.method} ${route.path}, which takes ${known.length > 0 ? known.join(', ') : 'none'}`,
    }));
  if (parsed.success && unknown.length === 0) return parsed.data;
  throw validationErrorOf([...(parsed.success ? [] : zodErrorDetails(parsed.error)), ...unknown]);
}

/**
 * The Commet-compatible REST door under /api/v1 (SEAT-CONTRACT.md §7), its OpenAPI document,
 * and the pages `doc_url` points at. It calls the services GraphQL calls, through the same
 * request context, gate (API keys and rate limits) and coalescer.
 */
export function useRestDoor(options: RestDoorOptions): Plugin {
  const handle = async (request: Request, url: URL, origin: string, serverContext: ServerContext): Promise<Response> => {
    const state = options.states.get(request);
    const requestId = state?.requestId ?? 'unknown';
    // Every failure answer, with its code noted for the access log.
    const answer = (refusal: RestFailure) => {
      if (state) state.errorCode = refusal.error.code;
      return failure(refusal, origin);
    };
    const matching = routesAt(url.pathname);
    if (matching.length === 0) return answer(fail('route_not_found', `No route ${url.pathname}; see ${openApiPath}.`));
    // HEAD is GET without the body (RFC 9110).
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const found = matching.find((candidate) => candidate.route.method === method);
    if (!found) return answer(methodNotAllowed(request, url, allowedMethods(matching.map((candidate) => candidate.route.method))));
    const { route } = found;
    const reads = route.method === 'GET' || route.readOnly === true;
    if (state) state.operation = { name: route.graphql, type: reads ? 'query' : 'mutation', field: route.graphql };
    try {
      const refusal = refusedEncoding(request);
      if (refusal) throw new RestFailure(validationError('Content-Encoding', refusal), 415);
      const admission = await options.gate.admit(request, serverContext);
      if (state) state.rateLimit = admission.quota;
      if (!admission.ok) {
        if (state) state.retryAfterSeconds = admission.retryAfterSeconds;
        throw fail(admission.code, admission.message, { status: admission.status });
      }
      const authenticated = admission.authenticated;
      if (state) {
        state.tenant = authenticated.tenant;
        state.keyId = authenticated.keyId;
      }
      const body: JsonBody = route.from === 'body' ? await bodyOf(request, url, options.maxBodyBytes) : { value: queryOf(url), keyOrder: () => undefined };
      const input = { ...parametersOf(route, found.parameters), ...(inputOf(route, body.value as object) as object) };
      const idempotencyKey = reads ? null : checkIdempotencyKeyHeader(request.headers.get('idempotency-key'));
      const ctx = options.contextFor({ tenant: authenticated.tenant, testClock: authenticated.testClock, requestId, idempotencyKey });
      return Response.json({ success: true, data: await route.run(ctx, input, body.keyOrder) });
    } catch (error) {
      if (error instanceof RestFailure) return answer(error);
      if (error instanceof DomainError) return answer(new RestFailure(error));
      if (request.signal?.aborted) options.logger.info('client went away before the answer', { requestId, error: (error as Error).message });
      else options.logger.error('unexpected error', { requestId, route: `${route.method} ${route.path}`, error });
      return answer(fail('internal_error', `An unexpected error occurred. Reference: ${requestId}.`));
    }
  };

  /** The documents served beside the routes: read-only, without a key. */
  const serveDocument = (request: Request, url: URL, origin: string): Response | null => {
    const isDocs = url.pathname === errorDocsPath || url.pathname.startsWith(`${errorDocsPath}/`);
    if (url.pathname !== openApiPath && !isDocs) return null;
    if (request.method !== 'GET' && request.method !== 'HEAD') return failure(methodNotAllowed(request, url, allowedMethods(['GET'])), origin);
    if (!isDocs) return Response.json(openApiDocument());
    const code = url.pathname.slice(errorDocsPath.length + 1);
    const page = code ? errorPage(code) : errorIndex();
    return new Response(page ?? errorIndex(), { status: page ? 200 : 404, headers: { 'content-type': 'text/html; charset=utf-8' } });
  };

  return {
    async onRequest({ request, url, endResponse, serverContext }) {
      const origin = options.publicUrl ?? url.origin;
      const inRest = url.pathname === restPrefix || url.pathname.startsWith(`${restPrefix}/`);
      const response = serveDocument(request, url, origin) ?? (inRest ? await handle(request, url, origin, serverContext as ServerContext) : null);
      if (!response) return;
      endResponse(request.method === 'HEAD' ? new Response(null, { status: response.status, headers: response.headers }) : response);
    },
  };
}
