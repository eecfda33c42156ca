/**
 * The bench harness: row and suite types, timing and allocation helpers, and the printers.
 * A suite is a module `bench/<topic>.ts` exporting `suite: BenchSuite`; `bench/main.ts` finds it.
 */
import v8 from 'node:v8';

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  /** value / baseline value, when the row is compared with a baseline measured in the same run. */
  ratio?: number;
  baseline?: string;
  note?: string;
}

export interface BenchSuite {
  name: string;
  run(opts: { quick: boolean }): Promise<BenchRow[]>;
}

/** `gc()` when node runs with --expose-gc (the `bench` script passes it). */
export const gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc;

/** Seconds of CPU this process used (user + system): steadier than wall time on a shared machine. */
export function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Ops per second of `step` (which does `opsPerStep` ops): warm up for `warmupMs`, then take `samples`
 * samples of about `sampleMs` each and return the median rate. Time is this process's CPU time by
 * default (other processes on a busy machine then cost us little), or wall time with `clock: 'wall'`.
 * The clock is read every `stepsPerRead` steps (default 64: cheap steps); a step that is itself long
 * (thousands of ops) wants 1, so a sample does not overrun `sampleMs`.
 */
export function opsPerSecond(
  step: () => void,
  opsPerStep: number,
  opts: { warmupMs: number; sampleMs: number; samples: number; clock?: 'cpu' | 'wall'; stepsPerRead?: number },
): number {
  const now = opts.clock === 'wall' ? () => performance.now() / 1000 : cpuSeconds;
  const batch = opts.stepsPerRead ?? 64;
  const runFor = (ms: number): number => {
    let ops = 0;
    const t0 = now();
    let t = t0;
    do {
      for (let k = 0; k < batch; k++) step();
      ops += batch * opsPerStep;
      t = now();
    } while (t - t0 < ms / 1000);
    return ops / (t - t0);
  };
  runFor(opts.warmupMs);
  const rates: number[] = [];
  for (let s = 0; s < opts.samples; s++) rates.push(runFor(opts.sampleMs));
  rates.sort((a, b) => a - b);
  return rates[rates.length >> 1]!;
}

/**
 * Heap bytes allocated per op while `step` runs `steps` times (each `opsPerStep` ops): the growth of
 * the used heap plus everything the collections during the run reclaimed (v8 GCProfiler).
 * Steady state only: call after a warm-up. Returns NaN when the GC profiler is unavailable.
 */
export function heapBytesPerOp(step: () => void, steps: number, opsPerStep: number): number {
  if (typeof v8.GCProfiler !== 'function') return Number.NaN;
  gc?.();
  const prof = new v8.GCProfiler();
  prof.start();
  const h0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < steps; i++) step();
  const h1 = process.memoryUsage().heapUsed;
  const stats = prof.stop().statistics as Array<{ beforeGC: { heapStatistics: { usedHeapSize: number } }; afterGC: { heapStatistics: { usedHeapSize: number } } }>;
  let reclaimed = 0;
  for (const s of stats) reclaimed += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize;
  return Math.max(0, h1 - h0 + reclaimed) / (steps * opsPerStep);
}

const fmtNum = (v: number): string =>
  !Number.isFinite(v) ? String(v) : Math.abs(v) >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : Math.abs(v) >= 1e3 ? `${(v / 1e3).toFixed(2)} k` : v.toFixed(v % 1 === 0 ? 0 : 2);

/** A plain-text table of one suite's rows. */
export function formatTable(suite: string, rows: readonly BenchRow[]): string {
  const head = ['bench', 'value', 'unit', 'ratio', 'baseline', 'note'];
  const cells = rows.map((r) => [`${suite}/${r.name}`, fmtNum(r.value), r.unit, r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`, r.baseline ?? '', r.note ?? '']);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string => c.map((x, i) => (i === 1 || i === 3 ? x.padStart(w[i]!) : x.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(head), line(w.map((x) => '-'.repeat(x))), ...cells.map(line)].join('\n') + '\n';
}

/** Machine-readable output: one object per suite. */
export function formatJson(results: ReadonlyArray<{ suite: string; rows: readonly BenchRow[] }>): string {
  return JSON.stringify({ node: process.version, date: new Date().toISOString(), results }, null, 2) + '\n';
}
