/**
 * Typed placeholders for the machines' effects. A machine declares every effect as an actor in
 * `setup({ actors })` with one of these; `machine.provide({ actors })` binds the real implementation
 * (src/effects/) or a scripted one (src/mbt/). An unbound placeholder fails its invocation with an
 * error naming itself, so a forgotten binding shows up as the machine's error path, never as silence.
 */
import { fromPromise, type AnyActorRef, type PromiseActorLogic, type StateValue } from 'xstate';

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

/** A state value as a dotted path of its active leaf: `{ enabling: 'mapping' }` → "enabling.mapping". */
export function phaseOf(value: StateValue): string {
  if (typeof value === 'string') return value;
  const [k, v] = Object.entries(value)[0] ?? ['?', undefined];
  return v === undefined ? k : `${k}.${phaseOf(v as StateValue)}`;
}

/**
 * An actor's failure named after the phase it failed in, e.g. "enabling.mapping: VHOST_IOTLB_UPDATE: …".
 * `self` is the machine; during the transition its snapshot is still the state that invoked the actor.
 */
export function failureIn(self: AnyActorRef, error: unknown): string {
  const snap = self.getSnapshot() as { value?: StateValue } | undefined;
  const text = errorText(error);
  return snap?.value === undefined ? text : `${phaseOf(snap.value)}: ${text}`;
}

/**
 * The error edge every effect invocation has: on failure go to `target` and record the error, named
 * after the phase it happened in (the machine's `recordError` action). `onError: failTo('#m.failed')`.
 */
export const failTo = <T extends string>(target: T) =>
  ({ target, actions: { type: 'recordError' as const, params: ({ event }: { event: { error: unknown } }) => ({ error: event.error }) } }) as const;
