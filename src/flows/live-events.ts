import type { EntityManager } from '@mikro-orm/postgresql';
import { getCustomer } from '../customers/service.ts';
import type { EventHub } from '../events/hub.ts';
import { type LiveEventsRequest, liveEvents } from '../events/service.ts';
import type { Tenant } from '../model/tenant.ts';

/** A subscription's events, of one customer when it names one (a `cus_` id or an external id; customer_not_found else). */
export async function subscribeToEvents(
  em: EntityManager,
  hub: EventHub,
  tenant: Tenant,
  request: Omit<LiveEventsRequest, 'customerId'> & { customerRef: string | null },
) {
  const { customerRef, ...rest } = request;
  const customer = customerRef === null ? null : await getCustomer(em, tenant, customerRef);
  return liveEvents(em, hub, tenant, { ...rest, customerId: customer?.id ?? null });
}
