import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { type ASTVisitor, GraphQLError, Kind, OperationTypeNode, type SelectionSetNode, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import type { Limits } from '../config.ts';
import { paramOf } from '../common/validation.ts';
import { errorExtensions } from './errors.ts';

/** graphql-armor's document limits (depth, aliases, tokens, cost, directives); 0 turns one off. */
export function documentLimitPlugins(limits: Limits): Plugin[] {
  const plugins: Plugin[] = [];
  if (limits.maxTokens) plugins.push(maxTokensPlugin({ n: limits.maxTokens }) as Plugin);
  if (limits.maxQueryDepth) plugins.push(maxDepthPlugin({ n: limits.maxQueryDepth, ignoreIntrospection: true, flattenFragments: true }) as Plugin);
  if (limits.maxAliases) plugins.push(maxAliasesPlugin({ n: limits.maxAliases }) as Plugin);
  if (limits.maxQueryCost) plugins.push(costLimitPlugin({ maxCost: limits.maxQueryCost, ignoreIntrospection: true }) as Plugin);
  if (limits.maxDirectives) plugins.push(maxDirectivesPlugin({ n: limits.maxDirectives }) as Plugin);
  return plugins;
}

/**
 * Introspection off (yoga's plugin), and the schema not to be read off error messages either:
 * graphql-armor hides the "Did you mean" of validation errors. Variable coercion and enum values
 * suggest too, outside validation, so the contract error shaping strips those (see http/errors.ts).
 */
export function noIntrospectionPlugins(): Plugin[] {
  return [useDisableIntrospection(), blockFieldSuggestionsPlugin({ mask: '' }) as Plugin];
}

/** A request refused before execution; a 400 follows the GraphQL-over-HTTP rules (see http/errors.ts). */
const requestError = (message: string, param: string | null, status = 400) =>
  new GraphQLError(message, {
    extensions: { ...errorExtensions('validation_error', param, [{ field: param ?? '', message }]), http: { status, spec: status === 400 } },
  });

/**
 * A document may change state once: a request holding several mutation fields would commit
 * some and then report only an error, hiding what it did. Several balances of one customer
 * change atomically through bulkSetSeats.
 */
function OneMutationPerRequest(context: ValidationContext): ASTVisitor {
  const countFields = (set: SelectionSetNode, seen: Set<string>): number =>
    set.selections.reduce((count, selection) => {
      if (selection.kind === Kind.FIELD) return count + (selection.name.value === '__typename' ? 0 : 1);
      if (selection.kind === Kind.INLINE_FRAGMENT) return count + countFields(selection.selectionSet, seen);
      const fragment = context.getFragment(selection.name.value);
      if (!fragment || seen.has(fragment.name.value)) return count;
      return count + countFields(fragment.selectionSet, new Set([...seen, fragment.name.value]));
    }, 0);
  return {
    OperationDefinition(node) {
      if (node.operation === OperationTypeNode.MUTATION && countFields(node.selectionSet, new Set()) > 1) {
        context.reportError(
          new GraphQLError(
            'A request may hold one mutation field, so that its answer shows everything it changed. Send one request per change, or change several balances of a customer at once with bulkSetSeats.',
            { nodes: node, extensions: errorExtensions('validation_error', null, null) },
          ),
        );
      }
    },
  };
}

export function useOneMutationPerRequest(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(OneMutationPerRequest);
    },
  };
}

/**
 * The path of the first string in `value` that is not well-formed UTF-16 (a lone surrogate), or
 * null. Iterative, with paths built only for the string found: JSON nested 50,000 deep must
 * neither overflow the stack nor cost depth × items.
 */
export function illFormedString(value: unknown): string[] | null {
  type Item = { value: unknown; key: string; parent: Item | null };
  const stack: Item[] = [{ value, key: '', parent: null }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item.value === 'string') {
      if (item.value.isWellFormed()) continue;
      const path: string[] = [];
      for (let at: Item | null = item; at?.parent; at = at.parent) path.push(at.key);
      return path.reverse();
    }
    if (item.value === null || typeof item.value !== 'object') continue;
    // Pushed last to first, so the first field is looked at first.
    const entries = Object.entries(item.value);
    for (let i = entries.length - 1; i >= 0; i--) stack.push({ value: entries[i]![1], key: entries[i]![0], parent: item });
  }
  return null;
}

/**
 * Refuses variables holding lone UTF-16 surrogates, which JSON allows but no text column can
 * store faithfully: PostgreSQL would keep U+FFFD, so "x\udfff" and "x\ufffd" would name one
 * customer. (graphql-js already refuses them in literals.)
 */
export function useWellFormedStrings(): Plugin {
  return {
    onRequest({ url, endResponse, fetchAPI }) {
      if (!hasMalformedEscapes(url.search)) return;
      const error = requestError(malformedEscapesMessage, null);
      endResponse(fetchAPI.Response.json({ errors: [error.toJSON()] }, { status: 400 }));
    },
    onParams({ params }) {
      const path = illFormedString(params.variables);
      if (path) {
        const param = paramOf(path.slice(1)) || path[0]!;
        throw requestError(`${param} holds a lone UTF-16 surrogate; send well-formed Unicode text.`, param);
      }
    },
  };
}

/** Why the body's Content-Encoding is refused (HTTP 415), or null when it is none or identity. */
export function refusedEncoding(request: Request): string | null {
  const encoding = request.headers.get('content-encoding');
  if (!encoding || encoding.trim().toLowerCase() === 'identity') return null;
  return `Content-Encoding '${encoding}' is not accepted; send the body uncompressed.`;
}

/**
 * Compressed bodies are refused with 415 rather than inflated: the size limit guards what is
 * read, and a small gzip body can inflate a thousandfold.
 */
export function useNoCompressedBodies(): Plugin {
  return {
    onRequest({ request, endResponse, fetchAPI }) {
      const refusal = refusedEncoding(request);
      if (!refusal) return;
      const error = requestError(refusal, 'Content-Encoding', 415);
      endResponse(fetchAPI.Response.json({ errors: [error.toJSON()] }, { status: 415 }));
    },
  };
}

const tooLarge = (error: BodyTooLarge) =>
  new GraphQLError(error.message, {
    extensions: { ...errorExtensions('validation_error', null, [{ field: '', message: error.detail }]), http: { status: 413 } },
  });

/** A body over the size limit (HTTP 413); each door answers it in its own shape. */
export class BodyTooLarge extends Error {
  readonly detail: string;
  readonly maxBytes: number;

  constructor(maxBytes: number) {
    super(`The request body exceeds ${maxBytes} bytes.`);
    this.maxBytes = maxBytes;
    this.detail = `at most ${maxBytes} bytes`;
  }
}

/** Reads at most `maxBytes` of a body, and stops reading (throwing BodyTooLarge) past that. */
export async function readLimitedBytes(request: Request, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > maxBytes) throw new BodyTooLarge(maxBytes);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new BodyTooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** JSON bodies nest no deeper than this: the deepest any door needs is a handful of levels. */
export const maxJsonDepth = 32;

/**
 * Where a body nests deeper than maxJsonDepth: the top-level key it does so under ('' when none),
 * or null. One pass over any text, valid JSON or not, before JSON.parse: refused only after
 * parsing and scanning, a deeply nested body small enough for the size limit held the event
 * loop far longer than a request may.
 */
export function tooDeeplyNested(text: string): string | null {
  let depth = 0;
  let key: [number, number] | null = null;
  let lastString: [number, number] | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      lastString = depth === 1 ? [start, i + 1] : null;
    } else if (c === 0x3a) {
      if (lastString) key = lastString;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxJsonDepth) return key ? keyText(text.slice(...key)) : '';
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
      lastString = null;
    }
  }
  return null;
}

function keyText(literal: string): string {
  try {
    return JSON.parse(literal) as string;
  } catch {
    return '';
  }
}

/** The refusal of a body tooDeeplyNested found `under` (a top-level key, or '' for the body itself). */
export const tooDeeplyNestedMessage = (under: string) => `${under || 'The body'} nests more than ${maxJsonDepth} levels of arrays and objects.`;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Text as sent, or null when it is not UTF-8. A lenient decoding would turn each bad byte into
 * U+FFFD, and "x\xff" would then name the customer "x\ufffd".
 */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

export const malformedEscapesMessage = 'The query string holds a %-escape that is not UTF-8; send well-formed Unicode text.';

/** Whether a query string holds a %-escape that is not UTF-8 (URLSearchParams would read it as U+FFFD). */
export function hasMalformedEscapes(search: string): boolean {
  try {
    decodeURIComponent(search);
    return false;
  } catch {
    return true;
  }
}

/**
 * Reads POST bodies before yoga's own parser: over `maxBytes` is 413, not UTF-8 is 400.
 * Kept by hand: yoga's maxRequestBodySize answers in its own error shape, reads every body through
 * an extra stream, and decodes bad UTF-8 leniently; envelop and graphql-armor have no such limit.
 */
export function useBodyLimit(maxBytes: number): Plugin {
  return {
    onRequestParse({ requestParser, setRequestParser, fetchAPI }) {
      if (!requestParser) return;
      setRequestParser(async (request) => {
        if (request.method !== 'POST') return requestParser(request);
        const bytes = await readLimitedBytes(request, maxBytes).catch((error: unknown) => {
          throw error instanceof BodyTooLarge ? tooLarge(error) : error;
        });
        const body = decodeUtf8(bytes);
        if (body === null) throw requestError('The request body is not valid UTF-8.', null);
        if (tooDeeplyNested(body) !== null) throw requestError(tooDeeplyNestedMessage(''), null);
        return requestParser(readBody(request, body, () => new fetchAPI.Request(request.url, { method: 'POST', headers: request.headers, body })));
      });
    },
  };
}

/**
 * The request as yoga's parsers see it, its body already read: JSON and text answer from the
 * text at hand, and only a form (multipart or urlencoded) is read from a new Request. A new
 * Request for every body cost a URL parse, a copy of the headers and a second read.
 */
function readBody(request: Request, body: string, rebuilt: () => Request): Request {
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    json: async () => JSON.parse(body) as unknown,
    text: async () => body,
    formData: () => rebuilt().formData(),
    arrayBuffer: () => rebuilt().arrayBuffer(),
  } as Request;
}
