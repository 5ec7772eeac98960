import { ISignal, Signal } from '@lumino/signaling';

import { ApiError } from './api';
import { getRegistry, getVersion, listRegistries } from './client';
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

/** The longest delay a browser timer takes (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

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
    if (this._refreshing) {
      // Newer than what the check under way will answer for this registry.
      this._putDuring.set(status.host, status);
      this._checking.delete(status.host);
    }
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

  /** Whether a check of the registry under way has not answered yet. */
  isChecking(host: string): boolean {
    return this._checking.has(host);
  }

  /**
   * Check every registry. Asked again while a check runs, it checks once
   * more after it (what the running one answers may predate the change that
   * asked) and resolves when that is done.
   */
  refresh(): Promise<void> {
    if (this._refreshing) {
      this._again = true;
      return this._refreshing;
    }
    this._refreshing = this._check().finally(() => {
      this._refreshing = null;
    });
    return this._refreshing;
  }

  private async _check(): Promise<void> {
    this.loading = true;
    this._changed.emit();
    try {
      do {
        this._again = false;
        this._putDuring.clear();
        try {
          if (!this.version) {
            this.version = await getVersion();
          }
          await this._checkEach();
          this.error = null;
        } catch (error) {
          this.error = error as ApiError;
        }
      } while (this._again);
    } finally {
      this._putDuring.clear();
      this._checking.clear();
      this.loading = false;
      this._changed.emit();
    }
  }

  /**
   * The list first, as the server knows it without contacting anyone, then
   * each registry's status as it answers: one that never answers holds only
   * its own card, until its timeout.
   */
  private async _checkEach(): Promise<void> {
    const { registries } = await listRegistries(false);
    // What an earlier check found stays shown until this one answers.
    const before = new Map(this.registries.map(r => [r.host, r]));
    this._merge(registries.map(r => (r.error ? r : (before.get(r.host) ?? r))));
    const usable = registries.filter(r => !r.error);
    usable.forEach(r => this._checking.add(r.host));
    this._changed.emit();
    await Promise.all(
      usable.map(async row => {
        let status: IRegistryStatus;
        try {
          status = await getRegistry(row.host);
        } catch (error) {
          const { code, message, hint } = error as ApiError;
          status = { ...row, error: { code, message, hint } };
        }
        this._checking.delete(row.host);
        // Not over a status put meanwhile (newer); one removed meanwhile is
        // not in the list to be replaced, so it does not come back.
        if (!this._putDuring.has(row.host)) {
          this.registries = this.registries.map(r =>
            r.host === row.host ? status : r
          );
        }
        this._changed.emit();
      })
    );
  }

  /** The rows listed, with the statuses put while the list was asked for. */
  private _merge(registries: IRegistryStatus[]): void {
    // A status put while the list was checked (a login, say) is newer
    // than the list's, and a registry added meanwhile may be missing.
    const listed = new Set(registries.map(r => r.host));
    this.registries = [
      ...registries.map(r => this._putDuring.get(r.host) ?? r),
      ...[...this._putDuring.values()].filter(r => !listed.has(r.host))
    ];
  }

  /** Refresh every `refreshInterval` seconds; 0 turns it off. */
  restartTimer(): void {
    window.clearInterval(this._timer);
    const seconds = this.settings.refreshInterval;
    if (seconds > 0) {
      // A delay past what timers hold would fire at once, over and over.
      this._timer = window.setInterval(
        () => void this.refresh(),
        Math.min(seconds * 1000, MAX_TIMER_MS)
      );
    }
  }

  dispose(): void {
    window.clearInterval(this._timer);
    Signal.clearData(this);
  }

  private _timer = 0;
  private _refreshing: Promise<void> | null = null;
  private _again = false;
  private _putDuring = new Map<string, IRegistryStatus>();
  private _checking = new Set<string>();
  private _changed = new Signal<this, void>(this);
  private _focusRequested = new Signal<this, 'add' | 'push'>(this);
}
