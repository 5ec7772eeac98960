import { ITranslator } from '@jupyterlab/translation';
import { SidePanel } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { registryIcon } from './icons';

/**
 * Left sidebar panel listing registries; a placeholder until the REST API lands.
 */
export class RegistriesPanel extends SidePanel {
  constructor(translator: ITranslator) {
    super({ translator });
    const trans = translator.load('jupyter_regauth');
    this.id = 'jupyter-regauth-registries';
    this.addClass('jp-RegAuth-panel');
    this.title.icon = registryIcon;
    this.title.caption = trans.__('Registries');

    const heading = new Widget({ node: document.createElement('h2') });
    heading.addClass('jp-RegAuth-heading');
    heading.node.textContent = trans.__('Registries');
    this.header.addWidget(heading);
    // No actions yet: hide the empty toolbar strip.
    this.toolbar.hide();

    const body = new Widget();
    body.addClass('jp-RegAuth-placeholder');
    // SidePanel content is an accordion; each widget's label titles its section.
    body.title.label = trans.__('Configured registries');
    body.node.textContent = trans.__('No registry configured yet.');
    this.addWidget(body);
  }
}
