/**
 * CLI start-up: wall time of `shadowvq --version` and `shadowvq plan` as fresh processes, started the
 * way the package starts them (plain node on the compiled dist/, directly and through the bin shim)
 * against the TypeScript sources through tsx's loader — how the CLI started before it was packaged,
 * the baseline, measured in the same run. Plus the build itself: a full `tsc -p tsconfig.build.json`
 * (what `prepare` costs an `npm ci`) and an incremental one with nothing changed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchRow, BenchSuite } from './harness.js';

const ROOT = new URL('../', import.meta.url).pathname;
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

function wallMs(args: readonly string[]): number {
  const t0 = performance.now();
  execFileSync(process.execPath, [...args], { cwd: ROOT, stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: '' } });
  return performance.now() - t0;
}

/** Median wall ms of `n` runs, the runs of every variant interleaved (load on a shared machine hits all alike). */
function medians(variants: Record<string, readonly string[]>, n: number): Record<string, number> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (const args of Object.values(variants)) wallMs(args); // warm the file cache
  for (let i = 0; i < n; i++) for (const [k, args] of Object.entries(variants)) times[k]!.push(wallMs(args));
  return Object.fromEntries(Object.entries(times).map(([k, t]) => [k, t.sort((a, b) => a - b)[t.length >> 1]!]));
}

export const suite: BenchSuite = {
  name: 'startup',
  async run({ quick }) {
    if (!existsSync(join(ROOT, 'dist/src/cli/main.js'))) execFileSync(process.execPath, [TSC, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'ignore' });
    const n = quick ? 3 : 9;
    const rows: BenchRow[] = [];
    for (const [what, args] of [
      ['--version', ['--version']],
      ['plan', ['plan', '--state', 'examples/state.json']],
    ] as const) {
      const m = medians(
        {
          tsx: ['--import', 'tsx', 'src/cli/main.ts', ...args],
          dist: ['dist/src/cli/main.js', ...args],
          bin: ['src/cli/bin.mjs', ...args],
        },
        n,
      );
      const base = `tsx src/cli/main.ts ${what}`;
      rows.push({ name: `shadowvq ${what}: tsx on the sources (before)`, value: m.tsx!, unit: 'ms' });
      rows.push({ name: `shadowvq ${what}: node dist/ (after)`, value: m.dist!, unit: 'ms', ratio: m.dist! / m.tsx!, baseline: base });
      rows.push({ name: `shadowvq ${what}: the bin (src/cli/bin.mjs → dist/)`, value: m.bin!, unit: 'ms', ratio: m.bin! / m.tsx!, baseline: base });
    }
    // the build: full (a fresh clone's `npm ci` runs it in `prepare`) and incremental with nothing changed
    const out = mkdtempSync(join(tmpdir(), 'shadowvq-build-'));
    try {
      const build = [TSC, '-p', 'tsconfig.build.json', '--outDir', out, '--tsBuildInfoFile', join(out, '.tsbuildinfo')];
      const full = wallMs(build);
      const again = quick ? wallMs(build) : Math.min(wallMs(build), wallMs(build));
      rows.push({ name: 'tsc -p tsconfig.build.json: full build', value: full, unit: 'ms', note: 'once per npm ci (prepare)' });
      rows.push({ name: 'tsc -p tsconfig.build.json: incremental, nothing changed', value: again, unit: 'ms' });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    return rows;
  },
};
