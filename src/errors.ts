/**
 * The contract's error codes (SEAT-CONTRACT.md §4). Services throw DomainError; the GraphQL layer
 * turns it into `extensions`, and anything that is not a DomainError is masked as internal_error.
 */
export const errorCodes = {
  validation_error: { type: 'validation_error', status: 400 },
  unauthorized: { type: 'authentication_error', status: 401 },
  customer_not_found: { type: 'not_found_error', status: 404 },
  feature_not_found: { type: 'not_found_error', status: 404 },
  plan_not_found: { type: 'not_found_error', status: 404 },
  no_active_subscription: { type: 'not_found_error', status: 404 },
  feature_not_in_plan: { type: 'billing_error', status: 400 },
  insufficient_seats: { type: 'billing_error', status: 400 },
  seat_limit_exceeded: { type: 'billing_error', status: 400 },
  idempotency_key_mismatch: { type: 'conflict_error', status: 409 },
  idempotency_in_progress: { type: 'conflict_error', status: 409 },
  conflict: { type: 'conflict_error', status: 409 },
  rate_limited: { type: 'rate_limit_error', status: 429 },
  internal_error: { type: 'internal_error', status: 500 },
} as const;

export type ErrorCode = keyof typeof errorCodes;

export type ErrorDetail = { field: string; message: string };

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly param: string | null;
  readonly details: ErrorDetail[] | null;

  constructor(code: ErrorCode, message: string, options: { param?: string | null; details?: ErrorDetail[] | null } = {}) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
    this.param = options.param ?? null;
    this.details = options.details ?? null;
  }

  get type(): string {
    return errorCodes[this.code].type;
  }

  get status(): number {
    return errorCodes[this.code].status;
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorCodes, value);
}

export function validationError(param: string | null, message: string, details?: ErrorDetail[]): DomainError {
  return new DomainError('validation_error', message, {
    param,
    details: details ?? [{ field: param ?? '', message }],
  });
}
