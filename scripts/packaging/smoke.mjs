import * as core from '@iomux/core';
import smoke from './smoke-lib.cjs';

await smoke(core, 'import');
