/**
 * Effect-free models derived from the machine definitions, for `xstate/graph` traversal.
 *
 * `createTestModel` and the path generators cannot walk a machine with `invoke` or `after` (and a
 * context-serializing traversal of real contexts never ends), so each machine gets a model with the
 * same state tree and one plain event per transition *candidate* of the real machine:
 *
 *   on: { E: … }                  → "E"                (guarded candidates: "E[g]", "E[!g]")
 *   invoke src S, onDone / onError → "done:S" / "error:S" (guarded: "done:S[g]", "done:S[!g1,!g2]")
 *   after: { D: … }                → "after:D"
 *
 * No guards, actions, actors or timers remain: the model's state value is its whole state, so
 * traversal is finite. Because the model is computed from `machine.root`, it cannot drift from the
 * machine; `checkModel` re-derives both sides and compares them anyway (the tests run it).
 */
import { createMachine, type AnyStateMachine, type AnyStateNode, type StateValue } from 'xstate';

export type EdgeKind = 'event' | 'done' | 'error' | 'after';

export interface ModelEdge {
  /** The model's event type (unique per source state and candidate). */
  readonly type: string;
  readonly kind: EdgeKind;
  /** Id of the state node that owns the transition. */
  readonly source: string;
  /** Target state node ids (empty: a targetless transition). */
  readonly targets: readonly string[];
  /** Event type (kind "event"), actor src (done / error) or delay name (after). */
  readonly trigger: string;
  /** Guard of this candidate, if any. */
  readonly guard: string | null;
  /** Guards of the earlier candidates for the same trigger, which must all be false. */
  readonly notGuards: readonly string[];
  readonly reenter: boolean;
}

export interface MachineModel {
  readonly id: string;
  readonly machine: AnyStateMachine;
  /** The effect-free model machine. */
  readonly model: AnyStateMachine;
  /** Every state node id (the root excluded). */
  readonly states: readonly string[];
  readonly edges: readonly ModelEdge[];
  /** Distinct model event types. */
  readonly eventTypes: readonly string[];
}

/** A guard's name as written in the definition ("inline" for an anonymous function). */
export function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return (guard as { name?: string }).name || 'inline';
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return 'inline';
}

const DONE_PREFIX = 'xstate.done.actor.';
const ERROR_PREFIX = 'xstate.error.actor.';
const AFTER_PREFIX = 'xstate.after.';

interface TransitionLike {
  readonly eventType: string;
  readonly target?: readonly AnyStateNode[] | undefined;
  readonly guard?: unknown;
  readonly reenter?: boolean;
  readonly delay?: string | number;
}

/** Classify one real transition's trigger. */
function classify(node: AnyStateNode, t: TransitionLike): { kind: EdgeKind; trigger: string } {
  const ev = t.eventType;
  if (ev.startsWith(DONE_PREFIX) || ev.startsWith(ERROR_PREFIX)) {
    const done = ev.startsWith(DONE_PREFIX);
    const invokeId = ev.slice((done ? DONE_PREFIX : ERROR_PREFIX).length);
    const inv = node.invoke.find((i) => i.id === invokeId);
    const src = inv === undefined ? invokeId : typeof inv.src === 'string' ? inv.src : invokeId;
    return { kind: done ? 'done' : 'error', trigger: src };
  }
  if (ev.startsWith(AFTER_PREFIX)) {
    const a = node.after.find((x) => x.eventType === ev) as TransitionLike | undefined;
    const delay = a?.delay ?? ev.slice(AFTER_PREFIX.length).split('.')[0]!;
    return { kind: 'after', trigger: String(delay) };
  }
  return { kind: 'event', trigger: ev };
}

const baseType = (kind: EdgeKind, trigger: string): string => (kind === 'event' ? trigger : `${kind}:${trigger}`);

/** Every transition candidate of `node` (own transitions only), in definition order. */
export function edgesOf(node: AnyStateNode): ModelEdge[] {
  const out: ModelEdge[] = [];
  for (const [, candidates] of node.transitions as Map<string, readonly TransitionLike[]>) {
    const earlier: string[] = [];
    const many = candidates.length > 1;
    for (const t of candidates) {
      const { kind, trigger } = classify(node, t);
      const guard = guardName(t.guard);
      const notGuards = [...earlier];
      const qual = guard !== null ? [...notGuards.map((g) => `!${g}`), guard] : notGuards.map((g) => `!${g}`);
      const type = many || guard !== null ? `${baseType(kind, trigger)}[${qual.join(',')}]` : baseType(kind, trigger);
      out.push({
        type,
        kind,
        source: node.id,
        targets: (t.target ?? []).map((n) => n.id),
        trigger,
        guard,
        notGuards,
        reenter: t.reenter === true,
      });
      if (guard !== null) earlier.push(guard);
    }
  }
  return out;
}

/** All state nodes under `node` (depth first, document order), the node itself excluded. */
export function descendants(node: AnyStateNode): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  const walk = (n: AnyStateNode) => {
    for (const c of Object.values(n.states) as AnyStateNode[]) {
      out.push(c);
      walk(c);
    }
  };
  walk(node);
  return out;
}

interface ModelNodeConfig {
  id?: string;
  type?: 'parallel' | 'final' | 'history';
  initial?: string;
  states?: Record<string, ModelNodeConfig>;
  on?: Record<string, { target?: string[]; reenter?: boolean }>;
}

function modelConfig(node: AnyStateNode, edges: readonly ModelEdge[]): ModelNodeConfig {
  const cfg: ModelNodeConfig = {};
  if (node.type === 'parallel' || node.type === 'final' || node.type === 'history') cfg.type = node.type;
  const initialTarget = node.type === 'compound' ? (node.initial?.target?.[0] as AnyStateNode | undefined) : undefined;
  if (initialTarget !== undefined) cfg.initial = initialTarget.key;
  const own = edges.filter((e) => e.source === node.id);
  if (own.length) {
    cfg.on = {};
    for (const e of own) {
      cfg.on[e.type] = { ...(e.targets.length ? { target: e.targets.map((t) => `#${t}`) } : {}), ...(e.reenter ? { reenter: true } : {}) };
    }
  }
  const children = Object.values(node.states) as AnyStateNode[];
  if (children.length) {
    cfg.states = {};
    for (const c of children) cfg.states[c.key] = modelConfig(c, edges);
  }
  return cfg;
}

/** Derive the effect-free model of `machine`. */
export function deriveModel(machine: AnyStateMachine): MachineModel {
  const nodes = descendants(machine.root);
  const edges = [machine.root, ...nodes].flatMap(edgesOf);
  const cfg = modelConfig(machine.root, edges);
  const model = createMachine({ ...cfg, id: machine.id } as Parameters<typeof createMachine>[0]);
  return {
    id: machine.id,
    machine,
    model,
    states: nodes.map((n) => n.id),
    edges,
    eventTypes: [...new Set(edges.map((e) => e.type))].sort(),
  };
}

export interface ModelMismatch {
  readonly what: 'state' | 'edge';
  readonly id: string;
  readonly message: string;
}

/**
 * Compare a model with the machine: the same state ids, and for every state the same transitions
 * (event, targets, reenter) once the model's event types are mapped back to the machine's triggers.
 */
export function checkModel(m: MachineModel): ModelMismatch[] {
  const out: ModelMismatch[] = [];
  const real = new Set(descendants(m.machine.root).map((n) => n.id));
  const modeled = new Set(descendants(m.model.root).map((n) => n.id));
  for (const id of real) if (!modeled.has(id)) out.push({ what: 'state', id, message: `state ${id} missing from the model` });
  for (const id of modeled) if (!real.has(id)) out.push({ what: 'state', id, message: `model state ${id} not in the machine` });
  const key = (e: { source: string; type: string; targets: readonly string[]; reenter: boolean }) =>
    `${e.source} --${e.type}--> ${[...e.targets].sort().join(',')}${e.reenter ? ' (reenter)' : ''}`;
  const realEdges = new Set(m.edges.map(key));
  const modelEdges = new Set(
    [m.model.root, ...descendants(m.model.root)].flatMap((n) =>
      [...(n.transitions as Map<string, readonly TransitionLike[]>)].flatMap(([type, ts]) =>
        ts.map((t) => key({ source: n.id, type, targets: (t.target ?? []).map((x) => x.id), reenter: t.reenter === true })),
      ),
    ),
  );
  for (const k of realEdges) if (!modelEdges.has(k)) out.push({ what: 'edge', id: k, message: `transition missing from the model: ${k}` });
  for (const k of modelEdges) if (!realEdges.has(k)) out.push({ what: 'edge', id: k, message: `model transition not in the machine: ${k}` });
  return out;
}

/** Ids of the active state nodes of a state value (ancestors included), e.g. "m.a", "m.a.b". */
export function activeIds(machineId: string, value: StateValue): string[] {
  const out: string[] = [];
  const walk = (prefix: string, v: StateValue) => {
    if (typeof v === 'string') {
      out.push(`${prefix}.${v}`);
      return;
    }
    for (const [k, sub] of Object.entries(v)) {
      out.push(`${prefix}.${k}`);
      if (sub !== undefined) walk(`${prefix}.${k}`, sub as StateValue);
    }
  };
  walk(machineId, value);
  return out;
}
