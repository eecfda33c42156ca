/**
 * Model-based testing of every machine (machines/index.ts): derive each model, generate its paths, run them through
 * a harness, and report coverage of the real machine (states and transitions taken, not planned).
 */
import { deriveModel, checkModel, type MachineModel, type ModelEdge } from './model.js';
import { getNextSnapshot, type StateValue } from 'xstate';
import { describePath, generatePaths, modelGraph, selectEdge, type ModelGraph, type ModelPath, type ModelStep } from './paths.js';
import { edgeKey, runPath, type Harness, type PathResult, type StepFailure } from './runner.js';

/** What any run of a machine's paths reports (a harness run, or a device compared with a profile). */
export interface MachineCoverage {
  readonly id: string;
  readonly states: { readonly covered: number; readonly total: number };
  readonly transitions: { readonly covered: number; readonly total: number };
  readonly paths: number;
  readonly failures: number;
}

export interface MachineReport extends MachineCoverage {
  /** Paths the harness declared infeasible (context the model abstracts away). */
  readonly skipped: number;
  /** Each skipped path with the reason the harness gave. */
  readonly skipReasons: readonly string[];
  /** The same, structured: each path infeasible on this harness and why. */
  readonly infeasible: readonly { readonly path: string; readonly reason: string }[];
  readonly uncoveredStates: readonly string[];
  readonly uncoveredTransitions: readonly string[];
  /** Uncovered transitions the harness names impossible on it (and states entered only through them), with the reason. */
  readonly impossible: readonly { readonly edge: string; readonly reason: string }[];
  readonly failureDetails: readonly StepFailure[];
  readonly simpleTotal: number;
  readonly simpleTruncated: boolean;
}

export interface MbtOptions {
  readonly simpleLimit?: number;
  /** Called after each path (for progress bars). */
  readonly onPath?: (machine: string, done: number, total: number) => void;
  /** Called with every path run and its result (coverage beyond states and transitions: src/mbt/coverage.ts). */
  readonly onResult?: (path: ModelPath, result: PathResult) => void;
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
    const set = generatePaths(model, { ...(opts.simpleLimit === undefined ? {} : { simpleLimit: opts.simpleLimit }), ...(harness.weights ? { weights: harness.weights } : {}) });
    return { model, harness, paths: set.paths, simpleTotal: set.simpleTotal, simpleTruncated: set.simpleTruncated };
  });
}

const graphs = new WeakMap<MachineModel, ModelGraph>();
const graphOf = (m: MachineModel): ModelGraph => {
  let g = graphs.get(m);
  if (g === undefined) graphs.set(m, (g = modelGraph(m)));
  return g;
};

/** The shortest model steps from state `from` to a state where `edge` is the one its event takes. */
function stepsTo(m: MachineModel, from: StateValue, edge: ModelEdge): ModelStep[] | undefined {
  const g = graphOf(m);
  const key = (v: StateValue) => JSON.stringify(v);
  const seen = new Set([key(from)]);
  const queue: { value: StateValue; steps: ModelStep[] }[] = [{ value: from, steps: [] }];
  while (queue.length) {
    const { value, steps } = queue.shift()!;
    if (selectEdge(m, value, edge.type) === edge) return steps;
    for (const { edge: e, next } of g.nodes.get(key(value))?.out ?? []) {
      if (seen.has(key(next.value))) continue;
      seen.add(key(next.value));
      queue.push({ value: next.value, steps: [...steps, { edge: e, value: next.value }] });
    }
  }
  return undefined;
}

/**
 * Extensions of `paths` by `edge`: each path, then the shortest way on to where `edge` leaves from,
 * then `edge` (one per end state and last step; the closest to the edge first), that `harness` does not rule out up front.
 */
export function* extensionsToEdge(model: MachineModel, paths: readonly (ModelPath & { readonly signature?: string })[], edge: ModelEdge, harness: Harness): Generator<ModelPath> {
  const seen = new Set<string>();
  const initial = graphOf(model).initial.value;
  // closest to the edge first (the way on is the model's guess; the path so far is what really ran)
  const candidates = paths
    .map((p) => ({ p, on: stepsTo(model, p.steps.at(-1)?.value ?? initial, edge) }))
    .filter((x): x is { p: ModelPath & { readonly signature?: string }; on: ModelStep[] } => x.on !== undefined)
    .sort((a, b) => a.on.length - b.on.length || a.p.steps.length - b.p.steps.length);
  for (const { p, on } of candidates) {
    const end = p.steps.at(-1)?.value ?? initial;
    // paths that ended alike (the same state, and the harness's signature of the context) are one way
    const way =
      p.signature === undefined
        ? `${JSON.stringify(p.steps.at(-2)?.value ?? null)} ${p.steps.at(-1)?.edge.type ?? ''} ${on.map((s) => s.edge.type).join(' ')}`
        : `${JSON.stringify(end)} ${p.signature}`;
    if (seen.has(way)) continue;
    seen.add(way);
    const at = on.at(-1)?.value ?? end;
    const next = getNextSnapshot(model.model, model.model.resolveState({ value: at, context: {} }), { type: edge.type });
    const steps = [...p.steps, ...on, { edge, value: next.value }];
    const extended: ModelPath = { kind: 'transition', steps, description: describePath(model, steps, initial) };
    if (harness.infeasible?.(extended) === undefined) yield extended;
  }
}

/** The first extension of `paths` by `edge` that `harness` does not rule out up front. */
export function extendToEdge(model: MachineModel, paths: readonly ModelPath[], edge: ModelEdge, harness: Harness): ModelPath | undefined {
  for (const p of extensionsToEdge(model, paths, edge, harness)) return p;
  return undefined;
}

/** How many extensions a transition's second chance tries before it is reported uncovered. */
const SECOND_CHANCES = 24;
/** Passes of second chances (each may extend the paths the last one ran). */
const SECOND_PASSES = 4;

/**
 * Run `paths` through `runOne`, then the second chances (src/mbt/index.ts `extensionsToEdge`) for every
 * transition not yet taken that `harness` does not name impossible. Returns what was covered.
 * (Long: the planned paths and the second chances share the covered set they fill.)
 */
export async function explore(
  model: MachineModel,
  harness: Harness,
  paths: readonly ModelPath[],
  runOne: (p: ModelPath) => Promise<PathResult>,
  onPath?: (done: number, total: number) => void,
): Promise<{ states: Set<string>; transitions: Set<string>; failures: StepFailure[]; skips: string[]; infeasible: { path: string; reason: string }[]; extraPaths: number }> {
  const states = new Set<string>();
  const transitions = new Set<string>();
  const failures: StepFailure[] = [];
  const skips: string[] = [];
  const infeasible: { path: string; reason: string }[] = [];
  let done = 0;
  let extraPaths = 0;
  const add = (r: PathResult) => {
    if (r.failure) failures.push(r.failure);
    for (const s of r.states) states.add(s);
    for (const t of r.transitions) transitions.add(t);
  };
  /** Paths that ran to their end: what a second chance extends. */
  const ran: (ModelPath & { readonly signature?: string })[] = [];
  /** Every prefix of a path that ran, with the harness's signature there: one per end state and signature. */
  const pool = new Map<string, ModelPath & { readonly signature?: string }>();
  const remember = (p: ModelPath, r: PathResult) => {
    if (r.signatures === undefined) return void ran.push(p);
    for (let k = 0; k <= p.steps.length; k++) {
      const key = `${JSON.stringify(p.steps[k - 1]?.value ?? null)} ${r.signatures[k]}`;
      if (pool.has(key)) continue;
      const steps = p.steps.slice(0, k);
      pool.set(key, { kind: p.kind, steps, description: describePath(model, steps, graphOf(model).initial.value), signature: r.signatures[k]! });
    }
  };
  const ways = () => (pool.size ? [...pool.values()] : ran);
  for (const p of paths) {
    const r = await runOne(p);
    if (r.skipped !== undefined) {
      skips.push(`${p.description}: ${r.skipped}`);
      infeasible.push({ path: p.description, reason: r.skipped });
    }
    else if (r.ok) remember(p, r);
    add(r);
    onPath?.(++done, paths.length);
  }
  // second chance: a transition whose planned prefix the harness cannot run is tried after the other
  // ways into its source state that ran (the model abstracts context a real run depends on); a path
  // that ran this way is extended in turn, until a pass covers nothing new
  for (let pass = 0, progress = true; progress && pass < SECOND_PASSES; pass++) {
    progress = false;
    for (const edge of model.edges) {
      let tries = 0;
      if (harness.impossible?.(edge) !== undefined) continue;
      for (const extended of extensionsToEdge(model, ways(), edge, harness)) {
        if (transitions.has(edgeKey(edge)) || tries++ >= SECOND_CHANCES) break;
        const r = await runOne(extended);
        add(r);
        if (r.skipped === undefined) extraPaths++;
        if (r.ok && r.skipped === undefined) {
          remember(extended, r);
          progress = true;
        }
      }
    }
  }
  return { states, transitions, failures, skips, infeasible, extraPaths };
}

export async function runMachine(plan: PlannedMachine, opts: MbtOptions = {}): Promise<MachineReport> {
  const { model, harness, paths } = plan;
  const { states, transitions, failures, skips, infeasible, extraPaths } = await explore(
    model,
    harness,
    paths,
    async (p) => {
      const r = await runPath(model, harness, p);
      opts.onResult?.(p, r);
      return r;
    },
    (d, t) => opts.onPath?.(model.id, d, t),
  );
  const allTransitions = model.edges.map(edgeKey);
  const impossible = model.edges.flatMap((e) => {
    const reason = transitions.has(edgeKey(e)) ? undefined : harness.impossible?.(e);
    return reason === undefined ? [] : [{ edge: edgeKey(e), reason }];
  });
  // a state entered only through impossible transitions is impossible too
  const into = (id: string) => model.edges.filter((e) => e.targets.some((t) => t === id || t.startsWith(`${id}.`) || id.startsWith(`${t}.`)));
  for (const id of model.states) {
    if (states.has(id)) continue;
    const ways = into(id);
    if (ways.length && ways.every((e) => impossible.some((i) => i.edge === edgeKey(e)))) impossible.push({ edge: id, reason: `entered only through ${ways.map(edgeKey).join(', ')}` });
  }
  const uncoveredTransitions = allTransitions.filter((t) => !transitions.has(t));
  return {
    id: model.id,
    states: { covered: model.states.filter((s) => states.has(s)).length, total: model.states.length },
    transitions: { covered: allTransitions.length - uncoveredTransitions.length, total: allTransitions.length },
    paths: paths.length - skips.length + extraPaths,
    failures: failures.length,
    skipped: skips.length,
    skipReasons: skips,
    infeasible,
    uncoveredStates: model.states.filter((s) => !states.has(s)),
    uncoveredTransitions,
    impossible,
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

/** Whether a report is complete: no failure, every state, every transition but those named impossible. */
export const reportComplete = (r: MachineReport): boolean =>
  r.failures === 0 && [...r.uncoveredStates, ...r.uncoveredTransitions].every((t) => r.impossible.some((i) => i.edge === t));

/**
 * The `--json` document of `shadowvq mbt` on a harness (`--device sim|scripted`). `differences` is
 * always empty here (nothing is compared: see src/mbt/device.ts for a run on a device).
 */
export const mbtJson = (reports: readonly MachineReport[]) => ({
  machines: reports.map((r) => ({
    id: r.id,
    states: r.states,
    transitions: r.transitions,
    paths: r.paths,
    failures: r.failures,
    impossible: r.impossible.map((i) => i.edge),
    differences: [] as const,
    infeasible: r.infeasible,
  })),
});
