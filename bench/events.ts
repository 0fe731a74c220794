import { fileURLToPath } from 'node:url';
import { startChild } from './processes.ts';
import { customerIds, featureCode } from './setup.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

/** What the subscribers and the webhook receiver got during one run. */
export type EventCounts = { subscribers: number; notifications: number; deliveries: number; distinctDeliveries: number; badSignatures: number };

export type EventLoad = { endpointId: string; stop(): Promise<EventCounts> };

async function graphql(url: string, key: string, query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: any; errors?: unknown[] };
  if (body.errors) throw new Error(`events setup failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/**
 * What a live deployment carries besides the writes: `subscribers` frontends, each watching the
 * balance of its own customer over SSE (as a seat-count widget does), and one webhook endpoint
 * that takes every event, answered by a receiver in a process of its own (bench/receiver.ts).
 */
export async function attachEventLoad(seatgateUrl: string, key: string, subscribers: number): Promise<EventLoad> {
  let notifications = 0;
  const receiver = await startChild('webhook receiver', ['bench/receiver.ts'], {
    cwd: root,
    env: process.env,
    ready: /receiver listening at (\S+)/,
  });
  const hook = `${receiver.url}/hook`;
  const { createWebhookEndpoint } = await graphql(
    seatgateUrl,
    key,
    `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }`,
    { input: { url: hook, events: ['SEAT_CHANGED', 'CHARGE_CREATED', 'SEAT_LIMIT_REACHED'], description: 'bench' } },
  );
  const endpointId: string = createWebhookEndpoint.endpoint.id;

  const controller = new AbortController();
  const streams = customerIds.slice(0, subscribers).map(async (customerId) => {
    const response = await fetch(seatgateUrl, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-api-key': key },
      body: JSON.stringify({
        query: `subscription($c: String!, $f: String) { seatBalanceChanged(customerId: $c, featureCode: $f) { id balance { current } } }`,
        variables: { c: customerId, f: featureCode },
      }),
    });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        notifications += decoder.decode(value, { stream: true }).split('event: next').length - 1;
      }
    } catch {
      // Aborted at stop().
    }
  });

  return {
    endpointId,
    async stop() {
      await graphql(seatgateUrl, key, `mutation($id: ID!) { disableWebhookEndpoint(id: $id) { id } }`, { id: endpointId });
      controller.abort();
      await Promise.all(streams);
      const received = (await (await fetch(`${receiver.url}/counts`)).json()) as Omit<EventCounts, 'subscribers' | 'notifications'>;
      await receiver.stop();
      return { subscribers, notifications, ...received };
    },
  };
}
