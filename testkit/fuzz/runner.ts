/**
 * Runs fuzz targets for a number of cases from a seed and counts, per kind, cases run and failures.
 * Cases are drawn with `fc.sample` (deterministic for a seed); the first failure of a kind is then
 * shrunk with `fc.check` to a minimal counterexample for the report.
 */
import fc from 'fast-check';
import { judge, type FuzzTarget } from './target.js';

export interface KindResult {
  readonly kind: string;
  readonly cases: number;
  readonly failures: number;
  /** The first failure's verdict and, shrunk, its smallest input (JSON-ish). */
  readonly firstFailure?: { readonly verdict: string; readonly counterexample: string };
  readonly ms: number;
}

export interface FuzzRunOptions {
  readonly runs: number;
  readonly seed: number;
  /** Shrink the first failure of each kind (slower). */
  readonly shrink?: boolean;
  /** Called after each case (progress bars). */
  readonly onCase?: (kind: string, done: number, total: number) => void;
}

export const show = (x: unknown): string =>
  JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v.toString(16)}n` : v instanceof Uint8Array ? `<${Buffer.from(v).toString('hex')}>` : v))?.slice(0, 2000) ?? String(x);

export async function runTarget<T>(t: FuzzTarget<T>, o: FuzzRunOptions): Promise<KindResult> {
  const n = Math.max(1, Math.round(o.runs * (t.weight ?? 1)));
  const t0 = performance.now();
  const cases = fc.sample(t.arbitrary, { numRuns: n, seed: o.seed });
  let failures = 0;
  let first: { verdict: string; counterexample: string } | undefined;
  for (let i = 0; i < cases.length; i++) {
    const verdict = await judge(t, cases[i]!);
    if (verdict !== undefined) {
      failures++;
      if (first === undefined) first = { verdict, counterexample: show(cases[i]) };
    }
    o.onCase?.(t.kind, i + 1, cases.length);
  }
  if (first !== undefined && o.shrink === true) {
    const r = await fc.check(
      fc.asyncProperty(t.arbitrary, async (x) => (await judge(t, x)) === undefined),
      { numRuns: n, seed: o.seed },
    );
    if (r.failed && r.counterexample !== null) {
      const x = r.counterexample[0] as T;
      first = { verdict: (await judge(t, x)) ?? first.verdict, counterexample: show(x) };
    }
  }
  return { kind: t.kind, cases: cases.length, failures, ...(first === undefined ? {} : { firstFailure: first }), ms: performance.now() - t0 };
}

/** The table `npm run fuzz` prints. */
export function formatTable(rows: readonly KindResult[]): string {
  const w = Math.max(4, ...rows.map((r) => r.kind.length));
  const head = `${'kind'.padEnd(w)}  ${'cases'.padStart(8)}  ${'failures'.padStart(8)}  ${'cases/s'.padStart(9)}`;
  const lines = rows.map((r) => `${r.kind.padEnd(w)}  ${String(r.cases).padStart(8)}  ${String(r.failures).padStart(8)}  ${(r.cases / Math.max(r.ms / 1000, 1e-9)).toFixed(0).padStart(9)}`);
  const total = rows.reduce((a, r) => ({ c: a.c + r.cases, f: a.f + r.failures }), { c: 0, f: 0 });
  return [head, '-'.repeat(head.length), ...lines, '-'.repeat(head.length), `${'total'.padEnd(w)}  ${String(total.c).padStart(8)}  ${String(total.f).padStart(8)}`].join('\n');
}
