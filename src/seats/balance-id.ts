import { customerIdPrefix } from '../model/customer-refs.ts';

// A balance has no row id of its own: its customer and feature name it. Its global id spells
// both out, so every reader (a change's answer, a notification, a list) makes the same id with
// no read, and node(id:) finds the balance again through the customer's balances, scoped to the
// caller's organization and mode like every other read: another tenant's id answers null.

const balanceIdPrefix = 'sbal_';

/** `sbal_`, the suffix of the customer's `cus_` id, `_`, the feature code: short enough for opaqueIdRule. */
export const seatBalanceId = (customerRowId: string, featureCode: string): string =>
  `${balanceIdPrefix}${customerRowId.slice(customerIdPrefix.length)}_${featureCode}`;

/** A `cus_` suffix holds no underscore, so the first one after it starts the feature code. */
const balanceIdShape = /^sbal_([0-9a-z]{1,40})_([a-z0-9_]{1,50})$/;

/** The customer and feature a balance id names; null for a string no balance id can be. */
export function parseSeatBalanceId(id: string): { customerRowId: string; featureCode: string } | null {
  const [, customerSuffix, featureCode] = balanceIdShape.exec(id) ?? [];
  return customerSuffix && featureCode ? { customerRowId: `${customerIdPrefix}${customerSuffix}`, featureCode } : null;
}
