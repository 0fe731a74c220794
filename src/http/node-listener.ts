import { randomUUID } from 'node:crypto';
import type { RequestListener } from 'node:http';
import { errorCodes } from '../common/errors.ts';
import { turnstile } from '../common/turns.ts';
import { requestIdHeader } from './request-state.ts';

const hostProblem = 'The Host header is not a valid host.';

/** Subscriptions (server-sent events) started per turn of the event loop. */
const streamsPerTurn = 100;

/**
 * The app as a Node request listener. A Host header no URL can be built from is answered 400
 * here: the fetch adapter builds each request's URL from it and would answer 500 with a stack
 * trace before any plugin runs. Subscriptions start at most a hundred per turn of the event loop.
 */
export function nodeListener(app: RequestListener, publicUrl?: string): RequestListener {
  // A subscription's request costs far more than its bytes (the whole GraphQL pipeline, then a
  // stream); a thousand arriving together start a hundred per turn, not all in one.
  const streamStarts = turnstile(streamsPerTurn);
  return (request, response) => {
    const host = request.headers.host;
    if (host === undefined || URL.canParse(`http://${host}`)) {
      if (request.headers.accept?.includes('text/event-stream')) return void streamStarts().then(() => app(request, response));
      return app(request, response);
    }
    const { type } = errorCodes.validation_error;
    const details = [{ field: 'Host', message: 'must be a host name or address, with an optional port' }];
    const body = request.url?.startsWith('/api/')
      ? {
          success: false,
          error: { type, code: 'validation_error', message: hostProblem, param: 'Host', details, doc_url: `${publicUrl ?? ''}/docs/errors/validation_error` },
        }
      : { errors: [{ message: hostProblem, extensions: { code: 'validation_error', type, param: 'Host', details } }] };
    const text = JSON.stringify(body);
    response.writeHead(400, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      [requestIdHeader]: randomUUID(),
      connection: 'close',
    });
    response.end(text);
  };
}
