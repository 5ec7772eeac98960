import { Clipboard } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ApiError } from '../api';
import { cancelJob, followJob, startPush } from '../client';
import { RegAuthModel } from '../model';
import {
  FINAL_JOB_STATES,
  IJob,
  IProgressEvent,
  LayerCompression
} from '../types';
import { ErrorView, formatBytes, useModel } from './common';

function ProgressBar(props: {
  label: string;
  done: number;
  total: number | null;
}): JSX.Element {
  const { done, total } = props;
  const percent = total
    ? Math.min(100, Math.round((done / total) * 100))
    : null;
  return (
    <div
      className="jp-RegAuth-progress"
      role="progressbar"
      aria-label={props.label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent ?? undefined}
      aria-valuetext={
        total
          ? `${formatBytes(done)} / ${formatBytes(total)}`
          : formatBytes(done)
      }
    >
      <div
        className={
          'jp-RegAuth-progressFill' +
          (percent === null ? ' jp-RegAuth-progressUnknown' : '')
        }
        style={{ width: `${percent ?? 100}%` }}
      />
    </div>
  );
}

const FINISHED_ITEM = new Set(['done', 'exists', 'mounted']);

function Item(props: {
  item: IProgressEvent;
  trans: TranslationBundle;
}): JSX.Element {
  const { item, trans } = props;
  const name = item.id.startsWith('sha256:')
    ? `${item.kind} ${item.id.slice(7, 19)}`
    : item.id;
  const finished = FINISHED_ITEM.has(item.state);
  const total = item.bytes_total ?? (finished ? item.bytes_done : null);
  return (
    <li className="jp-RegAuth-item" data-state={item.state}>
      <div className="jp-RegAuth-itemLine">
        <span className="jp-RegAuth-itemName" title={item.id}>
          {name}
        </span>
        <span className="jp-RegAuth-itemState">
          {trans.__(item.state)}
          {item.bytes_done ? ` · ${formatBytes(item.bytes_done)}` : ''}
        </span>
      </div>
      <ProgressBar
        label={trans.__('%1: %2', name, item.state)}
        done={finished ? (total ?? 1) : item.bytes_done}
        total={finished ? (total ?? 1) : total}
      />
    </li>
  );
}

/** The state of the job being followed: items keyed by id, in the order seen. */
function useJob(): [
  IJob | null,
  IProgressEvent[],
  {
    setJob: (job: IJob) => void;
    progress: (event: IProgressEvent, done: number, total: number) => void;
    reset: () => void;
  }
] {
  const [job, setJobState] = React.useState<IJob | null>(null);
  const [items, setItems] = React.useState<Map<string, IProgressEvent>>(
    new Map()
  );
  const setJob = (next: IJob) => {
    setJobState(next);
    setItems(current => {
      const merged = new Map(current);
      next.items.forEach(item => merged.set(item.id, item));
      return merged;
    });
  };
  const progress = (event: IProgressEvent, done: number, total: number) => {
    setItems(current => new Map(current).set(event.id, event));
    setJobState(current =>
      current ? { ...current, bytes_done: done, bytes_total: total } : current
    );
  };
  const reset = () => {
    setJobState(null);
    setItems(new Map());
  };
  return [job, Array.from(items.values()), { setJob, progress, reset }];
}

/**
 * Put a folder on a base image and push it, following the job's progress
 * stream; cancel while it runs, copy the digest when it is done.
 */
export function PushForm(props: {
  model: RegAuthModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  useModel(model);
  const id = React.useId();
  const [directory, setDirectory] = React.useState(model.pushDirectory);
  const [base, setBase] = React.useState<string | null>(null);
  const [compression, setCompression] =
    React.useState<LayerCompression>('gzip');
  const [reference, setReference] = React.useState('');
  const [error, setError] = React.useState<ApiError | null>(null);
  const [copied, setCopied] = React.useState(false);
  const [job, items, jobActions] = useJob();
  const abort = React.useRef<AbortController | null>(null);
  const directoryRef = React.useRef<HTMLInputElement>(null);

  // A folder picked in the file browser replaces what was typed.
  React.useEffect(
    () => setDirectory(model.pushDirectory),
    [model.pushDirectory]
  );
  React.useEffect(() => {
    const focus = (_: RegAuthModel, section: 'add' | 'push') => {
      if (section === 'push') {
        directoryRef.current?.focus();
      }
    };
    model.focusRequested.connect(focus);
    return () => {
      model.focusRequested.disconnect(focus);
      abort.current?.abort();
    };
  }, [model]);

  const defaultBase =
    model.settings.defaultBaseImage || model.version?.default_base_image || '';
  const baseValue = base ?? defaultBase;
  const running = !!job && !FINAL_JOB_STATES.has(job.state);
  const loggedIn = model.registries.find(r => r.authenticated);
  const folderName = directory.split('/').filter(Boolean).pop() ?? 'model';
  const suggestion = loggedIn
    ? `${loggedIn.host}/${folderName.toLowerCase()}:latest`
    : 'registry.example.com/team/model:1';

  const push = async (event: React.FormEvent) => {
    event.preventDefault();
    setError(null);
    setCopied(false);
    jobActions.reset();
    abort.current?.abort();
    const controller = new AbortController();
    abort.current = controller;
    try {
      const started = await startPush({
        kind: 'push',
        directory: directory.trim(),
        reference: reference.trim(),
        base: baseValue.trim() || null,
        dest: model.settings.defaultDest,
        compression
      });
      jobActions.setJob(started);
      await followJob(
        started.id,
        {
          progress: p =>
            jobActions.progress(p.event, p.bytes_done, p.bytes_total),
          state: jobActions.setJob
        },
        controller.signal
      );
    } catch (err) {
      if (!controller.signal.aborted) {
        setError(err as ApiError);
      }
    }
  };

  const cancel = async () => {
    if (!job) {
      return;
    }
    try {
      jobActions.setJob(await cancelJob(job.id));
    } catch (err) {
      setError(err as ApiError);
    }
  };

  // The Cancel button goes once the job ends: the focus it had (if nothing
  // else took it meanwhile) goes to the submit button.
  const submitRef = React.useRef<HTMLButtonElement>(null);
  const cancelPressed = React.useRef(false);
  React.useEffect(() => {
    const lost =
      !document.activeElement || document.activeElement === document.body;
    if (!running && cancelPressed.current && lost) {
      submitRef.current?.focus();
    }
    if (!running) {
      cancelPressed.current = false;
    }
  }, [running]);

  const digest = job?.state === 'succeeded' ? job.result : null;
  const resultRef = React.useRef<HTMLDivElement>(null);
  React.useEffect(() => {
    resultRef.current?.scrollIntoView({ block: 'nearest' });
  }, [digest]);
  return (
    <div className="jp-RegAuth-section jp-RegAuth-push">
      <form
        className="jp-RegAuth-form"
        aria-label={trans.__('Build and push an image')}
        onSubmit={push}
      >
        <div className="jp-RegAuth-field">
          <label htmlFor={`${id}-dir`}>
            {trans.__('Folder (relative to the Jupyter root)')}
          </label>
          <input
            id={`${id}-dir`}
            ref={directoryRef}
            className="jp-mod-styled"
            name="directory"
            required
            spellCheck={false}
            placeholder="models/my-model"
            value={directory}
            onChange={e => setDirectory(e.target.value)}
          />
        </div>
        <div className="jp-RegAuth-field">
          <label htmlFor={`${id}-base`}>
            {trans.__('Base image (empty for none)')}
          </label>
          <input
            id={`${id}-base`}
            className="jp-mod-styled"
            name="base"
            spellCheck={false}
            placeholder="scratch"
            value={baseValue}
            onChange={e => setBase(e.target.value)}
          />
        </div>
        <div className="jp-RegAuth-field">
          <label htmlFor={`${id}-compression`}>
            {trans.__('Layer compression')}
          </label>
          <HTMLSelect
            id={`${id}-compression`}
            name="compression"
            value={compression}
            onChange={e => setCompression(e.target.value as LayerCompression)}
            options={[
              { value: 'gzip', label: trans.__('gzip: every runtime') },
              {
                value: 'zstd',
                label: trans.__('zstd: containerd 1.5+, CRI-O, Docker 23+')
              }
            ]}
          />
        </div>
        <div className="jp-RegAuth-field">
          <label htmlFor={`${id}-ref`}>{trans.__('Target image')}</label>
          <input
            id={`${id}-ref`}
            className="jp-mod-styled"
            name="reference"
            required
            spellCheck={false}
            placeholder={suggestion}
            value={reference}
            onChange={e => setReference(e.target.value)}
          />
        </div>
        <div className="jp-RegAuth-actions">
          <button
            ref={submitRef}
            type="submit"
            className="jp-mod-styled jp-mod-accept"
            disabled={running || !directory.trim() || !reference.trim()}
          >
            {trans.__('Build and push')}
          </button>
          {running ? (
            <button
              type="button"
              className="jp-mod-styled jp-mod-reject"
              disabled={job?.state === 'cancelling'}
              onClick={() => {
                cancelPressed.current = true;
                void cancel();
              }}
            >
              {trans.__('Cancel')}
            </button>
          ) : null}
        </div>
      </form>
      <ErrorView error={error} trans={trans} />
      {job ? (
        <div className="jp-RegAuth-job" data-state={job.state}>
          <div className="jp-RegAuth-status" role="status" aria-live="polite">
            {trans.__('Job %1', trans.__(job.state))}
            {job.bytes_done
              ? ` · ${formatBytes(job.bytes_done)}${
                  job.bytes_total ? ` / ${formatBytes(job.bytes_total)}` : ''
                }`
              : ''}
          </div>
          <ul className="jp-RegAuth-items" aria-label={trans.__('Progress')}>
            {items.map(item => (
              <Item key={item.id} item={item} trans={trans} />
            ))}
          </ul>
          <ErrorView error={job.error} trans={trans} />
          {digest ? (
            <div className="jp-RegAuth-result" ref={resultRef}>
              <div className="jp-RegAuth-subheading">{trans.__('Pushed')}</div>
              <code className="jp-RegAuth-digest">{digest.reference}</code>
              <button
                type="button"
                className="jp-mod-styled"
                onClick={() => {
                  Clipboard.copyToSystem(digest.reference);
                  setCopied(true);
                }}
              >
                {copied ? trans.__('Copied') : trans.__('Copy')}
              </button>
            </div>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
