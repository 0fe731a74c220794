import autocannon from 'autocannon';

/** Where one system takes one scenario's requests. */
export type Target = {
  url: string;
  headers: Record<string, string>;
  /** A body for the next request: called once per request, so each may pick its own customer. */
  body(): string;
};

export type LoadResult = {
  connections: number;
  seconds: number;
  responses: number;
  /** 2xx answers without GraphQL errors: the requests that did their work. */
  ok: number;
  okPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  status5xx: number;
  /** Answers whose body carries "errors" (GraphQL errors, also in a 200 answer). */
  graphqlErrors: number;
  internalErrors: number;
  /** Connection errors and timeouts as autocannon counts them. */
  socketErrors: number;
  timeouts: number;
  /** The first answer that was not ok, cut short, to show what went wrong. */
  firstFailure: string | null;
};

/** The value at fraction `q` of `sorted` (nearest rank). */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function median(values: number[]): number {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/**
 * Sends `target` as many requests as `connections` keep busy for `seconds`, and counts the
 * answers. `signal` ends the run early (within autocannon's one-second sampling tick).
 */
export async function load(target: Target, connections: number, seconds: number, signal?: AbortSignal): Promise<LoadResult> {
  const latencies: number[] = [];
  const counts = { responses: 0, ok: 0, non2xx: 0, status5xx: 0, graphqlErrors: 0, internalErrors: 0 };
  let firstFailure: string | null = null;

  const options: autocannon.Options = {
    url: target.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    connections,
    duration: seconds,
    requests: [
      {
        setupRequest: (request) => ({ ...request, body: target.body() }),
        // Plain substring checks: parsing every body would load the (shared) load generator more.
        onResponse: (status, body) => {
          counts.responses++;
          const success = status >= 200 && status < 300;
          const errors = body.includes('"errors"');
          if (!success) counts.non2xx++;
          if (status >= 500) counts.status5xx++;
          if (errors) counts.graphqlErrors++;
          if (body.includes('internal_error')) counts.internalErrors++;
          if (success && !errors) counts.ok++;
          else firstFailure ??= `${status} ${body.slice(0, 300)}`;
        },
      },
    ],
    // autocannon's own histogram keeps whole milliseconds; the raw times keep sub-millisecond ones.
    setupClient: (client) => {
      client.on('response', (_status: number, _bytes: number, responseTime: number) => latencies.push(responseTime));
    },
  };
  let stop = () => {};
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (error, done) => (error ? reject(error as Error) : resolve(done)));
    stop = () => instance.stop();
    signal?.addEventListener('abort', stop, { once: true });
  }).finally(() => signal?.removeEventListener('abort', stop));

  latencies.sort((a, b) => a - b);
  return {
    connections,
    seconds: result.duration,
    ...counts,
    okPerSecond: counts.ok / result.duration,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    socketErrors: result.errors,
    timeouts: result.timeouts,
    firstFailure,
  };
}
