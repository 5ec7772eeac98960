import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ApiError } from '../api';
import { addRegistry, confirmTrust, getRegistry, offerTrust } from '../client';
import { RegAuthModel } from '../model';
import { fingerprints, PemError } from '../pem';
import { ICertificateInfo, ITrustOffer, RegistrySource } from '../types';
import { ErrorView } from './common';

interface IPending {
  host: string;
  displayName: string;
  offer: ITrustOffer;
  /** One of the administrator's registries: in the list already, only trusted here. */
  admin: boolean;
  /** The user's own CA and its fingerprints (null: no Web Crypto here). */
  caPem: string;
  caFingerprints: string[] | null;
}

function Certificate(props: {
  cert: ICertificateInfo;
  trans: TranslationBundle;
}): JSX.Element {
  const { cert, trans } = props;
  return (
    <li className="jp-RegAuth-cert">
      <dl>
        <dt>{trans.__('Subject')}</dt>
        <dd>{cert.subject}</dd>
        <dt>{trans.__('Issuer')}</dt>
        <dd>{cert.issuer}</dd>
        <dt>{trans.__('SHA-256')}</dt>
        <dd className="jp-RegAuth-fingerprint">{cert.fingerprint}</dd>
      </dl>
    </li>
  );
}

/** The fingerprint confirmation step: nothing is stored before "Trust". */
function Confirm(props: {
  pending: IPending;
  busy: boolean;
  trans: TranslationBundle;
  onTrust: () => void;
  onCancel: () => void;
}): JSX.Element {
  const { pending, trans } = props;
  const { offer } = pending;
  const nothingToStore = offer.already_trusted && !pending.caPem;
  const headingId = React.useId();
  const trustRef = React.useRef<HTMLButtonElement>(null);
  React.useEffect(() => trustRef.current?.focus(), []);
  return (
    <div
      className="jp-RegAuth-confirm"
      role="group"
      aria-labelledby={headingId}
    >
      <div id={headingId} className="jp-RegAuth-subheading">
        {trans.__('Certificates presented by %1', offer.host)}
      </div>
      <ol
        className="jp-RegAuth-chain"
        aria-label={trans.__('Certificate chain')}
      >
        {offer.chain.map(cert => (
          <Certificate key={cert.fingerprint} cert={cert} trans={trans} />
        ))}
      </ol>
      <div className="jp-RegAuth-subheading">
        {trans.__('Certificate to trust')}
      </div>
      {pending.caPem ? (
        <dl className="jp-RegAuth-trustTarget">
          <dt>{trans.__('Source')}</dt>
          <dd>{trans.__('your CA file')}</dd>
          <dt>{trans.__('SHA-256')}</dt>
          <dd className="jp-RegAuth-fingerprint">
            {pending.caFingerprints?.[0] ??
              trans.__('shown once checked by the server')}
          </dd>
        </dl>
      ) : (
        <dl className="jp-RegAuth-trustTarget">
          <dt>{trans.__('Subject')}</dt>
          <dd>{offer.ca.subject}</dd>
          <dt>{trans.__('SHA-256')}</dt>
          <dd className="jp-RegAuth-fingerprint">{offer.ca.fingerprint}</dd>
        </dl>
      )}
      <p className="jp-RegAuth-note">
        {nothingToStore
          ? trans.__('This server is already trusted.')
          : trans.__(
              'Compare the SHA-256 fingerprint with the one your administrator gave you before trusting it.'
            )}
      </p>
      {pending.admin ? (
        <p className="jp-RegAuth-note">
          {trans.__(
            '%1 is already in the list, set up by your administrator: its CA is trusted here for you only.',
            offer.host
          )}
        </p>
      ) : null}
      <div className="jp-RegAuth-actions">
        <button
          ref={trustRef}
          type="button"
          className="jp-mod-styled jp-mod-accept"
          disabled={props.busy}
          onClick={props.onTrust}
        >
          {!nothingToStore
            ? trans.__('Trust')
            : pending.admin
              ? trans.__('Done')
              : trans.__('Add')}
        </button>
        <button
          type="button"
          className="jp-mod-styled jp-mod-reject"
          disabled={props.busy}
          onClick={props.onCancel}
        >
          {trans.__('Cancel')}
        </button>
      </div>
    </div>
  );
}

/** Add a registry: host, optional CA (upload or paste), then confirm the chain. */
export function AddRegistry(props: {
  model: RegAuthModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  const id = React.useId();
  const [host, setHost] = React.useState('');
  const [displayName, setDisplayName] = React.useState('');
  const [caPem, setCaPem] = React.useState('');
  const [pending, setPending] = React.useState<IPending | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState<ApiError | null>(null);
  const [done, setDone] = React.useState('');
  const hostRef = React.useRef<HTMLInputElement>(null);
  const sourceOf = (name: string | null): RegistrySource | undefined =>
    model.registries.find(r => r.host === name)?.source;

  React.useEffect(() => {
    const focus = (_: RegAuthModel, section: 'add' | 'push') => {
      if (section === 'add') {
        setPending(null);
        hostRef.current?.focus();
      }
    };
    model.focusRequested.connect(focus);
    return () => {
      model.focusRequested.disconnect(focus);
    };
  }, [model]);

  const readFile = async (event: React.ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (file) {
      setCaPem(await file.text());
    }
  };

  /** The CA text's fingerprints; a damaged block is named, with what to do. */
  const readFingerprints = async (pem: string) => {
    try {
      return await fingerprints(pem);
    } catch (err) {
      if (!(err instanceof PemError)) {
        throw err;
      }
      throw new ApiError(
        {
          code: 'bad_request',
          message: trans.__(
            'Certificate %1 of the CA text is damaged: the lines between BEGIN CERTIFICATE and END CERTIFICATE are not base64.',
            err.block
          ),
          hint: trans.__(
            'Upload the CA file itself, or copy its text again, whole and unchanged.'
          )
        },
        400
      );
    }
  };

  // When the confirmation closes, the keyboard focus goes back to the host.
  const refocus = React.useRef(false);
  React.useEffect(() => {
    if (!pending && refocus.current) {
      refocus.current = false;
      hostRef.current?.focus();
    }
  }, [pending]);

  const check = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setDone('');
    try {
      const caFingerprints = caPem ? await readFingerprints(caPem) : null;
      if (caFingerprints && caFingerprints.length === 0) {
        throw new ApiError(
          {
            code: 'bad_request',
            message: trans.__('The CA text holds no PEM certificate.'),
            hint: trans.__(
              'Paste the lines from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----.'
            )
          },
          400
        );
      }
      const offer = await offerTrust(host.trim());
      setPending({
        host: offer.host,
        displayName,
        offer,
        admin: sourceOf(offer.host) === 'admin',
        caPem,
        caFingerprints
      });
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };

  const trust = async () => {
    if (!pending) {
      return;
    }
    setBusy(true);
    setError(null);
    const { offer } = pending;
    const display = pending.displayName.trim() || undefined;
    try {
      let status;
      if (pending.caPem && !pending.caFingerprints && !pending.admin) {
        // No Web Crypto: the server checks the CA against the registry itself.
        status = await addRegistry({
          host: pending.host,
          display_name: display,
          ca_pem: pending.caPem
        });
      } else {
        if (pending.caPem) {
          // Without Web Crypto, the CA the server presented is the one confirmed.
          await confirmTrust(
            pending.host,
            pending.caPem,
            pending.caFingerprints?.[0] ?? offer.ca.fingerprint
          );
        } else if (!offer.already_trusted) {
          await confirmTrust(pending.host, offer.ca_pem, offer.ca.fingerprint);
        }
        // The administrator's profile stays as it is (adding it is refused):
        // only its status changes, now that its CA is trusted.
        status = pending.admin
          ? await getRegistry(pending.host)
          : await addRegistry({ host: pending.host, display_name: display });
      }
      model.putStatus(status);
      setDone(
        pending.admin
          ? trans.__('Trusted %1.', status.name)
          : trans.__('Added %1.', status.name)
      );
      refocus.current = true;
      setPending(null);
      setHost('');
      setDisplayName('');
      setCaPem('');
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="jp-RegAuth-section jp-RegAuth-add">
      {pending ? (
        <Confirm
          pending={pending}
          busy={busy}
          trans={trans}
          onTrust={() => void trust()}
          onCancel={() => {
            refocus.current = true;
            setPending(null);
            setError(null);
          }}
        />
      ) : (
        <form
          className="jp-RegAuth-form"
          aria-label={trans.__('Add a registry')}
          onSubmit={check}
        >
          <div className="jp-RegAuth-field">
            <label htmlFor={`${id}-host`}>{trans.__('Registry host')}</label>
            <input
              id={`${id}-host`}
              ref={hostRef}
              className="jp-mod-styled"
              name="host"
              placeholder="registry.example.com:5000"
              required
              spellCheck={false}
              value={host}
              onChange={e => setHost(e.target.value)}
            />
          </div>
          <div className="jp-RegAuth-field">
            <label htmlFor={`${id}-name`}>
              {trans.__('Display name (optional)')}
            </label>
            <input
              id={`${id}-name`}
              className="jp-mod-styled"
              name="display_name"
              value={displayName}
              onChange={e => setDisplayName(e.target.value)}
            />
          </div>
          <div className="jp-RegAuth-field">
            <label htmlFor={`${id}-cafile`}>
              {trans.__('CA certificate file (optional)')}
            </label>
            <input
              id={`${id}-cafile`}
              type="file"
              accept=".crt,.pem,.cer,application/x-pem-file"
              onChange={e => void readFile(e)}
            />
          </div>
          <div className="jp-RegAuth-field">
            <label htmlFor={`${id}-capem`}>
              {trans.__('or paste the CA certificate (PEM)')}
            </label>
            <textarea
              id={`${id}-capem`}
              className="jp-mod-styled"
              name="ca_pem"
              rows={3}
              spellCheck={false}
              placeholder="-----BEGIN CERTIFICATE-----"
              value={caPem}
              onChange={e => setCaPem(e.target.value)}
            />
          </div>
          <div className="jp-RegAuth-actions">
            <button
              type="submit"
              className="jp-mod-styled jp-mod-accept"
              disabled={busy || !host.trim()}
            >
              {busy ? trans.__('Contacting…') : trans.__('Check certificate')}
            </button>
          </div>
        </form>
      )}
      <ErrorView
        error={error}
        trans={trans}
        source={sourceOf(error?.host ?? null)}
      />
      <div className="jp-RegAuth-status" role="status" aria-live="polite">
        {done}
      </div>
    </div>
  );
}
