/**
 * Test paths over an effect-free model (src/mbt/model.ts), from `xstate/graph`:
 *  - shortest: one shortest path to every reachable state (`getShortestPaths`);
 *  - transition: for every transition enabled in a reachable state, the shortest path to that state
 *    plus the transition (so every transition is taken at least once);
 *  - simple: every simple path (`getSimplePaths`), when there are at most `simpleLimit` of them.
 * Traversal serializes the state value only (`serializeState`): the model has no context.
 */
import { getInitialSnapshot, getNextSnapshot, type AnyMachineSnapshot, type StateValue } from 'xstate';
import { getShortestPaths, getSimplePaths, type StatePath } from 'xstate/graph';
import { activeIds, type MachineModel, type ModelEdge } from './model.js';

export type PathKind = 'shortest' | 'transition' | 'simple';

export interface ModelStep {
  readonly edge: ModelEdge;
  /** The model's state value after the step. */
  readonly value: StateValue;
}

export interface ModelPath {
  readonly kind: PathKind;
  readonly steps: readonly ModelStep[];
  /** Readable: "a -E-> b -F-> c". */
  readonly description: string;
}

export interface PathSet {
  readonly paths: readonly ModelPath[];
  /** Simple paths the model has (whether or not they were kept). */
  readonly simpleTotal: number;
  /** Simple paths were dropped because there were more than the limit. */
  readonly simpleTruncated: boolean;
}

const valueKey = (v: StateValue): string => JSON.stringify(v);

/** The edge a model event takes in state `value`: the deepest active state that handles it wins. */
export function selectEdge(m: MachineModel, value: StateValue, type: string): ModelEdge | undefined {
  const ids = [m.id, ...activeIds(m.id, value)].sort((a, b) => b.split('.').length - a.split('.').length);
  for (const id of ids) {
    const e = m.edges.find((x) => x.source === id && x.type === type);
    if (e !== undefined) return e;
  }
  return undefined;
}

/** The edges enabled in `value`, one per event type (the deepest handler). */
export function enabledEdges(m: MachineModel, value: StateValue): ModelEdge[] {
  const out: ModelEdge[] = [];
  for (const t of m.eventTypes) {
    const e = selectEdge(m, value, t);
    if (e !== undefined) out.push(e);
  }
  return out;
}

function describe(m: MachineModel, steps: readonly ModelStep[], initial: StateValue): string {
  const short = (v: StateValue) => activeIds(m.id, v).pop()!.slice(m.id.length + 1);
  return [short(initial), ...steps.map((s) => `-${s.edge.type}-> ${short(s.value)}`)].join(' ');
}

function toModelPath(m: MachineModel, kind: PathKind, p: StatePath<AnyMachineSnapshot, { type: string }>): ModelPath {
  const raw = p.steps.filter((s) => s.event.type !== 'xstate.init');
  const initial = p.steps[0]!.state.value;
  const steps: ModelStep[] = [];
  let prev = initial;
  for (const s of raw) {
    const edge = selectEdge(m, prev, s.event.type);
    if (edge === undefined) throw new Error(`model path step ${s.event.type} from ${valueKey(prev)} has no edge`);
    steps.push({ edge, value: s.state.value });
    prev = s.state.value;
  }
  return { kind, steps, description: describe(m, steps, initial) };
}

export function generatePaths(m: MachineModel, opts: { simpleLimit?: number } = {}): PathSet {
  const simpleLimit = opts.simpleLimit ?? 500;
  const traversal = {
    events: m.eventTypes.map((type) => ({ type })),
    serializeState: (s: AnyMachineSnapshot) => valueKey(s.value),
  };
  const raw = getShortestPaths(m.model, traversal);
  const shortest = raw.map((p) => toModelPath(m, 'shortest', p as never));
  const initial = getInitialSnapshot(m.model).value;
  const paths: ModelPath[] = [...shortest];

  // transition cover: shortest path to each state, then each transition enabled there
  for (let i = 0; i < raw.length; i++) {
    const at = raw[i]!.state as AnyMachineSnapshot;
    const p = shortest[i]!;
    for (const edge of enabledEdges(m, at.value)) {
      const next = getNextSnapshot(m.model, at, { type: edge.type });
      const steps = [...p.steps, { edge, value: next.value }];
      paths.push({ kind: 'transition', steps, description: describe(m, steps, initial) });
    }
  }

  const simple = getSimplePaths(m.model, traversal);
  const simpleTruncated = simple.length > simpleLimit;
  if (!simpleTruncated) for (const p of simple) paths.push(toModelPath(m, 'simple', p as never));

  // drop exact duplicates (a transition path can equal a shortest one), keep the first kind
  const seen = new Set<string>();
  const unique = paths.filter((p) => {
    const k = p.steps.map((s) => `${s.edge.source}:${s.edge.type}`).join('|');
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return { paths: unique, simpleTotal: simple.length, simpleTruncated };
}
