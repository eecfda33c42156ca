/**
 * `npm run fuzz -- [--runs N] [--seed S] [--only SUBSTR] [--no-shrink] [--json]`: every fuzz target for
 * N cases (scaled by the target's weight: child processes run fewer), then a table per kind of cases
 * run and failures, and for each failing kind its first failure shrunk to a minimal input.
 * Exit status 1 when any case failed, 2 on bad arguments.
 */
import { Command, InvalidArgumentError } from 'commander';
import { MultiBar, Presets } from 'cli-progress';
import { parseCount } from '../src/cli/args.js';
import { cliTargets } from '../testkit/fuzz/cli.js';
import { cvqTargets } from '../testkit/fuzz/cvq.js';
import { jsonTargets } from '../testkit/fuzz/json.js';
import { ringBaseTargets, ringOutcomes, ringTargets } from '../testkit/fuzz/ring.js';
import { formatTable, runTarget, type KindResult } from '../testkit/fuzz/runner.js';
import { svqTargets } from '../testkit/fuzz/svq.js';
import type { AnyFuzzTarget } from '../testkit/fuzz/target.js';

/** Strict counts (src/cli/args.ts): decimal digits within the range, else exit 2 naming the flag. */
const int = (what: string, max: number) => (v: string): number => {
  try {
    return parseCount(what, v, 0, max);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};

const program = new Command('fuzz')
  .description('fuzz every parser of shadowvq: ring images, SVQ, CVQ payloads, state files, migration records, CLI')
  .option('--runs <n>', 'cases per target (scaled by its weight), 0..10000000', int('--runs', 10_000_000), 2000)
  .option('--seed <s>', 'fast-check seed, 0..2147483647', int('--seed', 0x7fffffff), Date.now() % 0x7fffffff)
  .option('--only <substr>', 'only targets whose kind contains this')
  .option('--no-shrink', 'do not shrink the first failure of each kind')
  .option('--json', 'print the rows as JSON')
  .exitOverride();

let o: { runs: number; seed: number; only?: string; shrink: boolean; json?: boolean };
try {
  program.parse(process.argv);
  o = program.opts();
} catch (e) {
  process.exit((e as { exitCode?: number }).exitCode === 0 ? 0 : 2);
}

const targets: AnyFuzzTarget[] = [...ringTargets(), ...ringBaseTargets(), ...svqTargets(), ...cvqTargets(), ...jsonTargets(20000), ...cliTargets()].filter(
  (t) => o.only === undefined || t.kind.includes(o.only),
);
if (targets.length === 0) {
  process.stderr.write(`fuzz: no target matches --only ${o.only}\n`);
  process.exit(2);
}

process.stderr.write(`fuzz: ${targets.length} targets, --runs ${o.runs}, --seed ${o.seed}\n`);
const bars = new MultiBar({ format: ' {kind} [{bar}] {value}/{total}', stream: process.stderr, hideCursor: true, clearOnComplete: true, noTTYOutput: false }, Presets.shades_classic);
const rows: KindResult[] = [];
for (const t of targets) {
  const total = Math.max(1, Math.round(o.runs * (t.weight ?? 1)));
  const bar = process.stderr.isTTY ? bars.create(total, 0, { kind: t.kind.padEnd(34) }) : undefined;
  rows.push(await runTarget(t, { runs: o.runs, seed: o.seed, shrink: o.shrink, onCase: (_, done) => bar?.update(done) }));
  bar?.stop();
}
bars.stop();

if (o.json === true) {
  process.stdout.write(`${JSON.stringify({ seed: o.seed, runs: o.runs, rows }, null, 2)}\n`);
} else {
  process.stdout.write(`${formatTable(rows)}\n`);
  const reached = [...ringOutcomes.entries()].sort(([a], [b]) => a.localeCompare(b));
  if (reached.length > 0) process.stdout.write(`\nring outcomes reached: ${reached.map(([k, n]) => `${k} ×${n}`).join(', ')}\n`);
  for (const r of rows) {
    if (r.firstFailure === undefined) continue;
    process.stdout.write(`\n✗ ${r.kind}: ${r.failures}/${r.cases} failed\n  ${r.firstFailure.verdict}\n  input: ${r.firstFailure.counterexample}\n`);
  }
}
process.exitCode = rows.some((r) => r.failures > 0) ? 1 : 0;
