'use strict';
require('./smoke-lib.cjs')(require('@iomux/core'), 'require', require('@iomux/core/epoll').Epoll).catch((err) => {
  console.error(err);
  process.exit(1);
});
