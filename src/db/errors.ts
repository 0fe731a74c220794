import { UniqueConstraintViolationException } from '@mikro-orm/core';

/** True when `error` is PostgreSQL refusing a duplicate under the named unique constraint or index. */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  if (!(error instanceof UniqueConstraintViolationException)) return false;
  const cause = error as unknown as { constraint?: string; message: string };
  return cause.constraint === constraint || cause.message.includes(`"${constraint}"`);
}
