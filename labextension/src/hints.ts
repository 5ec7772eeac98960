import { TranslationBundle } from '@jupyterlab/translation';

import { IHinted } from './types';

type Hint = (item: IHinted, trans: TranslationBundle) => string | null;

/**
 * The panel's own form of a fix, where it has a control for it, keyed by the
 * error's (or Kubernetes note's) stable code. The server's hints are worded
 * for every front end; the ones not here are shown as they are.
 */
const HINTS: Record<string, Hint> = {
  unknown_ca: (error, trans) =>
    error.host
      ? trans.__(
          'Check the fingerprint with the registry\'s administrator and trust its CA: enter %1 under "Add a registry" and press "Check certificate", or give its CA certificate there.',
          error.host
        )
      : null,
  kubelet_needs_password: (error, trans) =>
    error.host
      ? trans.__(
          'Log out of %1, then log in again with "Also configure Kubernetes" checked: that keeps the password, which the cluster needs.',
          error.host
        )
      : null,
  pod_defaults_not_served: (note, trans) =>
    trans.__(
      'Ask your JupyterHub administrator for a server option (a KubeSpawner profile) that mounts these Secrets in your notebook.'
    ),
  service_accounts_not_listed: (note, trans) =>
    note.namespace
      ? trans.__(
          'Ask an administrator to grant "list" on serviceaccounts in %1, then press "Remove" again.',
          note.namespace
        )
      : null
};

/** What to do about an error or a note, in the panel's words where it has its own. */
export function panelHint(item: IHinted, trans: TranslationBundle): string {
  return HINTS[item.code]?.(item, trans) ?? item.hint ?? '';
}
