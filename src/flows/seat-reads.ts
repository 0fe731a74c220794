import type { EntityManager } from '@mikro-orm/postgresql';
import type { createCatalogLoaders } from '../catalog/loaders.ts';
import { findFeaturesByCode } from '../catalog/service.ts';
import { DomainError } from '../common/errors.ts';
import { loadOne } from '../common/list-loader.ts';
import type { Connection, ConnectionArgs } from '../common/relay.ts';
import { getCustomer } from '../customers/service.ts';
import { featureNotFound } from '../model/catalog.ts';
import { customerNotFound } from '../model/customer-refs.ts';
import type { SeatBalanceRecord, SeatEventRecord } from '../model/records.ts';
import type { Tenant } from '../model/tenant.ts';
import { ledgerPage, ledgerPageRequest } from '../seats/ledger.ts';
import type { createSeatLoaders } from '../seats/loaders.ts';
import type { CustomerWithSeatBalances } from '../seats/service.ts';
import type { createSubscriptionLoaders } from '../subscriptions/loaders.ts';

// Reading a customer's seats: balances through the request's loaders, and the ledger, each with
// the contract error that says why there is nothing (no such customer, feature, subscription).

/** The loaders a seat read goes through: balances, and the features and subscriptions that explain a missing one. */
type ReadLoaders = ReturnType<typeof createSeatLoaders> & ReturnType<typeof createCatalogLoaders> & ReturnType<typeof createSubscriptionLoaders>;

/** A customer with its balances, or customer_not_found. */
export async function loadCustomerWithBalances(loaders: ReadLoaders, ref: string): Promise<CustomerWithSeatBalances> {
  const customer = await loadOne(loaders.customersWithSeatBalancesByRefs, ref);
  if (!customer) throw customerNotFound(ref);
  return customer;
}

/** Every balance of a customer's plan, or the contract error saying why there are none. */
export async function loadSeatBalances(loaders: ReadLoaders, ref: string): Promise<SeatBalanceRecord[]> {
  const customer = await loadCustomerWithBalances(loaders, ref);
  // Balances are read under the active subscription, else the one that ended last; none may also
  // mean a plan without seat features.
  if (customer.seatBalances.length === 0 && !(await loaders.latestSubscriptionByCustomerId.load(customer.id))) {
    throw new DomainError('no_active_subscription', `Customer '${ref}' has no active subscription.`, { param: 'customerId' });
  }
  return customer.seatBalances;
}

/** A customer's balances: those read with it, else through the batched loader. */
export const seatBalancesOf = (loaders: ReadLoaders, customer: { id: string; seatBalances?: SeatBalanceRecord[] }) =>
  customer.seatBalances ?? loaders.seatBalancesByCustomerId.load(customer.id);

/** One balance through the batched loaders, or the contract error saying why there is none. */
export async function loadSeatBalance(
  loaders: ReadLoaders,
  customer: { id: string; seatBalances?: SeatBalanceRecord[] },
  featureCode: string,
): Promise<SeatBalanceRecord> {
  const customerId = customer.id;
  const balances = await seatBalancesOf(loaders, customer);
  const balance = balances.find((b) => b.featureCode === featureCode);
  if (balance) return balance;
  if (!(await loaders.featureByCode.load(featureCode))) {
    throw featureNotFound(featureCode);
  }
  if (!(await loaders.latestSubscriptionByCustomerId.load(customerId))) {
    throw new DomainError('no_active_subscription', 'The customer has no active subscription.', { param: 'customerId' });
  }
  throw new DomainError('feature_not_in_plan', `Feature '${featureCode}' is not in the customer's plan.`, { param: 'featureCode' });
}

/**
 * A customer's ledger, or one balance of it, newest first (seats/ledger.ts pages it). The page
 * asked for is checked before anything is read; then the customer, then the feature.
 */
export async function listSeatEvents(
  em: EntityManager,
  tenant: Tenant,
  args: ConnectionArgs & { customerId: string; featureCode?: string | null },
): Promise<Connection<SeatEventRecord>> {
  const request = ledgerPageRequest(args);
  const customer = await getCustomer(em, tenant, args.customerId);
  let featureId: string | null = null;
  if (args.featureCode) {
    const [feature] = await findFeaturesByCode(em, tenant, [args.featureCode]);
    if (!feature) throw featureNotFound(args.featureCode);
    featureId = feature.id;
  }
  return ledgerPage(em, tenant, { customerId: customer.id, featureId }, request);
}
