/**
 * Transition-pair coverage: every pair of consecutive transitions t1 → t2 where t2 leaves t1's target
 * (t2's source is the state t1 entered, one of its ancestors, or one of its descendants; a targetless
 * t1 stays where it is). The model's state graph decides which pairs can happen: a pair is feasible
 * when some reachable state enables t1 and the state it leads to enables t2 (the deepest handler,
 * as XState picks). Every other pair is infeasible, and says why: t1 is never enabled, or after t1
 * the machine is where t2's source is not active, or a deeper state takes t2's event there.
 *
 * Covered pairs are read from the real machine (the runner's ordered `taken` list of each path), not
 * planned: a pair path (`pairPath`) is only a way to make the machine take it. A targetless transition
 * leaves no state, so t1 → t2 counts when only targetless transitions came between them.
 */
import type { StateValue } from 'xstate';
import { activeIds, type MachineModel, type ModelEdge } from './model.js';
import { describePath, modelGraph, selectEdge, type ModelGraph, type ModelPath, type ModelStep } from './paths.js';
import { edgeKey } from './runner.js';

export interface TransitionPair {
  readonly first: ModelEdge;
  readonly second: ModelEdge;
  /** `"<edgeKey t1> then <edgeKey t2>"`. */
  readonly key: string;
}

export interface PairUniverse {
  /** Every pair where t2 leaves t1's target (syntactically), in definition order. */
  readonly all: readonly TransitionPair[];
  /** Pairs the model can take, with the cheapest way to each (the state before t1, its shortest path). */
  readonly feasible: ReadonlyMap<string, readonly { readonly before: readonly ModelStep[]; readonly after: StateValue; readonly next: StateValue }[]>;
  /** Pairs the model proves cannot happen, with the reason. */
  readonly infeasible: ReadonlyMap<string, string>;
}

export const pairKey = (a: ModelEdge, b: ModelEdge): string => `${edgeKey(a)} then ${edgeKey(b)}`;

/** `id` is `x` or an ancestor or a descendant of it. */
const related = (id: string, x: string): boolean => id === x || x.startsWith(`${id}.`) || id.startsWith(`${x}.`);

/** Whether t2 leaves the state t1 enters (its targets; a targetless t1: its own source). */
export function leavesTargetOf(t1: ModelEdge, t2: ModelEdge): boolean {
  const into = t1.targets.length ? t1.targets : [t1.source];
  return into.some((x) => related(t2.source, x));
}

const vkey = (v: StateValue): string => JSON.stringify(v);

const graphs = new WeakMap<MachineModel, ModelGraph>();
export function graphOf(m: MachineModel): ModelGraph {
  let g = graphs.get(m);
  if (g === undefined) graphs.set(m, (g = modelGraph(m)));
  return g;
}

/** Every pair, which the model can take (and the ways to it) and which it cannot (and why). */
export function pairUniverse(m: MachineModel): PairUniverse {
  const g = graphOf(m);
  const all: TransitionPair[] = [];
  for (const first of m.edges) for (const second of m.edges) if (leavesTargetOf(first, second)) all.push({ first, second, key: pairKey(first, second) });
  const feasible = new Map<string, { before: readonly ModelStep[]; after: StateValue; next: StateValue }[]>();
  /** Values right after each t1 (every reachable state where it is enabled). */
  const afterFirst = new Map<string, StateValue[]>();
  for (const [k, node] of g.nodes) {
    const before = g.shortest.get(k) ?? [];
    for (const { edge: t1, next } of node.out) {
      const list = afterFirst.get(edgeKey(t1)) ?? [];
      if (!list.some((v) => vkey(v) === vkey(next.value))) list.push(next.value);
      afterFirst.set(edgeKey(t1), list);
      for (const { edge: t2, next: after2 } of g.nodes.get(vkey(next.value))?.out ?? []) {
        if (!leavesTargetOf(t1, t2)) continue;
        const pk = pairKey(t1, t2);
        const ways = feasible.get(pk) ?? [];
        ways.push({ before, after: next.value, next: after2.value });
        feasible.set(pk, ways);
      }
    }
  }
  for (const ways of feasible.values()) ways.sort((a, b) => a.before.length - b.before.length);
  const short = (v: StateValue) => activeIds(m.id, v).filter((id) => !activeIds(m.id, v).some((o) => o.startsWith(`${id}.`))).map((id) => id.slice(m.id.length + 1)).join(' + ');
  const infeasible = new Map<string, string>();
  for (const p of all) {
    if (feasible.has(p.key)) continue;
    const afters = afterFirst.get(edgeKey(p.first));
    if (afters === undefined) {
      infeasible.set(p.key, `model: ${p.first.type} is enabled in no reachable state`);
      continue;
    }
    const v = afters[0]!;
    const active = activeIds(m.id, v);
    const other = selectEdge(m, v, p.second.type);
    const why = !active.includes(p.second.source) && p.second.source !== m.id
      ? `${p.second.source.slice(m.id.length + 1)} is not active there`
      : other !== undefined && other !== p.second
        ? `${other.source.slice(m.id.length + 1) || 'the root'} takes ${p.second.type} first`
        : `a deeper state handles ${p.second.eventType} itself (its last candidate is unguarded)`;
    infeasible.set(p.key, `model: after ${p.first.type} the machine is in ${short(v)}${afters.length > 1 ? ` (or ${afters.length - 1} other state(s))` : ''}: ${why}`);
  }
  return { all, feasible, infeasible };
}

/** A path that takes `pair` (the shortest way to a state enabling t1, then t1, then t2), the `nth` cheapest. */
export function pairPath(m: MachineModel, u: PairUniverse, pair: TransitionPair, nth = 0): ModelPath | undefined {
  const way = u.feasible.get(pair.key)?.[nth];
  if (way === undefined) return undefined;
  const steps: ModelStep[] = [...way.before, { edge: pair.first, value: way.after }, { edge: pair.second, value: way.next }];
  return { kind: 'transition', steps, description: describePath(m, steps, graphOf(m).initial.value) };
}

/**
 * The pairs a run took, from its ordered `taken` list (edge keys): t1 then t2 when t2 leaves t1's
 * target and only targetless transitions (which leave no state: a child's snapshot relayed, a counter
 * bumped) came between them.
 */
export function pairsTaken(taken: readonly string[], byKey: ReadonlyMap<string, ModelEdge>): string[] {
  const out: string[] = [];
  for (let i = 0; i < taken.length; i++) {
    const a = byKey.get(taken[i]!);
    if (a === undefined) continue;
    for (let j = i + 1; j < taken.length; j++) {
      const b = byKey.get(taken[j]!);
      if (b === undefined) continue;
      if (leavesTargetOf(a, b)) out.push(pairKey(a, b));
      if (b.targets.length) break;
    }
  }
  return out;
}
