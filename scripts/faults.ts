/**
 * `npm run faults [-- --json] [--only svq|cvq|migration|kth|unfired]`: the fault matrix — every fault the
 * simulated device can inject (and CANCEL) × every phase of the migration (src/migrate on two simulated
 * devices), every step of machines/svq-switch and every strategy of the CVQ restore (machines/cvq-command),
 * each run with the real effects; then every CVQ fault on the k-th command of a ≈4100-command restore
 * (first, mid-batch, a batch's last, the next batch's first, the last) under each strategy, blamed on
 * exactly that command; then faults that cannot fire (the device must count 0 hits and the restore
 * complete) — printed as a table, then every cell whose checks failed with what went wrong. Exit status
 * 1 when a cell failed, 2 on bad arguments.
 */
import { Command } from 'commander';
import { cvqKthMatrix, cvqMatrix, formatMatrix, migrationMatrix, svqSwitchMatrix, unfiredMatrix, type Cell } from '../testkit/fuzz/faults.js';

const program = new Command('faults')
  .description('run the fault matrix on the simulated device and print it')
  .option('--only <block>', 'migration | svq | cvq | kth | unfired')
  .option('--json', 'print the cells as JSON')
  .exitOverride();
let o: { only?: string; json?: boolean };
try {
  program.parse(process.argv);
  o = program.opts();
} catch (e) {
  process.exit((e as { exitCode?: number }).exitCode === 0 ? 0 : 2);
}
if (o.only !== undefined && !['migration', 'svq', 'cvq', 'kth', 'unfired'].includes(o.only)) {
  process.stderr.write(`faults: --only: expected migration, svq, cvq, kth or unfired, got ${JSON.stringify(o.only.slice(0, 40))}\n`);
  process.exit(2);
}

const t0 = performance.now();
let n = 0;
const tick = (): void => {
  if (process.stderr.isTTY) process.stderr.write(`\r  ${++n} cells`);
};
const cells: Cell[] = [];
if (o.only === undefined || o.only === 'migration') cells.push(...(await migrationMatrix(tick)));
if (o.only === undefined || o.only === 'svq') cells.push(...(await svqSwitchMatrix(tick)));
if (o.only === undefined || o.only === 'cvq') cells.push(...(await cvqMatrix(tick)));
if (o.only === undefined || o.only === 'kth') cells.push(...(await cvqKthMatrix(tick)));
if (o.only === undefined || o.only === 'unfired') cells.push(...(await unfiredMatrix(tick)));
if (process.stderr.isTTY) process.stderr.write('\r');

if (o.json === true) {
  process.stdout.write(`${JSON.stringify(cells, null, 2)}\n`);
} else {
  process.stdout.write(`${formatMatrix(cells)}\n`);
  const bad = cells.filter((c) => !c.ok);
  const lostFrames = cells.reduce((s, c) => s + c.lostFrames, 0);
  process.stdout.write(`\n${cells.length} cells, ${cells.filter((c) => c.outcome !== 'n/a').length} applicable, ${bad.length} with a failed check, ${lostFrames} frame(s) stranded in total; ${(performance.now() - t0).toFixed(0)} ms\n`);
  for (const c of bad) {
    const what = [...c.problems, ...(c.lostFrames > 0 ? [`${c.lostFrames} transmitted frame(s) never came back`] : [])];
    process.stdout.write(`  ✗ ${c.machine} ${c.phase} × ${c.fault} (${c.outcome}): ${what.join('; ')}${c.error === null ? '' : ` — error: ${c.error}`}\n`);
  }
  const unnamed = cells.filter((c) => c.outcome === 'rolled-back' && c.fired && !c.namesPhase).length;
  if (unnamed > 0) process.stdout.write(`  note: ${unnamed} rolled-back run(s) name the failed command but not the phase/step\n`);
  const unfired = cells.filter((c) => c.outcome !== 'n/a' && !c.fired).length;
  if (unfired > 0) process.stdout.write(`  note: ${unfired} cell(s) where the fault cannot fire in that phase (°): the phase makes no call it can fail\n`);
}
process.exitCode = cells.some((c) => !c.ok) ? 1 : 0;
