import type { Plugin } from 'graphql-yoga';
import type { Orm } from '../db/orm.js';

async function databaseAnswers(orm: Orm): Promise<boolean> {
  try {
    await orm.em.fork().getConnection().execute('select 1');
    return true;
  } catch {
    return false;
  }
}

/** `/healthz` and `/readyz`: 200 while the database answers, 503 otherwise. No key needed. */
export function useHealthChecks(orm: Orm): Plugin {
  return {
    async onRequest({ url, endResponse, fetchAPI }) {
      if (url.pathname !== '/healthz' && url.pathname !== '/readyz') return;
      const ok = await databaseAnswers(orm);
      endResponse(fetchAPI.Response.json({ status: ok ? 'ok' : 'unavailable', database: ok }, { status: ok ? 200 : 503 }));
    },
  };
}
