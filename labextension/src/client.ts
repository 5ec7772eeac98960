import { ApiError, jsonBody, requestAPI, streamEvents } from './api';
import {
  FINAL_JOB_STATES,
  IAddRegistry,
  IJob,
  IJobProgress,
  IKubeStatus,
  ILoginRequest,
  ILoginResult,
  ILogoutResult,
  IPushJobRequest,
  IRegistryList,
  IRegistryStatus,
  IRemoved,
  ITrusted,
  ITrustOffer,
  IVersion
} from './types';

/** One typed function per endpoint of the server extension. */

function registry(host: string, tail = ''): string {
  // The host may hold a port ("host:5000"): it travels URL-encoded in one segment.
  return `registries/${encodeURIComponent(host)}${tail}`;
}

export const getVersion = (): Promise<IVersion> => requestAPI('version');

export const listRegistries = (live = true): Promise<IRegistryList> =>
  requestAPI(`registries?live=${live}`);

export const getRegistry = (host: string): Promise<IRegistryStatus> =>
  requestAPI(registry(host));

export const addRegistry = (body: IAddRegistry): Promise<IRegistryStatus> =>
  requestAPI('registries', jsonBody('POST', body));

export const removeRegistry = (host: string): Promise<IRemoved> =>
  requestAPI(registry(host), { method: 'DELETE' });

export const offerTrust = (host: string): Promise<ITrustOffer> =>
  requestAPI(registry(host, '/trust'), jsonBody('POST', {}));

export const confirmTrust = (
  host: string,
  caPem: string,
  fingerprint: string
): Promise<ITrusted> =>
  requestAPI(
    registry(host, '/trust'),
    jsonBody('POST', { ca_pem: caPem, fingerprint })
  );

export const login = (
  host: string,
  body: ILoginRequest
): Promise<ILoginResult> =>
  requestAPI(registry(host, '/login'), jsonBody('POST', body));

export const logout = (host: string): Promise<ILogoutResult> =>
  requestAPI(registry(host, '/logout'), jsonBody('POST', {}));

export const kubeStatus = (host: string): Promise<IKubeStatus> =>
  requestAPI(registry(host, '/kube'));

export const kubeApply = (host: string): Promise<IKubeStatus> =>
  requestAPI(registry(host, '/kube'), { method: 'POST' });

export const kubeRemove = (host: string): Promise<IKubeStatus> =>
  requestAPI(registry(host, '/kube'), { method: 'DELETE' });

export const startPush = (body: IPushJobRequest): Promise<IJob> =>
  requestAPI('jobs', jsonBody('POST', body));

export const cancelJob = (id: string): Promise<IJob> =>
  requestAPI(`jobs/${id}`, { method: 'DELETE' });

/** How often, and how long apart, a broken job stream is opened again. */
const STREAM_RETRIES = 5;
const STREAM_RETRY_MS = 1000;

/**
 * Follow a job until it ends. A stream that breaks or ends early (a proxy's timeout, the
 * network) is opened again after the last message seen, as EventSource would; an answer
 * from the server itself (the job is unknown, the session expired) is an error.
 */
export async function followJob(
  id: string,
  handlers: {
    progress: (progress: IJobProgress) => void;
    state: (job: IJob) => void;
  },
  signal?: AbortSignal
): Promise<void> {
  let after = 0;
  let ended = false;
  for (let failures = 0; !ended;) {
    try {
      await streamEvents(
        `jobs/${id}/events?after=${after}`,
        message => {
          after = message.id ? Number(message.id) : after;
          if (message.event === 'progress') {
            handlers.progress(JSON.parse(message.data) as IJobProgress);
          } else if (message.event === 'state') {
            const job = JSON.parse(message.data) as IJob;
            handlers.state(job);
            ended = FINAL_JOB_STATES.has(job.state);
          }
        },
        signal
      );
      failures = 0;
    } catch (error) {
      const fromServer = error instanceof ApiError && error.status > 0;
      if (signal?.aborted || fromServer || ++failures > STREAM_RETRIES) {
        throw error;
      }
    }
    if (!ended) {
      await new Promise(resolve => setTimeout(resolve, STREAM_RETRY_MS));
    }
  }
}
