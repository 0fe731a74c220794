import { z } from 'zod';
import { DomainError, type ErrorDetail } from './errors.ts';

/** Argument paths as callers know them: the input object's own fields, without `input.`. */
export function paramOf(path: readonly PropertyKey[]): string {
  const parts = path.map(String);
  return (parts[0] === 'input' ? parts.slice(1) : parts).join('.');
}

/** plugin-zod's failures become one validation_error naming the first field, listing every problem. */
/** One detail per problem; a record key breaking its rule says which rule (zod only says "Invalid key"). */
export const zodErrorDetails = (error: z.ZodError): ErrorDetail[] =>
  error.issues.flatMap((issue) =>
    issue.code === 'invalid_key'
      ? issue.issues.map((inner) => ({ field: paramOf(issue.path), message: inner.message }))
      : [{ field: paramOf(issue.path), message: issue.message }],
  );

/** One validation_error for every problem in `details`, named after the first. */
export function validationErrorOf(details: ErrorDetail[]): DomainError {
  const first = details[0] ?? { field: '', message: 'Invalid input.' };
  return new DomainError('validation_error', `${first.field || 'input'}: ${first.message}`, {
    param: first.field || null,
    details,
  });
}

export const zodValidationError = (error: z.ZodError): DomainError => validationErrorOf(zodErrorDetails(error));

// Shared argument rules (SEAT-CONTRACT.md §2–3).
type StringRule = { minLength: number; maxLength: number; regex?: [RegExp, { message: string }] };

export const featureCodeRule: StringRule = {
  minLength: 1,
  maxLength: 50,
  regex: [/^[a-z0-9_]+$/, { message: 'must match ^[a-z0-9_]+$' }],
};
// PostgreSQL text cannot hold NUL, so it is refused up front rather than failing in the database.
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing NUL is the point (PostgreSQL text cannot hold it).
const noNul: [RegExp, { message: string }] = [/^[^\u0000]*$/, { message: 'must not contain NUL characters' }];
export const customerIdRule: StringRule = { minLength: 1, maxLength: 200, regex: noNul };
export const nameRule: StringRule = { minLength: 1, maxLength: 200, regex: noNul };
/** An opaque id argument (we_…, msg_…): one not found answers the domain's not-found code. */
export const opaqueIdRule: StringRule = { minLength: 1, maxLength: 100, regex: noNul };
/** Free text the caller keeps with a record, as a description. */
export const noteRule = (maxLength: number): StringRule => ({ minLength: 0, maxLength, regex: noNul });
// Printable: no control, format, private-use or unassigned code points.
const printable = /^\P{C}+$/u;
export const idempotencyKeyRule: StringRule = {
  minLength: 1,
  maxLength: 255,
  regex: [printable, { message: 'must be printable characters' }],
};

/** The Idempotency-Key header, which obeys the same rule as the idempotencyKey argument; a bad one is a validation_error. */
export function checkIdempotencyKeyHeader(header: string | null): string | null {
  if (header !== null && !(header.length <= idempotencyKeyRule.maxLength && printable.test(header))) {
    throw new DomainError('validation_error', 'Idempotency-Key must be 1-255 printable characters.', {
      param: 'Idempotency-Key',
      details: [{ field: 'Idempotency-Key', message: 'must be 1-255 printable characters' }],
    });
  }
  return header;
}

/** A string rule as a zod schema, for inputs that do not pass through GraphQL (the REST door). */
export function zodString(rule: StringRule): z.ZodString {
  const schema = z.string().min(rule.minLength).max(rule.maxLength);
  return rule.regex ? schema.regex(rule.regex[0], rule.regex[1].message) : schema;
}
