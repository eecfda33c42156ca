/**
 * `npm run bench [-- --json] [--quick] [--only <name>]`: import every suite in bench/ (each
 * `bench/<topic>.ts` exporting `suite`), run them one after the other, print a table per suite (or
 * one JSON document). Benchmarks are not tests: they report numbers and ratios, they do not assert.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { formatJson, formatTable, gc, type BenchRow, type BenchSuite } from './harness.js';

const program = new Command('bench')
  .option('--json', 'print one JSON document')
  .option('--quick', 'short runs (smoke)')
  .option('--only <name>', 'run only the suite with this name (or file name)')
  .parse(process.argv);
const opts = program.opts<{ json?: boolean; quick?: boolean; only?: string }>();

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['main.ts', 'harness.ts'].includes(f))
  .sort();

if (gc === undefined && opts.json !== true) process.stderr.write('bench: run with node --expose-gc for steady-state heap figures\n');

const results: Array<{ suite: string; rows: BenchRow[] }> = [];
for (const f of files) {
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { suite?: BenchSuite };
  const s = mod.suite;
  if (s === undefined) continue; // helper modules (e.g. baseline.ts)
  if (opts.only !== undefined && opts.only !== s.name && opts.only !== f.replace(/\.ts$/, '')) continue;
  const rows = await s.run({ quick: opts.quick === true });
  results.push({ suite: s.name, rows });
  if (opts.json !== true) process.stdout.write(formatTable(s.name, rows) + '\n');
}
if (opts.json === true) process.stdout.write(formatJson(results));
if (results.length === 0) {
  process.stderr.write(`bench: no suite${opts.only === undefined ? '' : ` named ${opts.only}`}\n`);
  process.exitCode = 2;
}
