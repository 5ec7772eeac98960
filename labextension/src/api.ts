import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IErrorBody } from './types';

/** Every route of the server extension lives under this prefix. */
export const API_PREFIX = 'regauth/api';

/**
 * A failed API call, carrying the server's stable error code and the hint
 * that says what to do.
 */
export class ApiError extends Error {
  readonly code: string;
  readonly hint: string;
  readonly status: number;
  /** The registry the error is about, where the server names it. */
  readonly host: string | null;
  /** TLS errors: the certificate the server presented. */
  readonly fingerprint: string | null;

  constructor(body: IErrorBody, status: number) {
    super(body.message);
    this.name = 'ApiError';
    this.code = body.code;
    this.hint = body.hint ?? '';
    this.status = status;
    this.host = body.host ?? null;
    this.fingerprint = body.fingerprint ?? null;
  }
}

function apiUrl(path: string, settings: ServerConnection.ISettings): string {
  return URLExt.join(settings.baseUrl, API_PREFIX, path);
}

/** Turn a non-OK response into an ApiError, whatever its body looks like. */
async function toError(response: Response): Promise<ApiError> {
  const text = await response.text();
  let body: Partial<IErrorBody> = {};
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (a proxy page, for instance): fall back to the status line.
  }
  return new ApiError(
    {
      code: body.code ?? `http_${response.status}`,
      message:
        body.message ?? (response.statusText || `HTTP ${response.status}`),
      hint: body.hint ?? '',
      host: body.host ?? null,
      fingerprint: body.fingerprint ?? null
    },
    response.status
  );
}

async function send(
  path: string,
  init: RequestInit,
  settings: ServerConnection.ISettings
): Promise<Response> {
  let response: Response;
  try {
    // makeRequest adds the XSRF header and the token the page was opened with.
    response = await ServerConnection.makeRequest(
      apiUrl(path, settings),
      init,
      settings
    );
  } catch (error) {
    throw new ApiError(
      {
        code: 'network_error',
        message: (error as Error).message,
        hint: 'Check that the Jupyter server is running and reachable.'
      },
      0
    );
  }
  if (!response.ok) {
    throw await toError(response);
  }
  return response;
}

/**
 * Call a JSON endpoint of the server extension and return its typed body
 * (undefined for an empty 204 response).
 */
export async function requestAPI<T>(
  path = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const response = await send(path, init, settings);
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A JSON request body with the matching content type. */
export function jsonBody(method: string, body: unknown): RequestInit {
  return {
    method,
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  };
}

/** One parsed Server-Sent Event. */
export interface IServerEvent {
  event: string;
  data: string;
  /** The message's number, where the server gave one (to resume after it). */
  id?: string;
}

/** Split an SSE text buffer into complete events and the unfinished rest. */
export function parseEvents(buffer: string): {
  events: IServerEvent[];
  rest: string;
} {
  const events: IServerEvent[] = [];
  const blocks = buffer.replace(/\r\n?/g, '\n').split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        continue; // a keep-alive comment
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') {
        event = value;
      } else if (field === 'id') {
        id = value;
      } else if (field === 'data') {
        data.push(value);
      }
    }
    if (data.length) {
      events.push(
        id === undefined
          ? { event, data: data.join('\n') }
          : { event, data: data.join('\n'), id }
      );
    }
  }
  return { events, rest };
}

/**
 * Read a Server-Sent Events stream through ServerConnection, so the request
 * carries the same authentication headers as every other call (EventSource
 * cannot set headers). Resolves when the server closes the stream.
 */
export async function streamEvents(
  path: string,
  onEvent: (event: IServerEvent) => void,
  signal?: AbortSignal,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<void> {
  const response = await send(
    path,
    { headers: { Accept: 'text/event-stream' }, signal },
    settings
  );
  if (!response.body) {
    throw new ApiError(
      { code: 'no_stream', message: 'The server sent no event stream.' },
      response.status
    );
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      break;
    }
    const parsed = parseEvents(buffer + value);
    buffer = parsed.rest;
    parsed.events.forEach(onEvent);
  }
  parseEvents(buffer + '\n\n').events.forEach(onEvent);
}
