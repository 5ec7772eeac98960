/**
 * What the panel says to do, in its own controls: a registry whose CA is not
 * trusted yet (one of the user's, and one of the administrator's), and the
 * notes of a Kubernetes report.
 *
 * These tests use the registry under its other loopback name (localhost
 * rather than 127.0.0.1, both in its certificate), which no other test trusts
 * or logs in to; each test starts and ends with that name untrusted, logged
 * out and in no list.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';
import { execFileSync } from 'child_process';
import { X509Certificate } from 'crypto';
import { readFileSync } from 'fs';
import {
  forget,
  IRegistryInfo,
  openPanel,
  otherName,
  registryInfo,
  showSections,
  writeAdminRegistries
} from './shared';

test.use({ autoGoto: true });

/** The panel opened on its registry list, and the card of ``host`` in it. */
async function registryCard(
  page: IJupyterLabPageFixture,
  host: string
): Promise<{ panel: Locator; card: Locator }> {
  const panel = await openPanel(page);
  await showSections(panel, ['Registries']);
  const card = panel.locator(`.jp-RegAuth-registry[data-host="${host}"]`);
  return { panel, card };
}

/**
 * The hint of an unknown-CA alert: the panel's own words, naming the host and
 * controls the panel has (never a command line), each checked to exist.
 */
async function expectPanelHint(
  panel: Locator,
  alert: Locator,
  host: string
): Promise<string> {
  const hint = alert.locator('.jp-RegAuth-errorHint').first();
  await expect(hint).toContainText('What to do:');
  const text = (await hint.textContent()) ?? '';
  expect(text).toContain(host);
  expect(text).toContain('"Add a registry"');
  expect(text).toContain('"Check certificate"');
  expect(text).not.toMatch(/regauth|--ca-file|`/);
  // Every control the hint names in quotes is there, under that name.
  await showSections(panel, ['Registries', 'Add a registry']);
  const named = [...text.matchAll(/"([^"]+)"/g)].map(match => match[1]);
  for (const name of named) {
    const control = panel
      .locator('.lm-AccordionPanel-title', { hasText: name })
      .or(panel.getByRole('button', { name, exact: true }));
    await expect(control.first(), `the hint names "${name}"`).toBeVisible();
  }
  return text;
}

/** Follow the hint: "Add a registry", the host, "Check certificate", "Trust". */
async function trustThroughAddRegistry(
  panel: Locator,
  info: IRegistryInfo,
  host: string
): Promise<Locator> {
  await showSections(panel, ['Registries', 'Add a registry']);
  const add = panel.locator('.jp-RegAuth-add');
  await add.getByLabel('Registry host').fill(host);
  await add.getByRole('button', { name: 'Check certificate' }).click();
  const confirm = add.locator('.jp-RegAuth-confirm');
  await expect(confirm).toContainText(
    new X509Certificate(readFileSync(info.ca_file)).fingerprint256
  );
  await add.getByRole('button', { name: 'Trust' }).click();
  await expect(confirm).toBeHidden();
  return add;
}

async function logIn(card: Locator, info: IRegistryInfo): Promise<void> {
  const password = readFileSync(info.password_file, 'utf-8').trim();
  await card.getByLabel('Username').fill(info.username);
  await card.getByLabel('Password or token').fill(password);
  await card.getByRole('button', { name: 'Log in' }).click();
  await expect(
    card.locator('.jp-RegAuth-badge', {
      hasText: `logged in as ${info.username}`
    })
  ).toBeVisible();
}

/** Log in with a password the registry never sees: the TLS check fails first. */
async function tryLogIn(card: Locator, info: IRegistryInfo): Promise<Locator> {
  await card.getByLabel('Username').fill(info.username);
  const passwordField = card.getByLabel('Password or token');
  await passwordField.fill('not-the-password');
  await card.getByRole('button', { name: 'Log in' }).click();
  const alert = card.locator('.jp-RegAuth-login').getByRole('alert');
  await expect(alert).toContainText('unknown authority');
  await expect(passwordField).toHaveValue('');
  return alert;
}

test.describe('a registry whose CA is not trusted yet', () => {
  test.afterEach(async ({ page }) => {
    await forget(page, otherName(registryInfo()));
  });

  test('one of the user’s: the hint leads to trusting it, then the login succeeds', async ({
    page
  }) => {
    const info = registryInfo();
    const host = otherName(info);
    await forget(page, host);
    // On the user's list already (added by another front end), its CA not trusted here.
    const added = await page.request.post('/regauth/api/registries', {
      data: { host, display_name: 'Unverified registry' }
    });
    expect(added.status()).toBe(201);
    const { panel, card } = await registryCard(page, host);
    await expect(
      card.locator('.jp-RegAuth-badge', { hasText: 'not trusted' })
    ).toBeVisible();
    await card.getByRole('button', { name: /Unverified registry/ }).click();

    const alert = await tryLogIn(card, info);
    await expectPanelHint(panel, alert, host);

    const add = await trustThroughAddRegistry(panel, info, host);
    await expect(add.getByRole('status')).toHaveText(
      'Added Unverified registry.'
    );
    await expect(
      card.locator('.jp-RegAuth-badge', { hasText: /^trusted$/ })
    ).toBeVisible();
    await logIn(card, info);
  });

  test('the administrator’s: the hint says the profile needs its CA, and trusting it here needs no adding', async ({
    page
  }) => {
    const info = registryInfo();
    const host = otherName(info);
    await forget(page, host);
    // The administrator's profile gives no CA for it.
    writeAdminRegistries([{ host, display_name: 'Team registry (admin)' }]);
    const { panel, card } = await registryCard(page, host);
    await expect(
      card.locator('.jp-RegAuth-badge', { hasText: 'not trusted' })
    ).toBeVisible();
    await card.getByRole('button', { name: /Team registry \(admin\)/ }).click();
    // Its status says so before any login, in the administrator's terms.
    const status = card
      .locator('.jp-RegAuth-details > .jp-RegAuth-error')
      .first();
    const hint = await expectPanelHint(panel, status, host);
    expect(hint).toContain('administrator');
    expect(hint).toContain('profile');

    const alert = await tryLogIn(card, info);
    expect(await expectPanelHint(panel, alert, host)).toBe(hint);

    const add = await trustThroughAddRegistry(panel, info, host);
    // Trusted, not added again: no refusal, and it is still the administrator's.
    await expect(add.getByRole('status')).toHaveText(
      'Trusted Team registry (admin).'
    );
    await expect(add.getByRole('alert')).toHaveCount(0);
    await expect(
      card.locator('.jp-RegAuth-badge', { hasText: /^trusted$/ })
    ).toBeVisible();
    const listed = await page.request.get(
      `/regauth/api/registries/${encodeURIComponent(host)}`
    );
    expect((await listed.json()).source).toBe('admin');
    await logIn(card, info);
  });
});

/**
 * A Kubernetes report with the given notes, as the core makes it (the UI tests
 * run no cluster, so the server's answers are replaced by this).
 */
function kubeReport(host: string, notes: string): object {
  const python = process.env.REGAUTH_UI_PYTHON ?? 'python3';
  const code = [
    'import json, sys',
    'from jupyter_regauth.kube.apply import KubeReport, ObjectStatus',
    'from jupyter_regauth.kube.notes import *',
    'host = sys.argv[1]',
    'secret = ObjectStatus("Secret", "regauth-docker-secret", True, True)',
    `report = KubeReport(host, "team-a", [secret], notes=[${notes}])`,
    'print(json.dumps(report.to_dict()))'
  ].join('\n');
  const report = JSON.parse(
    execFileSync(python, ['-c', code, host], { encoding: 'utf-8' })
  );
  // The server adds each object's one-word state.
  report.objects = report.objects.map((item: object) => ({
    ...item,
    state: 'present',
    message: ''
  }));
  return report;
}

test.describe('the notes of a Kubernetes report', () => {
  test.use({ autoGoto: false });

  test.afterEach(async ({ page }) => {
    await forget(page, otherName(registryInfo()));
  });

  test('say what to do with the panel’s controls', async ({ page }) => {
    const host = otherName(registryInfo());
    // The server as it answers with Kubernetes turned on in a JupyterHub cluster
    // (matched with its query, which ServerConnection adds to each request's URL).
    await page.route(/\/regauth\/api\/version(\?|$)/, async route => {
      const response = await route.fetch();
      const version = await response.json();
      version.kubernetes = {
        enabled: true,
        available: true,
        namespace: 'team-a'
      };
      await route.fulfill({ response, json: version });
    });
    await page.route(/\/regauth\/api\/registries\/[^/]+\/kube(\?|$)/, route =>
      route.fulfill({
        json: kubeReport(
          host,
          route.request().method() === 'DELETE'
            ? 'service_accounts_not_listed(host, "team-a", ["default", "default-editor"])'
            : 'pod_defaults_not_served(host)'
        )
      })
    );
    await page.goto();
    await forget(page, host);
    const added = await page.request.post('/regauth/api/registries', {
      data: { host, display_name: 'Cluster registry' }
    });
    expect(added.status()).toBe(201);
    const { card } = await registryCard(page, host);
    await card.getByRole('button', { name: /Cluster registry/ }).click();
    const kube = card.locator('.jp-RegAuth-kube');
    const note = kube.getByRole('note');
    await expect(note).toContainText(
      'no PodDefault: this cluster does not serve kubeflow.org/v1alpha1 poddefaults'
    );
    await expect(note).toContainText(
      'What to do: Ask your JupyterHub administrator for a server option (a KubeSpawner profile) that mounts these Secrets'
    );
    await expect(note).not.toContainText(/regauth|--|`/);

    await kube.getByRole('button', { name: 'Remove' }).click();
    await expect(note).toContainText(
      'ServiceAccounts in team-a may not be listed: the pull Secret was taken off default, default-editor only'
    );
    await expect(note).toContainText(
      'What to do: Ask an administrator to grant "list" on serviceaccounts in team-a, then press "Remove" again.'
    );
    await expect(note).not.toContainText(/regauth|--service-account|`/);
    await expect(
      kube.getByRole('button', { name: 'Remove', exact: true })
    ).toBeVisible();
  });
});
