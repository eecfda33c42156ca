/**
 * The machine ⇄ effects contract, derived from the machines themselves.
 *
 * Every machine declares its effects as actors in `setup({ actors })`: promise placeholders
 * (machines/actors.ts), ports (machines/port.ts) and child machines. `EffectsOf<typeof machine>` is
 * the type of what binds them — per promise actor an `Effect<Input, Output>`, per port its ops, per
 * child machine that machine's own `EffectsOf` — so a binding that returns the wrong output, takes
 * the wrong input or forgets a child fails `tsc` (test/machines/contract.typecheck.ts proves it).
 * `bind(machine, effects)` provides them, recursively into the children, with no cast at the call site.
 */
import { fromPromise, type AnyActorLogic, type AnyStateMachine, type PromiseActorLogic } from 'xstate';
import { isPort, portOf, type Effect, type PortEffects, type PortLogic, type PortOps } from './port.js';

/** A machine's declared actors: src → logic. */
export type ActorsOf<M extends AnyStateMachine> = NonNullable<NonNullable<Parameters<M['provide']>[0]>['actors']>;

/** What binds one declared actor. */
export type EffectOf<L> =
  L extends { readonly port: true; readonly ops?: infer O extends PortOps }
    ? PortEffects<O>
    : L extends AnyStateMachine
      ? EffectsOf<L>
      : L extends PromiseActorLogic<infer Out, infer In, infer _Emitted>
        ? Effect<In, Out>
        : never;

/** What binds every actor a machine declares (its children's effects nested under their src). */
export type EffectsOf<M extends AnyStateMachine> = { readonly [K in keyof ActorsOf<M>]-?: EffectOf<NonNullable<ActorsOf<M>[K]>> };

const isMachine = (l: unknown): l is AnyStateMachine =>
  typeof l === 'object' && l !== null && typeof (l as { provide?: unknown }).provide === 'function' && typeof (l as { root?: unknown }).root === 'object';

/** Actor logic for each effect given, by the kind of actor the machine declared under that name. */
function actorsFor(machine: AnyStateMachine, effects: Readonly<Record<string, unknown>>): Record<string, AnyActorLogic> {
  const declared = (machine.implementations.actors ?? {}) as Readonly<Record<string, unknown>>;
  const out: Record<string, AnyActorLogic> = {};
  for (const [src, fx] of Object.entries(effects)) {
    if (fx === undefined) continue;
    const d = declared[src];
    if (d === undefined) throw new TypeError(`machine "${machine.id}" declares no actor "${src}"`);
    if (isMachine(d)) out[src] = d.provide({ actors: actorsFor(d, fx as Readonly<Record<string, unknown>>) });
    else if (isPort(d)) out[src] = portOf(fx as PortEffects<PortOps>) satisfies PortLogic<PortOps>;
    else {
      const f = fx as Effect<unknown, unknown>;
      out[src] = fromPromise<unknown, unknown>(({ input, signal, self }) => f(input, signal, self.id));
    }
  }
  return out;
}

/** Bound machines by effects object, then machine: binding (XState's `provide`) builds a whole machine. */
const BOUND = new WeakMap<object, WeakMap<AnyStateMachine, AnyStateMachine>>();

/**
 * `machine` with its effects bound (any left out stay placeholders that fail loudly), and `replace`
 * winning over them: any logic of the declared type (a scripted actor, a gate, another machine).
 * Without `replace`, the same effects object binds a machine once: a caller that runs many short
 * flushes (a serial CVQ restore per device) pays for `provide` once, not per run — a bound machine is
 * a definition, each actor made from it has its own state.
 */
export function bind<M extends AnyStateMachine>(machine: M, effects: Partial<EffectsOf<M>>, replace: Partial<ActorsOf<M>> = {}): M {
  const memo = Object.keys(replace).length === 0;
  const hit = memo ? BOUND.get(effects)?.get(machine) : undefined;
  if (hit !== undefined) return hit as M;
  const actors = { ...actorsFor(machine, effects), ...(replace as Readonly<Record<string, AnyActorLogic>>) };
  const bound = machine.provide({ actors } as Parameters<M['provide']>[0]) as M;
  if (memo) (BOUND.get(effects) ?? BOUND.set(effects, new WeakMap()).get(effects)!).set(machine, bound);
  return bound;
}
