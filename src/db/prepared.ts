import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * A statement MikroORM cannot say well, kept by hand. MikroORM 6 writes parameters into the SQL
 * text, so PostgreSQL plans every call afresh; a join spends more time planning than running.
 * These run as named prepared statements instead: each connection plans one once and reuses the
 * plan. Parameters are named (`:customerIds`), never positional, and each row is parsed into a
 * typed record in one place.
 */
export type Statement<Params extends Record<string, unknown>, Row> = {
  name: string;
  /** As written, with named parameters. */
  text: string;
  /** As sent: `$1`, `$2`… in place of the names, in the order of `parameters`. */
  positionalText: string;
  parameters: readonly string[];
  parse(row: Record<string, unknown>): Row;
  /** Never set: names the parameters' type, so that `run` checks the values it is given against it. */
  readonly params?: (params: Params) => void;
};

// `:name`, but not the `::type` of a cast.
const namedParameter = /(?<![:\w]):(\w+)/g;

export function statement<Params extends Record<string, unknown>, Row>(
  name: string,
  text: string,
  parse: (row: Record<string, unknown>) => Row,
): Statement<Params, Row> {
  const parameters: string[] = [];
  const positionalText = text.replace(namedParameter, (_match, parameter: string) => {
    if (!parameters.includes(parameter)) parameters.push(parameter);
    return `$${parameters.indexOf(parameter) + 1}`;
  });
  return { name, text, positionalText, parameters, parse };
}

type PgConnection = { query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: Record<string, unknown>[] }> };
type KnexClient = {
  acquireConnection(): Promise<PgConnection & { __knexUid?: string; __knexTxId?: string }>;
  releaseConnection(connection: PgConnection): Promise<unknown>;
  emit(event: 'query', query: Record<string, unknown>): void;
};

/**
 * Runs a statement on `em`'s connection, inside its transaction when it has one. Straight to
 * the pg connection of MikroORM's pool: knex's raw query builder cost as much CPU as the query
 * itself. knex's `query` event is still emitted, for whoever counts statements.
 */
export async function run<Params extends Record<string, unknown>, Row>(em: EntityManager, statement: Statement<Params, Row>, params: Params): Promise<Row[]> {
  const values = statement.parameters.map((parameter) => {
    if (!(parameter in params)) throw new Error(`statement ${statement.name}: no value for :${parameter}`);
    return params[parameter];
  });
  const transaction = em.getTransactionContext<{ client: KnexClient }>();
  const client = transaction?.client ?? (em.getConnection().getKnex().client as KnexClient);
  const connection = await client.acquireConnection();
  try {
    const { __knexUid, __knexTxId } = connection;
    client.emit('query', { __knexUid, __knexTxId, sql: statement.positionalText, bindings: values });
    const result = await connection.query({ name: statement.name, text: statement.positionalText, values });
    return result.rows.map((row) => statement.parse(row));
  } finally {
    await client.releaseConnection(connection);
  }
}

/**
 * A timestamp selected as milliseconds since the epoch (truncated, as Date keeps them), for
 * statements that return many: pg parses a number far faster than a timestamp's text, and a
 * hundred customers with their balances carry two hundred. `read.date` takes
 * either. Computed in float8, exactly: truncated to the millisecond first, the product is within
 * a hair of a whole number, which round() lands on. `extract` would compute in numeric, which
 * costs PostgreSQL twice what the timestamp's text does.
 */
export const epochMs = (column: string, as: string) => `round(date_part('epoch', date_trunc('milliseconds', ${column})) * 1000) as ${as}`;

/** Column readers for `parse`: PostgreSQL's bigint arrives as a string, timestamps as Date or text. */
export const read = {
  text: (value: unknown): string => value as string,
  nullableText: (value: unknown): string | null => (value ?? null) as string | null,
  int: (value: unknown): number => value as number,
  bigint: (value: unknown): number => Number(value),
  bool: (value: unknown): boolean => value as boolean,
  date: (value: unknown): Date => (value instanceof Date ? value : new Date(value as string | number)),
};
