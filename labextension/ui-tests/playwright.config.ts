/**
 * Browser tests against a real `jupyter lab` and a real registry, in Debian's
 * Chromium. Run through scripts/ui-test, which starts the registry and sets
 * the REGAUTH_UI_* variables.
 */
import { defineConfig } from '@playwright/test';

const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const port = process.env.REGAUTH_UI_PORT ?? '8888';
const python = process.env.REGAUTH_UI_PYTHON ?? 'python3';

export default defineConfig({
  ...baseConfig,
  timeout: 180_000,
  retries: 0,
  workers: 1,
  reporter: [['list']],
  use: {
    ...baseConfig.use,
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run'
      ]
    },
    viewport: { width: 1280, height: 960 },
    trace: 'off',
    video: 'off'
  },
  webServer: {
    command: `${python} -m jupyterlab --config jupyter_server_test_config.py`,
    url: `http://127.0.0.1:${port}/lab`,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe'
  }
});
