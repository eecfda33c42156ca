/**
 * `npm run diagrams`: write diagrams/<machine>.mmd and diagrams/<machine>.svg from the machine
 * definitions. `npm run diagrams -- --check`: write nothing, exit 1 when any file is missing or
 * differs byte for byte from what the definitions generate (CI runs this).
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { diagramFiles } from '../src/diagrams/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.slice(2).includes('--check');

const files = await diagramFiles();
if (E.isLeft(files)) {
  process.stderr.write(`diagrams: ${files.left.machine}: ${files.left.message}\n`);
  process.exit(1);
}
let stale = 0;
for (const f of files.right) {
  const path = join(root, f.path);
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === f.content) continue;
  if (check) {
    stale++;
    process.stderr.write(`stale: ${f.path}${current === undefined ? ' (missing)' : ''}\n`);
  } else {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, f.content);
    process.stdout.write(`wrote ${f.path}\n`);
  }
}
if (check) {
  if (stale) {
    process.stderr.write(`${stale} diagram file(s) out of date: run \`npm run diagrams\` and commit them\n`);
    process.exit(1);
  }
  process.stdout.write(`diagrams up to date (${files.right.length} files)\n`);
}
