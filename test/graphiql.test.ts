import { existsSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { expect, test } from './fixtures.ts';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createCustomerWithSubscription, newTenant, seatScenario } from './helpers.ts';

/** Debian's Chromium (apt-get install -y chromium); CI installs it when it is missing. */
const chromiumPath = '/usr/bin/chromium';

/** GraphiQL's Headers editor. */
const headersEditor = '.graphiql-editor-tool .graphiql-editor:not(.hidden)';

/** Replaces the text of one of GraphiQL's editors, as a person typing it would. */
async function replaceText(page: Page, editor: string, text: string): Promise<void> {
  await page.locator(editor).click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
  // The editor closes brackets and quotes as they come; drop what it added after the text.
  await page.keyboard.press('Shift+ControlOrMeta+End');
  await page.keyboard.press('Delete');
}

let browser: Browser;
beforeAll(async () => {
  if (!existsSync(chromiumPath)) return;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-gpu', '--no-first-run'],
  });
});
afterAll(async () => browser?.close());

test.skipIf(!existsSync(chromiumPath))(
  'GraphiQL renders with no network beyond loopback, and runs its example with a key',
  async ({ harness, http }) => {
    const s = await seatScenario(harness, { externalId: null, initialSeats: [] });
    await createCustomerWithSubscription(s.client, { externalId: 'acme-corp', initialSeats: [{ featureCode: 'editor', count: 3 }] });

    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    // Everything must come from seatgate itself: any request elsewhere is refused and remembered.
    const elsewhere: string[] = [];
    await page.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === '127.0.0.1' || url.protocol === 'blob:' || url.protocol === 'data:') return route.continue();
      elsewhere.push(url.href);
      return route.abort();
    });
    await page.goto(http.endpoint, { waitUntil: 'load' });
    await expect.poll(() => page.locator('.graphiql-query-editor').isVisible(), { timeout: 30_000 }).toBe(true);

    // On a laptop's screen the example's every line shows whole: none runs under the toolbar or
    // past the editor's edge.
    const overflow = await page.evaluate(() => {
      const editor = document.querySelector('.graphiql-query-editor')!;
      const edge = Math.min(
        editor.querySelector('.monaco-scrollable-element')!.getBoundingClientRect().right,
        document.querySelector('.graphiql-toolbar')!.getBoundingClientRect().left,
      );
      const ends = [...editor.querySelectorAll('.view-line span')].map((span) => span.getBoundingClientRect().right);
      return Math.max(...ends) - edge;
    });
    expect(overflow).toBeLessThanOrEqual(0);

    // The key goes in the Headers tab, as the page's first lines say.
    await replaceText(page, headersEditor, JSON.stringify({ 'x-api-key': s.key }));

    // Run the prefilled example's query (the cursor picks the operation) and read the result pane.
    await page.locator('.graphiql-query-editor .view-line').first().click();
    await page.keyboard.press('ControlOrMeta+Home');
    for (let line = 0; line < 2; line++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ControlOrMeta+Enter');
    // The result pane is an editor too: its spaces are non-breaking ones.
    const response = async () => (await page.locator('.graphiql-response').innerText()).replace(/\s+/g, ' ');
    await expect.poll(response, { timeout: 30_000 }).toContain('"externalId": "acme-corp"');
    expect(await response()).toMatch(/"featureCode": "editor", "current": 3, "includedSeats": 5/);
    expect(elsewhere).toEqual([]);

    mkdirSync('.data', { recursive: true });
    await page.screenshot({ path: '.data/graphiql.png' });
  },
  90_000,
);

test.skipIf(!existsSync(chromiumPath))(
  'a GraphiQL subscription shows a balance change live while another client adds seats',
  async ({ http, scenario: s }) => {
    // A context of its own: GraphiQL keeps the last operation's name in local storage.
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    await page.goto(http.endpoint, { waitUntil: 'load' });
    await expect.poll(() => page.locator('.graphiql-query-editor').isVisible(), { timeout: 30_000 }).toBe(true);

    await replaceText(page, headersEditor, JSON.stringify({ 'x-api-key': s.key }));
    await replaceText(
      page,
      '.graphiql-query-editor .view-lines',
      /* GraphQL */ `subscription Watch { seatBalanceChanged(customerId: "${s.customerId}", featureCode: "editor") { id balance { current } } }`,
    );
    // GraphiQL reads the operation's name from the editor after a pause; run it once it has.
    await expect.poll(() => page.locator('.graphiql-tab').first().innerText(), { timeout: 10_000 }).toContain('Watch');
    await page.keyboard.press('ControlOrMeta+Enter');

    const response = async () => (await page.locator('.graphiql-response').innerText()).replace(/\s+/g, ' ');
    // Another client (this test) adds seats; the open subscription shows each balance as it comes.
    for (const expected of [2, 5]) {
      await expect
        .poll(
          async () => {
            if (!(await response()).includes(`"current": ${expected}`)) {
              const { seatBalance } = await s.client.ok(/* GraphQL */ `{ seatBalance(customerId: "${s.customerId}", featureCode: "editor") { current } }`);
              if (seatBalance.current < expected)
                await s.client.ok(
                  /* GraphQL */ `mutation { addSeats(input: { customerId: "${s.customerId}", featureCode: "editor", count: ${expected - seatBalance.current} }) { id } }`,
                );
            }
            return response();
          },
          { timeout: 30_000, interval: 500 },
        )
        .toContain(`"current": ${expected}`);
    }
    expect(await response()).toMatch(/"id": "evt_/);
    await context.close();
  },
  90_000,
);

test('the page is sent compressed as the client accepts, the same page each way, and a reload with its ETag costs a 304', async ({ harness }) => {
  const load = async (headers: Record<string, string>) => {
    const response = await harness.yoga.fetch('http://seatgate.test/graphql', { headers: { accept: 'text/html', ...headers } });
    return { response, bytes: Buffer.from(await response.arrayBuffer()) };
  };
  const plain = await load({ 'accept-encoding': 'identity' });
  const br = await load({ 'accept-encoding': 'gzip, deflate, br' });
  const gzip = await load({ 'accept-encoding': 'gzip;q=1, br;q=0' });
  expect(plain.response.headers.get('content-encoding')).toBeNull();
  expect(br.response.headers.get('content-encoding')).toBe('br');
  expect(gzip.response.headers.get('content-encoding')).toBe('gzip');
  const { brotliDecompressSync, gunzipSync } = await import('node:zlib');
  expect(brotliDecompressSync(br.bytes).equals(plain.bytes)).toBe(true);
  expect(gunzipSync(gzip.bytes).equals(plain.bytes)).toBe(true);
  // Several megabytes whole; a quarter of that at most as sent.
  expect(plain.bytes.length).toBeGreaterThan(4_000_000);
  expect(br.bytes.length).toBeLessThan(plain.bytes.length / 4);
  expect(gzip.bytes.length).toBeLessThan(plain.bytes.length / 3);
  for (const { response, bytes } of [plain, br, gzip]) {
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(bytes.length));
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('vary')).toBe('Accept-Encoding');
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
  }
  const etag = plain.response.headers.get('etag')!;
  expect(etag).toMatch(/^"[\w-]{43}"$/);
  expect(br.response.headers.get('etag')).toBe(etag);
  const again = await load({ 'if-none-match': etag, 'accept-encoding': 'br' });
  expect(again.response.status).toBe(304);
  expect(again.bytes.length).toBe(0);
  expect((await load({ 'if-none-match': '"another"' })).response.status).toBe(200);
  // A GraphQL GET is still GraphQL: only a browser asking for HTML gets the page.
  const query = await harness.yoga.fetch('http://seatgate.test/graphql?query={__typename}', { headers: { accept: 'application/json' } });
  expect(query.headers.get('content-type')).toContain('application/json');
});

test.skipIf(!existsSync(chromiumPath))(
  'GraphiQL waits for a key, then fetches the schema with it (Docs and autocomplete live), again when it changes, and new tabs keep it',
  async ({ harness, http, scenario: s }) => {
    const other = await newTenant(harness);
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    // The key of every schema request that reached seatgate.
    const schemaRequests: (string | null)[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.postData()?.includes('"operationName":"IntrospectionQuery"'))
        schemaRequests.push(request.headers()['x-api-key'] ?? null);
    });
    await page.goto(http.endpoint, { waitUntil: 'load' });
    await expect.poll(() => page.locator('.graphiql-query-editor').isVisible(), { timeout: 30_000 }).toBe(true);
    const response = async () => (await page.locator('.graphiql-response').innerText()).replace(/\s+/g, ' ').trim();

    await replaceText(page, headersEditor, JSON.stringify({ 'x-api-key': s.key }));
    await expect.poll(() => schemaRequests, { timeout: 30_000 }).toEqual([s.key]);

    // Docs: the schema is there without a click on "Re-fetch schema", and nothing was shown as an error.
    await page.locator('button[aria-label="Show Documentation Explorer"]').click();
    await expect.poll(() => page.locator('.graphiql-doc-explorer').innerText(), { timeout: 30_000 }).toContain('Query');
    expect(await page.locator('.graphiql-doc-explorer').innerText()).not.toMatch(/Error fetching schema/i);
    expect(await response()).toBe('');
    // Autocomplete knows the schema's fields.
    await replaceText(page, '.graphiql-query-editor .view-lines', '{ cust');
    await page.keyboard.press('ControlOrMeta+End');
    await page.keyboard.press('Control+Space');
    await expect.poll(() => page.locator('.suggest-widget').innerText(), { timeout: 15_000 }).toContain('customers');
    await page.keyboard.press('Escape');

    // Another key: the schema is fetched again, with it.
    await replaceText(page, headersEditor, JSON.stringify({ 'x-api-key': other.key }));
    await expect.poll(() => schemaRequests, { timeout: 30_000 }).toEqual([s.key, other.key]);

    // A new tab starts with the headers last typed, and runs with them.
    await page.locator('button[aria-label="New tab"]').click();
    await expect.poll(() => page.locator('.graphiql-tab').count()).toBe(2);
    await expect.poll(async () => (await page.locator(headersEditor).innerText()).replace(/\s+/g, ''), { timeout: 10_000 }).toContain(other.key);
    await replaceText(page, '.graphiql-query-editor .view-lines', /* GraphQL */ `query NewTab { testClock { now } }`);
    await expect.poll(() => page.locator('.graphiql-tab').nth(1).innerText(), { timeout: 10_000 }).toContain('NewTab');
    await page.keyboard.press('ControlOrMeta+Enter');
    await expect.poll(response, { timeout: 30_000 }).toMatch(/"now": "\d{4}-/);
    expect(schemaRequests.every((key) => key === s.key || key === other.key)).toBe(true);
    await context.close();
  },
  120_000,
);
