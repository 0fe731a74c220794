import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { DomainError } from '../common/errors.ts';

/** True when `error` is PostgreSQL refusing a duplicate under the named unique constraint or index. */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  if (!(error instanceof UniqueConstraintViolationException)) return false;
  const cause = error as unknown as { constraint?: string; message: string };
  return cause.constraint === constraint || cause.message.includes(`"${constraint}"`);
}

/**
 * Flushes the unit of work; a duplicate refused by one of the named unique constraints becomes
 * that constraint's contract error. The database, not a prior read, decides what is a duplicate.
 */
export async function flushUnique(em: EntityManager, duplicates: Record<string, () => DomainError>): Promise<void> {
  try {
    await em.flush();
  } catch (error) {
    const constraint = Object.keys(duplicates).find((name) => isUniqueViolation(error, name));
    if (constraint) throw duplicates[constraint]!();
    throw error;
  }
}
