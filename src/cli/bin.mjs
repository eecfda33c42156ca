#!/usr/bin/env node
// `shadowvq` as an installed command (package.json "bin"): the CLI compiled to dist/ by `npm run build`
// (run by `prepare`, so by `npm ci`, `npm install` from git and `npm pack`), started by plain node.
import { fileURLToPath } from 'node:url';

const main = new URL('../../dist/src/cli/main.js', import.meta.url);
try {
  await import(main.href);
} catch (e) {
  if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(`'${fileURLToPath(main)}'`) && !String(e.message).includes('imported from ' + fileURLToPath(main))) {
    process.stderr.write('shadowvq: the CLI is not built (dist/ is missing): run `npm run build`\n');
    process.exit(1);
  }
  throw e;
}
