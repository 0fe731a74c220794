import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { errorCodes } from '../errors.js';
import { routes } from './routes.js';

const errorEnvelope = z
  .object({
    success: z.literal(false),
    error: z.object({
      type: z.string().describe('The family of the error: validation_error, authentication_error, not_found_error, billing_error, conflict_error, …'),
      code: z.enum(Object.keys(errorCodes) as [keyof typeof errorCodes, ...(keyof typeof errorCodes)[]]).describe('What went wrong; see doc_url.'),
      message: z.string().describe('For people: what went wrong and what to do.'),
      param: z.string().nullable().describe('The offending input field, when there is one.'),
      details: z
        .array(z.object({ field: z.string(), message: z.string() }))
        .nullable()
        .describe('For validation_error, one entry per problem.'),
      doc_url: z.string().describe("seatgate's page about the code."),
    }),
  })
  .meta({ id: 'Error', description: 'Every failure, with the HTTP status of its code.' });

const statusesOf = (codes: (keyof typeof errorCodes)[]) => [...new Set(codes.map((code) => errorCodes[code].status))].sort();

// The codes each kind of route can answer, for the document's response list.
const commonCodes: (keyof typeof errorCodes)[] = ['validation_error', 'unauthorized', 'rate_limited', 'internal_error'];
const seatCodes: (keyof typeof errorCodes)[] = ['customer_not_found', 'feature_not_found', 'no_active_subscription', 'feature_not_in_plan'];
const writeCodes: (keyof typeof errorCodes)[] = ['insufficient_seats', 'seat_limit_exceeded', 'idempotency_key_mismatch', 'conflict'];

const idempotencyKeyHeader = z.object({
  'Idempotency-Key': z
    .string()
    .min(1)
    .max(255)
    .optional()
    .describe('Makes the write apply at most once; a retry with the same key and input returns the first result. Shared with GraphQL.'),
});

let document: ReturnType<OpenApiGeneratorV31['generateDocument']> | null = null;

/** The OpenAPI 3.1 document of the REST door, generated from the zod schemas that validate its requests. */
export function openApiDocument() {
  if (document) return document;
  const registry = new OpenAPIRegistry();
  const apiKey = registry.registerComponent('securitySchemes', 'ApiKeyAuth', { type: 'apiKey', in: 'header', name: 'x-api-key' });
  for (const route of routes) {
    const codes = [...commonCodes, ...(route.graphql === 'seatBalances' ? seatCodes.filter((code) => code !== 'feature_not_found' && code !== 'feature_not_in_plan') : seatCodes)];
    if (route.method !== 'GET') codes.push(...writeCodes);
    const errorResponses = Object.fromEntries(
      statusesOf(codes).map((status) => [
        status,
        {
          description: codes.filter((code) => errorCodes[code].status === status).join(', '),
          content: { 'application/json': { schema: errorEnvelope } },
        },
      ]),
    );
    registry.registerPath({
      method: route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete',
      path: route.path.replace(/^\/api\/v1/, ''),
      operationId: `${route.method.toLowerCase()}${route.path.replace(/^\/api\/v1/, '').replace(/\/(\w)/g, (_, c: string) => c.toUpperCase())}`,
      summary: route.summary,
      description: `Does what the GraphQL field \`${route.graphql}\` does, through the same service and ledger.`,
      security: [{ [apiKey.name]: [] }],
      request:
        route.from === 'body'
          ? { body: { required: true, content: { 'application/json': { schema: route.input } } }, headers: idempotencyKeyHeader }
          : { query: route.input },
      responses: {
        200: {
          description: 'Success',
          content: { 'application/json': { schema: z.object({ success: z.literal(true), data: route.output }) } },
        },
        ...errorResponses,
      },
    });
  }
  document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'seatgate seats API (Commet-compatible)',
      version: '1.0.0',
      description:
        "Commet's seats API, served by seatgate over the same services and ledger as its GraphQL API at /graphql. Authenticate with the x-api-key header.",
    },
    servers: [{ url: '/api/v1' }],
  });
  return document;
}
