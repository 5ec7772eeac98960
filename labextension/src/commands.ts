import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { TranslationBundle } from '@jupyterlab/translation';
import { addIcon, refreshIcon } from '@jupyterlab/ui-components';

import { registryIcon } from './icons';
import { RegistriesPanel } from './panel';

export const CommandIDs = {
  open: 'jupyter-regauth:open',
  refresh: 'jupyter-regauth:refresh',
  addRegistry: 'jupyter-regauth:add-registry',
  pushFolder: 'jupyter-regauth:push-folder'
} as const;

const CATEGORY = 'Container Registries';

/** The folder selected in the file browser, if exactly one directory is. */
function selectedFolder(browser: IDefaultFileBrowser | null): string | null {
  const items = browser ? Array.from(browser.selectedItems()) : [];
  return items.length === 1 && items[0].type === 'directory'
    ? items[0].path
    : null;
}

/** Every command of the extension, with its palette and context-menu entries. */
export function registerCommands(
  app: JupyterFrontEnd,
  panel: RegistriesPanel,
  trans: TranslationBundle,
  palette: ICommandPalette | null,
  browser: IDefaultFileBrowser | null
): void {
  const { commands } = app;
  const open = () => app.shell.activateById(panel.id);

  commands.addCommand(CommandIDs.open, {
    label: trans.__('Open Container Registries'),
    caption: trans.__('Show the container registries panel'),
    icon: registryIcon,
    execute: open
  });
  commands.addCommand(CommandIDs.refresh, {
    label: trans.__('Refresh Registry Status'),
    icon: refreshIcon,
    execute: () => panel.model.refresh()
  });
  commands.addCommand(CommandIDs.addRegistry, {
    label: trans.__('Add Container Registry…'),
    icon: addIcon,
    execute: () => {
      open();
      panel.reveal('add');
    }
  });
  commands.addCommand(CommandIDs.pushFolder, {
    label: trans.__('Push Folder as Image…'),
    caption: trans.__('Build an image from a folder and push it'),
    icon: registryIcon,
    execute: args => {
      const path = (args.path as string | undefined) ?? selectedFolder(browser);
      if (path !== null && path !== undefined) {
        panel.model.setPushDirectory(path);
      }
      open();
      panel.reveal('push');
    }
  });

  if (palette) {
    for (const command of [
      CommandIDs.open,
      CommandIDs.refresh,
      CommandIDs.addRegistry,
      CommandIDs.pushFolder
    ]) {
      palette.addItem({ command, category: CATEGORY });
    }
  }
  app.contextMenu.addItem({
    command: CommandIDs.pushFolder,
    selector: '.jp-DirListing-item[data-isdir="true"]',
    rank: 60
  });
}
