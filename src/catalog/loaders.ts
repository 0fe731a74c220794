import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Tenant } from '../tenant.js';
import type { Feature } from './entities.js';
import { findFeaturesByCode } from './service.js';

export const createCatalogLoaders = (em: EntityManager, tenant: Tenant) => ({
  featureByCode: new DataLoader<string, Feature | null>(async (codes) => {
    const found = new Map((await findFeaturesByCode(em, tenant, codes)).map((f) => [f.code, f]));
    return codes.map((code) => found.get(code) ?? null);
  }),
});
