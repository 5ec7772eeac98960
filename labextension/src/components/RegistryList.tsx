import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ApiError } from '../api';
import { getRegistry, logout, removeRegistry } from '../client';
import { RegAuthModel } from '../model';
import { IErrorBody, IRegistryStatus } from '../types';
import { Badge, ErrorView, useModel } from './common';
import { KubeSection } from './KubeSection';
import { LoginForm } from './LoginForm';

function expiry(
  at: number | null,
  trans: TranslationBundle
): { label: string; expired: boolean } | null {
  if (at === null) {
    return null;
  }
  const minutes = Math.round((at * 1000 - Date.now()) / 60000);
  if (minutes <= 0) {
    return { label: trans.__('token expired'), expired: true };
  }
  return minutes < 120
    ? { label: trans.__('token %1 min', minutes), expired: false }
    : {
        label: trans.__('token %1 h', Math.round(minutes / 60)),
        expired: false
      };
}

function Badges(props: {
  registry: IRegistryStatus;
  checking: boolean;
  trans: TranslationBundle;
}): JSX.Element {
  const { registry: r, trans } = props;
  const token = expiry(r.token_expires_at, trans);
  if (props.checking && r.reachable === null) {
    // Listed, not answered yet: nothing is known of it but its settings.
    return (
      <div
        className="jp-RegAuth-badges"
        role="group"
        aria-label={trans.__('Status')}
      >
        <Badge tone="unknown" label={trans.__('checking…')} />
        {r.insecure ? (
          <Badge tone="warn" label={trans.__('TLS not verified')} />
        ) : null}
      </div>
    );
  }
  return (
    <div
      className="jp-RegAuth-badges"
      role="group"
      aria-label={trans.__('Status')}
    >
      {r.reachable === null ? (
        <Badge tone="unknown" label={trans.__('not checked')} />
      ) : (
        <Badge
          tone={r.reachable ? 'good' : 'bad'}
          label={r.reachable ? trans.__('reachable') : trans.__('unreachable')}
        />
      )}
      {r.insecure ? (
        <Badge tone="warn" label={trans.__('TLS not verified')} />
      ) : r.trusted === null ? null : (
        <Badge
          tone={r.trusted ? 'good' : 'bad'}
          label={r.trusted ? trans.__('trusted') : trans.__('not trusted')}
        />
      )}
      <Badge
        tone={
          r.authenticated
            ? 'good'
            : r.authenticated === false
              ? 'bad'
              : 'unknown'
        }
        label={
          r.authenticated
            ? trans.__('logged in as %1', r.username ?? '')
            : r.authenticated === false
              ? trans.__('login rejected')
              : trans.__('not logged in')
        }
      />
      {r.kube ? (
        <Badge
          tone={r.kube.configured ? 'good' : 'unknown'}
          label={
            r.kube.configured
              ? trans.__('Kubernetes configured')
              : trans.__('Kubernetes not configured')
          }
        />
      ) : null}
      {token ? (
        <Badge tone={token.expired ? 'warn' : 'good'} label={token.label} />
      ) : null}
    </div>
  );
}

function RegistryCard(props: {
  registry: IRegistryStatus;
  model: RegAuthModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { registry, model, trans } = props;
  const [open, setOpen] = React.useState(false);
  const [error, setError] = React.useState<ApiError | IErrorBody | null>(null);
  const [busy, setBusy] = React.useState(false);
  const kubeAvailable = !!model.version?.kubernetes.available;
  const detailsId = React.useId();
  // After a login or logout replaces the form or the button that had the
  // keyboard focus, it goes to what replaced it.
  const [focusNext, setFocusNext] = React.useState<'login' | 'logout' | null>(
    null
  );
  const logoutRef = React.useRef<HTMLButtonElement>(null);
  React.useEffect(() => {
    if (focusNext === 'logout' && registry.authenticated) {
      logoutRef.current?.focus();
      setFocusNext(null);
    }
  }, [focusNext, registry.authenticated]);

  const reload = async () => {
    try {
      model.putStatus(await getRegistry(registry.host));
    } catch (err) {
      setError(err as ApiError);
    }
  };
  const act = async (action: () => Promise<unknown>) => {
    setError(null);
    setBusy(true);
    try {
      await action();
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };

  return (
    <li
      className="jp-RegAuth-registry"
      data-host={registry.host}
      aria-label={registry.name}
    >
      <button
        type="button"
        className="jp-RegAuth-registryHeader"
        aria-expanded={open}
        aria-controls={detailsId}
        onClick={() => setOpen(!open)}
      >
        <span className="jp-RegAuth-registryName">{registry.name}</span>
        {registry.name !== registry.host ? (
          <span className="jp-RegAuth-registryHost">{registry.host}</span>
        ) : null}
      </button>
      <Badges
        registry={registry}
        checking={model.isChecking(registry.host)}
        trans={trans}
      />
      {registry.error && !open ? (
        <div className="jp-RegAuth-registryError">{registry.error.message}</div>
      ) : null}
      <div id={detailsId} hidden={!open} className="jp-RegAuth-details">
        {open ? (
          <>
            <ErrorView
              error={registry.error}
              trans={trans}
              source={registry.source}
            />
            {registry.authenticated ? (
              <div className="jp-RegAuth-actions">
                <button
                  ref={logoutRef}
                  type="button"
                  className="jp-mod-styled jp-mod-reject"
                  disabled={busy}
                  onClick={() =>
                    void act(async () => {
                      await logout(registry.host);
                      setFocusNext('login');
                      await reload();
                    })
                  }
                >
                  {trans.__('Log out')}
                </button>
              </div>
            ) : (
              <LoginForm
                registry={registry}
                kubeAvailable={kubeAvailable}
                trans={trans}
                focus={focusNext === 'login'}
                onFocused={() => setFocusNext(null)}
                onLoggedIn={result => {
                  setFocusNext('logout');
                  // Logged in either way; a failed Kubernetes step is shown beside it.
                  if (result.kube && 'error' in result.kube) {
                    const failure = result.kube.error;
                    setError({
                      ...failure,
                      message: trans.__(
                        'Logged in; Kubernetes setup failed: %1',
                        failure.message
                      )
                    });
                  }
                  void reload();
                }}
              />
            )}
            {model.version?.kubernetes.enabled ? (
              <KubeSection
                host={registry.host}
                trans={trans}
                onChanged={() => void reload()}
              />
            ) : null}
            {registry.source === 'user' ? (
              <div className="jp-RegAuth-actions">
                <button
                  type="button"
                  className="jp-mod-styled"
                  disabled={busy}
                  onClick={() =>
                    void act(async () => {
                      await removeRegistry(registry.host);
                      await model.refresh();
                    })
                  }
                >
                  {trans.__('Remove from list')}
                </button>
              </div>
            ) : null}
            <ErrorView error={error} trans={trans} source={registry.source} />
          </>
        ) : null}
      </div>
    </li>
  );
}

/** Every registry with its status badges; a card opens to log in or out. */
export function RegistryList(props: {
  model: RegAuthModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  useModel(model);
  return (
    <div className="jp-RegAuth-section">
      <div className="jp-RegAuth-status" role="status" aria-live="polite">
        {model.loading ? trans.__('Checking registries…') : ''}
      </div>
      <ErrorView error={model.error} trans={trans} />
      {model.registries.length === 0 && !model.loading ? (
        <p className="jp-RegAuth-empty">
          {trans.__('No registry yet: add one below.')}
        </p>
      ) : null}
      <ul className="jp-RegAuth-registries" aria-label={trans.__('Registries')}>
        {model.registries.map(registry => (
          <RegistryCard
            key={registry.host}
            registry={registry}
            model={model}
            trans={trans}
          />
        ))}
      </ul>
    </div>
  );
}
