/**
 * The contract's error codes (SEAT-CONTRACT.md §4). Services throw DomainError; the GraphQL layer
 * turns it into `extensions`, and anything that is not a DomainError is masked as internal_error.
 */
export const errorCodes = {
  validation_error: {
    type: 'validation_error',
    status: 400,
    description:
      'The request is malformed or an argument breaks its rule. `param` names the field and `details` lists every problem; fix them and send it again.',
  },
  invalid_json: {
    type: 'validation_error',
    status: 400,
    description: 'The body is not JSON (REST door). Send a JSON object with Content-Type: application/json.',
  },
  unauthorized: {
    type: 'authentication_error',
    status: 401,
    description: 'The x-api-key header is missing, malformed, unknown or revoked. Send a live or test key of your organization.',
  },
  customer_not_found: {
    type: 'not_found_error',
    status: 404,
    description: 'No customer of your organization and mode has this id: neither a cus_ id nor an external id matches.',
  },
  feature_not_found: { type: 'not_found_error', status: 404, description: 'No feature of your organization and mode has this code.' },
  plan_not_found: { type: 'not_found_error', status: 404, description: 'No plan of your organization and mode has this code.' },
  no_active_subscription: {
    type: 'not_found_error',
    status: 404,
    description: 'The customer has no active subscription, so it holds no seat balances yet. Subscribe it to a plan first.',
  },
  subscription_not_found: {
    type: 'not_found_error',
    status: 404,
    description:
      "No subscription of your organization and mode has this id (sub_…). A customer's subscription, the active one or the one that ended last, is Customer.subscription over GraphQL.",
  },
  webhook_endpoint_not_found: {
    type: 'not_found_error',
    status: 404,
    description: 'No webhook endpoint of your organization and mode has this id. webhookEndpoints lists yours.',
  },
  webhook_delivery_not_found: {
    type: 'not_found_error',
    status: 404,
    description:
      "No webhook delivery of your organization and mode has this id (the webhook-id header the delivery was sent with). webhookDeliveries lists an endpoint's deliveries.",
  },
  route_not_found: { type: 'not_found_error', status: 404, description: 'No REST route has this path. See /api/v1/openapi.json for the routes.' },
  method_not_allowed: {
    type: 'invalid_request_error',
    status: 405,
    description: 'The path exists, but not with this HTTP method. The Allow header lists the methods it takes.',
  },
  plan_change_scheduled: {
    type: 'billing_error',
    status: 400,
    description:
      'A cheaper plan, or a shorter interval, takes effect at the period end, so there is nothing to prorate now (as Commet answers). Apply it with POST /subscriptions/{id}/change-plan, which schedules it; over GraphQL, previewPlanChange answers it with timing AT_PERIOD_END.',
  },
  feature_not_in_plan: { type: 'billing_error', status: 400, description: "The feature exists but the customer's plan does not offer it as a seat feature." },
  insufficient_seats: {
    type: 'billing_error',
    status: 400,
    description: 'Removing this many seats would take the balance below zero. Nothing was changed; read the balance and remove at most that many.',
  },
  seat_limit_exceeded: {
    type: 'billing_error',
    status: 400,
    description:
      "The change would take the balance outside what the plan allows: above its maximumSeats, below its minimumSeats, or above includedSeats when the plan allows no overage. Nothing was changed. A refusal at a limit lists it in `details` ({featureCode, limit: MINIMUM or MAXIMUM, value: the limit}); the plan's seatFeatures show every limit.",
  },
  idempotency_key_mismatch: {
    type: 'conflict_error',
    status: 409,
    description: 'This idempotency key was already used for another operation or other input. Use a new key for a new call.',
  },
  idempotency_in_progress: {
    type: 'conflict_error',
    status: 409,
    description: 'A call with this idempotency key is still running. Retry in a moment to get its result.',
  },
  conflict: {
    type: 'conflict_error',
    status: 409,
    description:
      'The request conflicts with the current state: a code or external id already taken, a second active subscription, or a subscription still catching up on periods. The message says which; some are worth retrying.',
  },
  rate_limited: {
    type: 'rate_limit_error',
    status: 429,
    description: 'This API key sent more requests than its limit allows. Wait the seconds of the Retry-After header.',
  },
  internal_error: {
    type: 'internal_error',
    status: 500,
    description: 'Something failed on our side. Nothing was half-written; quote the reference in the message when you report it.',
  },
} as const;

export type ErrorCode = keyof typeof errorCodes;

/**
 * One problem of a failed call: the input field it is about and what is wrong. A seat limit
 * refusal also names the feature, which limit was hit, and the limit's value.
 */
export type ErrorDetail = {
  field: string;
  message: string;
  featureCode?: string;
  limit?: SeatLimitKind;
  value?: number;
};

/** Which of a plan feature's limits a refused change would have broken. */
export type SeatLimitKind = 'MINIMUM' | 'MAXIMUM';

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
