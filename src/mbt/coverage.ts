/**
 * Coverage beyond states and transitions, on the harness's real effects: transition pairs and guard
 * outcomes (src/mbt/pairs.ts, src/mbt/guards.ts), read from what the real machine took on every path.
 *
 * `runCoverage` runs a machine's planned paths (src/mbt/index.ts `runMachine`, its second chances
 * included), then a pair path for every pair the model allows that no run took yet (the cheapest ways
 * first, up to `PAIR_TRIES`). A pair ends up
 *  - covered: the machine took t1 then t2 on some path;
 *  - infeasible: the model proves it cannot happen (src/mbt/pairs.ts says why), or the harness names t1
 *    or t2 impossible on this device, or every way tried was ruled out by context the model abstracts
 *    (the harness's `Infeasible` reason), or — a targetless snapshot relay twice in a row — the pair
 *    path ran and the child showed one such snapshot, not two;
 *  - uncovered: none of those (a gap: `pairsComplete` is false).
 */
import type { ModelEdge } from './model.js';
import type { ModelPath } from './paths.js';
import { runMachine, type MachineReport, type MbtOptions, type PlannedMachine } from './index.js';
import { guardCoverage, type GuardCoverage } from './guards.js';
import { pairPath, pairsTaken, pairUniverse } from './pairs.js';
import { edgeKey, runPath, type PathResult, type StepFailure } from './runner.js';

/** Ways tried per uncovered pair before it is reported (each a path; the cheapest first). */
export const PAIR_TRIES = 3;

export interface PairCoverage {
  readonly covered: number;
  readonly total: number;
  readonly infeasible: number;
  /** Every infeasible pair with its reason. */
  readonly infeasiblePairs: readonly { readonly pair: string; readonly reason: string }[];
  /** Pairs neither covered nor infeasible. */
  readonly uncovered: readonly string[];
  /** Pair paths run (beyond the planned ones). */
  readonly paths: number;
}

export interface CoverageReport {
  readonly transitionPairs: PairCoverage;
  readonly guards: GuardCoverage;
  /** Every transition (edgeKey) the machine took, on any path. */
  readonly transitionsTaken: ReadonlySet<string>;
  /** Every state id the machine was in. */
  readonly statesEntered: ReadonlySet<string>;
}

export interface CoveredMachine {
  /** The machine's report; its paths and failures include the pair paths. */
  readonly report: MachineReport;
  readonly coverage: CoverageReport;
}

/** What the runs showed: transitions and pairs taken, states entered. */
class Collector {
  readonly transitions = new Set<string>();
  readonly pairs = new Set<string>();
  readonly states = new Set<string>();
  constructor(private readonly byKey: ReadonlyMap<string, ModelEdge>) {}
  add(r: PathResult): void {
    for (const t of r.transitions) this.transitions.add(t);
    for (const s of r.states) this.states.add(s);
    for (const p of pairsTaken(r.taken ?? [], this.byKey)) this.pairs.add(p);
  }
}

/** (Long: the planned paths, then the pair paths and their second tries, counted into one result.) */
export async function runCoverage(plan: PlannedMachine, opts: MbtOptions = {}): Promise<CoveredMachine> {
  const { model, harness } = plan;
  const seen = new Collector(new Map(model.edges.map((e) => [edgeKey(e), e])));
  const report = await runMachine(plan, {
    ...opts,
    onResult: (p, r) => {
      seen.add(r);
      opts.onResult?.(p, r);
    },
  });
  const u = pairUniverse(model);
  const impossible = (e: ModelEdge) => harness.impossible?.(e);
  const infeasible = new Map(u.infeasible);
  const failures: StepFailure[] = [];
  let paths = 0;
  for (const pair of u.all) {
    if (infeasible.has(pair.key) || seen.pairs.has(pair.key)) continue;
    const no = impossible(pair.first) ?? impossible(pair.second);
    if (no !== undefined) {
      infeasible.set(pair.key, `on this device: ${no}`);
      continue;
    }
    let skipped: string | undefined;
    let ran = 0;
    for (let nth = 0; nth < PAIR_TRIES && !seen.pairs.has(pair.key); nth++) {
      const p: ModelPath | undefined = pairPath(model, u, pair, nth);
      if (p === undefined) break;
      const r = await runPath(model, harness, p);
      opts.onResult?.(p, r);
      seen.add(r);
      if (r.skipped !== undefined) {
        skipped = r.skipped;
        continue;
      }
      paths++;
      if (r.failure === undefined) ran++;
      if (r.failure !== undefined) {
        failures.push(r.failure);
        skipped = undefined;
        break;
      }
    }
    if (seen.pairs.has(pair.key)) continue;
    if (skipped !== undefined) infeasible.set(pair.key, `on this device (context the model abstracts): ${skipped}`);
    else if (pair.first === pair.second && pair.first.kind === 'snapshot' && pair.first.targets.length === 0 && ran > 0)
      // the model lets a targetless relay repeat; the child shows one snapshot per state it enters
      infeasible.set(pair.key, `on this device: the pair path ran, and the child showed one snapshot that ${pair.first.type} relays there, not two in a row (that needs another state of the child on the way, and it has none)`);
  }
  const infeasiblePairs = u.all.filter((p) => infeasible.has(p.key) && !seen.pairs.has(p.key)).map((p) => ({ pair: p.key, reason: infeasible.get(p.key)! }));
  const covered = u.all.filter((p) => seen.pairs.has(p.key)).length;
  const uncovered = u.all.filter((p) => !seen.pairs.has(p.key) && !infeasible.has(p.key)).map((p) => p.key);
  return {
    report: { ...report, paths: report.paths + paths, failures: report.failures + failures.length, failureDetails: [...report.failureDetails, ...failures] },
    coverage: {
      transitionPairs: { covered, total: u.all.length, infeasible: infeasiblePairs.length, infeasiblePairs, uncovered, paths },
      guards: guardCoverage(model, seen.transitions, impossible),
      transitionsTaken: seen.transitions,
      statesEntered: seen.states,
    },
  };
}

/** Whether every pair is covered or infeasible and every guard outcome the model allows was seen or is impossible here. */
export const coverageComplete = (c: CoverageReport): boolean => c.transitionPairs.uncovered.length === 0 && c.guards.unseen.every((g) => g.reason.startsWith('on this device'));
