import type { EntityManager } from '@mikro-orm/postgresql';
import { run } from '../db/prepared.ts';
import type { SeatChangeTiming } from '../model/organization.ts';
import type { Tenant } from '../model/tenant.ts';
import { type OrganizationSettingsRecord, READ_SETTINGS, SAVE_SETTINGS } from './store.ts';

export type { OrganizationSettingsRecord } from './store.ts';

/** The tenant's settings (its organization, in its mode). */
export async function readSettings(em: EntityManager, tenant: Tenant): Promise<OrganizationSettingsRecord> {
  const [settings] = await run(em, READ_SETTINGS, tenant);
  return settings!;
}

/** Changes the settings named, in the tenant's mode only; the same input again changes nothing. */
export async function updateSettings(
  em: EntityManager,
  tenant: Tenant,
  input: { seatDecreaseTiming?: SeatChangeTiming | null },
): Promise<OrganizationSettingsRecord> {
  const [settings] = await run(em, SAVE_SETTINGS, { ...tenant, seatDecreaseTiming: input.seatDecreaseTiming ?? null });
  return settings!;
}
