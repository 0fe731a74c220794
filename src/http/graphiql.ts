import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { GraphiQLOptions, Plugin } from 'graphql-yoga';

/**
 * What the page adds to yoga's GraphiQL, in the browser: it waits for a key before fetching the
 * schema, fetches it again when the key in the Headers tab changes, and gives new tabs the
 * headers last typed. It runs as GraphiQL's renderer is called: `render(root, options)`.
 *
 * - The schema request of a page still holding the placeholder key is held (the server would
 *   answer unauthorized, and GraphiQL would show that in the result pane before anything ran);
 *   the first key typed releases it, with that key.
 * - A different key fetches the schema again, as GraphiQL's own Shift-Ctrl-R does, so Docs and
 *   autocomplete follow the key without a click.
 * - GraphiQL gives a new tab its `defaultHeaders`, which it reads from its store; the store is
 *   reached through React's fiber of a node GraphiQL renders (GraphiQL exports no handle on it),
 *   and without it the page falls back to GraphiQL's own shortcut for the refetch.
 */
const pageScript = /* JavaScript */ `function (render, root, options) {
  var keyHeader = ${JSON.stringify('x-api-key')};
  var keyShape = /^ck_(live|test)_[A-Za-z0-9]{32}$/;
  var keyOf = function (text) {
    try {
      var value = JSON.parse(text || '{}')[keyHeader];
      return typeof value === 'string' && keyShape.test(value) ? value : null;
    } catch (error) {
      return null;
    }
  };
  var graphiqlStore = function () {
    var node = document.querySelector('.graphiql-sessions') || document.querySelector('.graphiql-editors');
    var fiberKey = node && Object.keys(node).find(function (name) { return name.indexOf('__reactFiber$') === 0; });
    for (var fiber = fiberKey && node[fiberKey]; fiber; fiber = fiber.return) {
      var value = fiber.memoizedProps && fiber.memoizedProps.value;
      var store = value && value.current;
      var state = store && typeof store.getState === 'function' && store.getState();
      if (state && state.actions && typeof state.actions.introspect === 'function' && 'defaultHeaders' in state) return store;
    }
    return null;
  };
  var latestHeaders = null;
  var introspectedKey = null;
  var held = [];
  var realFetch = window.fetch.bind(window);
  // GraphiQL's requests come as fetch(url, { method, headers, body: JSON text }); others pass as they are.
  window.fetch = function (input, init) {
    var body = init && typeof init.body === 'string' ? init.body : null;
    var operationName = null;
    try { operationName = body && JSON.parse(body).operationName; } catch (error) {}
    if (operationName !== 'IntrospectionQuery') return realFetch(input, init);
    var key = new Headers(init.headers).get(keyHeader) || '';
    if (keyShape.test(key)) {
      introspectedKey = key;
      return realFetch(input, init);
    }
    return new Promise(function (resolve, reject) {
      held.push(function (headersText) {
        var headers = new Headers(init.headers);
        var given = JSON.parse(headersText);
        Object.keys(given).forEach(function (name) { headers.set(name, given[name]); });
        realFetch(input, Object.assign({}, init, { headers: headers })).then(resolve, reject);
      });
    });
  };
  var timer = null;
  var onEditHeaders = function (text) {
    var key = keyOf(text);
    if (!key) return;
    latestHeaders = text;
    clearTimeout(timer);
    // Once the typing pauses: a key pasted in pieces is fetched with once.
    timer = setTimeout(function () {
      var store = graphiqlStore();
      if (store) store.setState({ defaultHeaders: latestHeaders });
      if (held.length) {
        introspectedKey = key;
        held.splice(0).forEach(function (release) { release(latestHeaders); });
      } else if (key !== introspectedKey) {
        introspectedKey = key;
        if (store) store.getState().actions.introspect();
        else window.dispatchEvent(new KeyboardEvent('keydown', { key: 'R', ctrlKey: true, shiftKey: true }));
      }
    }, 300);
  };
  var given = options.onEditHeaders;
  render(root, Object.assign({}, options, {
    onEditHeaders: function (text) {
      onEditHeaders(text);
      if (given) given(text);
    },
  }));
}`;

/** yoga's GraphiQL page (scripts, styles and editor workers inlined), its render call run through pageScript. */
function renderGraphiQLPage(options: GraphiQLOptions): string {
  const html = renderGraphiQL(options);
  const call = 'YogaGraphiQL.renderYogaGraphiQL(';
  const at = html.indexOf(call);
  // Checked here, not in the browser: a GraphiQL upgrade that renames the call fails at once.
  if (at < 0 || html.indexOf(call, at + 1) >= 0) throw new Error("GraphiQL's page no longer has exactly one YogaGraphiQL.renderYogaGraphiQL call");
  return `${html.slice(0, at)}(${pageScript})(YogaGraphiQL.renderYogaGraphiQL, ${html.slice(at + call.length)}`;
}

type Page = { etag: string; identity: Uint8Array<ArrayBuffer>; gzip: Uint8Array<ArrayBuffer>; br: Uint8Array<ArrayBuffer> };

async function buildPage(html: string): Promise<Page> {
  const identity = Buffer.from(html);
  const [gzipped, brotli] = await Promise.all([
    promisify(gzip)(identity, { level: 6 }),
    // Quality 5: within a few percent of 9's size, at a quarter of its time (about a second for the page).
    promisify(brotliCompress)(identity, { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: identity.length } }),
  ]);
  const bytes = (buffer: Buffer) => new Uint8Array(buffer);
  return { etag: `"${createHash('sha256').update(identity).digest('base64url')}"`, identity: bytes(identity), gzip: bytes(gzipped), br: bytes(brotli) };
}

/** The encoding to send, by the client's Accept-Encoding (brotli first, then gzip; q=0 refuses one). */
function encodingFor(acceptEncoding: string | null): 'br' | 'gzip' | null {
  const accepted = new Map(
    (acceptEncoding ?? '').split(',').map((part) => {
      const [name, ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((param) => /^\s*q=([\d.]+)\s*$/.exec(param)?.[1]).find(Boolean);
      return [name!, q === undefined ? 1 : Number(q)] as const;
    }),
  );
  const allows = (name: string) => (accepted.get(name) ?? accepted.get('*') ?? 0) > 0;
  return allows('br') ? 'br' : allows('gzip') ? 'gzip' : null;
}

/**
 * Serves GraphiQL at `endpoint` to browsers (a GET asking for HTML). The page is many megabytes:
 * it is rendered and compressed once, on first request, then sent compressed as the client
 * accepts, with an ETag so that a reload costs a 304.
 */
export function useGraphiQLPage(endpoint: string, options: GraphiQLOptions): Plugin {
  let page: Promise<Page> | null = null;
  return {
    onRequest({ request, url, endResponse }) {
      if (request.method !== 'GET' || (url.pathname !== endpoint && url.pathname !== `${endpoint}/`)) return;
      if (!request.headers.get('accept')?.includes('text/html')) return;
      page ??= buildPage(renderGraphiQLPage(options));
      return page.then((built) => {
        // no-cache: kept, but asked about on every load, so a new server's page is never missed.
        const headers: Record<string, string> = {
          'content-type': 'text/html; charset=utf-8',
          etag: built.etag,
          'cache-control': 'no-cache',
          vary: 'Accept-Encoding',
        };
        const ifNoneMatch = request.headers.get('if-none-match');
        if (ifNoneMatch?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === built.etag)) {
          return endResponse(new Response(null, { status: 304, headers }));
        }
        const encoding = encodingFor(request.headers.get('accept-encoding'));
        const body = encoding ? built[encoding] : built.identity;
        if (encoding) headers['content-encoding'] = encoding;
        headers['content-length'] = String(body.length);
        endResponse(new Response(body, { status: 200, headers }));
      });
    },
  };
}
