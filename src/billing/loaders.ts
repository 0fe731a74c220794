import DataLoader from 'dataloader';
import type { RequestScope } from '../model/tenant.ts';
import type { SeatChargeRecord } from '../model/records.ts';
import { chargesByEventIds, chargesById } from './service.ts';

export const createBillingLoaders = (scope: RequestScope) => ({
  /** The charge an event caused, or null; one query for every event of a request. */
  chargeByEventId: new DataLoader<string, SeatChargeRecord | null>(async (eventIds) => {
    const found = await chargesByEventIds(scope.em, scope.tenant, eventIds);
    return eventIds.map((id) => found.get(id) ?? null);
  }),
  /** By chg_ id (node(id:)); null when the tenant has no such charge. */
  chargeById: new DataLoader<string, SeatChargeRecord | null>(async (ids) => {
    const found = await chargesById(scope.em, scope.tenant, ids);
    return ids.map((id) => found.get(id) ?? null);
  }),
});
