import DataLoader from 'dataloader';
import type { RequestScope } from '../model/tenant.ts';
import type { Feature, Plan } from '../model/catalog.ts';
import { findFeaturesByCode, findFeaturesById, findPlansById } from './service.ts';

export const createCatalogLoaders = (scope: RequestScope) => ({
  featureByCode: new DataLoader<string, Feature | null>(async (codes) => {
    const found = new Map((await findFeaturesByCode(scope.em, scope.tenant, codes)).map((f) => [f.code, f]));
    return codes.map((code) => found.get(code) ?? null);
  }),
  /** By feat_ id (node(id:)); null when the tenant has no such feature. */
  featureById: new DataLoader<string, Feature | null>(async (ids) => {
    const found = new Map((await findFeaturesById(scope.em, scope.tenant, ids)).map((f) => [f.id, f]));
    return ids.map((id) => found.get(id) ?? null);
  }),
  /** By plan_ id, with the plan's seat features (node(id:)); null when the tenant has no such plan. */
  planById: new DataLoader<string, Plan | null>(async (ids) => {
    const found = new Map((await findPlansById(scope.em, scope.tenant, ids)).map((p) => [p.id, p]));
    return ids.map((id) => found.get(id) ?? null);
  }),
});
