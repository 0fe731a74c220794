import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import type { RequestScope } from '../model/tenant.ts';
import type { WebhookEndpoint } from '../model/webhooks.ts';
import { findDeliveriesById, findEndpointsById } from './service.ts';
import type { WebhookDeliveryRecord } from './store.ts';

/**
 * The webhook loaders of a request, made when it first needs one (node(id:) of a we_ or msg_ id):
 * the request's other loaders are made for every request, and most never read a webhook.
 */
export const webhookLoaders = createContextCache((scope: RequestScope) => ({
  /** By we_ id; null when the tenant has no such endpoint. */
  endpointById: new DataLoader<string, WebhookEndpoint | null>(async (ids) => {
    const found = await findEndpointsById(scope.em, scope.tenant, ids);
    return ids.map((id) => found.get(id) ?? null);
  }),
  /** By msg_ id, with the attempts; null when the tenant has no such delivery. */
  deliveryById: new DataLoader<string, WebhookDeliveryRecord | null>(async (ids) => {
    const found = await findDeliveriesById(scope.em, scope.tenant, ids);
    return ids.map((id) => found.get(id) ?? null);
  }),
}));
