import { EntitySchema, type Opt, PrimaryKeyProp } from '@mikro-orm/core';
import type { Mode } from './tenant.ts';

/** A customer of seatgate: every tenant row belongs to one, in live or test mode. */
export class Organization {
  id!: string;
  name!: string;
  createdAt: Opt<Date> = new Date();
}

export const OrganizationSchema = new EntitySchema<Organization>({
  class: Organization,
  tableName: 'organization',
  properties: {
    id: { type: 'text', primary: true },
    name: { type: 'text', unique: 'organization_name_unique' },
    createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
});

/** When a seat decrease takes effect: now, or at the end of the period already paid for. Increases are always now. */
export type SeatChangeTiming = 'IMMEDIATELY' | 'AT_PERIOD_END';

/**
 * How an organization wants seat changes handled, per mode, so that a test key can try a setting
 * without touching live behaviour. No row means every default.
 */
export class OrganizationSettings {
  [PrimaryKeyProp]?: ['organization', 'mode'];
  organization!: Organization;
  mode!: Mode;
  /** The timing of a decrease whose request names none. */
  seatDecreaseTiming: Opt<SeatChangeTiming> = 'IMMEDIATELY';
  updatedAt: Opt<Date> = new Date();
}

export const OrganizationSettingsSchema = new EntitySchema<OrganizationSettings>({
  class: OrganizationSettings,
  tableName: 'organization_settings',
  properties: {
    organization: { kind: 'm:1', entity: () => Organization, primary: true, deleteRule: 'cascade', updateRule: 'cascade' },
    mode: { enum: true, items: ['live', 'test'], primary: true },
    seatDecreaseTiming: { enum: true, items: ['IMMEDIATELY', 'AT_PERIOD_END'], default: 'IMMEDIATELY' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
});
