import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ApiError } from '../api';
import { panelHint } from '../hints';
import { kubeApply, kubeRemove, kubeStatus } from '../client';
import { IKubeStatus } from '../types';
import { Badge, BadgeTone, ErrorView } from './common';

const TONES: Record<string, BadgeTone> = {
  present: 'good',
  missing: 'warn',
  outdated: 'warn',
  removed: 'unknown',
  error: 'bad'
};

/**
 * The Kubernetes objects made for one registry, with apply and remove.
 * A 501 (Kubernetes off or not installed) is shown as a note, not an error.
 */
export function KubeSection(props: {
  host: string;
  trans: TranslationBundle;
  onChanged: () => void;
}): JSX.Element {
  const { host, trans } = props;
  const [status, setStatus] = React.useState<IKubeStatus | null>(null);
  const [unavailable, setUnavailable] = React.useState<ApiError | null>(null);
  const [error, setError] = React.useState<ApiError | null>(null);
  const [busy, setBusy] = React.useState(false);

  const run = React.useCallback(
    async (action: (host: string) => Promise<IKubeStatus>, notify = true) => {
      setBusy(true);
      setError(null);
      try {
        setStatus(await action(host));
        if (notify) {
          props.onChanged();
        }
      } catch (err) {
        const apiError = err as ApiError;
        if (apiError.status === 501) {
          setUnavailable(apiError);
        } else {
          setError(apiError);
        }
      } finally {
        setBusy(false);
      }
    },
    [host]
  );

  React.useEffect(() => {
    void run(kubeStatus, false);
  }, [run]);

  if (unavailable) {
    return (
      <div className="jp-RegAuth-kube jp-RegAuth-note" role="note">
        {trans.__('Kubernetes is not available here: %1', unavailable.message)}
      </div>
    );
  }
  return (
    <section
      className="jp-RegAuth-kube"
      aria-label={trans.__('Kubernetes objects for %1', host)}
    >
      <div className="jp-RegAuth-subheading">
        {status
          ? trans.__('Kubernetes (namespace %1)', status.namespace)
          : trans.__('Kubernetes')}
      </div>
      {status ? (
        <ul className="jp-RegAuth-kubeObjects">
          {status.objects.map(object => (
            <li key={`${object.kind}/${object.name}`}>
              <span className="jp-RegAuth-kubeName">
                {object.kind} {object.name}
              </span>
              <Badge
                tone={TONES[object.state] ?? 'unknown'}
                label={object.state}
                title={object.message || object.state}
              />
            </li>
          ))}
        </ul>
      ) : null}
      {status?.note_details?.map(note => (
        <div key={note.code} className="jp-RegAuth-note" role="note">
          <div>{note.message}</div>
          <div>{trans.__('What to do: %1', panelHint(note, trans))}</div>
        </div>
      ))}
      <ErrorView error={error} trans={trans} />
      <div className="jp-RegAuth-actions">
        <button
          type="button"
          className="jp-mod-styled jp-mod-accept"
          disabled={busy}
          onClick={() => void run(kubeApply)}
        >
          {trans.__('Apply')}
        </button>
        <button
          type="button"
          className="jp-mod-styled jp-mod-reject"
          disabled={busy}
          onClick={() => void run(kubeRemove)}
        >
          {trans.__('Remove')}
        </button>
      </div>
    </section>
  );
}
