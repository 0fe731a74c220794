import { createApiKey } from '../src/auth/service.ts';
import type { Orm } from '../src/db/orm.ts';

export const featureCode = 'editor';
const customerCount = 200;
export const customerIds = Array.from({ length: customerCount }, (_, i) => `c-${String(i).padStart(3, '0')}`);

/** One organization in test mode: what a system's traffic runs as. */
export type Tenant = { name: string; key: string; organizationId: string };

const setupConcurrency = 10;

async function graphql(endpoint: string, key: string, query: string, variables: Record<string, unknown>): Promise<unknown> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: unknown; errors?: unknown[] };
  if (!response.ok || body.errors) throw new Error(`setup request failed (${response.status}): ${JSON.stringify(body.errors ?? body)}`);
  return body.data;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/**
 * A tenant with the `editor` seat feature (or the features `featureCodes`), an unlimited plan (so
 * adds never charge: the same work the baseline does) and 200 subscribed customers (or the first
 * `customers`), all set up through seatgate's public API.
 */
export async function createTenant(orm: Orm, endpoint: string, name: string, options: { customers?: number; featureCodes?: string[] } = {}): Promise<Tenant> {
  const { key, organization } = await createApiKey(orm.em.fork(), name, 'test');
  const run = (query: string, input: Record<string, unknown>) => graphql(endpoint, key, query, { input });
  const codes = options.featureCodes ?? [featureCode];
  await eachLimited(codes, setupConcurrency, async (code) => {
    await run(`mutation($input: CreateFeatureInput!) { createFeature(input: $input) { id } }`, { code, name: code, type: 'SEATS' });
  });
  await run(`mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
    code: 'bench',
    name: 'Bench',
    currency: 'EUR',
    interval: 'MONTH',
    seatFeatures: codes.map((code) => ({ featureCode: code, unlimited: true, includedSeats: 0, overageEnabled: false, unitPrice: 0 })),
  });
  await eachLimited(customerIds.slice(0, options.customers ?? customerIds.length), setupConcurrency, async (externalId) => {
    await run(`mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, { externalId, name: externalId });
    await run(`mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`, {
      customerId: externalId,
      planCode: 'bench',
    });
  });
  return { name, key, organizationId: organization.id };
}
