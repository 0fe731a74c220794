import { existsSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { expect, test } from './fixtures.ts';
import { type Browser, chromium } from 'playwright-core';
import { createCustomerWithSubscription, seatScenario } from './helpers.ts';

/** Debian's Chromium (apt-get install -y chromium); CI installs it when it is missing. */
const chromiumPath = '/usr/bin/chromium';

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

    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
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

    // The key goes in the Headers tab, as the page's first line says.
    const headers = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden)');
    await headers.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(JSON.stringify({ 'x-api-key': s.key }));
    // The editor closes brackets and quotes as they come; drop what it added after the text.
    await page.keyboard.press('Shift+ControlOrMeta+End');
    await page.keyboard.press('Delete');

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

    const replaceText = async (editor: string, text: string) => {
      await page.locator(editor).click();
      await page.keyboard.press('ControlOrMeta+A');
      await page.keyboard.press('Delete');
      await page.keyboard.insertText(text);
      // The editor closes brackets and quotes as they come; drop what it added after the text.
      await page.keyboard.press('Shift+ControlOrMeta+End');
      await page.keyboard.press('Delete');
    };
    await replaceText('.graphiql-editor-tool .graphiql-editor:not(.hidden)', JSON.stringify({ 'x-api-key': s.key }));
    await replaceText(
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
