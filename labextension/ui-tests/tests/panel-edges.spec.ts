/**
 * The panel where users trip: a refresh still running while they log in or
 * remove a registry, the keyboard focus when a form gives way to another, a
 * damaged CA text, names longer than the sidebar is wide, a push cancelled
 * half-way, a registry that never answers, and a refresh interval longer than
 * a browser timer holds.
 *
 * Like hints.spec.ts, these tests use the registry under its other loopback
 * name and leave it untrusted, logged out and in no list.
 */
import {
  expect,
  galata,
  IJupyterLabPageFixture,
  test
} from '@jupyterlab/galata';
import type { Locator, Route } from '@playwright/test';
import { randomBytes } from 'crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'fs';
import { AddressInfo, createServer, Socket } from 'net';
import * as path from 'path';
import {
  forget,
  IRegistryInfo,
  openPanel,
  otherName,
  PANEL,
  registryInfo,
  showSections,
  writeAdminRegistries
} from './shared';

test.use({ autoGoto: true });

/** Trusted and on the user's list, as the panel's "Add a registry" leaves it. */
async function addTrusted(page: IJupyterLabPageFixture, host: string) {
  const trust = `/regauth/api/registries/${encodeURIComponent(host)}/trust`;
  const offer = await (await page.request.post(trust, { data: {} })).json();
  const trusted = await page.request.post(trust, {
    data: { ca_pem: offer.ca_pem, fingerprint: offer.ca.fingerprint }
  });
  expect(trusted.status()).toBe(200);
  const added = await page.request.post('/regauth/api/registries', {
    data: { host }
  });
  expect(added.status()).toBe(201);
}

/** The registry under its other name, forgotten and then trusted and listed again. */
async function trustedAfresh(
  page: IJupyterLabPageFixture
): Promise<{ info: IRegistryInfo; host: string }> {
  const info = registryInfo();
  const host = otherName(info);
  await forget(page, host);
  await addTrusted(page, host);
  return { info, host };
}

/** The registry under its other name forgotten, and the panel open at its add form. */
async function addFormAfresh(
  page: IJupyterLabPageFixture,
  sections: string[]
): Promise<{
  info: IRegistryInfo;
  host: string;
  panel: Locator;
  add: Locator;
}> {
  const info = registryInfo();
  const host = otherName(info);
  await forget(page, host);
  const panel = await openPanel(page);
  await showSections(panel, sections);
  return { info, host, panel, add: panel.locator('.jp-RegAuth-add') };
}

function password(info: IRegistryInfo): string {
  return readFileSync(info.password_file, 'utf-8').trim();
}

/**
 * Hold the next registry list the server sends: it is asked for at once (so
 * it says what was true then) and handed to the page only on `release`.
 */
async function holdNextList(page: IJupyterLabPageFixture): Promise<{
  asked: Promise<void>;
  release: () => void;
}> {
  let release = () => {};
  const released = new Promise<void>(resolve => (release = resolve));
  let asked = () => {};
  const seen = new Promise<void>(resolve => (asked = resolve));
  const pattern = (url: URL) =>
    url.pathname.endsWith('/regauth/api/registries') &&
    url.searchParams.has('live');
  const handler = async (route: Route) => {
    const response = await route.fetch();
    asked();
    await released;
    await route.fulfill({ response });
  };
  await page.route(pattern, handler, { times: 1 });
  return { asked: seen, release };
}

test.describe('the panel at its edges', () => {
  test.afterEach(async ({ page }) => {
    await forget(page, otherName(registryInfo()));
  });

  test('a refresh still running does not undo a login or bring back a removed registry', async ({
    page
  }) => {
    const { info, host } = await trustedAfresh(page);
    const panel = await openPanel(page);
    await showSections(panel, ['Registries']);
    const card = panel.locator(`.jp-RegAuth-registry[data-host="${host}"]`);
    await card.locator('.jp-RegAuth-registryHeader').click();

    // The refresh checks the list before the login; its answer arrives after.
    let held = await holdNextList(page);
    await panel.getByTitle('Refresh registry status').click();
    await held.asked;
    await card.getByLabel('Username').fill(info.username);
    await card.getByLabel('Password or token').fill(password(info));
    await card.getByRole('button', { name: 'Log in' }).click();
    const loggedIn = card.locator('.jp-RegAuth-badge', {
      hasText: `logged in as ${info.username}`
    });
    await expect(loggedIn).toBeVisible();
    held.release();
    await expect(panel.getByText('Checking registries…')).toBeHidden();
    await expect(loggedIn).toBeVisible();
    await expect(card.getByRole('button', { name: 'Log out' })).toBeVisible();

    // Logged out and removed while a refresh that still lists it runs: gone
    // once it is done.
    await card.getByRole('button', { name: 'Log out' }).click();
    await expect(card.getByLabel('Username')).toBeVisible();
    held = await holdNextList(page);
    await panel.getByTitle('Refresh registry status').click();
    await held.asked;
    await card.getByRole('button', { name: 'Remove from list' }).click();
    held.release();
    await expect(panel.getByText('Checking registries…')).toBeHidden();
    await expect(card).toHaveCount(0);
  });

  test('the keyboard focus goes to what replaces the control that had it', async ({
    page
  }) => {
    const { info, host, panel, add } = await addFormAfresh(page, [
      'Registries',
      'Add a registry'
    ]);
    const hostField = add.getByLabel('Registry host');

    // The confirmation closes, by Cancel or by Trust: back to the host field.
    await hostField.fill(host);
    await add.getByRole('button', { name: 'Check certificate' }).click();
    await add.getByRole('button', { name: 'Cancel' }).press('Enter');
    await expect(hostField).toBeFocused();
    await hostField.fill(host);
    await hostField.press('Enter');
    await add.getByRole('button', { name: 'Trust' }).press('Enter');
    await expect(add.getByRole('status')).toHaveText(`Added ${host}.`);
    await expect(hostField).toBeFocused();

    // Logged in: the focus is on "Log out"; logged out: on the login form.
    const card = panel.locator(`.jp-RegAuth-registry[data-host="${host}"]`);
    await card.locator('.jp-RegAuth-registryHeader').click();
    await card.getByLabel('Username').fill(info.username);
    await card.getByLabel('Password or token').fill(password(info));
    await card.getByLabel('Password or token').press('Enter');
    const logout = card.getByRole('button', { name: 'Log out' });
    await expect(logout).toBeFocused();
    await logout.press('Enter');
    await expect(card.getByLabel('Username')).toBeFocused();
  });

  test('a push cancelled half-way marks what was under way as stopped', async ({
    page,
    tmpPath
  }) => {
    const { info, host } = await trustedAfresh(page);
    const login = await page.request.post(
      `/regauth/api/registries/${encodeURIComponent(host)}/login`,
      { data: { username: info.username, password: password(info) } }
    );
    expect(login.status()).toBe(200);
    // Random data, too much to be pushed before Cancel is pressed.
    const folder = path.join(
      process.env.JUPYTERLAB_GALATA_ROOT_DIR ?? '',
      tmpPath,
      'big'
    );
    mkdirSync(folder, { recursive: true });
    for (let i = 0; i < 4; i++) {
      writeFileSync(path.join(folder, `part-${i}.bin`), randomBytes(32 << 20));
    }
    const panel = await openPanel(page);
    await showSections(panel, ['Build and push']);
    const push = panel.locator('.jp-RegAuth-push');
    await push
      .getByLabel('Folder (relative to the Jupyter root)')
      .fill(`${tmpPath}/big`);
    await push.getByLabel('Base image (empty for none)').fill('');
    await push.getByLabel('Target image').fill(`${host}/team/cancelled:1`);
    await push.getByRole('button', { name: 'Build and push' }).click();
    const underWay = push.locator(
      ['waiting', 'running', 'hashing', 'compressing', 'uploading']
        .map(state => `.jp-RegAuth-item[data-state="${state}"]`)
        .join(', ')
    );
    await expect(underWay.first()).toBeVisible();
    await push.getByRole('button', { name: 'Cancel' }).press('Enter');

    await expect(push.getByRole('status')).toHaveText(/^Job cancelled/);
    await expect(underWay).toHaveCount(0);
    const stopped = push.locator('.jp-RegAuth-item[data-state="stopped"]');
    await expect(stopped.first()).toContainText('stopped');
    // The Cancel button is gone: its focus went to the submit button.
    await expect(
      push.getByRole('button', { name: 'Build and push' })
    ).toBeFocused();
  });

  test('a registry that never answers holds up only its own card', async ({
    page
  }) => {
    const { host } = await trustedAfresh(page);
    // Takes connections and never says a word: a registry behind a dead proxy.
    const sockets: Socket[] = [];
    const silent = createServer(socket => sockets.push(socket));
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve));
    const silentHost = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      writeAdminRegistries([{ host: silentHost, display_name: 'Silent' }]);
      await page.evaluate(() => {
        void window.jupyterapp.commands.execute('jupyter-regauth:refresh');
      });
      await page.sidebar.openTab('jupyter-regauth-registries');
      const panel = page.locator(PANEL);
      const badges = (name: string) =>
        panel
          .locator(`.jp-RegAuth-registry[data-host="${name}"]`)
          .locator('.jp-RegAuth-badge');
      await expect(
        badges(host).filter({ hasText: /^reachable$/ })
      ).toBeVisible();
      await expect(badges(host).filter({ hasText: /^trusted$/ })).toBeVisible();
      await expect(badges(silentHost)).toHaveText(['checking…']);
      await expect(panel.getByText('Checking registries…')).toBeVisible();
    } finally {
      sockets.forEach(socket => socket.destroy());
      silent.close();
    }
  });

  test('a CA file picked is read into the form and trusted', async ({
    page
  }) => {
    const { info, host, add } = await addFormAfresh(page, [
      'Registries',
      'Add a registry'
    ]);
    await add.getByLabel('Registry host').fill(host);
    const file = add.getByLabel('CA certificate file (optional)');
    const pasted = add.getByLabel('or paste the CA certificate (PEM)');
    await file.setInputFiles(info.ca_file);
    await expect(pasted).toHaveValue(readFileSync(info.ca_file, 'utf-8'));
    await add.getByRole('button', { name: 'Check certificate' }).click();
    await add.getByRole('button', { name: 'Trust' }).click();
    await expect(add.getByRole('status')).toHaveText(`Added ${host}.`);
    await expect(pasted).toHaveValue('');
    const listed = await page.request.get(
      `/regauth/api/registries/${encodeURIComponent(host)}`
    );
    expect((await listed.json()).trusted).toBe(true);
  });

  test('a damaged CA text is named, with what to do', async ({ page }) => {
    const { info, host, add } = await addFormAfresh(page, ['Add a registry']);
    await add.getByLabel('Registry host').fill(host);
    // A certificate whose base64 was mangled on its way (a chat, an email).
    const pem = readFileSync(info.ca_file, 'utf-8');
    const lines = pem.trim().split('\n');
    lines[2] = lines[2].slice(0, 10) + '%%' + lines[2].slice(12);
    await add
      .getByLabel('or paste the CA certificate (PEM)')
      .fill(lines.join('\n'));
    await add.getByRole('button', { name: 'Check certificate' }).click();
    const alert = add.getByRole('alert');
    await expect(alert.locator('.jp-RegAuth-errorMessage')).toHaveText(
      'Certificate 1 of the CA text is damaged: the lines between BEGIN CERTIFICATE and END CERTIFICATE are not base64.'
    );
    await expect(alert.locator('.jp-RegAuth-errorHint')).toContainText(
      'Upload the CA file itself'
    );
    await expect(add.locator('.jp-RegAuth-confirm')).toHaveCount(0);
  });

  test('long names wrap inside the sidebar', async ({ page }) => {
    writeAdminRegistries([
      {
        host: 'registry-for-the-data-science-platform.team-infrastructure.example.invalid:5000',
        display_name:
          'The registry of the data science platform team, for every project'
      },
      {
        host: 'averyveryveryverylonghostnamewithoutanydotsordashesatallthatkee.invalid'
      }
    ]);
    const panel = await openPanel(page);
    await showSections(panel, ['Registries', 'Build and push']);
    const cards = panel.locator('.jp-RegAuth-registry');
    await expect(cards).toHaveCount(2);
    for (const card of await cards.all()) {
      await card.locator('.jp-RegAuth-registryHeader').click();
    }
    await panel
      .locator('.jp-RegAuth-push')
      .getByLabel('Layer compression')
      .selectOption('zstd');
    for (const section of [
      '.jp-RegAuth-listSection',
      '.jp-RegAuth-pushSection'
    ]) {
      const widths = await panel
        .locator(section)
        .evaluate(node => [node.scrollWidth, node.clientWidth]);
      expect(widths[0], `${section} scrolls sideways`).toBeLessThanOrEqual(
        widths[1]
      );
    }
    // The expander's arrow stays on the line of the name it opens.
    const header = cards.first().locator('.jp-RegAuth-registryHeader');
    const name = header.locator('.jp-RegAuth-registryName');
    const [headerTop, nameTop] = await Promise.all([
      header.evaluate(node => node.getBoundingClientRect().top),
      name.evaluate(node => node.getBoundingClientRect().top)
    ]);
    expect(nameTop - headerTop).toBeLessThan(4);
  });
});

test.describe('settings', () => {
  // Galata serves the page its settings: this one is the user's.
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'jupyter-regauth:plugin': { refreshInterval: 3_000_000 }
    }
  });

  test('a refresh interval longer than a timer holds does not refresh over and over', async ({
    page
  }) => {
    let lists = 0;
    page.on('request', request => {
      if (request.url().includes('/regauth/api/registries?live=')) {
        lists += 1;
      }
    });
    await page.reload();
    await openPanel(page);
    await page.waitForTimeout(3000);
    expect(lists).toBeLessThanOrEqual(2);
  });
});
