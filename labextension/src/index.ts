import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { registerCommands } from './commands';
import { DEFAULT_SETTINGS, IPanelSettings, RegAuthModel } from './model';
import { RegistriesPanel } from './panel';

const PLUGIN_ID = 'jupyter-regauth:plugin';

/**
 * Docks the container registries panel, registers its commands and follows
 * the user's settings.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Private container registry login, trust and image push.',
  autoStart: true,
  requires: [ILabShell],
  optional: [
    ILayoutRestorer,
    ITranslator,
    ISettingRegistry,
    ICommandPalette,
    IDefaultFileBrowser
  ],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    restorer: ILayoutRestorer | null,
    translator: ITranslator | null,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    browser: IDefaultFileBrowser | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_regauth');
    const model = new RegAuthModel();
    const panel = new RegistriesPanel(model, translator ?? nullTranslator);
    // A high rank places it below the core file browser, running and TOC tabs.
    labShell.add(panel, 'left', { rank: 900 });
    // Lets the workspace remember whether the panel was open across reloads.
    restorer?.add(panel, panel.id);
    registerCommands(app, panel, trans, palette, browser);

    const load = async () => {
      if (settingRegistry) {
        const settings = await settingRegistry.load(PLUGIN_ID);
        const apply = () =>
          model.updateSettings({
            ...DEFAULT_SETTINGS,
            ...(settings.composite as Partial<IPanelSettings>)
          });
        settings.changed.connect(apply);
        apply();
      } else {
        model.restartTimer();
      }
    };
    void app.restored
      .then(load)
      .catch(reason =>
        console.error('jupyter-regauth: could not load settings', reason)
      )
      .then(() => model.refresh());
  }
};

export default plugin;
