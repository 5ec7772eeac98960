import { ISignal, Signal } from '@lumino/signaling';

import { ApiError } from './api';
import { getVersion, listRegistries } from './client';
import { IRegistryStatus, IVersion } from './types';

/** The user settings the panel reads (schema/plugin.json). */
export interface IPanelSettings {
  refreshInterval: number;
  defaultBaseImage: string;
  defaultDest: string;
}

export const DEFAULT_SETTINGS: IPanelSettings = {
  refreshInterval: 60,
  defaultBaseImage: '',
  defaultDest: '/model'
};

/**
 * State shared by the panel's sections and the commands: the registry list,
 * the server's capabilities and the folder picked for a push. It holds no
 * secret: passwords live only in a login form's input until it is submitted.
 */
export class RegAuthModel {
  registries: IRegistryStatus[] = [];
  version: IVersion | null = null;
  error: ApiError | null = null;
  loading = false;
  settings: IPanelSettings = { ...DEFAULT_SETTINGS };
  /** Folder (relative to the Jupyter root) the push form is filled with. */
  pushDirectory = '';

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted when a command asks for a section to be shown and focused. */
  get focusRequested(): ISignal<this, 'add' | 'push'> {
    return this._focusRequested;
  }

  requestFocus(section: 'add' | 'push'): void {
    this._focusRequested.emit(section);
  }

  setPushDirectory(path: string): void {
    this.pushDirectory = path;
    this._changed.emit();
  }

  updateSettings(settings: Partial<IPanelSettings>): void {
    this.settings = { ...this.settings, ...settings };
    this.restartTimer();
    this._changed.emit();
  }

  /** Replace one registry's status (after a login, say) without a full reload. */
  putStatus(status: IRegistryStatus): void {
    const index = this.registries.findIndex(r => r.host === status.host);
    if (index < 0) {
      this.registries = [...this.registries, status];
    } else {
      this.registries = this.registries.map((r, i) =>
        i === index ? status : r
      );
    }
    this._changed.emit();
  }

  async refresh(): Promise<void> {
    if (this.loading) {
      return;
    }
    this.loading = true;
    this._changed.emit();
    try {
      if (!this.version) {
        this.version = await getVersion();
      }
      this.registries = (await listRegistries()).registries;
      this.error = null;
    } catch (error) {
      this.error = error as ApiError;
    } finally {
      this.loading = false;
      this._changed.emit();
    }
  }

  /** Refresh every `refreshInterval` seconds; 0 turns it off. */
  restartTimer(): void {
    window.clearInterval(this._timer);
    const seconds = this.settings.refreshInterval;
    if (seconds > 0) {
      this._timer = window.setInterval(
        () => void this.refresh(),
        seconds * 1000
      );
    }
  }

  dispose(): void {
    window.clearInterval(this._timer);
    Signal.clearData(this);
  }

  private _timer = 0;
  private _changed = new Signal<this, void>(this);
  private _focusRequested = new Signal<this, 'add' | 'push'>(this);
}
