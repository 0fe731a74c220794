import { createApiKey } from '../src/auth/service.ts';
import type { Orm } from '../src/db/orm.ts';
import type { Child } from './processes.ts';

/** One of the largest requests the bounds allow, and how long it held seatgate's event loop. */
export type StallRun = { request: string; requestMs: number; maxStallMs: number; pollerMaxMs: number; polls: number };

const features = Array.from({ length: 100 }, (_, i) => `f${i}`);

async function graphql(url: string, key: string, query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: unknown; errors?: unknown[] };
  if (body.errors) throw new Error(`stall request failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** Polls /healthz back to back while `work` runs: what a neighbour of the big request sees. */
async function whilePolling(baseUrl: string, work: () => Promise<unknown>) {
  let polling = true;
  let polls = 0;
  let maxMs = 0;
  const poller = (async () => {
    while (polling) {
      const started = performance.now();
      await fetch(`${baseUrl}/healthz`).then((response) => response.arrayBuffer());
      maxMs = Math.max(maxMs, performance.now() - started);
      polls++;
    }
  })();
  const started = performance.now();
  await work();
  const requestMs = performance.now() - started;
  polling = false;
  await poller;
  return { requestMs, pollerMaxMs: maxMs, polls };
}

/**
 * The largest requests the documented bounds allow, each while another client polls, with the
 * longest event-loop stall seatgate's probe saw during it (target: 50 ms at most).
 */
export async function measureStalls(orm: Orm, seatgate: Child, name: string): Promise<StallRun[]> {
  const { key } = await createApiKey(orm.em.fork(), name, 'test');
  const run = (query: string, variables?: Record<string, unknown>) => graphql(seatgate.url, key, query, variables);
  for (const code of features) await run(`mutation($i: CreateFeatureInput!) { createFeature(input: $i) { id } }`, { i: { code, name: code, type: 'SEATS' } });
  await run(`mutation($i: CreatePlanInput!) { createPlan(input: $i) { id } }`, {
    i: {
      code: 'wide',
      name: 'Wide',
      currency: 'EUR',
      interval: 'MONTH',
      seatFeatures: features.map((featureCode) => ({ featureCode, includedSeats: 1, overageEnabled: true, unitPrice: 100 })),
    },
  });
  // A second plan over the same 100 features, dearer per seat: the target of the plan change below.
  await run(`mutation($i: CreatePlanInput!) { createPlan(input: $i) { id } }`, {
    i: {
      code: 'wide_plus',
      name: 'Wide Plus',
      currency: 'EUR',
      interval: 'MONTH',
      seatFeatures: features.map((featureCode) => ({ featureCode, includedSeats: 0, overageEnabled: true, unitPrice: 250, maximumSeats: 1000 })),
    },
  });
  const subscribe = async (externalId: string) => {
    await run(`mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }`, { i: { name: externalId, externalId } });
    await run(`mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) { id } }`, {
      i: { customerId: externalId, planCode: 'wide', initialSeats: features.map((featureCode) => ({ featureCode, count: 2 })) },
    });
  };
  await subscribe('warm-up');

  const requests: [string, () => Promise<unknown>][] = [
    ['createSubscription with 100 initial seats, each billed in advance', () => subscribe('big')],
    [
      'bulkSetSeats of 100 entries, each a true-up',
      () =>
        run(`mutation($i: BulkSetSeatsInput!) { bulkSetSeats(input: $i) { id } }`, {
          i: { customerId: 'big', seats: features.map((featureCode) => ({ featureCode, count: 9 })) },
        }),
    ],
    // The REST door reads JSON text itself: the costliest bodies within the size limit.
    [
      'PUT /api/v1/seats/bulk of 100 entries',
      () => rest('PUT', '/api/v1/seats/bulk', JSON.stringify({ customerId: 'big', seats: Object.fromEntries(features.map((code) => [code, 11])) }), 200),
    ],
    [
      'POST /api/v1/seats, a 99,900-digit count (refused)',
      () => rest('POST', '/api/v1/seats', `{"customerId":"big","featureCode":"f0","count":1${'0'.repeat(99_900)}1}`, 400),
    ],
    [
      'POST /api/v1/seats, a customerId nested 49,000 deep (refused)',
      () => rest('POST', '/api/v1/seats', `{"customerId":${'['.repeat(49_000)}${']'.repeat(49_000)},"featureCode":"f0","count":1}`, 400),
    ],
    // The largest lifecycle request: 100 credits of the old plan, 100 charges of the new one, every balance carried over.
    [
      'changePlan IMMEDIATELY over 100 features, each credited and charged',
      () =>
        run(`mutation($i: ChangePlanInput!) { changePlan(input: $i) { id planCode } }`, {
          i: { customerId: 'big', planCode: 'wide_plus', timing: 'IMMEDIATELY' },
        }),
    ],
    // Last: the subscriptions it leaves years behind would refuse the changes above.
    ['advanceTestClock by 3660 days: 10 renewal steps of 12 periods × 100 features', () => run(`mutation { advanceTestClock(input: { days: 3660 }) { now } }`)],
  ];
  const baseUrl = seatgate.url.replace(/\/graphql$/, '');
  async function rest(method: string, path: string, body: string, status: number) {
    const response = await fetch(baseUrl + path, { method, headers: { 'content-type': 'application/json', 'x-api-key': key }, body });
    const text = await response.text();
    if (response.status !== status) throw new Error(`stall request ${method} ${path} answered ${response.status}, not ${status}: ${text.slice(0, 300)}`);
  }
  const runs: StallRun[] = [];
  for (const [request, work] of requests) {
    await seatgate.query('SIGUSR2', /event-loop max/);
    const measured = await whilePolling(baseUrl, work);
    const [, maxStall] = await seatgate.query('SIGUSR2', /event-loop max ([\d.]+) ms/);
    runs.push({ request, ...measured, maxStallMs: Number(maxStall) });
  }
  return runs;
}
