import { randomUUID } from 'node:crypto';
import { execute, parse } from 'graphql';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createApiKey } from '../auth/service.ts';
import { Clock } from '../clock/service.ts';
import type { Logger } from '../common/logger.ts';
import { createContext } from '../context.ts';
import type { Orm } from '../db/orm.ts';
import { EventHub } from '../events/hub.ts';
import { SeatChangeCoalescer } from '../flows/seat-change-coalescer.ts';
import { schema } from '../graphql/schema.ts';
import { ApiKey } from '../model/auth.ts';
import { TestClock } from '../model/clock.ts';
import { Organization } from '../model/organization.ts';
import type { Tenant } from '../model/tenant.ts';
import { deliveryQueue } from '../webhooks/service.ts';

/** The organization `npm start` makes on a fresh embedded database, and the demo data goes to. */
export const developmentOrganization = 'development';

type SeatCount = { featureCode: string; count: number };
type SeatChange = { mutation: 'addSeats' | 'removeSeats' | 'setSeats'; featureCode: string; count: number };

/**
 * The demo data, in test mode: what GraphiQL's prefilled example and the README's tour read
 * (`acme-corp`'s editors on the monthly `team` plan). Amounts in cents.
 */
const demo = {
  features: [
    { code: 'editor', name: 'Editor', type: 'SEATS' },
    { code: 'viewer', name: 'Viewer', type: 'SEATS' },
    { code: 'admin', name: 'Admin', type: 'SEATS' },
  ],
  plans: [
    {
      code: 'team',
      name: 'Team',
      currency: 'EUR',
      interval: 'MONTH',
      seatFeatures: [
        { featureCode: 'editor', includedSeats: 5, overageEnabled: true, unitPrice: 2500 },
        { featureCode: 'viewer', includedSeats: 10, overageEnabled: true, unitPrice: 500 },
        { featureCode: 'admin', includedSeats: 0, overageEnabled: false, unlimited: true, unitPrice: 0 },
      ],
    },
    {
      code: 'team_yearly',
      name: 'Team (yearly)',
      currency: 'EUR',
      interval: 'YEAR',
      seatFeatures: [
        { featureCode: 'editor', includedSeats: 5, overageEnabled: true, unitPrice: 25000 },
        { featureCode: 'viewer', includedSeats: 10, overageEnabled: true, unitPrice: 5000 },
      ],
    },
  ],
  customers: [
    {
      externalId: 'acme-corp',
      name: 'Acme Corp',
      planCode: 'team',
      initialSeats: [
        { featureCode: 'editor', count: 3 },
        { featureCode: 'viewer', count: 4 },
      ],
      // Past the included five editors: three extra seats billed at 25.00 each.
      history: [
        { mutation: 'addSeats', featureCode: 'editor', count: 2 },
        { mutation: 'addSeats', featureCode: 'editor', count: 4 },
        { mutation: 'removeSeats', featureCode: 'editor', count: 1 },
        { mutation: 'setSeats', featureCode: 'viewer', count: 6 },
      ],
    },
    {
      externalId: 'globex',
      name: 'Globex',
      planCode: 'team_yearly',
      initialSeats: [{ featureCode: 'editor', count: 6 }],
      history: [{ mutation: 'setSeats', featureCode: 'editor', count: 9 }],
    },
    {
      externalId: 'initech',
      name: 'Initech',
      planCode: 'team',
      initialSeats: [{ featureCode: 'editor', count: 2 }],
      history: [{ mutation: 'addSeats', featureCode: 'editor', count: 1 }],
    },
  ] satisfies { externalId: string; name: string; planCode: string; initialSeats: SeatCount[]; history: SeatChange[] }[],
};

/** What a run did: counts of what it created, and the development key when it had to make one. */
type DemoSummary = { features: number; plans: number; customers: number; subscriptions: number; seatChanges: number; key: string | null };

const createdNothing = (summary: DemoSummary) =>
  summary.features + summary.plans + summary.customers + summary.subscriptions + summary.seatChanges === 0 && summary.key === null;

/** The development organization's test-mode tenant, made with a test key if it has none yet (the key, shown once, is returned). */
async function developmentTenant(em: EntityManager): Promise<{ tenant: Tenant; key: string | null; frozenAt: Date | null }> {
  let organization = await em.findOne(Organization, { name: developmentOrganization });
  let key: string | null = null;
  if (!organization || (await em.count(ApiKey, { organization, mode: 'test' })) === 0) {
    const created = await createApiKey(em, developmentOrganization, 'test');
    organization = created.organization;
    key = created.key;
  }
  const clock = await em.findOne(TestClock, { organization: organization.id });
  return { tenant: { organizationId: organization.id, mode: 'test' }, key, frozenAt: clock?.frozenAt ?? null };
}

/**
 * Puts the demo data into the development organization's test mode, through the API's own
 * operations (the schema's resolvers, flows and services: the same rules and ledger as any
 * client's calls). Idempotent: what exists is left as it is, and a customer's seat history is
 * written only with its subscription, so a second run creates nothing.
 */
export async function seedDemo(orm: Orm, logger: Logger, onKeyCreated: (key: string) => void = () => undefined): Promise<DemoSummary> {
  const { tenant, key, frozenAt } = await developmentTenant(orm.em.fork());
  // Shown at once: a key is stored only as its hash, and a later failure would lose it.
  if (key) onKeyCreated(key);
  const seatChanges = new SeatChangeCoalescer(orm, logger);
  const events = new EventHub(orm, logger, deliveryQueue(null));
  const clock = new Clock(frozenAt);
  /** One operation as one request would run it, with a context of its own; an error stops the seed. */
  const run = async <T>(document: string, variableValues: Record<string, unknown> = {}): Promise<T> => {
    const contextValue = createContext({
      orm,
      tenant,
      requestId: `seed-${randomUUID()}`,
      logger,
      clock,
      seatChanges,
      events,
      webhookLoopback: { allowed: false, ports: null },
    });
    const result = await execute({ schema, document: parse(document), variableValues, contextValue });
    if (result.errors?.length) throw new Error(`the API refused a demo operation: ${result.errors.map((error) => error.message).join('; ')}`);
    return result.data as T;
  };

  const summary: DemoSummary = { features: 0, plans: 0, customers: 0, subscriptions: 0, seatChanges: 0, key };
  try {
    const existing = await run<{ features: { code: string }[]; plans: { code: string }[] }>(/* GraphQL */ `{ features { code } plans { code } }`);
    const featureCodes = new Set(existing.features.map((feature) => feature.code));
    for (const input of demo.features.filter((feature) => !featureCodes.has(feature.code))) {
      await run(/* GraphQL */ `mutation($input: CreateFeatureInput!) { createFeature(input: $input) { id } }`, { input });
      summary.features++;
    }
    const planCodes = new Set(existing.plans.map((plan) => plan.code));
    for (const input of demo.plans.filter((plan) => !planCodes.has(plan.code))) {
      await run(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, { input });
      summary.plans++;
    }
    for (const customer of demo.customers) {
      const { customer: found } = await run<{ customer: { subscription: { id: string } | null } | null }>(
        /* GraphQL */ `query($id: String!) { customer(id: $id) { subscription { id } } }`,
        { id: customer.externalId },
      );
      if (!found) {
        await run(/* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, {
          input: { externalId: customer.externalId, name: customer.name },
        });
        summary.customers++;
      }
      // A customer that has (or had) a subscription keeps its ledger as it is.
      if (found?.subscription) continue;
      await run(/* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`, {
        input: { customerId: customer.externalId, planCode: customer.planCode, initialSeats: customer.initialSeats },
      });
      summary.subscriptions++;
      for (const change of customer.history) {
        await run(/* GraphQL */ `mutation($input: ${inputTypes[change.mutation]}!) { ${change.mutation}(input: $input) { id } }`, {
          input: { customerId: customer.externalId, featureCode: change.featureCode, count: change.count },
        });
        summary.seatChanges++;
      }
    }
  } finally {
    await events.stop();
  }
  return summary;
}

const inputTypes = { addSeats: 'AddSeatsInput', removeSeats: 'RemoveSeatsInput', setSeats: 'SetSeatsInput' } as const;

/** What a run did, in one line. */
export function describeSeed(summary: DemoSummary): string {
  if (createdNothing(summary)) return `The demo data is already in the "${developmentOrganization}" organization's test mode: nothing changed.`;
  const parts = [
    [summary.features, 'feature'],
    [summary.plans, 'plan'],
    [summary.customers, 'customer'],
    [summary.subscriptions, 'subscription'],
    [summary.seatChanges, 'seat change'],
  ]
    .filter(([count]) => (count as number) > 0)
    .map(([count, noun]) => `${count} ${noun}${count === 1 ? '' : 's'}`);
  return `Demo data in the "${developmentOrganization}" organization's test mode: created ${parts.length ? parts.join(', ') : 'its test key'}.`;
}
