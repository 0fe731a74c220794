import { read, statement } from '../db/prepared.ts';
import type { SeatChangeTiming } from '../model/organization.ts';
import type { Mode } from '../model/tenant.ts';

/** An organization's settings in one mode, as the API shows them; every default when none were saved. */
export type OrganizationSettingsRecord = { seatDecreaseTiming: SeatChangeTiming; mode: Mode };

const parseSettings = (row: Record<string, unknown>): OrganizationSettingsRecord => ({
  seatDecreaseTiming: read.text(row.seat_decrease_timing) as SeatChangeTiming,
  mode: row.mode as Mode,
});

/** The tenant's settings; its defaults when it never saved any. */
export const READ_SETTINGS = statement<{ organizationId: string; mode: Mode }, OrganizationSettingsRecord>(
  'read_organization_settings',
  `select coalesce(s.seat_decrease_timing, 'IMMEDIATELY') as seat_decrease_timing, w.mode
     from (select cast(:mode as text) as mode) w
     left join organization_settings s on s.organization_id = :organizationId and s.mode = w.mode`,
  parseSettings,
);

/** Saves the settings given, keeping the others; the first save creates the row. Kept by hand: an upsert that leaves unnamed settings as they were. */
export const SAVE_SETTINGS = statement<{ organizationId: string; mode: Mode; seatDecreaseTiming: SeatChangeTiming | null }, OrganizationSettingsRecord>(
  'save_organization_settings',
  `insert into organization_settings (organization_id, mode, seat_decrease_timing)
   values (:organizationId, :mode, coalesce(cast(:seatDecreaseTiming as text), 'IMMEDIATELY'))
   on conflict (organization_id, mode) do update
     set seat_decrease_timing = coalesce(cast(:seatDecreaseTiming as text), organization_settings.seat_decrease_timing), updated_at = clock_timestamp()
   returning seat_decrease_timing, mode`,
  parseSettings,
);
