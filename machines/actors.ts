/**
 * Typed placeholders for the machines' effects. A machine declares every effect as an actor in
 * `setup({ actors })` with one of these; `machine.provide({ actors })` binds the real implementation
 * (src/effects/) or a scripted one (src/mbt/). An unbound placeholder fails its invocation with an
 * error naming itself, so a forgotten binding shows up as the machine's error path, never as silence.
 */
import { fromPromise, type PromiseActorLogic } from 'xstate';

export class ActorNotProvided extends Error {
  constructor(readonly actor: string) {
    super(`actor "${actor}" is not provided: bind it with machine.provide({ actors: { ${actor} } })`);
    this.name = 'ActorNotProvided';
  }
}

export const placeholder = <TOutput, TInput = void>(name: string): PromiseActorLogic<TOutput, TInput> =>
  fromPromise<TOutput, TInput>(() => Promise.reject(new ActorNotProvided(name)));

/** The message of whatever an actor failed with (Error, a typed error value with `message`, or text). */
export function errorText(e: unknown): string {
  if (typeof e === 'string') return e;
  if (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string') {
    const op = (e as { op?: unknown }).op;
    const msg = (e as { message: string }).message;
    return typeof op === 'string' && !msg.includes(op) ? `${op}: ${msg}` : msg;
  }
  return String(e);
}
