import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebhookSettings } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import { run } from '../db/prepared.ts';
import { newId } from '../common/ids.ts';
import type { Logger } from '../common/logger.ts';
import { singleFlight, type Worker } from '../common/workers.ts';
import type { Mode } from '../model/tenant.ts';
import type { WebhookDeliveryStatus } from '../model/webhooks.ts';
import { nextAttemptDelayMs } from './retry.ts';
import { type DeliveryTaker, endpointDisabledError } from './service.ts';
import { webhookHeaders } from './signature.ts';
import { type AttemptResult, attemptResultsJson, CLAIM_DUE, type ClaimedDelivery, NEXT_DUE, SETTLE_ATTEMPTS } from './store.ts';
import { checkWebhookUrl, guardedLookup } from './url.ts';

/** Bytes of an answer read at most; the rest is not waited for. Only the status counts. */
export const maxResponseBytes = 64 * 1024;
export const webhookUserAgent = 'seatgate-webhooks/1 (+https://www.standardwebhooks.com/)';
/** Longest an attempt's error text is kept. */
const maxErrorLength = 500;
/** The shortest wait between two looks for due deliveries when one seems due but was claimed by another worker. */
const minWaitMs = 50;

export type WebhookWorkerOptions = WebhookSettings & {
  /** The longest the worker goes without looking for due deliveries (a safety net: it is woken when events are published, and when the next retry is due). */
  pollMs?: number;
};

/** A webhook worker: poked when deliveries may be due; it also takes deliveries claimed for it by this process's publications. */
export type WebhookWorker = Worker & DeliveryTaker & { poke(): void };

/** The workers of this process, for a redelivery to wake them at once. */
const workers = new Set<WebhookWorker>();

/** Wakes this process's workers: a delivery was made due now (redeliverWebhook). Others find it by their timers. */
export function pokeWebhookWorkers(): void {
  for (const worker of workers) worker.poke();
}

/** What one HTTP attempt came to: the status when the endpoint answered, else why not. */
type Outcome = { statusCode: number | null; error: string | null; latencyMs: number; final?: boolean };

const clip = (text: string) => (text.length > maxErrorLength ? `${text.slice(0, maxErrorLength - 1)}…` : text);

function describeError(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  if (code === 'ESSRF') return message ?? 'the host is not a public address';
  return clip(code && !message?.includes(code) ? `${code}: ${message}` : (message ?? String(error)));
}

/** Attempts a delivery may make on pooled connections the endpoint had already closed, before it counts as failed. */
const staleConnectionRetries = 2;

/**
 * Keep-alive connections, one pool per mode: a connection is reused only for requests of the
 * mode whose address rules it was opened under, so a test endpoint's loopback connection never
 * carries a live delivery. A pooled connection stays with the address it was checked against
 * when it connected; a new one is checked again by guardedLookup.
 */
type Agents = Record<Mode, { http: http.Agent; https: https.Agent }>;

function createAgents(concurrency: number): Agents {
  const options = { keepAlive: true, maxFreeSockets: concurrency, scheduling: 'lifo' as const };
  const pair = () => ({ http: new http.Agent(options), https: new https.Agent(options) });
  return { live: pair(), test: pair() };
}

/**
 * One POST to an endpoint. Never follows a redirect (a 3xx is a failure: following one would let
 * a public host point seatgate at a private one); resolves names through guardedLookup, which
 * refuses private addresses at connect time; gives up after `timeoutMs` from the lookup to the
 * last byte; reads at most maxResponseBytes of the answer, then hangs up. A connection whose
 * answer was read to its end goes back to the pool.
 */
function post(
  url: URL,
  mode: Mode,
  agents: Agents,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<Outcome & { staleConnection?: boolean }> {
  return new Promise((resolve) => {
    const started = performance.now();
    let statusCode: number | null = null;
    let done = false;
    // Once the endpoint has answered, only its status counts: a 3xx is refused, anything else stands as it is.
    const answered = () =>
      statusCode !== null && statusCode >= 300 && statusCode < 400
        ? `The endpoint answered ${statusCode}; redirects are not followed: register the final URL.`
        : null;
    const finish = (error: string | null, hangUp: boolean, staleConnection = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (hangUp) request.destroy();
      resolve({ statusCode, error, latencyMs: Math.round(performance.now() - started), staleConnection });
    };
    const timer = setTimeout(() => finish(statusCode === null ? `No answer within ${timeoutMs} ms.` : answered(), true), timeoutMs);
    const secure = url.protocol === 'https:';
    const request = (secure ? https : http).request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: secure ? agents[mode].https : agents[mode].http,
        lookup: guardedLookup(mode),
      },
      (response) => {
        statusCode = response.statusCode ?? null;
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read >= maxResponseBytes) finish(answered(), true);
        });
        response.on('end', () => finish(answered(), false));
        // A connection cut mid-body closes without an end.
        response.on('close', () => finish(answered(), true));
        response.on('error', () => finish(answered(), true));
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      // A pooled connection the endpoint closed while it sat idle fails before any answer: nothing was received, so it is sent again on another.
      const stale = statusCode === null && request.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
      finish(statusCode === null ? describeError(error) : answered(), true, stale);
    });
    request.end(body);
  });
}

const succeeded = (outcome: Outcome) => outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;

/** Results written per statement at most. */
const maxResultsPerSettle = 500;
/**
 * How long a result waits for others to share its statement. Results are bookkeeping (the
 * endpoint already has the delivery), so a moment's delay costs nothing, while a statement per
 * few results was most of the database work that webhooks added.
 */
const settleGatherMs = 10;

/**
 * This process's webhook sender. Every server process runs one; they share the work through the
 * database alone: each claims due deliveries with CLAIM_DUE (FOR UPDATE SKIP LOCKED, and a
 * lease), so no two send one delivery at the same time, and a process that dies mid-send leaves
 * its claims to the others when their leases end. It takes what this process's publications
 * hand it, already claimed (`take`); it claims when poked (a publication left deliveries due), by
 * a timer set for the next due delivery, and at least every `pollMs`. At most `concurrency`
 * sends at once, over keep-alive connections. Results are written in batches: those that end
 * while a write is in flight go together in the next. A failure of its own database calls is
 * logged and retried; it never throws.
 */
export function webhookWorker(orm: Orm, logger: Logger, options: WebhookWorkerOptions): WebhookWorker {
  const pollMs = options.pollMs ?? 5000;
  const agents = createAgents(options.concurrency);
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  const claiming = singleFlight(() => claim());
  // The last claim filled every free slot, so more may be due: a send that ends claims again.
  let saturated = false;
  let timer: NodeJS.Timeout | null = null;
  let timerDueAt = Number.POSITIVE_INFINITY;
  let failures = 0;

  const wakeIn = (ms: number) => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timerDueAt = Date.now() + ms;
    timer = setTimeout(() => {
      timer = null;
      timerDueAt = Number.POSITIVE_INFINITY;
      poke();
    }, ms);
    timer.unref();
  };

  /** Moves the timer earlier, never later: a retry was scheduled for `ms` from now. */
  const wakeBy = (ms: number) => {
    if (Date.now() + ms < timerDueAt) wakeIn(Math.max(minWaitMs, ms));
  };

  function poke(): void {
    if (!stopped) void claiming.kick();
  }

  /** Claims as many due deliveries as there are free slots, until none is due, then sets the timer for the next. */
  async function claim(): Promise<void> {
    try {
      for (;;) {
        const free = options.concurrency - inFlight.size;
        if (stopped) return;
        if (free <= 0) {
          saturated = true;
          return;
        }
        const claimed = await run(orm.em.fork(), CLAIM_DUE, { limit: free, leaseMs: options.leaseMs });
        for (const delivery of claimed) track(attempt(delivery));
        saturated = claimed.length === free;
        if (!saturated) break;
      }
      const [next] = await run(orm.em.fork(), NEXT_DUE, {});
      failures = 0;
      wakeIn(Math.min(pollMs, Math.max(minWaitMs, next?.waitMs ?? pollMs)));
    } catch (error) {
      failures++;
      const retryMs = Math.min(pollMs, 100 * 2 ** failures);
      logger.error('the webhook worker could not claim due deliveries; retrying', { error, retryMs });
      wakeIn(retryMs);
    }
  }

  function track(sending: Promise<void>): void {
    inFlight.add(sending);
    void sending.finally(() => {
      inFlight.delete(sending);
      if (saturated) poke();
    });
  }

  async function attempt(delivery: ClaimedDelivery): Promise<void> {
    const attemptedAt = new Date();
    const result = (outcome: Outcome, status: WebhookDeliveryStatus, retryInMs: number | null, recordAttempt = true): AttemptResult => ({
      id: delivery.id,
      leasedUntil: delivery.leasedUntil,
      status,
      retryInMs,
      statusCode: outcome.statusCode,
      error: outcome.error,
      recordAttempt,
      attemptId: newId('wha'),
      attemptedAt,
      latencyMs: outcome.latencyMs,
    });
    try {
      if (delivery.endpointDisabled) {
        // Queued by a publication that raced the disabling: it ends as disableEndpoint ends the others.
        return await settle(result({ statusCode: null, error: endpointDisabledError, latencyMs: 0 }, 'failed', null, false));
      }
      // The URL passed this check when it was registered; rules tighten, and IP literals never reach guardedLookup.
      const checked = checkWebhookUrl(delivery.url, delivery.mode);
      let outcome: Outcome & { staleConnection?: boolean };
      if (!checked.ok) {
        outcome = { statusCode: null, error: `The URL is refused: ${checked.message}.`, latencyMs: 0, final: true };
      } else {
        const body = JSON.stringify({ type: delivery.eventType, timestamp: delivery.eventCreatedAt.toISOString(), data: delivery.payload });
        const headers = { ...webhookHeaders(delivery.secret, delivery.id, Math.floor(Date.now() / 1000), body), 'user-agent': webhookUserAgent };
        let tries = 0;
        do outcome = await post(checked.url, delivery.mode, agents, headers, body, options.timeoutMs);
        while (outcome.staleConnection && tries++ < staleConnectionRetries);
      }
      if (succeeded(outcome)) return await settle(result(outcome, 'succeeded', null));
      const delay = outcome.final ? null : nextAttemptDelayMs(delivery.attempts);
      const retryInMs = delay === null ? null : Math.round(delay * options.retryScale);
      await settle(result(outcome, delay === null ? 'failed' : 'pending', retryInMs));
      if (retryInMs !== null) wakeBy(retryInMs);
    } catch (error) {
      // A bug, not an endpoint's failure: the lease brings the delivery back.
      logger.error('a webhook attempt failed unexpectedly; the delivery is retried when its lease ends', { deliveryId: delivery.id, error });
    }
  }

  const unsettled: { result: AttemptResult; written: () => void }[] = [];
  const settling = singleFlight(() => writeResults(), { gatherMs: settleGatherMs });

  /** Queues a result to be written, and resolves once it was (or given up on: the lease then brings the delivery back). */
  function settle(result: AttemptResult): Promise<void> {
    return new Promise((written) => {
      unsettled.push({ result, written });
      void settling.kick();
    });
  }

  /**
   * Writes the queued results, a batch per statement, retrying a failed write while the leases
   * hold: a result that is never written costs a second send (after the lease), never a loss.
   */
  async function writeResults(): Promise<void> {
    while (unsettled.length > 0) {
      const batch = unsettled.splice(0, maxResultsPerSettle);
      const results = batch.map((item) => item.result);
      const leaseEnds = Math.min(...results.map((result) => result.leasedUntil.getTime()));
      for (let tries = 1; ; tries++) {
        try {
          const rows = await run(orm.em.fork(), SETTLE_ATTEMPTS, { results: attemptResultsJson(results) });
          for (const row of rows) {
            if (!row.settled)
              logger.info('a webhook delivery changed while it was being sent; its attempt is recorded, its state kept', { deliveryId: row.id });
          }
          break;
        } catch (error) {
          const waitMs = 200 * 2 ** tries;
          if (tries >= 4 || Date.now() + waitMs >= leaseEnds) {
            logger.error('could not record webhook attempts; their deliveries are sent again when their leases end', {
              deliveryIds: results.map((r) => r.id),
              error,
            });
            break;
          }
          logger.warn('could not record webhook attempts; retrying', { error, waitMs });
          await sleep(waitMs);
        }
      }
      for (const item of batch) item.written();
    }
  }

  const worker: WebhookWorker = {
    name: 'webhook-worker',
    start() {
      workers.add(worker);
      // Whatever fell due while no worker ran (a restart) is taken now.
      poke();
    },
    poke,
    leaseMs: options.leaseMs,
    capacity: () => (stopped ? 0 : Math.max(0, options.concurrency - inFlight.size)),
    take(claimed) {
      // Handed over as this worker stops: their leases run out, and any worker sends them then.
      if (stopped) return;
      for (const delivery of claimed) track(attempt(delivery));
    },
    async stop() {
      stopped = true;
      workers.delete(worker);
      if (timer) clearTimeout(timer);
      await claiming.idle();
      // Each send ends within the timeout, then writes its result.
      await Promise.allSettled([...inFlight]);
      for (const pair of Object.values(agents)) {
        pair.http.destroy();
        pair.https.destroy();
      }
    },
  };
  return worker;
}
