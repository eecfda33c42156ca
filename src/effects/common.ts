/**
 * Effects are plain async functions `(input, signal) => Promise<output>` per actor name; a machine
 * gets them as actors with `machine.provide({ actors: toActors(effects) })`. Keeping them functions
 * lets the model-based runner gate each invocation (src/mbt/sim.ts) without a second implementation.
 * A failed effect rejects with the typed error value of the layer that failed (DeviceError, SvqError …).
 */
import * as E from 'fp-ts/lib/Either.js';
import { fromPromise, type AnyActorLogic } from 'xstate';

export type Effect<I, O> = (input: I, signal: AbortSignal) => Promise<O>;
export type Effects = Record<string, Effect<never, unknown>>;

/** Bind effects as promise actors, one per name. */
export function toActors<T extends Effects>(effects: T): { [K in keyof T]: AnyActorLogic } {
  const out = {} as { [K in keyof T]: AnyActorLogic };
  for (const k of Object.keys(effects) as (keyof T)[]) {
    const fn = effects[k] as unknown as Effect<unknown, unknown>;
    out[k] = fromPromise<unknown, unknown>(({ input, signal }) => fn(input, signal));
  }
  return out;
}

/** Right → the value; Left → a rejection with the error value itself. */
export const orReject = <L, R>(e: E.Either<L, R>): Promise<R> => (E.isRight(e) ? Promise.resolve(e.right) : Promise.reject(e.left));

export interface AbortedError {
  readonly _tag: 'Aborted';
  readonly message: string;
}
export const aborted = (op: string): AbortedError => ({ _tag: 'Aborted', message: `${op}: cancelled` });
