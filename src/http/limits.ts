import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { GraphQLError, NoSchemaIntrospectionCustomRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Limits } from '../config.js';
import { errorExtensions } from './errors.js';

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

export function useNoIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

const tooLarge = (maxBytes: number) =>
  new GraphQLError(`The request body exceeds ${maxBytes} bytes.`, {
    extensions: { ...errorExtensions('validation_error', null, [{ field: '', message: `at most ${maxBytes} bytes` }]), http: { status: 413 } },
  });

/** Reads at most `maxBytes` of a body, and stops reading (refusing the request) past that. */
async function readLimited(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body?.getReader();
  if (!reader) return '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Refuses request bodies over `maxBytes` (HTTP 413) before yoga's own parser reads them. */
export function useBodyLimit(maxBytes: number): Plugin {
  return {
    onRequestParse({ requestParser, setRequestParser, fetchAPI }) {
      if (!maxBytes || !requestParser) return;
      setRequestParser(async (request) => {
        if (request.method !== 'POST') return requestParser(request);
        const body = await readLimited(request, maxBytes);
        return requestParser(new fetchAPI.Request(request.url, { method: 'POST', headers: request.headers, body }));
      });
    },
  };
}
