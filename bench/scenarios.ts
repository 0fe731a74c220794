import type { Target } from './load.ts';
import { customerIds, featureCode } from './setup.ts';

export const systems = ['seatgate', 'baseline'] as const;
export type SystemName = (typeof systems)[number];

export type Scenario = {
  name: string;
  connections: number;
  /** Whether each successful request adds one seat (counted for the lost-update check). */
  adds: boolean;
  /** SSE subscribers and a webhook endpoint attached to seatgate while it runs. */
  events?: { subscribers: number };
  /**
   * Many SSE subscribers on one key of `tenant` (the seatgate tenant, or the wide one), opened
   * before the warm-up (bench/fanout.ts): `featureCode` null watches every feature of the customer.
   */
  subscribers?: { streams: number; featureCode: string | null; tenant: 'seatgate' | 'wide' };
  /** Measured on seatgate only: its figures are compared with seatgate's own `addSeats`, not with the baseline. */
  seatgateOnly?: boolean;
  /** Run on a seatgate process started for this run (at `twinUrl`), bare or as in production, instead of the long-running one. */
  twin?: TwinKind;
  target: Record<SystemName, Target>;
};

/**
 * A seatgate started afresh for one run: `bare` as the long-running one (warnings only, no
 * metrics, no rate limits), `operable` as run in production (info logs, metrics, shared limits).
 */
export type TwinKind = 'bare' | 'operable';

/**
 * `twinUrl`: where the seatgate started for a twin scenario's run listens; `wideKey`: the key of
 * the tenant whose plan has the 100 features `wideFeatureCodes` (bulk writes).
 */
export type Endpoints = { seatgateUrl: string; seatgateKey: string; baselineUrl: string; twinUrl: string; wideKey: string };

/** The features of the wide tenant: a bulkSetSeats of 100 entries sets each once. */
export const wideFeatureCodes = Array.from({ length: 100 }, (_, i) => `f${i}`);
const fanoutStreams = 1000;
export const fanoutAddsScenario = 'addSeats + 1,000 subscribers';
export const fanoutBulkScenario = 'bulkSetSeats(100) + 1,000 subscribers';

const addSeats = `mutation($input: AddSeatsInput!) { addSeats(input: $input) { id newBalance } }`;
const bulkSetSeats = `mutation($input: BulkSetSeatsInput!) { bulkSetSeats(input: $input) { id } }`;
const customers = `query($ids: [String!]!) { customers(ids: $ids) { id seatBalances { featureCode current } } }`;
const readIds = customerIds.slice(0, 100);

const randomCustomer = () => customerIds[Math.floor(Math.random() * customerIds.length)]!;

function addTargets(endpoints: Endpoints, customer: () => string): Record<SystemName, Target> {
  return {
    seatgate: {
      url: endpoints.seatgateUrl,
      headers: { 'x-api-key': endpoints.seatgateKey },
      body: () => JSON.stringify({ query: addSeats, variables: { input: { customerId: customer(), featureCode, count: 1 } } }),
    },
    baseline: {
      url: `${endpoints.baselineUrl}/add`,
      headers: {},
      body: () => JSON.stringify({ customerId: customer(), featureCode, count: 1 }),
    },
  };
}

const onTwin = (endpoints: Endpoints): Record<SystemName, Target> => {
  const targets = addTargets(endpoints, randomCustomer);
  return { ...targets, seatgate: { ...targets.seatgate, url: endpoints.twinUrl } };
};

export const operableScenario = 'addSeats, logs + metrics + limits';
/** What the operable twin is measured against: the same fresh start, without the three. */
export const freshBareScenario = 'addSeats, fresh process';

/** A bulkSetSeats of every wide feature for a random customer, to a count that customer has not had, so every entry is a change. */
function bulkTarget(endpoints: Endpoints): Target {
  const lastCount = new Map<string, number>();
  return {
    url: endpoints.seatgateUrl,
    headers: { 'x-api-key': endpoints.wideKey },
    body: () => {
      const customerId = randomCustomer();
      const count = (lastCount.get(customerId) ?? 0) + 1;
      lastCount.set(customerId, count);
      return JSON.stringify({
        query: bulkSetSeats,
        variables: { input: { customerId, seats: wideFeatureCodes.map((code) => ({ featureCode: code, count })) } },
      });
    },
  };
}

export function scenarios(endpoints: Endpoints): Scenario[] {
  // The read bodies never change, so they are built once.
  const readSeatgate = JSON.stringify({ query: customers, variables: { ids: readIds } });
  const readBaseline = JSON.stringify({ ids: readIds });
  return [
    { name: 'addSeats', connections: 10, adds: true, target: addTargets(endpoints, randomCustomer) },
    // The cost of running as in production, as two processes started alike: a fresh process runs
    // cold code and compiles it on threads of its own, which a long-running one did long ago. The
    // second logs every request, keeps metrics (scraped every 5 s) and takes every request's
    // budget from the shared rate-limit table.
    { name: freshBareScenario, connections: 10, adds: true, twin: 'bare', target: onTwin(endpoints) },
    { name: operableScenario, connections: 10, adds: true, twin: 'operable', target: onTwin(endpoints) },
    // The same adds while 100 frontends watch their customer's balance and a webhook endpoint takes every event.
    { name: 'addSeats + events', connections: 10, adds: true, events: { subscribers: 100 }, target: addTargets(endpoints, randomCustomer) },
    // A SaaS showing live balances to its signed-in users: 1,000 streams on one key, 5 per
    // customer, each watching its customer's balance, while the adds run; seatgate only, against
    // its own addSeats of the same round.
    {
      name: fanoutAddsScenario,
      connections: 10,
      adds: true,
      seatgateOnly: true,
      subscribers: { streams: fanoutStreams, featureCode, tenant: 'seatgate' },
      target: addTargets(endpoints, randomCustomer),
    },
    // The same streams on the wide tenant, each watching every feature of its customer, while
    // bulkSetSeats of 100 entries run: 100 notifications per write for each of 5 watchers.
    {
      name: fanoutBulkScenario,
      connections: 10,
      adds: false,
      seatgateOnly: true,
      subscribers: { streams: fanoutStreams, featureCode: null, tenant: 'wide' },
      // The baseline has no bulk request and never runs this scenario.
      target: { seatgate: bulkTarget(endpoints), baseline: addTargets(endpoints, randomCustomer).baseline },
    },
    // The same change through the Commet REST door: the baseline's own request shape.
    {
      name: 'POST /api/v1/seats',
      connections: 10,
      adds: true,
      target: {
        ...addTargets(endpoints, randomCustomer),
        seatgate: {
          url: new URL('/api/v1/seats', endpoints.seatgateUrl).href,
          headers: { 'x-api-key': endpoints.seatgateKey },
          body: () => JSON.stringify({ customerId: randomCustomer(), featureCode, count: 1 }),
        },
      },
    },
    // One balance that every request fights over: how the row lock holds up under contention.
    { name: 'hot balance, 1 conn', connections: 1, adds: true, target: addTargets(endpoints, () => 'c-000') },
    { name: 'hot balance, 50 conns', connections: 50, adds: true, target: addTargets(endpoints, () => 'c-000') },
    {
      name: 'customers(100)',
      connections: 10,
      adds: false,
      target: {
        seatgate: { url: endpoints.seatgateUrl, headers: { 'x-api-key': endpoints.seatgateKey }, body: () => readSeatgate },
        baseline: { url: `${endpoints.baselineUrl}/balances`, headers: {}, body: () => readBaseline },
      },
    },
  ];
}
