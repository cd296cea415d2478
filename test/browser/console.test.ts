/**
 * The web console in real headless Chromium against a real controller process on its embedded
 * database (no agents): login, the nodes page, the forms' error placement, tenant isolation of the
 * console's data. The topology with real agents is topology.test.ts; 10,000 containers, scale.test.ts. Screenshots go to test-artifacts/browser/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { haveChromium, launch, login, screenshot, type Browser } from './chromium.js';
import { Controller } from './controller.js';

/** Every byte the page's fetch() calls received (REST answers and the events stream), teed in the page. */
const TEE = `(() => {
  const seen = (window.__seen = []);
  const orig = window.fetch.bind(window);
  window.fetch = async (...args) => {
    const res = await orig(...args);
    const copy = res.clone();
    const dec = new TextDecoder();
    (async () => {
      const r = copy.body && copy.body.getReader();
      if (!r) return;
      for (;;) { const { value, done } = await r.read(); if (done) break; seen.push(dec.decode(value, { stream: true })); }
    })().catch(() => {});
    return res;
  };
})();`;

const seen = (page: Page) => page.evaluate(() => ((window as any).__seen as string[]).join(''));

describe.skipIf(!haveChromium())('web console (real Chromium, real controller on the embedded database)', () => {
  const c = new Controller();
  let b: Browser;
  const urls: string[] = [];

  beforeAll(async () => {
    await c.start();
    b = await launch();
    b.page.on('request', (r) => urls.push(r.url()));
  }, 120_000);
  afterAll(async () => {
    await b?.close();
    await c.stop();
  });

  it('logs in with a token typed into the form: a wrong one is refused, the right one is kept in sessionStorage only', async () => {
    const { page } = b;
    await page.goto(`${c.base}/`);
    const csp = (await page.request.get(`${c.base}/`)).headers()['content-security-policy'];
    expect(csp).toContain("script-src 'self'");
    await page.fill('#token', 'not-a-valid-token-but-long-enough-000000');
    await page.click('form.login button[type=submit]');
    await expect.poll(() => page.textContent('form.login [role=alert]')).toMatch(/^unauthenticated: /);
    await login(page, c.base, c.token);
    await expect.poll(() => page.textContent('header .who')).toBe('admin');
    const stored = await page.evaluate(() => ({
      session: sessionStorage.getItem('freight.token'),
      local: localStorage.length,
      cookie: document.cookie,
      url: location.href,
    }));
    expect(stored).toEqual({ session: c.token, local: 0, cookie: '', url: `${c.base}/` });
    expect(urls.filter((u) => u.includes(c.token))).toEqual([]);
    expect(b.consoleLines.filter((l) => /Content Security Policy|Refused to/.test(l))).toEqual([]);
    await screenshot(page, 'login-done');
  });

  it('nodes page: a node whose agent never came is NotReady in red; a node created now appears without reload', async () => {
    const { page } = b;
    await c.must('POST', '/v1/tokens', { kind: 'node', node: 'n1' });
    await page.click('header nav a[href="#/nodes"]');
    const row = page.locator('table.nodes tr[data-node="n1"]');
    await row.waitFor();
    expect(await row.getAttribute('class')).toBe('notready');
    expect(await row.locator('td.state').textContent()).toBe('NotReady');
    // red: the stylesheet's --bad colour, not merely a class name
    expect(await row.locator('td.state').evaluate((el) => getComputedStyle(el).color)).toBe('rgb(198, 40, 40)');
    await c.must('POST', '/v1/tokens', { kind: 'node', node: 'n2' });
    await page.locator('table.nodes tr[data-node="n2"]').waitFor({ timeout: 2000 });
    await screenshot(page, 'nodes');
  });

  it('a bad CIDR in the network form shows the API’s code and message next to the CIDR field', async () => {
    const { page } = b;
    await c.must('POST', '/v1/tenants', { name: 'acme' });
    await page.click('header nav a[href="#/networks"]');
    await page.locator('#net-tenant option[value="acme"]').waitFor({ state: 'attached' });
    await page.selectOption('#net-tenant', 'acme');
    await page.fill('#net-name', 'blue');
    await page.fill('#net-cidr', '10.0.0.300/24');
    const answer = page.waitForResponse((r) => r.url().endsWith('/v1/tenants/acme/networks') && r.request().method() === 'POST');
    await page.click('[data-testid=network-form] button[type=submit]');
    const api = await (await answer).json();
    expect(api.path).toBe('cidr');
    const err = page.locator('[data-testid=network-form] .field-error[data-field=cidr]');
    await err.waitFor();
    expect(await err.textContent()).toBe(`${api.code}: ${api.message}`);
    // beside the field: inside the CIDR field's box, and only there
    expect(await page.locator('[data-testid=network-form] .field.has-error #net-cidr').count()).toBe(1);
    expect(await page.locator('[data-testid=network-form] .field-error').count()).toBe(1);
    await screenshot(page, 'bad-cidr');
    await page.fill('#net-cidr', '10.0.0.0/24');
    await page.click('[data-testid=network-form] button[type=submit]');
    await page.locator('table[data-testid=networks] tr[data-network="acme/blue"]').waitFor({ timeout: 2000 });
    expect(await page.locator('[data-testid=network-form] .field-error').count()).toBe(0);
  });

  it("a tenant token's console receives nothing of another tenant: no name, no id, in any answer or event", async () => {
    await c.must('POST', '/v1/tenants', { name: 'globex' });
    const gnet = await c.must('POST', '/v1/tenants/globex/networks', { name: 'gx-secret-net', cidr: '10.0.0.0/24' });
    const gcon = await c.must('POST', '/v1/tenants/globex/containers', {
      name: 'gx-secret-app',
      image: 'busybox',
      networks: ['gx-secret-net'],
    });
    const acmeToken = (await c.must('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).token as string;
    const page = await b.context.newPage();
    page.setDefaultTimeout(10_000);
    await page.addInitScript(TEE);
    await page.goto(`${c.base}/`);
    await page.evaluate(() => sessionStorage.clear());
    await login(page, c.base, acmeToken);
    await expect.poll(() => page.textContent('header .who')).toBe('acme');
    expect(await page.locator('header nav a[href="#/nodes"]').count()).toBe(0);
    // changes in both tenants while the page follows the stream; acme's must arrive, globex's never
    await c.must('POST', '/v1/tenants/globex/containers', { name: 'gx-secret-later', image: 'busybox', networks: ['gx-secret-net'] });
    await c.must('POST', '/v1/tenants/globex/networks', { name: 'gx-secret-net2', cidr: '10.9.0.0/24' });
    await c.must('DELETE', '/v1/tenants/globex/containers/gx-secret-later');
    await c.must('POST', '/v1/tenants/acme/containers', { name: 'acme-visible', image: 'busybox', networks: ['blue'] });
    await page.locator('g.chip[data-container="acme/acme-visible"]').waitFor({ timeout: 2000 });
    await page.click('header nav a[href="#/containers"]');
    await page.locator('[data-testid=containers] [role=row] >> text=acme-visible').waitFor();
    const data = await seen(page);
    expect(data).toContain('acme-visible');
    expect(data).toContain('event: change');
    for (const secret of ['globex', 'gx-secret', gnet.id, gcon.id]) expect(data).not.toContain(secret);
    expect(await page.textContent('body')).not.toContain('gx-secret');
    await screenshot(page, 'tenant-acme');
    await page.close();
  });
});
