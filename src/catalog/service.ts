import type { EntityManager } from '@mikro-orm/postgresql';
import { flushUnique } from '../db/errors.ts';
import { run } from '../db/prepared.ts';
import { PLAN_TERMS, type PlanTerms, planTermsFrom } from './store.ts';
import { DomainError } from '../common/errors.ts';
import { newId } from '../common/ids.ts';
import { type Tenant, tenantWhere } from '../model/tenant.ts';
import { Feature, type FeatureType, featureNotFound, Plan, type PlanInterval, PlanSeatFeature } from '../model/catalog.ts';

export type CreateFeatureInput = { code: string; name: string; type: FeatureType };

export type CreatePlanInput = {
  code: string;
  name: string;
  currency: string;
  interval: PlanInterval;
  seatFeatures: {
    featureCode: string;
    includedSeats: number;
    unlimited?: boolean | null;
    overageEnabled: boolean;
    unitPrice: number;
    minimumSeats?: number | null;
    maximumSeats?: number | null;
  }[];
};

export async function createFeature(em: EntityManager, tenant: Tenant, input: CreateFeatureInput): Promise<Feature> {
  const feature = em.create(Feature, { id: newId('feat'), ...tenantWhere(tenant), ...input });
  await flushUnique(em, {
    feature_tenant_code_unique: () => new DomainError('conflict', `A feature with code '${input.code}' already exists.`, { param: 'code' }),
  });
  return feature;
}

export async function listFeatures(em: EntityManager, tenant: Tenant): Promise<Feature[]> {
  return em.find(Feature, tenantWhere(tenant), { orderBy: { code: 'asc' } });
}

export async function findFeaturesByCode(em: EntityManager, tenant: Tenant, codes: readonly string[]): Promise<Feature[]> {
  return em.find(Feature, { ...tenantWhere(tenant), code: { $in: [...codes] } });
}

export async function findFeaturesById(em: EntityManager, tenant: Tenant, ids: readonly string[]): Promise<Feature[]> {
  return em.find(Feature, { ...tenantWhere(tenant), id: { $in: [...ids] } });
}

export async function createPlan(em: EntityManager, tenant: Tenant, input: CreatePlanInput): Promise<Plan> {
  const codes = input.seatFeatures.map((entry) => entry.featureCode);
  const features = new Map((await findFeaturesByCode(em, tenant, codes)).map((f) => [f.code, f]));
  const missing = codes.findIndex((code) => !features.has(code));
  if (missing >= 0) {
    throw featureNotFound(codes[missing]!, `seatFeatures.${missing}.featureCode`);
  }
  const plan = em.create(Plan, {
    id: newId('plan'),
    ...tenantWhere(tenant),
    code: input.code,
    name: input.name,
    currency: input.currency,
    interval: input.interval,
  });
  for (const entry of input.seatFeatures) {
    em.create(PlanSeatFeature, {
      plan,
      feature: features.get(entry.featureCode)!,
      includedSeats: entry.includedSeats,
      unlimited: entry.unlimited ?? false,
      overageEnabled: entry.overageEnabled,
      unitPrice: entry.unitPrice,
      minimumSeats: entry.minimumSeats ?? 0,
      maximumSeats: entry.maximumSeats ?? null,
    });
  }
  await flushUnique(em, {
    plan_tenant_code_unique: () => new DomainError('conflict', `A plan with code '${input.code}' already exists.`, { param: 'code' }),
  });
  return plan;
}

export async function listPlans(em: EntityManager, tenant: Tenant): Promise<Plan[]> {
  return em.find(Plan, tenantWhere(tenant), { populate: ['seatFeatures.feature'], orderBy: { code: 'asc' } });
}

/** Plans by id with their seat features; ids of other tenants match nothing. */
export async function findPlansById(em: EntityManager, tenant: Tenant, ids: readonly string[]): Promise<Plan[]> {
  return em.find(Plan, { ...tenantWhere(tenant), id: { $in: [...ids] } }, { populate: ['seatFeatures.feature'] });
}

export async function findPlanByCode(em: EntityManager, tenant: Tenant, code: string): Promise<Plan | null> {
  return em.findOne(Plan, { ...tenantWhere(tenant), code }, { populate: ['seatFeatures.feature'] });
}

/** The codes of the seat features a plan offers. */
export async function featureCodesOfPlan(em: EntityManager, planId: string): Promise<Set<string>> {
  const offered = await em.find(PlanSeatFeature, { plan: planId }, { populate: ['feature'] });
  return new Set(offered.map((terms) => terms.feature.code));
}

/** A plan's period, currency and terms per seat feature, read as plain values. */
export async function planTerms(em: EntityManager, planId: string): Promise<PlanTerms> {
  return planTermsFrom(await run(em, PLAN_TERMS, { planId }));
}
