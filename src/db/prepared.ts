import type { EntityManager } from '@mikro-orm/postgresql';
import { CompiledQuery, type Kysely } from 'kysely';
import pg from 'pg';

/**
 * A statement MikroORM cannot say well, kept by hand. MikroORM writes parameters into the SQL
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
  if (!preparedNames.has(positionalText)) preparedNames.set(positionalText, name);
  return { name, text, positionalText, parameters, parse };
}

/** The named statements, by the text a connection receives: what PreparingClient prepares. */
const preparedNames = new Map<string, string>();

/** Told of each statement a pooled connection sends, and the connection: tests count them. */
export type StatementObserver = (sql: string, connection: object) => void;

/**
 * The client class of the pool (pg's `Client` option). A statement's text arrives from Kysely as
 * a plain parameterized query, and goes out as the named prepared statement it is.
 *
 * A connection that ends while checked out (killed, or the server gone) goes back to the pool
 * at once, to be discarded: Kysely releases a transaction's connection only when its commit or
 * rollback succeeds, and on a dead connection neither can, so the pool would count it as in use
 * for good, and a few such deaths would leave no connection to serve anything.
 */
export function preparingClient(observe: StatementObserver | null): typeof pg.Client {
  return class PreparingClient extends pg.Client {
    #poolRelease: ((error?: Error | boolean) => void) | undefined;
    #released = true;

    // biome-ignore lint/suspicious/noExplicitAny: pg.Client's constructor options, passed on unchanged.
    constructor(config?: any) {
      super(config);
      this.on('end', () => {
        if (!this.#released) this.release(new Error('the connection ended while in use'));
      });
    }

    // pg-pool sets `release` at each checkout; whoever calls it (the holder, or the end above) calls it once.
    set release(poolRelease: (error?: Error | boolean) => void) {
      this.#poolRelease = poolRelease;
      this.#released = false;
    }

    get release(): (error?: Error | boolean) => void {
      return (error) => {
        if (this.#released) return;
        this.#released = true;
        this.#poolRelease?.(error);
      };
    }

    // pg's query() has a dozen overloads; this passes every call through, naming the statements it knows.
    // biome-ignore lint/suspicious/noExplicitAny: the overloads' arguments, passed on unchanged.
    override query(config: any, values?: any, callback?: any): any {
      const text: unknown = typeof config === 'string' ? config : config?.text;
      if (observe && typeof text === 'string') observe(text, this);
      const name = typeof config === 'string' ? preparedNames.get(config) : undefined;
      if (name) return super.query({ name, text: config, values }, callback);
      return super.query(config, values, callback);
    }
  } as typeof pg.Client;
}

/**
 * Runs a statement on `em`'s connection, inside its transaction when it has one: straight to
 * Kysely's connection with its parameters (MikroORM's own execute would write them into the text),
 * and so to PreparingClient, which sends it as the named statement.
 */
export async function run<Params extends Record<string, unknown>, Row>(em: EntityManager, statement: Statement<Params, Row>, params: Params): Promise<Row[]> {
  const values = statement.parameters.map((parameter) => {
    if (!(parameter in params)) throw new Error(`statement ${statement.name}: no value for :${parameter}`);
    return params[parameter];
  });
  const executor = em.getTransactionContext<Kysely<unknown>>() ?? em.getConnection().getClient();
  const result = await executor.executeQuery(CompiledQuery.raw(statement.positionalText, values));
  return (result.rows as Record<string, unknown>[]).map((row) => statement.parse(row));
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

/** Column readers for `parse`: PostgreSQL's bigint arrives as a string, timestamps as text (MikroORM's type parsers) or epoch milliseconds. */
export const read = {
  text: (value: unknown): string => value as string,
  nullableText: (value: unknown): string | null => (value ?? null) as string | null,
  int: (value: unknown): number => value as number,
  nullableInt: (value: unknown): number | null => (value ?? null) as number | null,
  bigint: (value: unknown): number => Number(value),
  bool: (value: unknown): boolean => value as boolean,
  date: (value: unknown): Date => (value instanceof Date ? value : new Date(value as string | number)),
};
