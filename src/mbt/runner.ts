/**
 * Runs model paths against a real machine (its real definition: guards, actions, invokes, delays,
 * child machines, effect ports), with its effects supplied by a harness: scripted (src/mbt/scripts.ts)
 * or the real effects on the simulated device (src/mbt/sim.ts). Every effect — the machine's own and
 * its children's, addressed by its path (`writeStatus`, `cvqPort.awaitAcks`,
 * `deviceLifecycle.readStatus`, `cvqCommand.cvqPort.writeBatch`) — waits at a gate until the path says
 * how it ends, so the real machine moves one model step at a time.
 *
 * What the real machine did is read from the actor system's inspection (`@xstate.microstep` of the root
 * actor): every transition it took, mapped back to its model edge. At every step the machine must
 * have taken the step's edge (a targetless edge: since it entered its state) and reached the state
 * the model predicts, and the harness's invariants must hold; coverage counts what the machine took
 * (cascades included: a child's snapshot relayed while the parent handles an event), not what was planned.
 */
import { createActor, SimulatedClock, type Actor, type AnyMachineSnapshot, type AnyStateMachine, type EventObject, type InspectionEvent, type Snapshot } from 'xstate';
import { bind, type EffectsOf } from '../../machines/contract.js';
import { activeIds, actorKind, deriveModel, realKey, type MachineModel, type ModelEdge } from './model.js';
import type { ModelPath } from './paths.js';

/** What one step may look at when choosing an event payload or an effect's outcome. */
export interface StepView {
  readonly path: ModelPath;
  /** Index of the step in `path.steps`. */
  readonly index: number;
  readonly snapshot: AnyMachineSnapshot;
  /** Edges (edgeKey) the machine took since it entered the state it is in. */
  readonly recent: ReadonlySet<string>;
}

/** One run of one path: a live actor plus the harness's way to make each model event happen. */
export interface Run {
  /** The machine's actor (a restore replaces it: read it again after each step). */
  readonly actor: Actor<AnyStateMachine>;
  /** Called before `perform` of step `index` and before the first step with index -1. */
  prepare?(next: ModelEdge, view: StepView): void | Promise<void>;
  /** Make `edge` happen and wait until the machine has taken it. */
  perform(edge: ModelEdge, view: StepView): Promise<void>;
  /** Violated invariants after a step (empty when all hold). */
  invariants(view: StepView): string[] | Promise<string[]>;
  dispose(): void | Promise<void>;
}

export interface Harness {
  readonly machine: AnyStateMachine;
  /** Why a path cannot happen on this harness (context the model abstracts away), or undefined. */
  infeasible?(path: ModelPath): string | undefined;
  /** Weightings of the edges for the shortest paths (each gives its own; default one, every edge 1). */
  readonly weights?: readonly ((edge: ModelEdge) => number)[];
  /** Why `edge` can never be taken on this harness (the report names it with the reason), or undefined. */
  impossible?(edge: ModelEdge): string | undefined;
  /** What of the machine's context (beyond its state) decides which later edges it can take: paths ending alike are interchangeable. */
  signature?(snapshot: AnyMachineSnapshot): string;
  /** `inspect` goes to `createActor` (and to every actor a restore creates). */
  start(path: ModelPath, inspect: (e: InspectionEvent) => void): Run | Promise<Run>;
}

/** Thrown by a harness for a step the machine's context (abstracted by the model) rules out here. */
export class Infeasible extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'Infeasible';
  }
}

export interface StepFailure {
  readonly path: string;
  readonly step: number;
  readonly message: string;
}

export interface PathResult {
  readonly ok: boolean;
  readonly skipped?: string;
  readonly failure?: StepFailure;
  readonly states: ReadonlySet<string>;
  readonly transitions: ReadonlySet<string>;
  /** The harness's signature of the machine before the first step (0) and after each step (i + 1). */
  readonly signatures?: readonly string[];
  /** Every transition the machine took (edgeKey), in order, repeats included (pair coverage reads it). */
  readonly taken?: readonly string[];
}

export const edgeKey = (e: ModelEdge): string => `${e.source} --${e.type}-->`;

const sameValue = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Let promise callbacks and the actor system run until nothing is left to do this turn. */
export const settle = (): Promise<void> => new Promise((r) => setImmediate(() => setImmediate(r)));

/** Watches the root actor's microsteps: every transition taken (as its model edge) and every state. */
class Observer {
  readonly states = new Set<string>();
  readonly transitions = new Set<string>();
  /** Every transition taken, in order. */
  readonly taken: string[] = [];
  /** Edges taken during the current step. */
  readonly step = new Set<string>();
  /** Edges taken since the state value last changed. */
  readonly recent = new Set<string>();
  private value = '';
  constructor(private readonly m: MachineModel) {}

  readonly inspect = (e: InspectionEvent): void => {
    if (e.type !== '@xstate.microstep' || e.actorRef.sessionId !== e.rootId) return;
    const snap = e.snapshot as AnyMachineSnapshot;
    const v = JSON.stringify(snap.value);
    if (v !== this.value) {
      this.value = v;
      this.recent.clear();
    }
    for (const id of activeIds(this.m.id, snap.value)) this.states.add(id);
    for (const t of e._transitions) {
      const index = (t.source.transitions.get(t.eventType) ?? []).indexOf(t);
      const edge = this.m.byReal.get(realKey(t.source.id, t.eventType, index));
      if (edge === undefined) continue;
      const k = edgeKey(edge);
      this.transitions.add(k);
      this.taken.push(k);
      this.step.add(k);
      this.recent.add(k);
    }
  };
}

export async function runPath(m: MachineModel, h: Harness, path: ModelPath): Promise<PathResult> {
  const obs = new Observer(m);
  const skip = h.infeasible?.(path) ?? path.steps.map((st) => h.impossible?.(st.edge)).find((r) => r !== undefined);
  if (skip !== undefined) return { ok: true, skipped: skip, states: obs.states, transitions: obs.transitions, taken: obs.taken };
  const fail = (step: number, message: string): PathResult => ({ ok: false, failure: { path: path.description, step, message }, states: obs.states, transitions: obs.transitions, taken: obs.taken });
  let run: Run | undefined;
  const view = (index: number): StepView => ({ path, index, snapshot: run!.actor.getSnapshot(), recent: obs.recent });
  let at = -1;
  try {
    run = await h.start(path, obs.inspect);
    const first = path.steps[0];
    if (first !== undefined) await run.prepare?.(first.edge, view(-1));
    await settle();
    for (const id of activeIds(m.id, run.actor.getSnapshot().value)) obs.states.add(id);
    const signatures: string[] = [];
    const sign = () => {
      if (h.signature !== undefined) signatures.push(h.signature(run!.actor.getSnapshot()));
    };
    sign();
    const initialBad = await run.invariants(view(-1));
    if (initialBad.length) return fail(-1, `invariant: ${initialBad.join('; ')}`);
    for (let i = 0; i < path.steps.length; i++) {
      at = i;
      const step = path.steps[i]!;
      const next = path.steps[i + 1];
      const before = view(i);
      if (next !== undefined) await run.prepare?.(next.edge, { ...before, index: i + 1 });
      obs.step.clear();
      await run.perform(step.edge, before);
      const snap = run.actor.getSnapshot();
      if (snap.status === 'error') return fail(i, `machine errored on ${step.edge.type}: ${String(snap.error)}`);
      if (!sameValue(snap.value, step.value)) {
        const why = (snap.context as { error?: unknown; failure?: { message?: unknown } | null } | undefined) ?? {};
        const reason = why.error ?? why.failure?.message;
        return fail(i, `after ${step.edge.type} the machine is in ${JSON.stringify(snap.value)}, the model says ${JSON.stringify(step.value)}${reason ? ` (machine error: ${String(reason)})` : ''}`);
      }
      const k = edgeKey(step.edge);
      const taken = step.edge.targets.length === 0 ? obs.recent.has(k) : obs.step.has(k);
      if (!taken) return fail(i, `the machine reached ${JSON.stringify(snap.value)} without taking ${k} (took: ${[...obs.step].join(', ') || 'nothing'})`);
      sign();
      const bad = await run.invariants(view(i));
      if (bad.length) return fail(i, `invariant after ${step.edge.type}: ${bad.join('; ')}`);
    }
    return { ok: true, states: obs.states, transitions: obs.transitions, taken: obs.taken, ...(h.signature === undefined ? {} : { signatures }) };
  } catch (e) {
    if (e instanceof Infeasible) return { ok: true, skipped: `step ${at} (${path.steps[at]?.edge.type}): ${e.reason}`, states: obs.states, transitions: obs.transitions, taken: obs.taken };
    return fail(at, `harness error: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    if (run !== undefined) {
      run.actor.stop();
      await run.dispose();
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Gates: every effect of a machine (and of its children) waits until the runner says how it ends.

interface Gate {
  readonly input: unknown;
  /** Run the effect bound behind the gate. */
  run(): Promise<void>;
  resolve(output: unknown): void;
  reject(error: unknown): void;
}

type AnyFn = (input: unknown, signal: AbortSignal) => unknown;

export class Gates {
  private readonly pending = new Map<string, Gate>();
  /** Effect paths in the order they were invoked. */
  readonly started: string[] = [];

  /** Invoke `fn` behind the gate `path`: it runs (or is settled) when the runner says. */
  call(path: string, fn: AnyFn | undefined, input: unknown, signal: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const gate: Gate = {
          input,
          resolve,
          reject,
          run: async () => {
            try {
              if (fn === undefined) throw new Error(`no effect bound for ${path}`);
              resolve(await fn(input, signal));
            } catch (e) {
              reject(e);
            }
          },
        };
        this.pending.set(path, gate);
        this.started.push(path);
        signal.addEventListener('abort', () => {
          if (this.pending.get(path) === gate) this.pending.delete(path);
        });
    });
  }

  inputOf(path: string): unknown {
    return this.pending.get(path)?.input;
  }

  isPending(path: string): boolean {
    return this.pending.has(path);
  }

  pendingPaths(): string[] {
    return [...this.pending.keys()];
  }

  /** Run the pending invocation of `path` with its bound effect; false when none is waiting. */
  async release(path: string): Promise<boolean> {
    const g = this.pending.get(path);
    if (g === undefined) return false;
    this.pending.delete(path);
    await g.run();
    return true;
  }

  /** End the pending invocation of `path` with `how`; false when none is waiting. */
  settle(path: string, how: { readonly output: unknown } | { readonly error: unknown }): boolean {
    const g = this.pending.get(path);
    if (g === undefined) return false;
    this.pending.delete(path);
    if ('output' in how) g.resolve(how.output);
    else g.reject(how.error);
    return true;
  }
}

/** Op names of the port `src` of `machine` (from the replies its states handle). */
function portOps(machine: AnyStateMachine, src: string): string[] {
  const ops = new Set<string>();
  for (const e of deriveModel(machine).edges) if (e.actor === 'port' && e.src === src && (e.kind === 'done' || e.kind === 'error')) ops.add(e.trigger.slice(src.length + 1));
  return [...ops];
}

const unscripted = (path: string) => () => Promise.reject(new Error(`effect ${path} ran without a script`));

/** A tree of the machine's effects (children and ports included), each leaf made by `leaf(path)`. */
function effectTree(machine: AnyStateMachine, leaf: (path: string) => AnyFn, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [src, logic] of Object.entries(machine.implementations.actors as Readonly<Record<string, unknown>>)) {
    const path = `${prefix}${src}`;
    const kind = actorKind(machine, src);
    if (kind === 'machine') out[src] = effectTree(logic as AnyStateMachine, leaf, `${path}.`);
    else if (kind === 'port') out[src] = Object.fromEntries(portOps(machine, src).map((op) => [op, leaf(`${path}.${op}`)]));
    else out[src] = leaf(path);
  }
  return out;
}

/** Effects of the machine's shape (children and ports included) that only a gate's `settle` ends. */
export function stubEffects<M extends AnyStateMachine>(machine: M): EffectsOf<M> {
  const tree: object = effectTree(machine, unscripted);
  return tree as EffectsOf<M>;
}

/** The function at `path` of an effect tree, if any. */
function at(tree: object, path: string): AnyFn | undefined {
  let node: unknown = tree;
  for (const k of path.split('.')) node = typeof node === 'object' && node !== null ? (node as Readonly<Record<string, unknown>>)[k] : undefined;
  return typeof node === 'function' ? (node as AnyFn) : undefined;
}

/**
 * `machine` bound once to effects that go through `current()`'s gates to its effects: each path's run
 * swaps `current`, so the machine (and its children) is not rebuilt per path.
 */
export function gatedMachine<M extends AnyStateMachine>(machine: M, current: () => { readonly gates: Gates; readonly effects: object }): M {
  const tree: object = effectTree(machine, (path) => (input, signal) => {
    const c = current();
    return c.gates.call(path, at(c.effects, path), input, signal);
  });
  return bind(machine, tree as EffectsOf<M>);
}

// ---------------------------------------------------------------------------------------------------
// A harness over gated effects: scripted (outcomes from the path) or real (faults on a device).

/** An event a harness sends for an event edge (its payload as the machine's event type has it). */
export type ModelEvent = EventObject & Readonly<Record<string, unknown>>;

/** One effect completion a step asks for. */
export interface Completion {
  /** The effect's path (`writeStatus`, `cvqPort.awaitAcks`, `deviceLifecycle.readStatus`). */
  readonly path: string;
  readonly outcome: 'done' | 'error';
  /** The guard the outcome must satisfy (the step's, or the child's step a move stands for). */
  readonly guard: string | null;
  /** A named fault a harness makes happen (e.g. "nack", "other-features"), for moves of a child. */
  readonly fault?: string;
  /** The model step this completion belongs to. */
  readonly edge: ModelEdge;
}

export interface GatedBinding<M extends AnyStateMachine, TEnv> {
  readonly machine: M;
  env(path: ModelPath): TEnv | Promise<TEnv>;
  input(path: ModelPath, env: TEnv): unknown;
  /** The effects behind the gates (real ones, or `stubEffects`). */
  effects(env: TEnv): Partial<EffectsOf<M>>;
  /** Make one effect end as `c` says (release it after arming a fault, or settle it). */
  complete(c: Completion, gates: Gates, env: TEnv, view: StepView): Promise<void>;
  /**
   * The effect completions, in order, that make a child move so that the parent takes `edge` (a
   * snapshot edge, or the done / error edge of an invoked child machine); throw `Infeasible` when the
   * parent's context rules it out here.
   */
  moves?(edge: ModelEdge, view: StepView, env: TEnv, gates: Gates): Iterable<Completion>;
  /** Arrange the device one step before `edge` (its effect may run during the step before). */
  ahead?(edge: ModelEdge, env: TEnv, view: StepView): void;
  /** The event to send for an event edge (may act on the device first, e.g. inject NEEDS_RESET). */
  event?(edge: ModelEdge, env: TEnv, view: StepView): ModelEvent;
  invariants(view: StepView, env: TEnv): string[] | Promise<string[]>;
  infeasible?(path: ModelPath): string | undefined;
  readonly weights?: readonly ((edge: ModelEdge) => number)[];
  signature?(snapshot: AnyMachineSnapshot): string;
  impossible?(edge: ModelEdge): string | undefined;
  dispose?(env: TEnv): void | Promise<void>;
}

/** Evaluate a named delay of the machine in the current context (ms). */
export function delayMs(machine: AnyStateMachine, name: string, snapshot: AnyMachineSnapshot): number {
  const d = (machine.implementations.delays as Readonly<Record<string, unknown>>)[name];
  if (typeof d === 'number') return d;
  if (typeof d === 'function') return Number((d as (a: { context: unknown; event: unknown }) => unknown)({ context: snapshot.context, event: { type: 'xstate.after' } }));
  const n = Number(name);
  return Number.isFinite(n) ? n : 0;
}

/** (Long: one closure binds the gates, the effects and the path runner that share them.) */
export function gatedHarness<M extends AnyStateMachine, TEnv>(b: GatedBinding<M, TEnv>): Harness {
  let current: { gates: Gates; effects: object } | undefined;
  let bound: AnyStateMachine | undefined;
  return {
    machine: b.machine,
    ...(b.infeasible ? { infeasible: (p: ModelPath) => b.infeasible!(p) } : {}),
    ...(b.weights ? { weights: b.weights } : {}),
    ...(b.signature ? { signature: (s: AnyMachineSnapshot) => b.signature!(s) } : {}),
    ...(b.impossible ? { impossible: (e: ModelEdge) => b.impossible!(e) } : {}),
    async start(path, inspect) {
      const env = await b.env(path);
      const gates = new Gates();
      const clock = new SimulatedClock();
      const run = { gates, effects: b.effects(env) };
      current = run;
      bound ??= gatedMachine(b.machine, () => current!);
      const machine = bound;
      const input = b.input(path, env);
      let actor: Actor<AnyStateMachine> = createActor(machine, { input, clock, inspect });
      actor.start();
      const complete = async (c: Completion, view: StepView) => {
        if (!gates.isPending(c.path)) throw new Error(`effect ${c.path} is not running at step ${view.index} (running: ${gates.pendingPaths().join(', ') || 'none'})`);
        await b.complete(c, gates, env, view);
        await settle();
      };
      return {
        get actor() {
          return actor;
        },
        prepare(next, view) {
          b.ahead?.(next, env, view);
        },
        async perform(edge, view) {
          await settle();
          switch (edge.kind) {
            case 'event':
              actor.send(b.event?.(edge, env, view) ?? { type: edge.trigger });
              break;
            case 'after':
              clock.increment(delayMs(b.machine, edge.trigger, view.snapshot));
              break;
            case 'ready': {
              // the port answers `port.ready` only when restored: persist the machine, restore it in a
              // fresh actor (its effects re-bound, the port's pending request gone with the old actor)
              const persisted: Snapshot<unknown> = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()));
              actor.stop();
              actor = createActor(machine, { snapshot: persisted, input, clock, inspect });
              actor.start();
              break;
            }
            default: {
              if (edge.actor === 'machine' || edge.kind === 'snapshot') {
                // a targetless edge the machine took on its own since it entered this state (a child's
                // snapshot relayed while the parent took the step before) needs nothing more
                if (edge.targets.length === 0 && view.recent.has(edgeKey(edge))) break;
                if (b.moves === undefined) throw new Error(`no child moves for ${edge.type}`);
                const k = edgeKey(edge);
                for (const c of b.moves(edge, view, env, gates)) {
                  if (view.recent.has(k) && edge.targets.length === 0) break;
                  await complete(c, { ...view, snapshot: actor.getSnapshot() });
                }
                break;
              }
              await complete({ path: edge.trigger, outcome: edge.kind === 'error' ? 'error' : 'done', guard: edge.guard, edge }, view);
            }
          }
          await settle();
        },
        invariants: (view) => b.invariants(view, env),
        async dispose() {
          await b.dispose?.(env);
        },
      };
    },
  };
}
