/**
 * What the browser tests share: the registry that scripts/ui-test started, the
 * panel's sections, and where screenshots go.
 */
import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator, Page } from '@playwright/test';
import { readFileSync, rmSync, writeFileSync } from 'fs';
import * as path from 'path';

export interface IRegistryInfo {
  host: string;
  ca_file: string;
  username: string;
  password_file: string;
}

export function registryInfo(): IRegistryInfo {
  const file = process.env.REGAUTH_UI_INFO;
  if (!file) {
    throw new Error(
      'REGAUTH_UI_INFO is not set: run the tests with scripts/ui-test'
    );
  }
  return JSON.parse(readFileSync(file, 'utf-8'));
}

/** The registry of scripts/ui-test under its other name. */
export function otherName(info: IRegistryInfo): string {
  const [name, port] = info.host.split(':');
  return `${name === 'localhost' ? '127.0.0.1' : 'localhost'}:${port}`;
}

/** The administrator's registries file the server reads (set by scripts/ui-test). */
export function writeAdminRegistries(registries: object[]): void {
  const file = process.env.REGAUTH_REGISTRIES_FILE;
  if (!file) {
    throw new Error('REGAUTH_REGISTRIES_FILE is not set: run scripts/ui-test');
  }
  writeFileSync(file, JSON.stringify({ registries }));
}

/** Untrusted, logged out, in no list: as if never seen. */
export async function forget(page: IJupyterLabPageFixture, host: string) {
  writeAdminRegistries([]);
  const encoded = encodeURIComponent(host);
  const logout = await page.request.post(
    `/regauth/api/registries/${encoded}/logout`,
    { data: { kube: false } }
  );
  expect(logout.status()).toBe(200);
  const removed = await page.request.delete(
    `/regauth/api/registries/${encoded}`
  );
  expect([200, 404]).toContain(removed.status());
  // The CA the panel trusted for it (certs.d under the test's own HOME).
  const home = process.env.HOME ?? '';
  rmSync(path.join(home, '.config', 'containers', 'certs.d', host), {
    recursive: true,
    force: true
  });
}

const SCREENSHOTS = path.resolve(
  __dirname,
  '..',
  '..',
  '..',
  'docs',
  'screenshots'
);

export async function shoot(
  target: Page | Locator,
  name: string
): Promise<void> {
  await target.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

export const PANEL = '#jupyter-regauth-registries';

/** The panel opened, once it has checked the registries (those added since the page loaded
 * are listed from this check on). */
export async function openPanel(
  page: IJupyterLabPageFixture
): Promise<Locator> {
  await page.evaluate(() =>
    window.jupyterapp.commands.execute('jupyter-regauth:refresh')
  );
  await page.sidebar.openTab('jupyter-regauth-registries');
  const panel = page.locator(PANEL);
  await expect(panel).toBeVisible();
  await expect(panel.getByText('Checking registries…')).toBeHidden();
  return panel;
}
const SECTIONS = ['Registries', 'Add a registry', 'Build and push'];

/** Expand the named accordion sections of the panel and collapse the others. */
export async function showSections(
  panel: Locator,
  open: string[]
): Promise<void> {
  for (const name of SECTIONS) {
    const title = panel.locator('.lm-AccordionPanel-title', { hasText: name });
    const expanded = (await title.getAttribute('aria-expanded')) === 'true';
    if (expanded !== open.includes(name)) {
      await title.click();
    }
  }
}
