/**
 * What the browser tests share: the registry that scripts/ui-test started, the
 * panel's sections, and where screenshots go.
 */
import type { Locator, Page } from '@playwright/test';
import { readFileSync } from 'fs';
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
