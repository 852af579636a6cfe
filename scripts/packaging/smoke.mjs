import * as core from '@iomux/core';
import { Epoll } from '@iomux/core/epoll';
import smoke from './smoke-lib.cjs';

await smoke(core, 'import', Epoll);
