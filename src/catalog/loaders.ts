import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Tenant } from '../tenant.js';
import type { Feature, Plan } from './entities.js';
import { findFeaturesByCode, findFeaturesById, findPlansById } from './service.js';

export const createCatalogLoaders = (em: EntityManager, tenant: Tenant) => ({
  featureByCode: new DataLoader<string, Feature | null>(async (codes) => {
    const found = new Map((await findFeaturesByCode(em, tenant, codes)).map((f) => [f.code, f]));
    return codes.map((code) => found.get(code) ?? null);
  }),
  /** By feat_ id (node(id:)); null when the tenant has no such feature. */
  featureById: new DataLoader<string, Feature | null>(async (ids) => {
    const found = new Map((await findFeaturesById(em, tenant, ids)).map((f) => [f.id, f]));
    return ids.map((id) => found.get(id) ?? null);
  }),
  /** By plan_ id, with the plan's seat features (node(id:)); null when the tenant has no such plan. */
  planById: new DataLoader<string, Plan | null>(async (ids) => {
    const found = new Map((await findPlansById(em, tenant, ids)).map((p) => [p.id, p]));
    return ids.map((id) => found.get(id) ?? null);
  }),
});
