/**
 * Effect-free models derived from the machine definitions, for `xstate/graph` traversal.
 *
 * `createTestModel` and the path generators cannot walk a machine with `invoke` or `after` (and a
 * context-serializing traversal of real contexts never ends), so each machine gets a model with the
 * same state tree and one plain event per transition *candidate* of the real machine:
 *
 *   on: { E: … }                       → "E"                   (guarded candidates: "E[g]", "E[!g]")
 *   invoke src S, onDone / onError      → "done:S" / "error:S"  (guarded: "done:S[g]", "done:S[!g1,!g2]")
 *   a port's reply `<op>.done|error`    → "done:P.op" / "error:P.op" (P: the invoked port's src)
 *   a port restored (`port.ready`)      → "ready:P"
 *   a child's snapshot (`onSnapshot`, `xstate.snapshot.<id>`) → "snapshot:<id>" (guarded as above)
 *   after: { D: … }                     → "after:D"
 *
 * A done / error edge's trigger is the effect's path (`writeStatus`, `cvqPort.awaitAcks`) or, for an
 * invoked child machine, its src; a guard's static parameters are part of its name (`deviceIs(running)`).
 * No guards, actions, actors or timers remain: the model's state value is its whole state, so
 * traversal is finite. Because the model is computed from `machine.root`, it cannot drift from the
 * machine; `checkModel` re-derives both sides and compares them anyway (the tests run it).
 */
import { createMachine, type AnyStateMachine, type AnyStateNode, type StateValue } from 'xstate';
import { isPort } from '../../machines/port.js';

export type EdgeKind = 'event' | 'done' | 'error' | 'after' | 'snapshot' | 'ready';
/** What answers a done / error / snapshot / ready edge. */
export type ActorKind = 'promise' | 'port' | 'machine';

export interface ModelEdge {
  /** The model's event type (unique per source state and candidate). */
  readonly type: string;
  readonly kind: EdgeKind;
  /** Id of the state node that owns the transition. */
  readonly source: string;
  /** Target state node ids (empty: a targetless transition). */
  readonly targets: readonly string[];
  /**
   * Event type (kind "event"); effect path (done / error: actor src, or `port.op`); invoke id of the
   * child (snapshot); port src (ready); delay name (after).
   */
  readonly trigger: string;
  /** The actor behind a done / error / snapshot / ready edge (null for events and delays). */
  readonly actor: ActorKind | null;
  /** The src of that actor (a snapshot edge's child machine, a port, a promise actor). */
  readonly src: string | null;
  /** Guard of this candidate, if any (with its static parameters, e.g. `svqIs(shadow)`). */
  readonly guard: string | null;
  /** Guards of the earlier candidates for the same trigger, which must all be false. */
  readonly notGuards: readonly string[];
  readonly reenter: boolean;
  /** The real event type (`xstate.snapshot.device`, `writeBatch.done`, `START` …). */
  readonly eventType: string;
  /** The real transition: `<source id>|<event type>|<candidate index>` (see `realKey`). */
  readonly real: string;
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
  /** Model edge of a real transition, by `realKey`. */
  readonly byReal: ReadonlyMap<string, ModelEdge>;
  /**
   * `<state id>|<model type>`: an ancestor's edge the state shadows. A state whose candidates for a
   * real event end with an unguarded one always takes that event itself (XState picks the deepest
   * state that has an enabled candidate), so its ancestors' transitions for it never fire there.
   */
  readonly blocked: ReadonlySet<string>;
}

/** The key of a real transition candidate: its node, event type and place among the candidates. */
export const realKey = (source: string, eventType: string, index: number): string => `${source}|${eventType}|${index}`;

type Primitive = string | number | boolean;
const isPrimitive = (v: unknown): v is Primitive => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** The static part of a guard's parameters: its primitive values (`{ view: 'shadow' }` → "shadow"). */
function staticParams(params: unknown): string {
  let v = params;
  if (typeof params === 'function') {
    try {
      v = (params as (a: { context: unknown; event: unknown }) => unknown)({ context: {}, event: {} });
    } catch {
      return '';
    }
  }
  if (typeof v !== 'object' || v === null) return '';
  return Object.values(v).filter(isPrimitive).map(String).join(',');
}

/** A guard's name as written in the definition ("inline" for an anonymous function). */
export function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const g = guard as { name?: string; guards?: readonly unknown[] };
    if (Array.isArray(g.guards)) {
      const parts = g.guards.map((x) => guardName(x) ?? 'true');
      if (g.name === 'not') return `!${parts[0]}`;
      return parts.join(g.name === 'or' ? '|' : '&');
    }
    return g.name || 'inline';
  }
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') {
    const { type, params } = guard as { type: string; params?: unknown };
    const p = staticParams(params);
    return p ? `${type}(${p})` : type;
  }
  return 'inline';
}

/** A guard's name negated: `!g`, `!(a&b)`. */
export const negate = (g: string): string => (/[&|]/.test(g) ? `!(${g})` : `!${g}`);

const DONE_PREFIX = 'xstate.done.actor.';
const ERROR_PREFIX = 'xstate.error.actor.';
const SNAPSHOT_PREFIX = 'xstate.snapshot.';
const AFTER_PREFIX = 'xstate.after.';
const PORT_READY = 'port.ready';

interface TransitionLike {
  readonly eventType: string;
  readonly target?: readonly AnyStateNode[] | undefined;
  readonly guard?: unknown;
  readonly reenter?: boolean;
  readonly delay?: string | number;
}

/** The kind of actor a machine declares under `src`. */
export function actorKind(machine: AnyStateMachine, src: string): ActorKind {
  const logic = (machine.implementations.actors as Readonly<Record<string, unknown>>)[src];
  if (isPort(logic)) return 'port';
  const m = logic as { root?: unknown; provide?: unknown } | undefined;
  return typeof m?.provide === 'function' && typeof m.root === 'object' ? 'machine' : 'promise';
}

/** The invocation with `id` on `node` or the nearest ancestor that has it. */
function invokeOf(node: AnyStateNode, test: (i: AnyStateNode['invoke'][number]) => boolean): AnyStateNode['invoke'][number] | undefined {
  for (let n: AnyStateNode | undefined = node; n !== undefined; n = n.parent) {
    const i = n.invoke.find(test);
    if (i !== undefined) return i;
  }
  return undefined;
}
const srcOf = (i: AnyStateNode['invoke'][number]): string => (typeof i.src === 'string' ? i.src : i.id);

/** Classify one real transition's trigger. */
function classify(node: AnyStateNode, t: TransitionLike): { kind: EdgeKind; trigger: string; actor: ActorKind | null; src: string | null } {
  const ev = t.eventType;
  const machine = node.machine;
  if (ev.startsWith(DONE_PREFIX) || ev.startsWith(ERROR_PREFIX)) {
    const done = ev.startsWith(DONE_PREFIX);
    const invokeId = ev.slice((done ? DONE_PREFIX : ERROR_PREFIX).length);
    const inv = invokeOf(node, (i) => i.id === invokeId);
    const src = inv === undefined ? invokeId : srcOf(inv);
    return { kind: done ? 'done' : 'error', trigger: src, actor: actorKind(machine, src), src };
  }
  if (ev.startsWith(SNAPSHOT_PREFIX)) {
    const id = ev.slice(SNAPSHOT_PREFIX.length);
    const inv = invokeOf(node, (i) => i.id === id);
    const src = inv === undefined ? id : srcOf(inv);
    return { kind: 'snapshot', trigger: id, actor: actorKind(machine, src), src };
  }
  if (ev.startsWith(AFTER_PREFIX)) {
    const a = node.after.find((x) => x.eventType === ev) as TransitionLike | undefined;
    const delay = a?.delay ?? ev.slice(AFTER_PREFIX.length).split('.')[0]!;
    return { kind: 'after', trigger: String(delay), actor: null, src: null };
  }
  const port = invokeOf(node, (i) => actorKind(machine, srcOf(i)) === 'port');
  if (port !== undefined) {
    const src = srcOf(port);
    if (ev === PORT_READY) return { kind: 'ready', trigger: src, actor: 'port', src };
    const m = /^(.+)\.(done|error)$/.exec(ev);
    if (m !== null) return { kind: m[2] as 'done' | 'error', trigger: `${src}.${m[1]}`, actor: 'port', src };
  }
  return { kind: 'event', trigger: ev, actor: null, src: null };
}

const baseType = (kind: EdgeKind, trigger: string): string => (kind === 'event' ? trigger : `${kind}:${trigger}`);

/** Every transition candidate of `node` (own transitions only), in definition order. */
export function edgesOf(node: AnyStateNode): ModelEdge[] {
  const out: ModelEdge[] = [];
  for (const [eventType, candidates] of node.transitions as Map<string, readonly TransitionLike[]>) {
    const earlier: string[] = [];
    const many = candidates.length > 1;
    for (const [index, t] of candidates.entries()) {
      const { kind, trigger, actor, src } = classify(node, t);
      const guard = guardName(t.guard);
      const notGuards = [...earlier];
      const qual = guard !== null ? [...notGuards.map(negate), guard] : notGuards.map(negate);
      const type = many || guard !== null ? `${baseType(kind, trigger)}[${qual.join(',')}]` : baseType(kind, trigger);
      out.push({
        type,
        kind,
        source: node.id,
        targets: (t.target ?? []).map((n) => n.id),
        trigger,
        actor,
        src,
        guard,
        notGuards,
        reenter: t.reenter === true,
        eventType,
        real: realKey(node.id, eventType, index),
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

/** Ancestor edges each state shadows (see `MachineModel.blocked`). */
function shadowed(nodes: readonly AnyStateNode[], edges: readonly ModelEdge[]): Set<string> {
  const out = new Set<string>();
  for (const n of nodes) {
    for (const [eventType, candidates] of n.transitions as Map<string, readonly TransitionLike[]>) {
      if (candidates.at(-1)?.guard !== undefined) continue;
      for (let a = n.parent; a !== undefined; a = a.parent) for (const e of edges) if (e.source === a.id && e.eventType === eventType) out.add(`${n.id}|${e.type}`);
    }
  }
  return out;
}

function modelConfig(node: AnyStateNode, edges: readonly ModelEdge[], blocked: ReadonlySet<string>): ModelNodeConfig {
  const cfg: ModelNodeConfig = {};
  if (node.type === 'parallel' || node.type === 'final' || node.type === 'history') cfg.type = node.type;
  const initialTarget = node.type === 'compound' ? (node.initial?.target?.[0] as AnyStateNode | undefined) : undefined;
  if (initialTarget !== undefined) cfg.initial = initialTarget.key;
  const own = edges.filter((e) => e.source === node.id);
  const blocks = [...blocked].filter((b) => b.startsWith(`${node.id}|`)).map((b) => b.slice(node.id.length + 1));
  if (own.length || blocks.length) {
    cfg.on = {};
    // a shadowed ancestor edge: a targetless transition without effect, which the path generator never takes
    for (const type of blocks) cfg.on[type] = {};
    for (const e of own) {
      cfg.on[e.type] = { ...(e.targets.length ? { target: e.targets.map((t) => `#${t}`) } : {}), ...(e.reenter ? { reenter: true } : {}) };
    }
  }
  const children = Object.values(node.states) as AnyStateNode[];
  if (children.length) {
    cfg.states = {};
    for (const c of children) cfg.states[c.key] = modelConfig(c, edges, blocked);
  }
  return cfg;
}

/** Derive the effect-free model of `machine`. */
export function deriveModel(machine: AnyStateMachine): MachineModel {
  const nodes = descendants(machine.root);
  const edges = [machine.root, ...nodes].flatMap(edgesOf);
  const blocked = shadowed(nodes, edges);
  const cfg = modelConfig(machine.root, edges, blocked);
  const model = createMachine({ ...cfg, id: machine.id } as Parameters<typeof createMachine>[0]);
  return {
    id: machine.id,
    machine,
    model,
    states: nodes.map((n) => n.id),
    edges,
    eventTypes: [...new Set(edges.map((e) => e.type))].sort(),
    byReal: new Map(edges.map((e) => [e.real, e])),
    blocked,
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
      [...(n.transitions as Map<string, readonly TransitionLike[]>)].filter(([type]) => !m.blocked.has(`${n.id}|${type}`)).flatMap(([type, ts]) =>
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
