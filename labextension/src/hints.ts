import { TranslationBundle } from '@jupyterlab/translation';

import { IHinted, RegistrySource } from './types';

/** What the panel knows besides the error or note: where its registry is from. */
export interface IHintContext {
  source?: RegistrySource;
}

type Hint = (
  item: IHinted,
  trans: TranslationBundle,
  context: IHintContext
) => string | null;

/**
 * The panel's own form of a fix, where it has a control for it, keyed by the
 * error's (or Kubernetes note's) stable code. The server's hints are worded
 * for every front end; the ones not here are shown as they are.
 */
const HINTS: Record<string, Hint> = {
  unknown_ca: (error, trans, { source }) => {
    if (!error.host) {
      return null;
    }
    if (source === 'admin') {
      // Its profile is the administrator's: the panel cannot add it again.
      return trans.__(
        '%1 is set up by your administrator, and the CA its profile gives (if any) does not verify it: ask them to add its CA certificate to the profile, for everyone. Meanwhile, check the fingerprint with them and trust it for yourself: enter %1 under "Add a registry" and press "Check certificate".',
        error.host
      );
    }
    return trans.__(
      'Check the fingerprint with the registry\'s administrator and trust its CA: enter %1 under "Add a registry" and press "Check certificate", or give its CA certificate there.',
      error.host
    );
  },
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
export function panelHint(
  item: IHinted,
  trans: TranslationBundle,
  context: IHintContext = {}
): string {
  return HINTS[item.code]?.(item, trans, context) ?? item.hint ?? '';
}
