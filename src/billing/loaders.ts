import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Tenant } from '../tenant.js';
import type { SeatChargeRecord } from './records.js';
import { chargesByEventIds } from './service.js';

export const createBillingLoaders = (em: EntityManager, tenant: Tenant) => ({
  /** The charge an event caused, or null; one query for every event of a request. */
  chargeByEventId: new DataLoader<string, SeatChargeRecord | null>(async (eventIds) => {
    const found = await chargesByEventIds(em, tenant, eventIds);
    return eventIds.map((id) => found.get(id) ?? null);
  }),
});
