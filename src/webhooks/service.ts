import type { EntityManager } from '@mikro-orm/postgresql';
import type { PublishedEvent } from '../events/store.js';
import { newId } from '../ids.js';
import { WebhookDelivery, WebhookEndpoint } from './entities.js';

/** Deliveries per insert statement. */
const rowsPerInsert = 500;

/**
 * Queues a delivery of each published event to every enabled endpoint of its tenant that asked
 * for its type, in the publishing transaction: an event is owed to its endpoints exactly when
 * it is published. Workers take them from there.
 */
export async function queueDeliveries(tx: EntityManager, published: readonly PublishedEvent[]): Promise<void> {
  const tenants = new Map(published.map((event) => [`${event.organizationId}\u0000${event.mode}`, { organization: event.organizationId, mode: event.mode }]));
  const endpoints = await tx.find(
    WebhookEndpoint,
    { $or: [...tenants.values()], disabledAt: null },
    { fields: ['id', 'organization', 'mode', 'events'], disableIdentityMap: true },
  );
  if (endpoints.length === 0) return;
  const now = new Date();
  const rows = published.flatMap((event) =>
    endpoints
      .filter((endpoint) => endpoint.organization.id === event.organizationId && endpoint.mode === event.mode && endpoint.events.includes(event.type))
      .map((endpoint) => ({
        id: newId('msg'),
        endpoint: endpoint.id,
        event: event.id,
        organization: event.organizationId,
        mode: event.mode,
        status: 'pending' as const,
        attempts: 0,
        nextAttemptAt: now,
        createdAt: now,
      })),
  );
  for (let i = 0; i < rows.length; i += rowsPerInsert) await tx.insertMany(WebhookDelivery, rows.slice(i, i + rowsPerInsert));
}
