import { LabIcon } from '@jupyterlab/ui-components';

import registrySvgstr from '../style/icons/registry.svg';

export const registryIcon = new LabIcon({
  name: 'jupyter-regauth:registry',
  svgstr: registrySvgstr
});
