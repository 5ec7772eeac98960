import { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import {
  ReactWidget,
  SidePanel,
  ToolbarButton,
  addIcon,
  refreshIcon
} from '@jupyterlab/ui-components';
import { AccordionPanel, Widget } from '@lumino/widgets';
import * as React from 'react';

import { AddRegistry } from './components/AddRegistry';
import { PushForm } from './components/PushForm';
import { RegistryList } from './components/RegistryList';
import { registryIcon } from './icons';
import { RegAuthModel } from './model';

function section(
  title: string,
  className: string,
  render: () => JSX.Element
): ReactWidget {
  const widget = ReactWidget.create(render());
  widget.addClass(className);
  // SidePanel content is an accordion; each widget's label titles its section.
  widget.title.label = title;
  return widget;
}

/**
 * The left sidebar: registries with their status, adding one, and build and
 * push. Sections are independent React trees sharing one model.
 */
export class RegistriesPanel extends SidePanel {
  readonly model: RegAuthModel;

  constructor(model: RegAuthModel, translator: ITranslator) {
    super({ translator });
    const trans: TranslationBundle = translator.load('jupyter_regauth');
    this.model = model;
    this.id = 'jupyter-regauth-registries';
    this.addClass('jp-RegAuth-panel');
    this.title.icon = registryIcon;
    this.title.caption = trans.__('Container registries');

    const heading = new Widget({ node: document.createElement('h2') });
    heading.addClass('jp-RegAuth-heading');
    heading.node.textContent = trans.__('Container registries');
    this.header.addWidget(heading);

    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: trans.__('Refresh registry status'),
        onClick: () => void model.refresh()
      })
    );
    this.toolbar.addItem(
      'add',
      new ToolbarButton({
        icon: addIcon,
        tooltip: trans.__('Add a registry'),
        onClick: () => this.reveal('add')
      })
    );

    this._sections = {
      list: section(trans.__('Registries'), 'jp-RegAuth-listSection', () => (
        <RegistryList model={model} trans={trans} />
      )),
      add: section(trans.__('Add a registry'), 'jp-RegAuth-addSection', () => (
        <AddRegistry model={model} trans={trans} />
      )),
      push: section(
        trans.__('Build and push'),
        'jp-RegAuth-pushSection',
        () => <PushForm model={model} trans={trans} />
      )
    };
    Object.values(this._sections).forEach(widget => this.addWidget(widget));
  }

  /** Expand a section (if collapsed) and move the keyboard focus into it. */
  reveal(name: 'add' | 'push'): void {
    const widget = this._sections[name];
    const index = this.widgets.indexOf(widget);
    if (!widget.isVisible && index >= 0) {
      (this.content as AccordionPanel).expand(index);
    }
    // Let React render into a newly shown section before focusing.
    requestAnimationFrame(() => this.model.requestFocus(name));
  }

  private _sections: Record<'list' | 'add' | 'push', ReactWidget>;
}
