import { read, statement } from '../db/prepared.ts';
import type { PlanInterval, SeatTerms } from '../model/catalog.ts';

/** A plan's period, currency and terms per seat feature, as plain values: plans never change. */
export type PlanTerms = { interval: PlanInterval; currency: string; features: Map<string, SeatTerms & { featureCode: string }> };

type PlanTermsRow = { interval: PlanInterval; currency: string; featureId: string | null; terms: SeatTerms & { featureCode: string } };

// Kept as plain rows: the renewal reads a plan's hundred terms on every step, and managed
// entities would only lengthen the flush that follows.
export const PLAN_TERMS = statement<{ planId: string }, PlanTermsRow>(
  'plan_terms',
  `select p.interval, p.currency, pf.feature_id, f.code as feature_code, pf.included_seats, pf.unlimited, pf.overage_enabled, pf.unit_price,
          pf.minimum_seats, pf.maximum_seats
     from plan p left join plan_seat_feature pf on pf.plan_id = p.id left join feature f on f.id = pf.feature_id
    where p.id = :planId`,
  (row) => ({
    interval: row.interval as PlanInterval,
    currency: read.text(row.currency),
    featureId: read.nullableText(row.feature_id),
    terms: {
      featureCode: read.text(row.feature_code ?? ''),
      includedSeats: read.int(row.included_seats ?? 0),
      unlimited: read.bool(row.unlimited ?? false),
      overageEnabled: read.bool(row.overage_enabled ?? false),
      unitPrice: read.int(row.unit_price ?? 0),
      minimumSeats: read.int(row.minimum_seats ?? 0),
      maximumSeats: read.nullableInt(row.maximum_seats),
    },
  }),
);

export const planTermsFrom = (rows: PlanTermsRow[]): PlanTerms => ({
  interval: rows[0]!.interval,
  currency: rows[0]!.currency,
  features: new Map(rows.flatMap((row) => (row.featureId ? [[row.featureId, row.terms]] : []))),
});
