import type { EntityManager } from '@mikro-orm/postgresql';

/** The caller's tenant: one organization in one mode. Every read and write is scoped by it. */
export type Mode = 'live' | 'test';

export type Tenant = {
  organizationId: string;
  mode: Mode;
};

/** An entity query's (or new entity's) tenant columns. */
export const tenantWhere = (tenant: Tenant) => ({ organization: tenant.organizationId, mode: tenant.mode });

/** What a domain's loaders read with: the request's unit of work (looked up when a batch runs) and its tenant. */
export type RequestScope = { readonly em: EntityManager; readonly tenant: Tenant };
