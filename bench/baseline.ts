/**
 * The baseline the benchmark compares seatgate with: the same seat work written "the usual way",
 * node:http and pg with parameterized queries, no framework. Its tenant comes from the
 * environment (BASELINE_ORGANIZATION_ID, BASELINE_MODE), so no request is authenticated.
 *
 *   POST /add       {customerId, featureCode, count}  ->  {id, previousBalance, newBalance}
 *   POST /balances  {ids: [external ids]}             ->  [{id, seatBalances: [{featureCode, current}]}]
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';

const databaseUrl = process.env.DATABASE_URL;
const organizationId = process.env.BASELINE_ORGANIZATION_ID;
const mode = process.env.BASELINE_MODE ?? 'test';
if (!databaseUrl || !organizationId) {
  console.error('baseline needs DATABASE_URL and BASELINE_ORGANIZATION_ID');
  process.exit(2);
}

// The same pool size and timeouts as seatgate's defaults, so neither gets more connections.
const pool = new pg.Pool({
  connectionString: databaseUrl,
  max: Number(process.env.DB_POOL_MAX ?? 10),
  idleTimeoutMillis: 30_000,
  connectionTimeoutMillis: 5000,
  statement_timeout: 15_000,
});
// An idle connection the server dropped is replaced on the next checkout; it must not crash us.
pool.on('error', (error) => console.error(JSON.stringify({ level: 'warn', message: 'idle connection lost', error: { message: error.message } })));

class HttpError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function add(input: { customerId?: unknown; featureCode?: unknown; count?: unknown }) {
  const { customerId, featureCode, count } = input;
  if (typeof customerId !== 'string' || typeof featureCode !== 'string' || !Number.isInteger(count) || (count as number) <= 0) {
    throw new HttpError(400, 'validation_error', 'customerId, featureCode and a positive integer count are required');
  }
  const client = await pool.connect();
  try {
    await client.query('begin');
    const locked = await client.query<{ customer_id: string; feature_id: string; subscription_id: string; current: number }>(
      `select b.customer_id, b.feature_id, s.id as subscription_id, b.current
         from customer c
         join subscription s on s.customer_id = c.id and s.status = 'ACTIVE'
         join feature f on f.organization_id = c.organization_id and f.mode = c.mode and f.code = $4
         join seat_balance b on b.customer_id = c.id and b.feature_id = f.id
        where c.organization_id = $1 and c.mode = $2 and c.external_id = $3
          for update of b`,
      [organizationId, mode, customerId, featureCode],
    );
    const row = locked.rows[0];
    if (!row) throw new HttpError(404, 'not_found', `no balance of '${featureCode}' for '${customerId}'`);
    const updated = await client.query<{ current: number }>(
      `update seat_balance set current = current + $3, as_of = now() where customer_id = $1 and feature_id = $2 returning current`,
      [row.customer_id, row.feature_id, count],
    );
    const newBalance = updated.rows[0]!.current;
    const id = `sev_${randomBytes(12).toString('hex')}`;
    await client.query(
      `insert into seat_event (id, organization_id, mode, customer_id, feature_id, subscription_id, kind, quantity, previous_balance, new_balance, ts)
       values ($1, $2, $3, $4, $5, $6, 'ADD', $7, $8, $9, now())`,
      [id, organizationId, mode, row.customer_id, row.feature_id, row.subscription_id, count, row.current, newBalance],
    );
    await client.query('commit');
    return { id, previousBalance: row.current, newBalance };
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

async function balances(input: { ids?: unknown }) {
  const ids = input.ids;
  if (!Array.isArray(ids) || ids.length > 100 || !ids.every((id) => typeof id === 'string')) {
    throw new HttpError(400, 'validation_error', 'ids must be at most 100 strings');
  }
  const { rows } = await pool.query<{ external_id: string; feature_code: string | null; current: number | null }>(
    `select c.external_id, f.code as feature_code, b.current
       from customer c
       left join seat_balance b on b.customer_id = c.id
       left join feature f on f.id = b.feature_id
      where c.organization_id = $1 and c.mode = $2 and c.external_id = any($3)
      order by c.external_id, f.code`,
    [organizationId, mode, ids],
  );
  const byId = new Map<string, { featureCode: string; current: number }[]>();
  for (const row of rows) {
    const list = byId.get(row.external_id) ?? [];
    if (row.feature_code !== null && row.current !== null) list.push({ featureCode: row.feature_code, current: row.current });
    byId.set(row.external_id, list);
  }
  // In the order asked, null for unknown ids, as seatgate's customers(ids) answers.
  return (ids as string[]).map((id) => (byId.has(id) ? { id, seatBalances: byId.get(id) } : null));
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (parsed && typeof parsed === 'object') return parsed as Record<string, unknown>;
  } catch {
    // Answered below like any body that is not a JSON object.
  }
  throw new HttpError(400, 'validation_error', 'the body must be a JSON object');
}

const routes: Record<string, (input: Record<string, unknown>) => Promise<unknown>> = { '/add': add, '/balances': balances };

function send(response: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

const server = createServer((request, response) => {
  const route = request.method === 'POST' ? routes[request.url ?? ''] : undefined;
  if (!route) return send(response, 404, { error: { code: 'not_found', message: 'POST /add or /balances' } });
  readJson(request)
    .then(route)
    .then(
      (result) => send(response, 200, result),
      (error: unknown) => {
        if (error instanceof HttpError) return send(response, error.status, { error: { code: error.code, message: error.message } });
        console.error(JSON.stringify({ level: 'error', message: 'request failed', error: String(error) }));
        send(response, 500, { error: { code: 'internal_error', message: 'internal error' } });
      },
    );
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(() => void pool.end().finally(() => process.exit(0)));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// stdin is a pipe from the runner: when it closes, the runner is gone and nobody will stop us.
process.stdin.on('end', stop).resume();

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(`baseline listening at http://127.0.0.1:${port}`);
});
