'use strict';
require('./smoke-lib.cjs')(require('@iomux/core'), 'require').catch((err) => {
  console.error(err);
  process.exit(1);
});
