/**
 * Types mirroring the schemas of jupyter_regauth/server/openapi.yaml.
 */

/**
 * What the core says about an error or a report's note: a stable code, a
 * message, what to do in words every front end can act on, and the fields a
 * front end words its own form of the fix from.
 */
export interface IHinted {
  code: string;
  message: string;
  hint?: string;
  /** TLS errors, `kubelet_needs_password` and notes: the registry. */
  host?: string | null;
  /** Kubernetes errors and notes: the namespace. */
  namespace?: string | null;
}

/** `Error`: every failed call answers with a stable code, a message and a hint. */
export interface IErrorBody extends IHinted {
  status?: number;
  /** TLS errors: the server certificate's SHA-256, subject and issuer. */
  fingerprint?: string | null;
  subject?: string | null;
  issuer?: string | null;
}

export interface IKubeSettings {
  enabled: boolean;
  available: boolean;
  namespace: string | null;
}

export interface IVersion {
  version: string;
  kubernetes: IKubeSettings;
  default_base_image: string | null;
}

export type RegistrySource = 'admin' | 'user' | 'config' | 'none';

export interface IRegistryStatus {
  host: string;
  name: string;
  source: RegistrySource;
  reachable: boolean | null;
  trusted: boolean | null;
  authenticated: boolean | null;
  auth_scheme: string | null;
  username: string | null;
  token_expires_at: number | null;
  insecure: boolean;
  error: IErrorBody | null;
  kube: { configured: boolean | null } | null;
}

export interface IRegistryList {
  registries: IRegistryStatus[];
}

export interface IAddRegistry {
  host: string;
  display_name?: string;
  ca_pem?: string;
  insecure?: boolean;
}

export interface IRemoved {
  host: string;
  removed: boolean;
}

export interface ICertificateInfo {
  subject: string;
  issuer: string;
  fingerprint: string;
  not_before: string;
  not_after: string;
}

export interface ITrustOffer {
  host: string;
  chain: ICertificateInfo[];
  ca: ICertificateInfo;
  ca_pem: string;
  already_trusted: boolean;
}

export interface ITrusted {
  host: string;
  trusted: true;
  fingerprint: string;
  path: string;
}

export interface ILoginRequest {
  username: string;
  password: string;
  ca_pem?: string;
  insecure?: boolean;
  save_profile?: boolean;
  kube?: boolean;
}

export type KubeObjectState =
  'present' | 'missing' | 'outdated' | 'removed' | 'error';

export interface IKubeObject {
  kind: string;
  name: string;
  namespace?: string | null;
  state: KubeObjectState;
  message?: string;
}

export interface IKubeStatus {
  host: string;
  namespace: string;
  configured: boolean;
  objects: IKubeObject[];
  /** What was skipped or could not be checked (e.g. no PodDefaults in this cluster). */
  notes?: string[];
  /** The same notes, each with its code and fields. */
  note_details?: IKubeNote[];
}

/** `KubeNote`: a note of a Kubernetes report, with the shape of an error. */
export interface IKubeNote extends IHinted {
  hint: string;
  /** `service_accounts_not_listed`: the ones the pull Secret was taken off. */
  service_accounts?: string[];
}

/** The Kubernetes step of a login failed; the login itself succeeded. */
export interface IKubeFailure {
  error: IErrorBody;
}

export interface ILoginResult {
  host: string;
  username: string;
  stored_as: 'password' | 'identity token';
  config_path: string;
  certs_dir: string | null;
  profile_saved: boolean;
  kube: IKubeStatus | IKubeFailure | null;
}

export interface ILogoutResult {
  host: string;
  removed: boolean;
  kube: IKubeStatus | null;
}

/** How new layers are compressed: gzip (every runtime) or zstd (OCI only). */
export type LayerCompression = 'gzip' | 'zstd';

export interface IPushJobRequest {
  kind: 'push';
  directory: string;
  reference: string;
  base?: string | null;
  dest?: string;
  platform?: string | null;
  compression?: LayerCompression | null;
}

export type ProgressState =
  | 'waiting'
  | 'running'
  | 'hashing'
  | 'compressing'
  | 'uploading'
  | 'exists'
  | 'mounted'
  | 'done'
  | 'error'
  | 'stopped';

export interface IProgressEvent {
  kind: 'layer' | 'blob' | 'config' | 'manifest' | 'image' | 'step';
  id: string;
  state: ProgressState;
  bytes_done: number;
  bytes_total: number | null;
  message: string;
}

export interface IJobProgress {
  job: string;
  event: IProgressEvent;
  bytes_done: number;
  bytes_total: number;
}

export type JobState =
  'queued' | 'running' | 'cancelling' | 'succeeded' | 'failed' | 'cancelled';

/** Job states after which nothing changes any more. */
export const FINAL_JOB_STATES: ReadonlySet<JobState> = new Set([
  'succeeded',
  'failed',
  'cancelled'
]);

export interface IJob {
  id: string;
  kind: 'push' | 'build' | 'copy';
  state: JobState;
  description: string;
  created: number;
  finished: number | null;
  bytes_done: number;
  bytes_total: number;
  items: IProgressEvent[];
  result: { digest: string; reference: string } | null;
  error: IErrorBody | null;
}
