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
import {
  type AttemptResult,
  attemptResultsJson,
  CLAIM_DUE,
  type ClaimedDelivery,
  FAIL_PENDING_OF_ENDPOINTS,
  NEXT_DUE,
  SETTLE_ATTEMPTS,
  type SettledResult,
} from './store.ts';
import { checkWebhookUrl, guardedLookup, mayReachLoopback } from './url.ts';

/** Bytes of an answer read at most; the rest is not waited for. Only the status counts. */
export const maxResponseBytes = 64 * 1024;
export const webhookUserAgent = 'seatgate-webhooks/1 (+https://www.standardwebhooks.com/)';
/** Longest an attempt's error text is kept. */
const maxErrorLength = 500;
/** The shortest wait between two looks for due deliveries when one seems due but was claimed by another worker. */
const minWaitMs = 50;
/**
 * The wait when deliveries seem due but this worker's in-flight limits may be what holds them:
 * a send that ends looks again at once, so this is only the fallback for those another worker
 * was claiming.
 */
const blockedWaitMs = 1000;

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

/** What a connection that failed before any answer says, whatever the reason: refused, reset, unreachable, closed. */
const couldNotConnect = 'Could not connect to the endpoint.';

/** Resolver failures: the name is the customer's to fix, and anyone can look it up. */
const dnsErrors = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'ENODATA']);

/**
 * An attempt's error in words for the endpoint's owner. A refused, reset or otherwise failed
 * connection says only couldNotConnect: "refused" against "reset" (or a TLS handshake's
 * complaint) would tell which ports of a host listen, so lastError would double as a port
 * scanner. What the owner needs to fix stays: an address refused by the SSRF rules, a name that
 * does not resolve, a certificate the TLS check refused.
 */
function describeError(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  if (code === 'ESSRF') return message ?? 'the host is not a public address';
  if (code && dnsErrors.has(code)) return clip(`The host name could not be resolved (${code}).`);
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT/.test(code)) return clip(`The TLS certificate was refused: ${message ?? code}`);
  return couldNotConnect;
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
  loopbackAllowed: boolean,
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
        lookup: guardedLookup(loopbackAllowed),
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

/** This process's sends in flight, and slots held for hand-offs, by endpoint and by organization. */
class Slots {
  private readonly byEndpoint = new Map<string, number>();
  private readonly byOrganization = new Map<string, number>();
  /** Slots held for deliveries a publication is handing over, until `take` starts them or the lease ends. */
  private readonly held = new Map<string, { endpointId: string; organizationId: string; until: number }>();
  used = 0;

  private readonly limits: { concurrency: number; perEndpoint: number; perOrganization: number };

  constructor(limits: { concurrency: number; perEndpoint: number; perOrganization: number }) {
    this.limits = limits;
  }

  private add(map: Map<string, number>, key: string, by: number): void {
    const count = (map.get(key) ?? 0) + by;
    if (count > 0) map.set(key, count);
    else map.delete(key);
  }

  /** Counts a send (or a held slot) to this endpoint. */
  occupy(endpointId: string, organizationId: string): void {
    this.add(this.byEndpoint, endpointId, 1);
    this.add(this.byOrganization, organizationId, 1);
    this.used++;
  }

  vacate(endpointId: string, organizationId: string): void {
    this.add(this.byEndpoint, endpointId, -1);
    this.add(this.byOrganization, organizationId, -1);
    this.used--;
  }

  /** Lets go of held slots whose lease ended: their publication never committed, or took too long to. */
  private expire(now: number): void {
    for (const [id, slot] of this.held) {
      if (slot.until > now) continue;
      this.held.delete(id);
      this.vacate(slot.endpointId, slot.organizationId);
    }
  }

  free(): number {
    this.expire(Date.now());
    return this.limits.concurrency - this.used;
  }

  /** Holds a slot for this delivery if every limit leaves room. */
  hold(delivery: { id: string; endpointId: string; organizationId: string }, leaseMs: number): boolean {
    const now = Date.now();
    this.expire(now);
    const room =
      this.used < this.limits.concurrency &&
      (this.byEndpoint.get(delivery.endpointId) ?? 0) < this.limits.perEndpoint &&
      (this.byOrganization.get(delivery.organizationId) ?? 0) < this.limits.perOrganization;
    if (!room) return false;
    this.held.set(delivery.id, { endpointId: delivery.endpointId, organizationId: delivery.organizationId, until: now + leaseMs });
    this.occupy(delivery.endpointId, delivery.organizationId);
    return true;
  }

  /** Turns a held slot into a send; false when it was let go meanwhile (the send then occupies one anew). */
  claimHeld(id: string): boolean {
    return this.held.delete(id);
  }

  /** Whether some endpoint or organization is at its limit: deliveries may be due that only a send's end lets through. */
  anyAtLimit(): boolean {
    for (const count of this.byEndpoint.values()) if (count >= this.limits.perEndpoint) return true;
    for (const count of this.byOrganization.values()) if (count >= this.limits.perOrganization) return true;
    return false;
  }

  /** What CLAIM_DUE is told this process already has. */
  busy() {
    return {
      busyEndpoints: [...this.byEndpoint.keys()],
      busyEndpointCounts: [...this.byEndpoint.values()],
      busyOrganizations: [...this.byOrganization.keys()],
      busyOrganizationCounts: [...this.byOrganization.values()],
    };
  }
}

/** Endpoints this process's workers disabled for failing, by mode, since it started: the metrics read it. */
export const endpointsDisabledForFailing: Record<Mode, number> = { live: 0, test: 0 };

/**
 * This process's webhook sender. Every server process runs one; they share the work through the
 * database alone: each claims due deliveries with CLAIM_DUE (FOR UPDATE SKIP LOCKED, and a
 * lease), so no two send one delivery at the same time, and a process that dies mid-send leaves
 * its claims to the others when their leases end. It takes what this process's publications
 * hand it, already claimed (`reserve`, then `take`); it claims when poked (a publication left
 * deliveries due), by a timer set for the next due delivery, and at least every `pollMs`.
 *
 * At most `concurrency` sends at once, over keep-alive connections, and of them at most
 * `concurrencyPerEndpoint` to one endpoint and `concurrencyPerOrganization` to one
 * organization's endpoints, whichever way they came: an endpoint that never answers holds a few
 * slots for the timeout, never all of them, and other tenants' deliveries go out beside it.
 *
 * Results are written in batches: those that end while a write is in flight go together in the
 * next. An endpoint whose attempts keep failing is disabled by the write that crosses its limit
 * (SETTLE_ATTEMPTS), and its pending deliveries end FAILED. A failure of its own database calls is
 * logged and retried; it never throws.
 */
export function webhookWorker(orm: Orm, logger: Logger, options: WebhookWorkerOptions): WebhookWorker {
  const pollMs = options.pollMs ?? 5000;
  const agents = createAgents(options.concurrency);
  const inFlight = new Set<Promise<void>>();
  const slots = new Slots({
    concurrency: options.concurrency,
    perEndpoint: options.concurrencyPerEndpoint,
    perOrganization: options.concurrencyPerOrganization,
  });
  let stopped = false;
  const claiming = singleFlight(() => claim());
  // While a claim statement runs, the in-flight counts it was given must hold: hand-offs wait.
  let claimRunning = false;
  // The last claim filled every free slot, or left an endpoint or organization at its limit, so
  // more may be due: a send that ends claims again.
  let wanting = false;
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

  /** Claims as many due deliveries as the limits leave room for, until none is due, then sets the timer for the next. */
  async function claim(): Promise<void> {
    try {
      let saturated = false;
      for (;;) {
        const free = slots.free();
        if (stopped) return;
        if (free <= 0) {
          saturated = true;
          break;
        }
        claimRunning = true;
        let claimed: ClaimedDelivery[];
        try {
          claimed = await run(orm.em.fork(), CLAIM_DUE, {
            limit: free,
            leaseMs: options.leaseMs,
            perEndpoint: options.concurrencyPerEndpoint,
            perOrganization: options.concurrencyPerOrganization,
            ...slots.busy(),
          });
        } finally {
          claimRunning = false;
        }
        for (const delivery of claimed) send(delivery, false);
        if (claimed.length < free) break;
      }
      const blocked = slots.anyAtLimit();
      wanting = saturated || blocked;
      if (saturated) return;
      const [next] = await run(orm.em.fork(), NEXT_DUE, {});
      failures = 0;
      const waitMs = next?.waitMs ?? pollMs;
      wakeIn(Math.min(pollMs, Math.max(blocked ? blockedWaitMs : minWaitMs, waitMs)));
    } catch (error) {
      failures++;
      const retryMs = Math.min(pollMs, 100 * 2 ** failures);
      logger.error('the webhook worker could not claim due deliveries; retrying', { error, retryMs });
      wakeIn(retryMs);
    }
  }

  /** Sends a claimed delivery in a slot: one held for it at its hand-off, or one taken now. */
  function send(delivery: ClaimedDelivery, handedOff: boolean): void {
    if (!(handedOff && slots.claimHeld(delivery.id))) slots.occupy(delivery.endpointId, delivery.organizationId);
    const sending = attempt(delivery);
    inFlight.add(sending);
    void sending.finally(() => {
      inFlight.delete(sending);
      slots.vacate(delivery.endpointId, delivery.organizationId);
      if (wanting) poke();
    });
  }

  async function attempt(delivery: ClaimedDelivery): Promise<void> {
    const attemptedAt = new Date();
    const result = (outcome: Outcome, status: WebhookDeliveryStatus, retryInMs: number | null, recordAttempt = true): AttemptResult => ({
      id: delivery.id,
      endpointId: delivery.endpointId,
      organizationId: delivery.organizationId,
      mode: delivery.mode,
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
      // The URL passed this check when it was registered; rules tighten (the loopback policy
      // included), and IP literals never reach guardedLookup.
      const checked = checkWebhookUrl(delivery.url, delivery.mode, options.loopback);
      let outcome: Outcome & { staleConnection?: boolean };
      if (!checked.ok) {
        outcome = { statusCode: null, error: `The URL is refused: ${checked.message}.`, latencyMs: 0, final: true };
      } else {
        const body = JSON.stringify({ type: delivery.eventType, timestamp: delivery.eventCreatedAt.toISOString(), data: delivery.payload });
        const headers = { ...webhookHeaders(delivery.secret, delivery.id, Math.floor(Date.now() / 1000), body), 'user-agent': webhookUserAgent };
        const loopbackAllowed = mayReachLoopback(checked.url, delivery.mode, options.loopback);
        let tries = 0;
        do outcome = await post(checked.url, delivery.mode, agents, headers, body, options.timeoutMs, loopbackAllowed);
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
   * Ends the pending deliveries of endpoints the last write disabled, and says so: a warning
   * (its message is stable, for alerts) and the metrics' tally. Should this fail, the worker
   * that claims each of those deliveries ends it the same way (its endpoint is disabled).
   */
  async function disabled(rows: readonly SettledResult[], results: readonly AttemptResult[]): Promise<void> {
    const resultOf = new Map(results.map((result) => [result.id, result]));
    // One entry per endpoint, however many of its results the batch held.
    const endpoints = new Map<string, { result: AttemptResult; reason: string | null }>();
    for (const row of rows) {
      const result = resultOf.get(row.id)!;
      if (row.endpointDisabled) endpoints.set(result.endpointId, { result, reason: row.disabledReason });
    }
    if (endpoints.size === 0) return;
    await run(orm.em.fork(), FAIL_PENDING_OF_ENDPOINTS, { endpointIds: [...endpoints.keys()], error: endpointDisabledError });
    for (const [endpointId, { result, reason }] of endpoints) {
      endpointsDisabledForFailing[result.mode]++;
      logger.warn('a webhook endpoint was disabled for failing', { endpointId, organizationId: result.organizationId, mode: result.mode, reason });
    }
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
          const rows = await run(orm.em.fork(), SETTLE_ATTEMPTS, {
            results: attemptResultsJson(results),
            disableAfterFailures: options.disableAfterFailures,
            disableAfterHours: options.disableAfterHours,
          });
          for (const row of rows) {
            if (!row.settled)
              logger.info('a webhook delivery changed while it was being sent; its attempt is recorded, its state kept', { deliveryId: row.id });
          }
          await disabled(rows, results).catch((error) =>
            logger.error('could not end the pending deliveries of a disabled webhook endpoint; each ends when it is next claimed', { error }),
          );
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
    reserve: (delivery) => !stopped && !claimRunning && slots.hold(delivery, options.leaseMs),
    take(claimed) {
      // Handed over as this worker stops: their leases run out, and any worker sends them then.
      if (stopped) return;
      for (const delivery of claimed) send(delivery, true);
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
