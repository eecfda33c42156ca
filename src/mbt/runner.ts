/**
 * Runs model paths against a real machine (its real definition: guards, actions, invokes, delays),
 * with its effects supplied by a harness: scripted actors (src/mbt/scripts.ts) or the real effects on
 * the simulated device (src/mbt/sim.ts). At every step the machine must reach the state the model
 * predicts and the harness's invariants must hold; coverage counts what the real machine did.
 */
import { createActor, fromPromise, SimulatedClock, type Actor, type AnyActorLogic, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';
import { activeIds, type MachineModel, type ModelEdge } from './model.js';
import type { ModelPath } from './paths.js';

/** What one step may look at when choosing an event payload or an actor's output. */
export interface StepView {
  readonly path: ModelPath;
  /** Index of the step in `path.steps`. */
  readonly index: number;
  readonly snapshot: AnyMachineSnapshot;
}

/** One run of one path: a live actor plus the harness's way to make each model event happen. */
export interface Run {
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
  start(path: ModelPath): Run | Promise<Run>;
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
}

export const edgeKey = (e: ModelEdge): string => `${e.source} --${e.type}-->`;

const sameValue = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Let promise callbacks and the actor system run until nothing is left to do this turn. */
export const settle = (): Promise<void> => new Promise((r) => setImmediate(() => setImmediate(r)));

export async function runPath(m: MachineModel, h: Harness, path: ModelPath): Promise<PathResult> {
  const states = new Set<string>();
  const transitions = new Set<string>();
  const skip = h.infeasible?.(path);
  if (skip !== undefined) return { ok: true, skipped: skip, states, transitions };
  const fail = (step: number, message: string): PathResult => ({ ok: false, failure: { path: path.description, step, message }, states, transitions });
  let run: Run | undefined;
  try {
    run = await h.start(path);
    const first = path.steps[0];
    if (first !== undefined) await run.prepare?.(first.edge, { path, index: -1, snapshot: run.actor.getSnapshot() });
    await settle();
    for (const id of activeIds(m.id, run.actor.getSnapshot().value)) states.add(id);
    const initialBad = await run.invariants({ path, index: -1, snapshot: run.actor.getSnapshot() });
    if (initialBad.length) return fail(-1, `invariant: ${initialBad.join('; ')}`);
    for (let i = 0; i < path.steps.length; i++) {
      const step = path.steps[i]!;
      const next = path.steps[i + 1];
      const view = { path, index: i, snapshot: run.actor.getSnapshot() };
      if (next !== undefined) await run.prepare?.(next.edge, { ...view, index: i + 1 });
      await run.perform(step.edge, view);
      const snap = run.actor.getSnapshot();
      if (snap.status === 'error') return fail(i, `machine errored on ${step.edge.type}: ${String(snap.error)}`);
      if (!sameValue(snap.value, step.value)) {
        const why = (snap.context as { error?: unknown; failure?: { message?: unknown } | null } | undefined) ?? {};
        const reason = why.error ?? why.failure?.message;
        return fail(i, `after ${step.edge.type} the machine is in ${JSON.stringify(snap.value)}, the model says ${JSON.stringify(step.value)}${reason ? ` (machine error: ${String(reason)})` : ''}`);
      }
      transitions.add(edgeKey(step.edge));
      for (const id of activeIds(m.id, snap.value)) states.add(id);
      const bad = await run.invariants({ path, index: i, snapshot: snap });
      if (bad.length) return fail(i, `invariant after ${step.edge.type}: ${bad.join('; ')}`);
    }
    return { ok: true, states, transitions };
  } catch (e) {
    return fail(-1, `harness error: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    if (run !== undefined) {
      run.actor.stop();
      await run.dispose();
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Scripted actors: every invoked actor waits for the path to say how it ends.

interface Pending {
  readonly input: unknown;
  resolve(output: unknown): void;
  reject(error: unknown): void;
}

/** A stand-in for every actor of a machine: each invocation waits until the runner settles it. */
export class ActorScript {
  private readonly pending = new Map<string, Pending>();
  readonly started: string[] = [];

  logic(src: string): AnyActorLogic {
    return fromPromise<unknown, unknown>(
      ({ input, signal }) =>
        new Promise((resolve, reject) => {
          const p: Pending = { input, resolve, reject };
          this.pending.set(src, p);
          this.started.push(src);
          signal.addEventListener('abort', () => {
            if (this.pending.get(src) === p) this.pending.delete(src);
          });
        }),
    );
  }

  /** Actors for `machine.provide({ actors })`: one scripted stand-in per declared actor. */
  actorsFor(machine: AnyStateMachine): Record<string, AnyActorLogic> {
    const out: Record<string, AnyActorLogic> = {};
    for (const src of Object.keys(machine.implementations.actors)) out[src] = this.logic(src);
    return out;
  }

  inputOf(src: string): unknown {
    return this.pending.get(src)?.input;
  }

  isRunning(src: string): boolean {
    return this.pending.has(src);
  }

  settle(src: string, how: { output: unknown } | { error: unknown }): boolean {
    const p = this.pending.get(src);
    if (p === undefined) return false;
    this.pending.delete(src);
    if ('output' in how) p.resolve(how.output);
    else p.reject(how.error);
    return true;
  }
}

export interface Script<TInput = unknown> {
  readonly machine: AnyStateMachine;
  input(path: ModelPath): TInput;
  /** The event to send for an "event" edge (default `{ type: edge.trigger }`). */
  event?(edge: ModelEdge, view: StepView): EventObject;
  /** The output that makes a "done" edge's guards come out as the edge says. */
  output?(edge: ModelEdge, view: StepView, actorInput: unknown): unknown;
  /** The error an "error" edge's actor fails with (default an Error naming the fault). */
  error?(edge: ModelEdge, view: StepView): unknown;
  invariants?(view: StepView): string[];
  infeasible?(path: ModelPath): string | undefined;
}

/** Evaluate a named delay of the machine in the current context (ms). */
export function delayMs(machine: AnyStateMachine, name: string, snapshot: AnyMachineSnapshot): number {
  const d = (machine.implementations.delays as Record<string, unknown>)[name];
  if (typeof d === 'number') return d;
  if (typeof d === 'function') return Number((d as (a: { context: unknown; event: unknown }) => unknown)({ context: snapshot.context, event: { type: 'xstate.after' } }));
  const n = Number(name);
  return Number.isFinite(n) ? n : 0;
}

export interface ScriptedHarness extends Harness {
  /** The script, so a variant (another machine, another output) can be built from it. */
  readonly script: Script<unknown>;
}

/** A harness whose actors are scripted by the path itself, on a simulated clock. */
export function scriptedHarness<TInput>(script: Script<TInput>): ScriptedHarness {
  return {
    script: script as Script<unknown>,
    machine: script.machine,
    ...(script.infeasible ? { infeasible: (p: ModelPath) => script.infeasible!(p) } : {}),
    start(path) {
      const actors = new ActorScript();
      const clock = new SimulatedClock();
      const machine = script.machine.provide({ actors: actors.actorsFor(script.machine) } as never);
      const actor = createActor(machine, { input: script.input(path), clock }) as Actor<AnyStateMachine>;
      actor.start();
      return {
        actor,
        async perform(edge, view) {
          await settle();
          switch (edge.kind) {
            case 'event':
              actor.send(script.event?.(edge, view) ?? { type: edge.trigger });
              break;
            case 'done': {
              const output = script.output?.(edge, view, actors.inputOf(edge.trigger));
              if (!actors.settle(edge.trigger, { output })) throw new Error(`actor ${edge.trigger} is not running at step ${view.index}`);
              break;
            }
            case 'error':
              if (!actors.settle(edge.trigger, { error: script.error?.(edge, view) ?? new Error(`injected fault in ${edge.trigger}`) })) {
                throw new Error(`actor ${edge.trigger} is not running at step ${view.index}`);
              }
              break;
            case 'after':
              clock.increment(delayMs(script.machine, edge.trigger, view.snapshot));
              break;
          }
          await settle();
        },
        invariants: (view) => script.invariants?.(view) ?? [],
        dispose() {},
      };
    },
  };
}
