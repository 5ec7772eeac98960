import { jsonBody, requestAPI, streamEvents } from './api';
import {
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

/** Follow a job until its stream ends; resolves with the last job state seen. */
export async function followJob(
  id: string,
  handlers: {
    progress: (progress: IJobProgress) => void;
    state: (job: IJob) => void;
  },
  signal?: AbortSignal
): Promise<void> {
  await streamEvents(
    `jobs/${id}/events`,
    message => {
      if (message.event === 'progress') {
        handlers.progress(JSON.parse(message.data) as IJobProgress);
      } else if (message.event === 'state') {
        handlers.state(JSON.parse(message.data) as IJob);
      }
    },
    signal
  );
}
