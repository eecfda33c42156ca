/**
 * Test paths over an effect-free model (src/mbt/model.ts), walked on the model machine itself
 * (`getInitialSnapshot` / `getNextSnapshot`, one model event per edge):
 *  - shortest: one shortest path to every reachable state (as `xstate/graph`'s `getShortestPaths`;
 *    a harness may make an edge cost more, so that paths take it only where they must);
 *  - transition: for every transition enabled in a reachable state, the shortest path to that state
 *    plus the transition (so every transition is taken at least once);
 *  - simple: every simple path (no state twice) to every state, as `getSimplePaths`, when there are at
 *    most `simpleLimit` of them (counted depth first, stopping at the limit).
 * A state is its value (the model has no context).
 */
import { getInitialSnapshot, getNextSnapshot, type AnyMachineSnapshot, type StateValue } from 'xstate';
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
  /** Simple paths the model has (counted up to the limit + 1 when there are more). */
  readonly simpleTotal: number;
  /** Simple paths were dropped because there were more than the limit. */
  readonly simpleTruncated: boolean;
}

const valueKey = (v: StateValue): string => JSON.stringify(v);

/** The edge a model event takes in state `value`: the deepest active state that handles it wins. */
export function selectEdge(m: MachineModel, value: StateValue, type: string): ModelEdge | undefined {
  const ids = [m.id, ...activeIds(m.id, value)].sort((a, b) => b.split('.').length - a.split('.').length);
  for (const id of ids) {
    if (m.blocked.has(`${id}|${type}`)) return undefined;
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

export function describePath(m: MachineModel, steps: readonly ModelStep[], initial: StateValue): string {
  const short = (v: StateValue) => activeIds(m.id, v).pop()!.slice(m.id.length + 1);
  return [short(initial), ...steps.map((s) => `-${s.edge.type}-> ${short(s.value)}`)].join(' ');
}

/** The model's state graph: every reachable state and the edges enabled in it, with their next state. */
export interface ModelGraph {
  readonly initial: AnyMachineSnapshot;
  readonly nodes: ReadonlyMap<string, { readonly snapshot: AnyMachineSnapshot; readonly out: readonly { readonly edge: ModelEdge; readonly next: AnyMachineSnapshot }[] }>;
  /** Breadth-first: the shortest path (edges) to each state, in discovery order. */
  readonly shortest: ReadonlyMap<string, readonly ModelStep[]>;
}

/** An edge's cost in the search for shortest paths (default 1 each). */
export type EdgeWeight = (edge: ModelEdge) => number;

/** Every reachable state, and the cheapest path to each (Dijkstra; ties: discovery order). */
export function modelGraph(m: MachineModel, weight: EdgeWeight = () => 1): ModelGraph {
  const initial = getInitialSnapshot(m.model);
  const nodes = new Map<string, { snapshot: AnyMachineSnapshot; out: { edge: ModelEdge; next: AnyMachineSnapshot }[] }>();
  const best = new Map<string, { cost: number; steps: readonly ModelStep[]; snapshot: AnyMachineSnapshot }>([[valueKey(initial.value), { cost: 0, steps: [], snapshot: initial }]]);
  const shortest = new Map<string, readonly ModelStep[]>();
  for (;;) {
    let k: string | undefined;
    for (const [key, b] of best) if (!shortest.has(key) && (k === undefined || b.cost < best.get(k)!.cost)) k = key;
    if (k === undefined) break;
    const { cost, steps, snapshot: s } = best.get(k)!;
    shortest.set(k, steps);
    const out = enabledEdges(m, s.value).map((edge) => ({ edge, next: getNextSnapshot(m.model, s, { type: edge.type }) }));
    nodes.set(k, { snapshot: s, out });
    for (const { edge, next } of out) {
      const nk = valueKey(next.value);
      const c = cost + weight(edge);
      const b = best.get(nk);
      if (!shortest.has(nk) && (b === undefined || c < b.cost)) best.set(nk, { cost: c, steps: [...steps, { edge, value: next.value }], snapshot: next });
    }
  }
  return { initial, nodes, shortest };
}

/** Counting simple paths stops here (a model may have millions). */
const SIMPLE_COUNT_CAP = 100_000;

/** Simple paths (no state twice) to every state, depth first; stops counting past `limit`. */
function simplePaths(g: ModelGraph, limit: number): { paths: ModelStep[][]; total: number } {
  const paths: ModelStep[][] = [];
  let total = 0;
  const onPath = new Set<string>();
  const steps: ModelStep[] = [];
  const walk = (k: string): boolean => {
    onPath.add(k);
    for (const { edge, next } of g.nodes.get(k)?.out ?? []) {
      const nk = valueKey(next.value);
      if (onPath.has(nk)) continue;
      steps.push({ edge, value: next.value });
      total++;
      if (total <= limit) paths.push([...steps]);
      if (total > SIMPLE_COUNT_CAP || !walk(nk)) return false;
      steps.pop();
    }
    onPath.delete(k);
    return true;
  };
  walk(valueKey(g.initial.value));
  return { paths, total };
}

/**
 * Shortest, transition and simple paths. `weights`: the shortest and transition paths once per
 * weighting (default: one, every edge 1), so a model whose context depends on which way a state was
 * reached gets each way.
 */
export function generatePaths(m: MachineModel, opts: { simpleLimit?: number; weights?: readonly EdgeWeight[] } = {}): PathSet {
  const simpleLimit = opts.simpleLimit ?? 500;
  const graphs = (opts.weights?.length ? opts.weights : [() => 1]).map((w) => modelGraph(m, w));
  const g = graphs[0]!;
  const initial = g.initial.value;
  const mk = (kind: PathKind, steps: readonly ModelStep[]): ModelPath => ({ kind, steps, description: describePath(m, steps, initial) });
  const paths: ModelPath[] = graphs.flatMap((x) => [...x.shortest.values()].map((steps) => mk('shortest', steps)));
  // transition cover: shortest path to each state, then each transition enabled there
  for (const x of graphs) for (const [k, steps] of x.shortest) for (const { edge, next } of x.nodes.get(k)!.out) paths.push(mk('transition', [...steps, { edge, value: next.value }]));
  const simple = simplePaths(g, simpleLimit);
  const simpleTruncated = simple.total > simpleLimit;
  if (!simpleTruncated) for (const steps of simple.paths) paths.push(mk('simple', steps));

  // drop exact duplicates (a transition path can equal a shortest one), keep the first kind
  const seen = new Set<string>();
  const unique = paths.filter((p) => {
    const key = p.steps.map((s) => `${s.edge.source}:${s.edge.type}`).join('|');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { paths: unique, simpleTotal: simple.total, simpleTruncated };
}
