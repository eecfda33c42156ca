/**
 * Random long walks with shrinking (`shadowvq mbt --walks N --seed S`): fast-check draws a list of
 * choices, each one picking among the model events enabled where the walk is (faults included: an
 * error edge is an event like any other; edges the harness names impossible are left out), and the
 * walk runs on the harness's real effects through src/mbt/runner.ts like any other path. A walk fails
 * when the runner says so (the machine left the model, an invariant broke, an effect threw); fast-check
 * then shrinks the choices (fewer steps, earlier choices) to the smallest walk that still fails, which
 * is written as a path file (src/mbt/replay.ts) for `--replay`.
 */
import fc from 'fast-check';
import { getInitialSnapshot, getNextSnapshot } from 'xstate';
import type { MachineModel } from './model.js';
import { describePath, enabledEdges, type ModelPath, type ModelStep } from './paths.js';
import { runPath, type Harness, type PathResult, type StepFailure } from './runner.js';

/** Steps of one walk, at most. */
export const WALK_MAX_STEPS = 60;

export interface WalkOptions {
  readonly walks: number;
  readonly seed: number;
  readonly maxSteps?: number;
  /** Every walk run (shrinking included) and its result. */
  readonly onResult?: (path: ModelPath, result: PathResult) => void;
}

export interface WalkReport {
  readonly machine: string;
  readonly walks: number;
  /** Walks cut short by context the model abstracts (the harness's Infeasible). */
  readonly skipped: number;
  /** Runs in all, shrinking included. */
  readonly runs: number;
  /** The smallest failing walk, its failure, and how many shrink steps led to it. */
  readonly failure?: { readonly path: ModelPath; readonly failure: StepFailure; readonly shrinks: number };
}

/** The walk `choices` make on the model: at each step, choice mod the number of enabled edges. */
export function walkPath(m: MachineModel, h: Harness, choices: readonly number[]): ModelPath {
  let snap = getInitialSnapshot(m.model);
  const initial = snap.value;
  const steps: ModelStep[] = [];
  for (const c of choices) {
    const enabled = enabledEdges(m, snap.value).filter((e) => h.impossible?.(e) === undefined);
    if (enabled.length === 0) break;
    const edge = enabled[c % enabled.length]!;
    snap = getNextSnapshot(m.model, snap, { type: edge.type });
    steps.push({ edge, value: snap.value });
  }
  return { kind: 'transition', steps, description: describePath(m, steps, initial) };
}

export async function runWalks(m: MachineModel, h: Harness, opts: WalkOptions): Promise<WalkReport> {
  let runs = 0;
  let skipped = 0;
  let last: { path: ModelPath; failure: StepFailure } | undefined;
  const prop = fc.asyncProperty(fc.array(fc.nat({ max: 1023 }), { minLength: 1, maxLength: opts.maxSteps ?? WALK_MAX_STEPS, size: 'max' }), async (choices) => {
    const path = walkPath(m, h, choices);
    const r = await runPath(m, h, path);
    runs++;
    opts.onResult?.(path, r);
    if (r.skipped !== undefined) skipped++;
    if (r.failure === undefined) return true;
    last = { path, failure: r.failure };
    return false;
  });
  const details = await fc.check(prop, { numRuns: opts.walks, seed: opts.seed });
  if (!details.failed) return { machine: m.id, walks: opts.walks, skipped, runs };
  // the counterexample is the last failing run fast-check shrank to: run it once more to have it
  const choices = details.counterexample?.[0] ?? [];
  const path = walkPath(m, h, choices);
  const r = await runPath(m, h, path);
  const failure = r.failure ?? last?.failure ?? { path: path.description, step: -1, message: String(details.errorInstance ?? 'failed') };
  return { machine: m.id, walks: opts.walks, skipped, runs, failure: { path: r.failure !== undefined ? path : (last?.path ?? path), failure, shrinks: details.numShrinks } };
}
