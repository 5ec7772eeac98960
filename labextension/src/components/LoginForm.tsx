import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ApiError } from '../api';
import { login } from '../client';
import { ILoginResult, IRegistryStatus } from '../types';
import { ErrorView } from './common';

/**
 * Username and password for one registry. The password lives only in the
 * input element: it is read on submit, sent once, and the field is cleared
 * whatever the outcome. It never enters React state, settings or storage.
 */
export function LoginForm(props: {
  registry: IRegistryStatus;
  kubeAvailable: boolean;
  trans: TranslationBundle;
  /** Take the keyboard focus (the first empty field), then call onFocused. */
  focus?: boolean;
  onFocused?: () => void;
  onLoggedIn: (result: ILoginResult) => void;
}): JSX.Element {
  const { registry, trans } = props;
  const id = React.useId();
  const [username, setUsername] = React.useState(registry.username ?? '');
  const [kube, setKube] = React.useState(false);
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState<ApiError | null>(null);
  const password = React.useRef<HTMLInputElement>(null);
  const user = React.useRef<HTMLInputElement>(null);
  const { focus, onFocused } = props;
  React.useEffect(() => {
    if (focus) {
      (user.current?.value ? password : user).current?.focus();
      onFocused?.();
    }
  }, [focus]);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const field = password.current;
    if (!field) {
      return;
    }
    const secret = field.value;
    field.value = '';
    setBusy(true);
    setError(null);
    try {
      const result = await login(registry.host, {
        username,
        password: secret,
        kube: props.kubeAvailable && kube
      });
      props.onLoggedIn(result);
    } catch (err) {
      setError(err as ApiError);
      field.focus();
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="jp-RegAuth-form jp-RegAuth-login"
      aria-label={trans.__('Log in to %1', registry.name)}
      onSubmit={submit}
    >
      <div className="jp-RegAuth-field">
        <label htmlFor={`${id}-user`}>{trans.__('Username')}</label>
        <input
          id={`${id}-user`}
          ref={user}
          className="jp-mod-styled"
          name="username"
          autoComplete="username"
          required
          value={username}
          onChange={e => setUsername(e.target.value)}
        />
      </div>
      <div className="jp-RegAuth-field">
        <label htmlFor={`${id}-password`}>
          {trans.__('Password or token')}
        </label>
        <input
          id={`${id}-password`}
          ref={password}
          className="jp-mod-styled"
          name="password"
          type="password"
          autoComplete="off"
          required
        />
      </div>
      {props.kubeAvailable ? (
        <label className="jp-RegAuth-check">
          <input
            type="checkbox"
            checked={kube}
            onChange={e => setKube(e.target.checked)}
          />
          {trans.__('Also configure Kubernetes')}
        </label>
      ) : null}
      <ErrorView error={error} trans={trans} source={registry.source} />
      <div className="jp-RegAuth-actions">
        <button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          disabled={busy}
        >
          {busy ? trans.__('Verifying…') : trans.__('Log in')}
        </button>
      </div>
    </form>
  );
}
