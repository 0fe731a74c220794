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
  text: string;
  parse(row: Record<string, unknown>): Row;
};

export function statement<Params extends Record<string, unknown>, Row>(
  name: string,
  text: string,
  parse: (row: Record<string, unknown>) => Row,
): Statement<Params, Row> {
  return { name, text, parse };
}

/** Runs a statement on `em`'s connection, inside its transaction when it has one. */
export async function run<Params extends Record<string, unknown>, Row>(em: EntityManager, statement: Statement<Params, Row>, params: Params): Promise<Row[]> {
  let query = em.getConnection().getKnex().raw(statement.text, params).options({ name: statement.name });
  const transaction = em.getTransactionContext();
  if (transaction) query = query.transacting(transaction);
  const result = (await query) as { rows: Record<string, unknown>[] };
  return result.rows.map((row) => statement.parse(row));
}

/** Column readers for `parse`: PostgreSQL's bigint arrives as a string, timestamps as Date or text. */
export const read = {
  text: (value: unknown): string => value as string,
  nullableText: (value: unknown): string | null => (value ?? null) as string | null,
  int: (value: unknown): number => value as number,
  bigint: (value: unknown): number => Number(value),
  bool: (value: unknown): boolean => value as boolean,
  date: (value: unknown): Date => (value instanceof Date ? value : new Date(value as string)),
};
