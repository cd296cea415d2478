/**
 * The console at 10,000 containers, created through the API on the embedded database (a real
 * controller process) 64 at a time, so the controller's group commit (controller/store/batch.ts)
 * takes them in batches. Measures creation, the first rows and the full table from the login click,
 * the render alone (page switch), and a search; prints them as one JSON line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launch, screenshot, type Browser } from './chromium.js';
import { Controller } from './controller.js';

describe.skipIf(!haveChromium())('web console at 10,000 containers (real Chromium, embedded database)', () => {
  const c = new Controller();
  let b: Browser;

  beforeAll(async () => {
    await c.start();
    b = await launch();
  }, 120_000);
  afterAll(async () => {
    await b?.close();
    await c.stop();
  });

  it('10,000 containers (created through the API, 64 at a time): the table renders in under 2 s and stays searchable', async () => {
    await c.must('POST', '/v1/tenants', { name: 'bulk' });
    await c.must('POST', '/v1/tenants/bulk/networks', { name: 'wide', cidr: '10.64.0.0/16' });
    // FREIGHT_CONSOLE_CONTAINERS lowers it for a quick run on a loaded machine (the figure is printed)
    const N = Number(process.env.FREIGHT_CONSOLE_CONTAINERS ?? 10_000);
    const t0 = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < N) {
          const i = next++;
          await c.must('POST', '/v1/tenants/bulk/containers', {
            name: `b${String(i).padStart(5, '0')}`,
            image: 'busybox',
            networks: ['wide'],
          });
        }
      }),
    );
    const createMs = Date.now() - t0;
    const lastName = `b${String(N - 1).padStart(5, '0')}`;
    const { page } = b;
    page.setDefaultTimeout(20_000);
    await page.goto(`${c.base}/#/containers`);
    // from the login click: list every tenant's containers (10 pages of 1,000), then render
    await page.fill('#token', c.token);
    const start = Date.now();
    await page.click('form.login button[type=submit]');
    // the first page of 1,000 is drawn while the other nine are fetched
    await page.locator('[data-testid=containers] [role=row] >> text=b00000').waitFor();
    const firstRowsMs = Date.now() - start;
    const table = page.locator('[data-testid=containers]');
    await expect.poll(() => table.getAttribute('data-rows'), { timeout: 20_000, interval: 20 }).toBe(String(N));
    const loadMs = Date.now() - start;
    // the same table again from the page switch (the data is in the page): the render alone
    await page.click('header nav a[href="#/nodes"]');
    await page.locator('table.nodes').waitFor();
    const s2 = Date.now();
    await page.click('header nav a[href="#/containers"]');
    await page.locator('[data-testid=containers] [role=row] >> text=b00000').waitFor();
    const renderMs = Date.now() - s2;
    const domRows = await page.locator('[data-testid=containers] .vspacer [role=row]').count();
    // search narrows 10,000 rows to one on each keystroke's render
    const s3 = Date.now();
    await page.fill('[data-testid=search]', lastName);
    await expect.poll(() => page.textContent('[data-testid=count]'), { interval: 20 }).toBe(`1 of ${N} containers`);
    const searchMs = Date.now() - s3;
    // scrolled to the end, the last rows are there (virtualised, not truncated)
    await page.fill('[data-testid=search]', '');
    await page.locator('[data-testid=containers] .vscroll').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.locator(`[data-testid=containers] [role=row] >> text=${lastName}`).waitFor();
    await screenshot(page, 'containers-10000');
    console.log(
      JSON.stringify({
        containers: N,
        createMs,
        createsPerS: Math.round((N / createMs) * 1000),
        retries: c.retries,
        firstRowsMs,
        loadMs,
        renderMs,
        searchMs,
        domRows,
      }),
    );
    expect(domRows).toBeLessThan(100);
    expect(renderMs).toBeLessThan(2000);
    expect(firstRowsMs).toBeLessThan(2000);
    // all 10 pages listed one after the other (the API's cursor): 1.4–2.5 s measured on the loaded
    // 2-core machine; a bound against a regression, not the render figure
    expect(loadMs).toBeLessThan(5000);
  }, 1_200_000);
});
