/**
 * The panel end to end: a self-signed registry the server does not trust yet
 * is added after confirming its fingerprint, logged in to (a wrong password
 * first), and a folder is built into an image and pushed to it.
 */
import { expect, test } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';
import { X509Certificate } from 'crypto';
import { readFileSync } from 'fs';
import { request } from 'https';
import {
  IRegistryInfo,
  PANEL,
  registryInfo,
  shoot,
  showSections
} from './shared';

/** GET a manifest straight from the registry, trusting only its own CA. */
function fetchManifest(
  info: IRegistryInfo,
  password: string,
  repository: string,
  digest: string
): Promise<{
  status: number;
  digest: string | undefined;
  layerTypes: string[];
}> {
  const [hostname, port] = info.host.split(':');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname,
        port: Number(port || 443),
        path: `/v2/${repository}/manifests/${digest}`,
        method: 'GET',
        ca: readFileSync(info.ca_file),
        auth: `${info.username}:${password}`,
        headers: {
          Accept:
            'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json'
        }
      },
      res => {
        let body = '';
        res.setEncoding('utf-8');
        res.on('data', chunk => (body += chunk));
        res.on('end', () => {
          const layers: { mediaType: string }[] =
            res.statusCode === 200 ? JSON.parse(body).layers : [];
          resolve({
            status: res.statusCode ?? 0,
            digest: res.headers['docker-content-digest'] as string | undefined,
            layerTypes: layers.map(layer => layer.mediaType)
          });
        });
      }
    );
    req.on('error', reject);
    req.end();
  });
}

test.use({ autoGoto: true });

test('add a self-signed registry, log in and push a folder', async ({
  page,
  tmpPath
}) => {
  const info = registryInfo();
  const password = readFileSync(info.password_file, 'utf-8').trim();
  const caFingerprint = new X509Certificate(readFileSync(info.ca_file))
    .fingerprint256;

  await page.sidebar.openTab('jupyter-regauth-registries');
  const panel = page.locator(PANEL);
  await expect(panel).toBeVisible();
  // A wider sidebar makes the screenshots readable.
  const handle = page
    .locator('#jp-main-split-panel > .lm-SplitPanel-handle')
    .first();
  const box = await handle.boundingBox();
  if (box) {
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(480, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
  }
  await expect(panel.getByText('No registry yet')).toBeVisible();
  await showSections(panel, ['Registries', 'Add a registry']);
  await shoot(panel, '01-empty');

  await test.step('add the registry after confirming its fingerprint', async () => {
    await panel.getByLabel('Registry host').fill(info.host);
    await panel.getByLabel('Display name (optional)').fill('Team registry');
    await panel.getByRole('button', { name: 'Check certificate' }).click();
    const confirm = panel.locator('.jp-RegAuth-confirm');
    await expect(confirm).toBeVisible();
    // The CA the server would store is the demo CA, shown with its SHA-256.
    await expect(confirm).toContainText(caFingerprint);
    await expect(confirm).toContainText('jupyter-regauth demo CA');
    await expect(panel.getByRole('button', { name: 'Trust' })).toBeFocused();
    await shoot(panel, '02-confirm-fingerprint');

    await panel.getByRole('button', { name: 'Trust' }).click();
    const card = panel.locator(
      `.jp-RegAuth-registry[data-host="${info.host}"]`
    );
    await expect(card).toBeVisible();
    await expect(
      card.locator('.jp-RegAuth-badge', { hasText: /^trusted$/ })
    ).toBeVisible();
    await expect(
      card.locator('.jp-RegAuth-badge', { hasText: 'reachable' })
    ).toBeVisible();
    await expect(
      card.locator('.jp-RegAuth-badge', { hasText: 'not logged in' })
    ).toBeVisible();
    await shoot(panel, '03-trusted');
  });

  const card = panel.locator(`.jp-RegAuth-registry[data-host="${info.host}"]`);
  await test.step('a wrong password is refused, the right one logs in', async () => {
    await showSections(panel, ['Registries']);
    await card.getByRole('button', { name: /Team registry/ }).click();
    const passwordField = card.getByLabel('Password or token');
    await expect(passwordField).toHaveAttribute('type', 'password');
    await expect(passwordField).toHaveAttribute('autocomplete', 'off');
    await card.getByLabel('Username').fill(info.username);
    await passwordField.fill('not-the-password');
    await card.getByRole('button', { name: 'Log in' }).click();
    const alert = card.getByRole('alert');
    await expect(alert).toBeVisible();
    await expect(alert).toContainText(
      /unauthori[sz]ed|credentials|denied|refused/i
    );
    await expect(passwordField).toHaveValue('');
    await shoot(panel, '04-login-refused');

    await passwordField.fill(password);
    await card.getByRole('button', { name: 'Log in' }).click();
    await expect(
      card.locator('.jp-RegAuth-badge', {
        hasText: `logged in as ${info.username}`
      })
    ).toBeVisible();
    await expect(card.getByRole('button', { name: 'Log out' })).toBeVisible();
    // The password is not in the page any more, nor in browser storage.
    const html = await page.content();
    expect(html).not.toContain(password);
    const stored = await page.evaluate(() =>
      JSON.stringify({ ...window.localStorage, ...window.sessionStorage })
    );
    expect(stored).not.toContain(password);
    await shoot(panel, '05-logged-in');
  });

  await test.step('push a folder picked in the file browser', async () => {
    await page.contents.uploadContent(
      'weights for the browser test\n',
      'text',
      `${tmpPath}/model/weights.txt`
    );
    await page.contents.uploadContent(
      '{"name": "model"}\n',
      'text',
      `${tmpPath}/model/config.json`
    );
    await page.filebrowser.refresh();
    await page.sidebar.openTab('filebrowser');
    await page
      .locator('.jp-DirListing-item[data-isdir="true"]', { hasText: 'model' })
      .click({ button: 'right' });
    await page.getByRole('menuitem', { name: 'Push Folder as Image…' }).click();

    await showSections(panel, ['Registries', 'Build and push']);
    const push = panel.locator('.jp-RegAuth-push');
    await expect(push).toBeVisible();
    await expect(
      push.getByLabel('Folder (relative to the Jupyter root)')
    ).toHaveValue(`${tmpPath}/model`);
    await push.getByLabel('Base image (empty for none)').fill('');
    const compression = push.getByLabel('Layer compression');
    await expect(compression).toHaveValue('gzip');
    await compression.selectOption('zstd');
    const repository = 'ui-test/model';
    await push.getByLabel('Target image').fill(`${info.host}/${repository}:1`);
    // The first event stream is cut after its first message, as a proxy's timeout would: the
    // panel must open it again after that message and still see the job through.
    const streams: string[] = [];
    let cutAfter = '';
    await page.route('**/regauth/api/jobs/*/events*', async route => {
      streams.push(route.request().url());
      if (streams.length > 1) {
        return route.continue();
      }
      const response = await route.fetch();
      const blocks = (await response.text()).split('\n\n');
      const first = blocks.findIndex(block => /^id: /m.test(block));
      cutAfter = first < 0 ? '0' : /^id: (\d+)/m.exec(blocks[first])![1];
      const kept =
        first < 0 ? '' : blocks.slice(0, first + 1).join('\n\n') + '\n\n';
      await route.fulfill({ response, body: kept });
    });
    await push.getByRole('button', { name: 'Build and push' }).click();

    const digest = push.locator('.jp-RegAuth-digest');
    await expect(digest).toContainText('@sha256:', { timeout: 120_000 });
    await expect(push.locator('.jp-RegAuth-item').first()).toBeVisible();
    await expect(push.getByRole('status')).toContainText('succeeded');
    expect(streams.length).toBeGreaterThanOrEqual(2);
    expect(streams[1]).toContain(`after=${cutAfter}`);
    await page.unroute('**/regauth/api/jobs/*/events*');
    await showSections(panel, ['Build and push']);
    await shoot(panel, '06-pushed');

    // The registry really holds the manifest the panel reported.
    const pushed = (await digest.textContent()) ?? '';
    const manifestDigest = pushed.slice(pushed.indexOf('@') + 1);
    const manifest = await fetchManifest(
      info,
      password,
      repository,
      manifestDigest
    );
    expect(manifest.status).toBe(200);
    expect(manifest.digest).toBe(manifestDigest);
    expect(manifest.layerTypes).toEqual([
      'application/vnd.oci.image.layer.v1.tar+zstd'
    ]);

    await push.getByRole('button', { name: 'Copy' }).click();
    await expect(push.getByRole('button', { name: 'Copied' })).toBeVisible();
  });

  await test.step('the dark theme', async () => {
    await page.theme.setDarkTheme();
    await shoot(panel, '07-dark-pushed');
    await showSections(panel, ['Registries', 'Build and push']);
    await shoot(page, '08-dark-lab');
    await page.theme.setLightTheme();
  });

  await test.step('commands are in the palette', async () => {
    await page.keyboard.press('Control+Shift+C');
    await page.keyboard.type('Container Registr');
    for (const label of [
      'Open Container Registries',
      'Add Container Registry…'
    ]) {
      await expect(
        page.locator('#command-palette').getByText(label)
      ).toBeVisible();
    }
    await page.keyboard.press('Escape');
  });
});
