// Many SSE subscribers in a process of their own, as many browsers would be, so that reading
// their streams does not slow the load generator. Run by the bench (`node bench/subscribers.ts`);
// the runner drives it over HTTP: POST /open opens the streams, GET /counts tells what each got.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startChild } from './processes.ts';

/** One stream: the customer whose balance it watches, and the feature (null: every feature). */
export type StreamSpec = { customerId: string; featureCode: string | null };

/** What one stream got: notifications, and how it ended if it did (an error such as conflict, or complete). */
type StreamCount = { notifications: number; ended: string | null };

type OpenRequest = { url: string; key: string; streams: StreamSpec[] };
/** How the opening went: 429 answers retried (slots of streams just closed are freed asynchronously), and streams that could not open. */
type OpenResult = { opened: number; retried: number; failures: string[] };

export type Subscribers = OpenResult & { counts(): Promise<StreamCount[]>; stop(): Promise<void> };

const query = `subscription($c: String!, $f: String) { seatBalanceChanged(customerId: $c, featureCode: $f) { id balance { current } } }`;
/** How long a refused stream keeps trying: long enough for the streams of the previous run to be released. */
const openDeadlineMs = 20_000;

const root = fileURLToPath(new URL('..', import.meta.url));

/** Opens `streams` on seatgate at `url` with `key` in a child process; resolves once every stream has its headers (or failed). */
export async function openSubscribers(url: string, key: string, streams: StreamSpec[]): Promise<Subscribers> {
  const child = await startChild('subscribers', ['bench/subscribers.ts'], { cwd: root, env: process.env, ready: /subscribers listening at (\S+)/ });
  try {
    const response = await fetch(`${child.url}/open`, { method: 'POST', body: JSON.stringify({ url, key, streams } satisfies OpenRequest) });
    const opened = (await response.json()) as OpenResult;
    return {
      ...opened,
      counts: async () => (await (await fetch(`${child.url}/counts`)).json()) as StreamCount[],
      stop: child.stop,
    };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/** Reads one stream to its end, counting `next` frames; frames may be split across chunks. */
function openStream(request: OpenRequest, spec: StreamSpec, count: StreamCount): Promise<'open' | 'refused' | string> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ query, variables: { c: spec.customerId, f: spec.featureCode } });
    const outgoing = http.request(request.url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-api-key': request.key, 'content-length': Buffer.byteLength(body) },
    });
    outgoing.on('error', (error) => {
      count.ended ??= `socket error: ${error.message}`;
      resolve(`socket error: ${error.message}`);
    });
    outgoing.on('response', (response) => {
      response.setEncoding('utf8');
      if (response.statusCode !== 200) {
        let text = '';
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => resolve(response.statusCode === 429 ? 'refused' : `${response.statusCode} ${text.slice(0, 300)}`));
        return;
      }
      resolve('open');
      let buffered = '';
      response.on('data', (chunk: string) => {
        buffered += chunk;
        for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
          const frame = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          if (frame.startsWith('event: complete')) count.ended ??= 'complete';
          if (!frame.startsWith('event: next')) continue;
          const data = frame.slice(frame.indexOf('data: ') + 6);
          const payload = JSON.parse(data) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
          if (payload.errors) count.ended ??= `error: ${payload.errors[0]?.extensions?.code ?? data.slice(0, 200)}`;
          else count.notifications++;
        }
      });
      response.on('end', () => {
        count.ended ??= 'closed by the server';
      });
    });
    outgoing.end(body);
  });
}

async function open(request: OpenRequest, counts: StreamCount[]): Promise<OpenResult> {
  const deadline = performance.now() + openDeadlineMs;
  const result: OpenResult = { opened: 0, retried: 0, failures: [] };
  await Promise.all(
    request.streams.map(async (spec, index) => {
      for (;;) {
        const count: StreamCount = { notifications: 0, ended: null };
        const outcome = await openStream(request, spec, count);
        if (outcome === 'open') {
          counts[index] = count;
          result.opened++;
          return;
        }
        if (outcome !== 'refused' || performance.now() > deadline) {
          counts[index] = { notifications: 0, ended: `not opened: ${outcome}` };
          result.failures.push(outcome);
          return;
        }
        result.retried++;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }),
  );
  return result;
}

function serve() {
  const counts: StreamCount[] = [];
  const server = http.createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/counts') {
      response.setHeader('content-type', 'application/json').end(JSON.stringify(counts));
      return;
    }
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => {
      void open(JSON.parse(body) as OpenRequest, counts).then((result) => response.setHeader('content-type', 'application/json').end(JSON.stringify(result)));
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(`subscribers listening at http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  // Ends with the bench: its stdin is the bench's pipe.
  process.stdin.resume().on('end', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

if (import.meta.main) serve();
