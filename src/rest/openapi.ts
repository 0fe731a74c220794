import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { apiKeyHeader } from '../auth/gate.ts';
import { idempotencyKeyRule, zodString } from '../common/validation.ts';
import { errorCodes } from '../common/errors.ts';
import { restPrefix, type Route, routes } from './routes.ts';

type Code = keyof typeof errorCodes;

const errorEnvelope = z
  .object({
    success: z.literal(false),
    error: z.object({
      type: z.string().describe('The family of the error: validation_error, authentication_error, not_found_error, billing_error, conflict_error, …'),
      code: z.enum(Object.keys(errorCodes) as [Code, ...Code[]]).describe('What went wrong; see doc_url.'),
      message: z.string().describe('For people: what went wrong and what to do.'),
      param: z.string().nullable().describe('The offending input field, when there is one.'),
      details: z
        .array(
          z.object({
            field: z.string().describe('The input field the problem is about.'),
            message: z.string().describe('What is wrong with it.'),
            featureCode: z.string().optional().describe('seat_limit_exceeded at a plan limit: the feature whose limit the change would break.'),
            limit: z
              .enum(['MINIMUM', 'MAXIMUM'])
              .optional()
              .describe("seat_limit_exceeded at a plan limit: which one, the feature's minimumSeats or its maximumSeats."),
            value: z.number().int().optional().describe('seat_limit_exceeded at a plan limit: the limit, the fewest or most seats the balance may hold.'),
          }),
        )
        .nullable()
        .describe('For validation_error, one entry per problem; for seat_limit_exceeded at a minimumSeats or maximumSeats, the limit broken.'),
      doc_url: z.string().describe("seatgate's page about the code."),
    }),
  })
  .meta({ id: 'Error', description: 'Every failure, with the HTTP status of its code.' });

// The codes every route can answer and those every body route adds (a route's own are in its
// `errors`), and the statuses body routes add for the body itself.
const commonCodes: Code[] = ['validation_error', 'unauthorized', 'rate_limited', 'internal_error'];
const writeCodes: Code[] = ['invalid_json', 'idempotency_key_mismatch', 'conflict'];
const bodyStatuses = { 413: 'validation_error: the body is over MAX_BODY_BYTES', 415: 'validation_error: the body has a Content-Encoding' };

function errorResponses(route: Route) {
  const bodyCodes: Code[] = route.readOnly ? ['invalid_json'] : writeCodes;
  const codes = [...new Set([...commonCodes, ...route.errors, ...(route.from === 'body' ? bodyCodes : [])])];
  const byStatus = new Map<number, Code[]>();
  for (const code of codes) byStatus.set(errorCodes[code].status, [...(byStatus.get(errorCodes[code].status) ?? []), code]);
  const described: [number, string][] = [...byStatus].map(([status, of]) => [status, of.join(', ')]);
  if (route.from === 'body') described.push(...Object.entries(bodyStatuses).map(([status, text]): [number, string] => [Number(status), text]));
  return Object.fromEntries(
    described.sort(([a], [b]) => a - b).map(([status, description]) => [status, { description, content: { 'application/json': { schema: errorEnvelope } } }]),
  );
}

const idempotencyKeyHeader = z.object({
  'Idempotency-Key': zodString(idempotencyKeyRule)
    .optional()
    .describe('Makes the write apply at most once; a retry with the same key and input returns the first result. Shared with GraphQL.'),
});

let document: ReturnType<OpenApiGeneratorV31['generateDocument']> | null = null;

/** The OpenAPI 3.1 document of the REST door, generated from the zod schemas that validate its requests. */
export function openApiDocument() {
  if (document) return document;
  const registry = new OpenAPIRegistry();
  const apiKey = registry.registerComponent('securitySchemes', 'ApiKeyAuth', { type: 'apiKey', in: 'header', name: apiKeyHeader });
  for (const route of routes) {
    const path = route.path.slice(restPrefix.length);
    registry.registerPath({
      method: route.method.toLowerCase() as Lowercase<Route['method']>,
      path,
      // postSeatsRemove, postSubscriptionsByIdCancel.
      operationId: `${route.method.toLowerCase()}${path
        .replace(/\/\{(\w)/g, (_, c: string) => `/by${c.toUpperCase()}`)
        .replace(/[{}]/g, '')
        .replace(/\/(\w)/g, (_, c: string) => c.toUpperCase())}`,
      summary: route.summary,
      description: `Does what the GraphQL field \`${route.graphql}\` does, through the same service and ledger.`,
      security: [{ [apiKey.name]: [] }],
      request: {
        ...(route.params ? { params: route.params } : {}),
        ...(route.from === 'body'
          ? { body: { required: true, content: { 'application/json': { schema: route.input } } }, ...(route.readOnly ? {} : { headers: idempotencyKeyHeader }) }
          : { query: route.input }),
      },
      responses: {
        200: {
          description: 'Success',
          content: { 'application/json': { schema: z.object({ success: z.literal(true), data: route.output }) } },
        },
        ...errorResponses(route),
      },
    });
  }
  document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'seatgate seats API (Commet-compatible)',
      version: '1.0.0',
      description: `Commet's seats API, served by seatgate over the same services and ledger as its GraphQL API at /graphql. Authenticate with the ${apiKeyHeader} header.`,
    },
    servers: [{ url: restPrefix }],
  });
  return document;
}
