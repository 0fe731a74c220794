import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import type { WebhookSettings } from '../config.js';
import type { Orm } from '../db/orm.js';
import { run } from '../db/prepared.js';
import { newId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { Mode } from '../tenant.js';
import type { WebhookDeliveryStatus } from './entities.js';
import { nextAttemptDelayMs } from './retry.js';
import { endpointDisabledError } from './service.js';
import { webhookHeaders } from './signature.js';
import { CLAIM_DUE, type ClaimedDelivery, NEXT_DUE, SETTLE, type SettleParams } from './store.js';
import { checkWebhookUrl, guardedLookup } from './url.js';

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

export type WebhookWorker = { poke(): void; stop(): Promise<void> };

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

/**
 * One POST to an endpoint. Never follows a redirect (a 3xx is a failure: following one would let
 * a public host point seatgate at a private one); resolves names through guardedLookup, which
 * refuses private addresses at connect time; gives up after `timeoutMs` from the lookup to the
 * last byte; reads at most maxResponseBytes of the answer, then hangs up. A fresh connection
 * each time (agent: false), so no pooled socket outlives the checks of the request it was made for.
 */
function post(url: URL, mode: Mode, headers: Record<string, string>, body: string, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    let statusCode: number | null = null;
    let done = false;
    // Once the endpoint has answered, only its status counts: a 3xx is refused, anything else stands as it is.
    const answered = () =>
      statusCode !== null && statusCode >= 300 && statusCode < 400 ? `The endpoint answered ${statusCode}; redirects are not followed: register the final URL.` : null;
    const finish = (error: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      request.destroy();
      resolve({ statusCode, error, latencyMs: Math.round(performance.now() - started) });
    };
    const timer = setTimeout(() => finish(statusCode === null ? `No answer within ${timeoutMs} ms.` : answered()), timeoutMs);
    const request = (url.protocol === 'https:' ? https : http).request(
      url,
      { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: false, lookup: guardedLookup(mode) },
      (response) => {
        statusCode = response.statusCode ?? null;
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read >= maxResponseBytes) finish(answered());
        });
        // 'close' follows the end, and a connection cut mid-body alike.
        response.on('close', () => finish(answered()));
        response.on('error', () => finish(answered()));
      },
    );
    request.on('error', (error) => finish(statusCode === null ? describeError(error) : answered()));
    request.end(body);
  });
}

const succeeded = (outcome: Outcome) => outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * This process's webhook sender. Every server process runs one; they share the work through the
 * database alone: each claims due deliveries with CLAIM_DUE (FOR UPDATE SKIP LOCKED, and a
 * lease), so no two send one delivery at the same time, and a process that dies mid-send leaves
 * its claims to the others when their leases end. Woken by `poke()` (events were published), by
 * a timer set for the next due delivery, and at least every `pollMs`. At most `concurrency`
 * sends at once. A failure of its own database calls is logged and retried; it never throws.
 */
export function startWebhookWorker(orm: Orm, logger: Logger, options: WebhookWorkerOptions): WebhookWorker {
  const pollMs = options.pollMs ?? 5000;
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  let claiming: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  let failures = 0;

  const wakeIn = (ms: number) => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      poke();
    }, ms);
    timer.unref();
  };

  function poke(): void {
    if (stopped) return;
    if (claiming) {
      again = true;
      return;
    }
    claiming = claim().finally(() => (claiming = null));
  }

  /** Claims as many due deliveries as there are free slots, until none is due, then sets the timer for the next. */
  async function claim(): Promise<void> {
    do {
      again = false;
      try {
        for (;;) {
          const free = options.concurrency - inFlight.size;
          // A send that ends pokes again.
          if (free <= 0 || stopped) return;
          const claimed = await run(orm.em.fork(), CLAIM_DUE, { limit: free, leaseMs: options.leaseMs });
          for (const delivery of claimed) track(attempt(delivery));
          if (claimed.length < free) break;
        }
        const [next] = await run(orm.em.fork(), NEXT_DUE, {});
        failures = 0;
        wakeIn(Math.min(pollMs, Math.max(minWaitMs, next?.waitMs ?? pollMs)));
      } catch (error) {
        failures++;
        const retryMs = Math.min(pollMs, 100 * 2 ** failures);
        logger.error('the webhook worker could not claim due deliveries; retrying', { error, retryMs });
        wakeIn(retryMs);
        return;
      }
    } while (again && !stopped);
  }

  function track(sending: Promise<void>): void {
    inFlight.add(sending);
    void sending.finally(() => {
      inFlight.delete(sending);
      poke();
    });
  }

  async function attempt(delivery: ClaimedDelivery): Promise<void> {
    const attemptedAt = new Date();
    try {
      if (delivery.endpointDisabled) {
        // Queued by a publication that raced the disabling: it ends as disableEndpoint ends the others.
        return await settle(delivery, { status: 'failed', statusCode: null, error: endpointDisabledError, latencyMs: 0 }, attemptedAt, false);
      }
      // The URL passed this check when it was registered; rules tighten, and IP literals never reach guardedLookup.
      const checked = checkWebhookUrl(delivery.url, delivery.mode);
      let outcome: Outcome;
      if (!checked.ok) {
        outcome = { statusCode: null, error: `The URL is refused: ${checked.message}.`, latencyMs: 0, final: true };
      } else {
        const body = JSON.stringify({ type: delivery.eventType, timestamp: delivery.eventCreatedAt.toISOString(), data: delivery.payload });
        const headers = { ...webhookHeaders(delivery.secret, delivery.id, Math.floor(Date.now() / 1000), body), 'user-agent': webhookUserAgent };
        outcome = await post(checked.url, delivery.mode, headers, body, options.timeoutMs);
      }
      if (succeeded(outcome)) return await settle(delivery, { ...outcome, status: 'succeeded' }, attemptedAt, true);
      const delay = outcome.final ? null : nextAttemptDelayMs(delivery.attempts);
      const retryInMs = delay === null ? null : Math.round(delay * options.retryScale);
      await settle(delivery, { ...outcome, status: delay === null ? 'failed' : 'pending', retryInMs }, attemptedAt, true);
    } catch (error) {
      // A bug, not an endpoint's failure: the lease brings the delivery back.
      logger.error('a webhook attempt failed unexpectedly; the delivery is retried when its lease ends', { deliveryId: delivery.id, error });
    }
  }

  /**
   * Writes the attempt and its delivery's new state, retrying a failed write while the lease
   * holds: a result that is never written costs a second send (after the lease), never a loss.
   */
  async function settle(
    delivery: ClaimedDelivery,
    result: Outcome & { status: WebhookDeliveryStatus; retryInMs?: number | null },
    attemptedAt: Date,
    recordAttempt: boolean,
  ): Promise<void> {
    const params: SettleParams = {
      id: delivery.id,
      leasedUntil: delivery.leasedUntil,
      status: result.status,
      retryInMs: result.retryInMs ?? null,
      statusCode: result.statusCode,
      error: result.error,
      recordAttempt,
      attemptId: newId('wha'),
      attemptedAt,
      latencyMs: result.latencyMs,
    };
    for (let tries = 1; ; tries++) {
      try {
        const [row] = await run(orm.em.fork(), SETTLE, params);
        if (!row?.settled) logger.info('a webhook delivery changed while it was being sent; its attempt is recorded, its state kept', { deliveryId: delivery.id });
        return;
      } catch (error) {
        const waitMs = 200 * 2 ** tries;
        if (tries >= 4 || Date.now() + waitMs >= delivery.leasedUntil.getTime()) {
          logger.error('could not record a webhook attempt; the delivery is sent again when its lease ends', { deliveryId: delivery.id, error });
          return;
        }
        logger.warn('could not record a webhook attempt; retrying', { deliveryId: delivery.id, error, waitMs });
        await sleep(waitMs);
      }
    }
  }

  const worker: WebhookWorker = {
    poke,
    async stop() {
      stopped = true;
      workers.delete(worker);
      if (timer) clearTimeout(timer);
      await claiming;
      // Each send ends within the timeout, then writes its result.
      await Promise.allSettled([...inFlight]);
    },
  };
  workers.add(worker);
  // Whatever fell due while no worker ran (a restart) is taken now.
  poke();
  return worker;
}
