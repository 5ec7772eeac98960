/**
 * What both browser tests share: the registry that scripts/ui-test started,
 * and where screenshots go.
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
