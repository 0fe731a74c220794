import { createHash } from 'node:crypto';
import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { describe, expect, test } from './fixtures.ts';
import { graphql, type Harness, mutations, newTenant, type SeatScenario, subscribe } from './helpers.ts';

// A frontend's normalised cache, for real: Apollo Client's InMemoryCache behind a link that calls
// the app's fetch. A query is cached once; each seat change is then sent as a frontend sends it,
// asking for what it shows, and the query is read back from the cache alone, never refetched.

const graphqlUrl = 'http://seatgate.test/graphql';
const appFetch =
  (harness: Harness) =>
  async (url: RequestInfo | URL, init?: RequestInit): Promise<Response> =>
    harness.yoga.fetch(String(url), init as RequestInit);

const apolloFor = (harness: Harness, s: SeatScenario, link?: PersistedQueryLink) => {
  const http = new HttpLink({ uri: graphqlUrl, fetch: appFetch(harness), headers: { 'x-api-key': s.key } });
  return new ApolloClient({ cache: new InMemoryCache(), link: link ? link.concat(http) : http });
};

const balancesQuery = gql`
  query Balances($ids: [String!]!) {
    customers(ids: $ids) {
      id
      seatBalances { id featureCode current }
    }
  }
`;

/** What every change asks for: the event, and the balance and customer it changed, by id. */
const changed = 'id newBalance balance { id current } customer { id }';
const addSeats = gql`mutation Add($input: AddSeatsInput!) { addSeats(input: $input) { ${changed} } }`;
const removeSeats = gql`mutation Remove($input: RemoveSeatsInput!) { removeSeats(input: $input) { ${changed} } }`;
const setSeats = gql`mutation Set($input: SetSeatsInput!) { setSeats(input: $input) { ${changed} } }`;
const bulkSetSeats = gql`mutation Bulk($input: BulkSetSeatsInput!) { bulkSetSeats(input: $input) { ${changed} } }`;

describe('a normalised client cache follows every seat change without a refetch', () => {
  test('addSeats, removeSeats, setSeats, bulkSetSeats and a seatBalanceChanged notification each update the cached customers query', async ({
    harness,
    scenario: s,
  }) => {
    const client = apolloFor(harness, s);
    const variables = { ids: [s.customerId] };
    const queried = await client.query<any>({ query: balancesQuery, variables });
    const customerId = queried.data.customers[0].id;
    /** The cached query as the page shows it, read from the cache only. */
    const shown = () => {
      const cached = client.readQuery({ query: balancesQuery, variables }) as { customers: { seatBalances: { featureCode: string; current: number }[] }[] };
      return Object.fromEntries(cached.customers[0]!.seatBalances.map((b) => [b.featureCode, b.current]));
    };
    expect(shown()).toEqual({ admin: 0, editor: 0, viewer: 0 });
    const fetched: string[] = [];
    const counting = new HttpLink({
      uri: graphqlUrl,
      headers: { 'x-api-key': s.key },
      fetch: (url, init) => {
        fetched.push(JSON.parse(String(init?.body)).operationName);
        return appFetch(harness)(url, init);
      },
    });
    client.setLink(counting);

    const add = await client.mutate<any>({ mutation: addSeats, variables: { input: { customerId: s.customerId, featureCode: 'editor', count: 4 } } });
    expect(add.data).toMatchObject({ addSeats: { newBalance: 4, balance: { current: 4 }, customer: { id: customerId } } });
    expect(shown()).toEqual({ admin: 0, editor: 4, viewer: 0 });

    await client.mutate({ mutation: removeSeats, variables: { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } } });
    expect(shown()).toEqual({ admin: 0, editor: 3, viewer: 0 });

    await client.mutate({ mutation: setSeats, variables: { input: { customerId: s.customerId, featureCode: 'viewer', count: 2 } } });
    expect(shown()).toEqual({ admin: 0, editor: 3, viewer: 2 });

    const bulk = await client.mutate<any>({
      mutation: bulkSetSeats,
      variables: {
        input: {
          customerId: s.customerId,
          seats: [
            { featureCode: 'editor', count: 7 },
            { featureCode: 'admin', count: 9 },
          ],
        },
      },
    });
    expect(bulk.data.bulkSetSeats.map((event: { balance: { current: number } }) => event.balance.current)).toEqual([7, 9]);
    expect(shown()).toEqual({ admin: 9, editor: 7, viewer: 2 });

    // Reading the ledger brings the balance of every older event too: each shows the balance as
    // it stands now, so the cache does not go back to an older count.
    await client.query({
      query: gql`query Ledger($c: String!) { seatEvents(customerId: $c, first: 10) { nodes { id newBalance balance { id current } } } }`,
      variables: { c: s.customerId },
    });
    expect(shown()).toEqual({ admin: 9, editor: 7, viewer: 2 });
    const older = await client.query({
      query: gql`query Older($id: ID!) { node(id: $id) { id ... on SeatEvent { newBalance balance { id current } } } }`,
      variables: { id: add.data.addSeats.id },
    });
    expect(older.data).toMatchObject({ node: { newBalance: 4, balance: { current: 7 } } });
    expect(shown()).toEqual({ admin: 9, editor: 7, viewer: 2 });

    // A preview's balance has no id: it leaves the cache alone.
    const preview = await client.query({
      query: gql`query Preview($input: PreviewSeatChangeInput!) { previewSeatChange(input: $input) { newBalance balance { current } customer { id } } }`,
      variables: { input: { customerId: s.customerId, featureCode: 'editor', kind: 'SET', count: 1 } },
    });
    expect(preview.data).toMatchObject({ previewSeatChange: { newBalance: 1, balance: { current: 1 }, customer: { id: customerId } } });
    expect(shown()).toEqual({ admin: 9, editor: 7, viewer: 2 });

    // A change made elsewhere (another tab, a back office) arrives as a notification; each
    // result, written into the cache as the client writes it, updates the balance. Notifications
    // come in order, so once the last has arrived the cache holds the balance as it now is.
    const notification = gql`
      subscription Watch($c: String!) {
        seatBalanceChanged(customerId: $c) { __typename id balance { __typename id current } event { __typename id } }
      }
    `;
    const watch = await subscribe(appFetch(harness), graphqlUrl, s.key, notification.loc!.source.body, { c: s.customerId });
    const elsewhere = await graphql(harness, s.key, mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } });
    expect(elsewhere.errors).toBeUndefined();
    for (let last = ''; last !== elsewhere.data.addSeats.id; ) {
      const [received] = await watch.take(1);
      client.cache.writeQuery({ query: notification, variables: { c: s.customerId }, data: received.data });
      last = received.data.seatBalanceChanged.event.id;
    }
    watch.close();
    expect(shown()).toEqual({ admin: 9, editor: 8, viewer: 2 });

    // Nothing but the changes, the ledger reads and the preview went over the wire: no refetch.
    expect(fetched).toEqual(['Add', 'Remove', 'Set', 'Bulk', 'Ledger', 'Older', 'Preview']);
  });
});

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const post = (harness: Harness, key: string, body: object) =>
  harness.yoga.fetch(graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(body) });
const persisted = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash } });

describe('automatic persisted queries', () => {
  test('a hash alone misses, the retry with the query is kept, then the hash alone answers; a forged or oversized hash is refused', async ({
    harness,
    tenant,
  }) => {
    const query = `query Features { features { code } } # ${tenant.organization}`;
    const hash = sha256(query);
    const miss = await post(harness, tenant.key, { extensions: persisted(hash) });
    expect(miss.status).toBe(200);
    expect((await miss.json()).errors).toEqual([expect.objectContaining({ message: 'PersistedQueryNotFound' })]);

    const retry = await post(harness, tenant.key, { query, extensions: persisted(hash) });
    expect(await retry.json()).toEqual({ data: { features: [] } });
    const hit = await post(harness, tenant.key, { extensions: persisted(hash) });
    expect(await hit.json()).toEqual({ data: { features: [] } });

    // A hash that is not the query's is refused and kept for nothing.
    const forgedHash = sha256('query { customers(ids: []) { id } }');
    const forged = await post(harness, tenant.key, { query, extensions: persisted(forgedHash) });
    expect((await forged.json()).errors).toEqual([expect.objectContaining({ message: 'PersistedQueryMismatch' })]);
    const afterForged = await post(harness, tenant.key, { extensions: persisted(forgedHash) });
    expect((await afterForged.json()).errors).toEqual([expect.objectContaining({ message: 'PersistedQueryNotFound' })]);

    // Not a SHA-256 at all: refused before any lookup, naming the field.
    for (const bad of [hash.repeat(100), hash.toUpperCase(), 'x', 42]) {
      const refused = await post(harness, tenant.key, { query, extensions: { persistedQuery: { version: 1, sha256Hash: bad } } });
      expect((await refused.json()).errors[0].extensions).toMatchObject({ code: 'validation_error', param: 'extensions.persistedQuery.sha256Hash' });
    }

    // Another organization may use a kept document (it is the same text), but answers with its own data.
    const other = await newTenant(harness);
    expect(await (await post(harness, other.key, { extensions: persisted(hash) })).json()).toEqual({ data: { features: [] } });
  });

  test("Apollo's persisted-query link works unchanged: hash first, the query once on a miss, then hashes only", async ({ harness, scenario: s }) => {
    const sent: { hashOnly: boolean }[] = [];
    const http = new HttpLink({
      uri: graphqlUrl,
      headers: { 'x-api-key': s.key },
      fetch: (url, init) => {
        sent.push({ hashOnly: !JSON.parse(String(init?.body)).query });
        return appFetch(harness)(url, init);
      },
    });
    const client = new ApolloClient({ cache: new InMemoryCache(), link: new PersistedQueryLink({ sha256 }).concat(http) });
    const query = gql`query PersistedBalances($ids: [String!]!) { customers(ids: $ids) { id seatBalances { id current } } }`;
    const first = await client.query<any>({ query, variables: { ids: [s.customerId] }, fetchPolicy: 'network-only' });
    expect(first.data.customers[0].seatBalances).toHaveLength(3);
    const second = await client.query({ query, variables: { ids: [s.customerId] }, fetchPolicy: 'network-only' });
    expect(second.data).toEqual(first.data);
    // The first hash may already be known (another test's run of the same text); then it hits at once.
    expect(sent.at(-1)).toEqual({ hashOnly: true });
    expect(sent.filter((request) => !request.hashOnly).length).toBeLessThanOrEqual(1);
  });
});
