import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Orm } from '../src/db/orm.ts';
import { quantile } from './load.ts';
import { createTenant, customerIds, featureCode } from './setup.ts';

/** Tenant B's delivery latencies of one round, with A idle and beside A's silent endpoints. */
export type FairnessRound = {
  round: number;
  /** Which phase ran first (they alternate by round). */
  first: 'alone' | 'beside';
  aloneMs: number[];
  besideMs: number[];
  /** Connections A's silent endpoints held open when B's changes began, and the most held at once. */
  silentHeldAtStart: number;
  silentHeldMax: number;
  /** B's changes that failed, and B's changes whose delivery never arrived (or arrived twice). */
  failedChanges: string[];
  undelivered: number;
  duplicates: number;
};

/** The silent tenant's endpoints: as many as an organization may enable. */
const silentEndpoints = 16;
const silentChanges = 3;
/** B's changes per phase, one every `changeIntervalMs`. */
const changesPerPhase = 60;
const changeIntervalMs = 80;
const deliveryLimitMs = 60_000;

type Graphql = (query: string, variables?: Record<string, unknown>) => Promise<any>;

function client(url: string, key: string): Graphql {
  return async (query, variables = {}) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: unknown; errors?: unknown[] };
    if (!response.ok || body.errors) throw new Error(`${response.status} ${JSON.stringify(body.errors ?? body).slice(0, 300)}`);
    return body.data;
  };
}

/** A receiver that accepts connections, takes what is sent, and never answers. */
function silentReceiver() {
  const sockets = new Set<net.Socket>();
  let max = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    max = Math.max(max, sockets.size);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
  });
  return {
    server,
    held: () => sockets.size,
    takeMax: () => {
      const seen = max;
      max = sockets.size;
      return seen;
    },
    /** Resets every connection: the sends in flight fail at once instead of at their timeout. */
    reset: () => {
      for (const socket of sockets) socket.resetAndDestroy();
    },
  };
}

/** A fast receiver that notes when each delivery arrived, by the seat event it carries. */
function fastReceiver() {
  const arrivals = new Map<string, number[]>();
  const server = http.createServer((request, response) => {
    const arrived = performance.now();
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => {
      response.writeHead(204).end();
      const id = (JSON.parse(body) as { data?: { event?: { id?: string } } }).data?.event?.id ?? 'unknown';
      arrivals.set(id, [...(arrivals.get(id) ?? []), arrived]);
    });
  });
  return { server, arrivals };
}

const listen = (server: net.Server) => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

export type Fairness = { measure(round: number): Promise<FairnessRound>; close(): Promise<void> };

/**
 * Tenant A with 16 webhook endpoints on a receiver that never answers, tenant B with one on a
 * fast receiver: B's delivery latency (from its addSeats answer to its receiver getting the POST),
 * with A idle and right after A made 3 changes (48 deliveries, each holding a send slot until the
 * webhook timeout).
 */
export async function setUpFairness(orm: Orm, seatgateUrl: string, suffix: string): Promise<Fairness> {
  const silent = silentReceiver();
  const fast = fastReceiver();
  const silentPort = await listen(silent.server);
  const fastPort = await listen(fast.server);
  const tenantA = await createTenant(orm, seatgateUrl, `bench-silent-${suffix}`, { customers: 1 });
  const tenantB = await createTenant(orm, seatgateUrl, `bench-healthy-${suffix}`, { customers: 1 });
  const a = client(seatgateUrl, tenantA.key);
  const b = client(seatgateUrl, tenantB.key);
  const create = `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }`;
  const aEndpoints: string[] = [];
  for (let i = 0; i < silentEndpoints; i++) {
    const data = await a(create, { input: { url: `http://127.0.0.1:${silentPort}/hook-${i}`, events: ['SEAT_CHANGED'], description: 'bench: never answers' } });
    aEndpoints.push(data.createWebhookEndpoint.endpoint.id);
  }
  await b(create, { input: { url: `http://127.0.0.1:${fastPort}/hook`, events: ['SEAT_CHANGED'], description: 'bench: answers at once' } });
  // A's endpoints are enabled only while A is noisy: disabling fails its pending deliveries, so none is left to retry into B's quiet phase.
  const setA = (enabled: boolean) =>
    Promise.all(aEndpoints.map((id) => a(`mutation($id: ID!) { ${enabled ? 'enable' : 'disable'}WebhookEndpoint(id: $id) { id } }`, { id })));
  await setA(false);

  const add = `mutation($input: AddSeatsInput!) { addSeats(input: $input) { id } }`;
  const customerId = customerIds[0]!;

  /** B's changes, paced, and the latency of each one's delivery. */
  async function phase(failedChanges: string[]): Promise<{ latencies: number[]; undelivered: number; duplicates: number }> {
    const answered = new Map<string, number>();
    for (let i = 0; i < changesPerPhase; i++) {
      const next = performance.now() + changeIntervalMs;
      try {
        const data = await b(add, { input: { customerId, featureCode, count: 1 } });
        answered.set(data.addSeats.id, performance.now());
      } catch (error) {
        failedChanges.push(String(error));
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
    }
    const started = performance.now();
    while ([...answered.keys()].some((id) => !fast.arrivals.has(id)) && performance.now() - started < deliveryLimitMs) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const latencies = [...answered].flatMap(
      ([id, at]) =>
        fast.arrivals
          .get(id)
          ?.slice(0, 1)
          .map((arrived) => arrived - at) ?? [],
    );
    return {
      latencies,
      undelivered: answered.size - latencies.length,
      duplicates: [...answered.keys()].reduce((sum, id) => sum + Math.max(0, (fast.arrivals.get(id)?.length ?? 0) - 1), 0),
    };
  }

  return {
    async measure(round) {
      const first = round % 2 === 1 ? 'alone' : 'beside';
      const failedChanges: string[] = [];
      const outcome: Partial<Record<'alone' | 'beside', Awaited<ReturnType<typeof phase>>>> = {};
      let silentHeldAtStart = 0;
      let silentHeldMax = 0;
      for (const which of first === 'alone' ? (['alone', 'beside'] as const) : (['beside', 'alone'] as const)) {
        if (which === 'alone') {
          outcome.alone = await phase(failedChanges);
          continue;
        }
        await setA(true);
        for (let i = 0; i < silentChanges; i++) await a(add, { input: { customerId, featureCode, count: 1 } });
        // B starts once A's deliveries hold their slots (as many as A may hold; at most a few seconds' wait).
        const waitStarted = performance.now();
        silent.takeMax();
        while (silent.held() < 4 && performance.now() - waitStarted < 5000) await new Promise((resolve) => setTimeout(resolve, 20));
        silentHeldAtStart = silent.held();
        outcome.beside = await phase(failedChanges);
        silentHeldMax = silent.takeMax();
        await setA(false);
        silent.reset();
        // The failed sends settle before B's next phase.
        const settleStarted = performance.now();
        while (silent.held() > 0 && performance.now() - settleStarted < 5000) await new Promise((resolve) => setTimeout(resolve, 20));
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      return {
        round,
        first,
        aloneMs: outcome.alone!.latencies,
        besideMs: outcome.beside!.latencies,
        silentHeldAtStart,
        silentHeldMax,
        failedChanges,
        undelivered: outcome.alone!.undelivered + outcome.beside!.undelivered,
        duplicates: outcome.alone!.duplicates + outcome.beside!.duplicates,
      };
    },
    async close() {
      silent.reset();
      await Promise.all([new Promise((resolve) => silent.server.close(resolve)), new Promise((resolve) => fast.server.close(resolve))]);
    },
  };
}

/** p50 and p99 of latencies, ms. */
export const percentiles = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
};
