import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { RegistriesPanel } from './panel';

/**
 * The main plugin: for now it only docks the (placeholder) Registries panel.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-regauth:plugin',
  description: 'Private container registry login, trust and image push.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ILayoutRestorer, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    restorer: ILayoutRestorer | null,
    translator: ITranslator | null
  ): void => {
    const panel = new RegistriesPanel(translator ?? nullTranslator);
    // A high rank places it below the core file browser, running and TOC tabs.
    labShell.add(panel, 'left', { rank: 900 });
    // Lets the workspace remember whether the panel was open across reloads.
    restorer?.add(panel, panel.id);
  }
};

export default plugin;
