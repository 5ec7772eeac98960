/**
 * The ipywidgets widget in a notebook: shown for the demo registry, logged in
 * to through its Password field, and the password is in neither the page nor
 * the saved notebook (with widget state saving turned on).
 */
import { expect, galata, test } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';
import { readFileSync } from 'fs';
import { registryInfo, shoot, writeAdminRegistries } from './shared';

/** A text field of the widget, found by its description label. */
function field(widget: Locator, label: string): Locator {
  return widget
    .locator('.widget-text', {
      has: widget.page().locator('label', { hasText: label })
    })
    .locator('input');
}

test.use({
  autoGoto: true,
  // Saved widget state is where a password would leak into the .ipynb file.
  mockSettings: {
    ...galata.DEFAULT_SETTINGS,
    '@jupyter-widgets/jupyterlab-manager:plugin': { saveState: true }
  }
});

test('log in through the notebook widget', async ({ page, tmpPath }) => {
  const info = registryInfo();
  const password = readFileSync(info.password_file, 'utf-8').trim();
  const notebook = 'widget.ipynb';

  // Independent of what another test left (or did not: the administrator's
  // file, which the kernel reads too, may not exist yet): no registry offered,
  // and the registry logged out.
  writeAdminRegistries([]);
  const logout = await page.request.post(
    `/regauth/api/registries/${encodeURIComponent(info.host)}/logout`,
    { data: { kube: false } }
  );
  expect(logout.status()).toBe(200);

  // The CA next to the notebook, so the cell names no machine path.
  await page.contents.uploadContent(
    readFileSync(info.ca_file, 'utf-8'),
    'text',
    `${tmpPath}/ca.pem`
  );
  await page.notebook.createNew(notebook);
  await page.notebook.setCell(
    0,
    'code',
    [
      'import jupyter_regauth',
      'from jupyter_regauth.service import RegAuth',
      '',
      'service = RegAuth()',
      `service.trust("${info.host}", open("ca.pem", "rb").read())`,
      `jupyter_regauth.widget(service, registry="${info.host}")`
    ].join('\n')
  );
  await page.notebook.runCell(0);

  const cell = (await page.notebook.getCellLocator(0))!;
  const widget = cell.locator('.jp-OutputArea-output .widget-vbox').first();
  await expect(widget).toBeVisible({ timeout: 60_000 });
  await expect(widget.getByLabel('Registry', { exact: true })).toHaveValue(
    info.host
  );
  const status = widget.getByText(`Not logged in to ${info.host}`);
  await expect(status).toBeVisible();
  const passwordField = field(widget, 'Password');
  await expect(passwordField).toHaveAttribute('type', 'password');
  await page.notebook.leaveCellEditingMode(0);
  await shoot(cell, '10-widget');

  await test.step('log in through the widget', async () => {
    await field(widget, 'Username').fill(info.username);
    await passwordField.fill(password);
    await widget.getByRole('button', { name: 'Log in' }).click();
    await expect(
      widget.getByText(`Logged in to ${info.host} as ${info.username}`)
    ).toBeVisible({ timeout: 60_000 });
    await expect(passwordField).toHaveValue('');
    expect(await page.content()).not.toContain(password);
    await shoot(cell, '11-widget-logged-in');
  });

  await test.step('the saved notebook holds the widget state, not the password', async () => {
    expect(await page.notebook.save()).toBe(true);
    const response = await page.request.get(
      `/api/contents/${tmpPath}/${notebook}?type=file&format=text&content=1`
    );
    expect(response.status()).toBe(200);
    const saved: string = (await response.json()).content;
    expect(saved).toContain('application/vnd.jupyter.widget-state+json');
    expect(saved).toContain('"PasswordModel"');
    expect(saved).toContain(`as <b>${info.username}</b>`);
    expect(saved).not.toContain(password);
  });
});
