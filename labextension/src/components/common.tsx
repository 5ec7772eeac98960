import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ApiError } from '../api';
import { panelHint } from '../hints';
import { RegAuthModel } from '../model';
import { IErrorBody, RegistrySource } from '../types';

/** Re-render a component whenever the model changes. */
export function useModel(model: RegAuthModel): void {
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    const update = () => setTick(tick => tick + 1);
    model.changed.connect(update);
    return () => {
      model.changed.disconnect(update);
    };
  }, [model]);
}

/**
 * An error's message and the hint saying what to do, announced to screen
 * readers. `source`: where the registry the error is about comes from.
 */
export function ErrorView(props: {
  error: ApiError | IErrorBody | null;
  trans: TranslationBundle;
  source?: RegistrySource;
}): JSX.Element | null {
  const { error, trans } = props;
  if (!error) {
    return null;
  }
  const hint = panelHint(error, trans, { source: props.source });
  return (
    <div className="jp-RegAuth-error" role="alert">
      <div className="jp-RegAuth-errorMessage">{error.message}</div>
      {hint ? (
        <div className="jp-RegAuth-errorHint">
          {trans.__('What to do: %1', hint)}
        </div>
      ) : null}
      {error.fingerprint ? (
        <div className="jp-RegAuth-errorHint">
          {trans.__('Server certificate SHA-256: %1', error.fingerprint)}
        </div>
      ) : null}
    </div>
  );
}

export type BadgeTone = 'good' | 'bad' | 'warn' | 'unknown';

export function Badge(props: {
  tone: BadgeTone;
  label: string;
  title?: string;
}): JSX.Element {
  return (
    <span
      className={`jp-RegAuth-badge jp-RegAuth-badge-${props.tone}`}
      title={props.title ?? props.label}
    >
      {props.label}
    </span>
  );
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}
