import { type Plugin, useReadinessCheck } from 'graphql-yoga';
import type { Orm } from '../db/orm.ts';

/** What the process says of itself to readiness probes; the server sets `draining` when it stops. */
export type Lifecycle = { draining: boolean };

async function databaseAnswers(orm: Orm): Promise<boolean> {
  try {
    await orm.em.fork().getConnection().execute('select 1');
    return true;
  } catch {
    return false;
  }
}

/**
 * Liveness, `/healthz`: 200 while the process serves requests, from the process alone, so that
 * a database blip never gets every replica restarted. Kept by hand: yoga's built-in health
 * check matches any path ending in its endpoint and answers before seatgate's request ids.
 */
export function useLiveness(): Plugin {
  return {
    onRequest({ url, endResponse, fetchAPI }) {
      if (url.pathname === '/healthz') endResponse(fetchAPI.Response.json({ status: 'ok' }));
    },
  };
}

/**
 * Readiness, `/readyz` (yoga's useReadinessCheck): 200 while the database answers and the
 * process is not draining, else 503, so a load balancer sends traffic elsewhere meanwhile.
 */
export function useReadiness(orm: Orm, lifecycle: Lifecycle): Plugin {
  return useReadinessCheck({
    endpoint: '/readyz',
    async check({ fetchAPI }) {
      const database = await databaseAnswers(orm);
      const status = lifecycle.draining ? 'draining' : database ? 'ok' : 'unavailable';
      return fetchAPI.Response.json({ status, database }, { status: status === 'ok' ? 200 : 503 });
    },
  });
}
