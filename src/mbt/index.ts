/**
 * Model-based testing of the four machines: derive each model, generate its paths, run them through
 * a harness, and report coverage of the real machine (states and transitions taken, not planned).
 */
import { deriveModel, checkModel, type MachineModel, type ModelEdge } from './model.js';
import { getNextSnapshot } from 'xstate';
import { generatePaths, selectEdge, type ModelPath } from './paths.js';
import { edgeKey, runPath, type Harness, type StepFailure } from './runner.js';

export interface MachineReport {
  readonly id: string;
  readonly states: { readonly covered: number; readonly total: number };
  readonly transitions: { readonly covered: number; readonly total: number };
  readonly paths: number;
  readonly failures: number;
  /** Paths the harness declared infeasible (context the model abstracts away). */
  readonly skipped: number;
  readonly uncoveredStates: readonly string[];
  readonly uncoveredTransitions: readonly string[];
  readonly failureDetails: readonly StepFailure[];
  readonly simpleTotal: number;
  readonly simpleTruncated: boolean;
}

export interface MbtOptions {
  readonly simpleLimit?: number;
  /** Called after each path (for progress bars). */
  readonly onPath?: (machine: string, done: number, total: number) => void;
}

export interface PlannedMachine {
  readonly model: MachineModel;
  readonly harness: Harness;
  readonly paths: readonly ModelPath[];
  readonly simpleTotal: number;
  readonly simpleTruncated: boolean;
}

export function planMbt(harnesses: readonly Harness[], opts: MbtOptions = {}): PlannedMachine[] {
  return harnesses.map((harness) => {
    const model = deriveModel(harness.machine);
    const drift = checkModel(model);
    if (drift.length) throw new Error(`model of ${model.id} drifted from the machine: ${drift.map((d) => d.message).join('; ')}`);
    const set = generatePaths(model, opts.simpleLimit === undefined ? {} : { simpleLimit: opts.simpleLimit });
    return { model, harness, paths: set.paths, simpleTotal: set.simpleTotal, simpleTruncated: set.simpleTruncated };
  });
}

/**
 * A transition's second chance: the first of `paths` ending where `edge` leaves from, extended by it,
 * that `harness` can run (the planned path to it may go through context the harness cannot make).
 */
export function extendToEdge(model: MachineModel, paths: readonly ModelPath[], edge: ModelEdge, harness: Harness): ModelPath | undefined {
  for (const p of paths) {
    const last = p.steps.at(-1);
    if (last === undefined || selectEdge(model, last.value, edge.type) !== edge) continue;
    const next = getNextSnapshot(model.model, model.model.resolveState({ value: last.value, context: {} } as never), { type: edge.type });
    const extended: ModelPath = { kind: 'transition', steps: [...p.steps, { edge, value: next.value }], description: `${p.description} -${edge.type}-> …` };
    if (harness.infeasible?.(extended) === undefined) return extended;
  }
  return undefined;
}

export async function runMachine(plan: PlannedMachine, opts: MbtOptions = {}): Promise<MachineReport> {
  const { model, harness, paths } = plan;
  const states = new Set<string>();
  const transitions = new Set<string>();
  const failures: StepFailure[] = [];
  let skipped = 0;
  let done = 0;
  let extraPaths = 0;
  for (const p of paths) {
    const r = await runPath(model, harness, p);
    if (r.skipped !== undefined) skipped++;
    if (r.failure) failures.push(r.failure);
    for (const s of r.states) states.add(s);
    for (const t of r.transitions) transitions.add(t);
    opts.onPath?.(model.id, ++done, paths.length);
  }
  // second chance: a transition whose planned prefix the harness cannot run is tried after every other
  // path that reaches its source state (the model abstracts context a real run depends on)
  for (const edge of model.edges) {
    if (transitions.has(edgeKey(edge))) continue;
    const extended = extendToEdge(model, paths, edge, harness);
    if (extended === undefined) continue;
    const r = await runPath(model, harness, extended);
    extraPaths++;
    if (r.failure) failures.push(r.failure);
    for (const s of r.states) states.add(s);
    for (const t of r.transitions) transitions.add(t);
  }
  const allTransitions = model.edges.map(edgeKey);
  return {
    id: model.id,
    states: { covered: model.states.filter((s) => states.has(s)).length, total: model.states.length },
    transitions: { covered: allTransitions.filter((t) => transitions.has(t)).length, total: allTransitions.length },
    paths: paths.length - skipped + extraPaths,
    failures: failures.length,
    skipped,
    uncoveredStates: model.states.filter((s) => !states.has(s)),
    uncoveredTransitions: allTransitions.filter((t) => !transitions.has(t)),
    failureDetails: failures,
    simpleTotal: plan.simpleTotal,
    simpleTruncated: plan.simpleTruncated,
  };
}

export async function runMbt(harnesses: readonly Harness[], opts: MbtOptions = {}): Promise<MachineReport[]> {
  const out: MachineReport[] = [];
  for (const plan of planMbt(harnesses, opts)) out.push(await runMachine(plan, opts));
  return out;
}

/** The `--json` document of `shadowvq mbt`. */
export const mbtJson = (reports: readonly MachineReport[]) => ({
  machines: reports.map((r) => ({ id: r.id, states: r.states, transitions: r.transitions, paths: r.paths, failures: r.failures })),
});
