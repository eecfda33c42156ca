/**
 * A machine's effects as one long-lived child actor (an effect "port"), for machines whose protocol
 * steps come thousands of times per run (machines/cvq-command: one write and one ack wait per CVQ
 * round trip). Invoking a promise actor per step costs an actor (tens of µs in XState v5); a port is
 * invoked once, and each step is two events: the machine's request
 * `{ type: 'call', op, seq, input }` (sent on the requesting state's entry with `sendTo`), and the
 * port's reply `{ type: '<op>.done', seq, output }` or `{ type: '<op>.error', seq, error }`.
 *
 * An op may answer synchronously (a ring write: the reply is queued before the machine's current
 * step ends, no microtask) or asynchronously (waiting for a device call). A port restored from a
 * persisted snapshot (a controller restarted, perhaps in another process) says `{ type: 'port.ready' }`:
 * the state waiting for a reply then repeats its request with the same `seq` — the request it sent
 * before the restart went to a port that no longer exists. A port serves each `seq` once: a repeated
 * one gets the reply already given, or waits for the one being served.
 *
 * A request may carry `deadlineMs`: an op still unsettled that long after it started (at most twice
 * that) is answered `<op>.error` with an ETIMEDOUT error (`PortDeadline`) — the machine's backstop against
 * an effect that hangs, kept by the port with one scheduled event per deadline window rather than one per
 * request. The window runs on the actor system's clock (`createActor(…, { clock })`), so a test that holds
 * effects under a `SimulatedClock` decides when deadlines pass, not the wall clock.
 *
 * The port's effects are typed from the ops declared with the machine: `PortEffects<Ops>`.
 */
import { fromCallback, type CallbackActorLogic, type EventObject, type NonReducibleUnknown } from 'xstate';
import { ActorNotProvided } from './actors.js';

/**
 * An effect: one device operation, given its input and an abort signal. `site` names the invocation
 * (the invoking state's invoke id), for wrappers that must tell two invocations with the same input apart.
 */
export type Effect<I, O> = (input: I, signal: AbortSignal, site?: string) => Promise<O>;

/** Op name → its input and output. */
export type PortOps = Record<string, { readonly input: unknown; readonly output: unknown }>;

/** A request to the port: op, sequence number (unique per machine run), input. */
export type PortCall<O extends PortOps> = {
  [K in keyof O & string]: { readonly type: 'call'; readonly op: K; readonly seq: number; readonly input: O[K]['input']; readonly deadlineMs?: number };
}[keyof O & string];

/** The port's own deadline window ending (scheduled to itself on the system's clock). */
export type PortWindow = { readonly type: 'port.window' };

/** The error a port answers for an op that outlived its request's `deadlineMs`. */
export interface PortDeadline {
  readonly _tag: 'PortDeadline';
  readonly kind: 'timeout';
  readonly errno: 'ETIMEDOUT';
  readonly op: string;
  readonly message: string;
}

/** The port's replies. */
export type PortReply<O extends PortOps> =
  | { [K in keyof O & string]: { readonly type: `${K}.done`; readonly seq: number; readonly output: O[K]['output'] } }[keyof O & string]
  | { [K in keyof O & string]: { readonly type: `${K}.error`; readonly seq: number; readonly error: unknown } }[keyof O & string]
  | { readonly type: 'port.ready' };

/** What binds a port: per op, a function that may answer at once or later. */
export type PortEffects<O extends PortOps> = { readonly [K in keyof O]: (input: O[K]['input'], signal: AbortSignal) => O[K]['output'] | Promise<O[K]['output']> };

/**
 * The port's logic type. `ops` is a phantom: it carries the op types so that the effects of a
 * machine can be derived from its actor declarations (src/effects/contract.ts).
 */
export type PortLogic<O extends PortOps> = CallbackActorLogic<PortCall<O> | PortWindow, NonReducibleUnknown, EventObject> & { readonly port: true; readonly ops?: O };

/** Whether an actor logic is a port (placeholder or bound). */
export const isPort = (logic: unknown): boolean => typeof logic === 'object' && logic !== null && (logic as { port?: unknown }).port === true;

/** A port's placeholder: declared in `setup({ actors })`, fails loudly until bound. */
export function portPlaceholder<O extends PortOps>(name: string): PortLogic<O> {
  const logic = fromCallback<PortCall<O> | PortWindow>(() => {
    throw new ActorNotProvided(name);
  });
  return { ...logic, port: true };
}

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => typeof (v as { then?: unknown } | null)?.then === 'function';

/** `<op>.done` / `<op>.error`, made once per op name. */
const REPLY_NAMES = new Map<string, { readonly done: string; readonly error: string }>();
function replyNames(op: string): { readonly done: string; readonly error: string } {
  let n = REPLY_NAMES.get(op);
  if (n === undefined) REPLY_NAMES.set(op, (n = { done: `${op}.done`, error: `${op}.error` }));
  return n;
}

/**
 * The real port over `effects`: serves each `seq` once, replies in the machine's vocabulary. (Long: one
 * callback actor whose receive, watchdog and cleanup share the request in flight.)
 */
export function portOf<O extends PortOps>(effects: PortEffects<O>): PortLogic<O> {
  const logic = fromCallback<PortCall<O> | PortWindow>(({ sendBack, receive, input, self, system }) => {
    const ctl = new AbortController();
    // seq → its settled reply (kept until a newer seq arrives) or undefined while it runs
    let lastSeq = -1;
    let lastReply: EventObject | undefined;
    // the op in flight's name and deadline (0: none), and the window: scheduled, and the request that
    // was in flight when it began (still in flight when it ends: at least `bound` ms old)
    let lastOp = '';
    let bound = 0;
    let windowOpen = false;
    let windowSeq = -1;
    const openWindow = (): void => {
      windowOpen = true;
      windowSeq = lastSeq;
      system.scheduler.schedule(self, self, { type: 'port.window' }, bound, 'port.window');
    };
    const windowEnds = (): void => {
      windowOpen = false;
      if (lastReply !== undefined || bound === 0) return;
      if (lastSeq !== windowSeq) {
        openWindow();
        return;
      }
      const error: PortDeadline = { _tag: 'PortDeadline', kind: 'timeout', errno: 'ETIMEDOUT', op: lastOp, message: `ETIMEDOUT: ${lastOp} did not answer within ${bound} ms` };
      lastReply = { type: `${lastOp}.error`, seq: lastSeq, error } as EventObject;
      sendBack(lastReply);
    };
    // answer `seq` unless a newer request superseded it (no closure made per request: the hot path)
    function settle(seq: number, r: EventObject): void {
      if (seq !== lastSeq) return;
      lastReply = r;
      sendBack(r);
    }
    receive((call) => {
      if (call.type === 'port.window') {
        windowEnds();
        return;
      }
      if (call.type !== 'call') return;
      if (call.seq <= lastSeq) {
        // a repeated request (after port.ready): answer what was answered, or keep serving
        if (call.seq === lastSeq && lastReply !== undefined) sendBack(lastReply);
        return;
      }
      lastSeq = call.seq;
      lastReply = undefined;
      // each request has its own deadline (or none): an earlier one must not time this one out
      bound = 0;
      const seq = call.seq;
      const names = replyNames(call.op);
      let out: unknown;
      try {
        out = effects[call.op](call.input, ctl.signal);
      } catch (error) {
        settle(seq, { type: names.error, seq, error } as EventObject);
        return;
      }
      if (!isPromise(out)) {
        settle(seq, { type: names.done, seq, output: out } as EventObject);
        return;
      }
      out.then(
        (output) => settle(seq, { type: names.done, seq, output } as EventObject),
        (error: unknown) => settle(seq, { type: names.error, seq, error } as EventObject),
      );
      const op = call.op;
      if (call.deadlineMs === undefined || lastReply !== undefined) return;
      // an async op with a deadline: one window covers it (opened again when it ends early)
      lastOp = op;
      bound = call.deadlineMs;
      if (!windowOpen) openWindow();
    });
    if (typeof input === 'object' && input !== null && (input as { restored?: unknown }).restored === true) sendBack({ type: 'port.ready' });
    // (a stopped actor's scheduled events are cancelled by XState)
    return () => ctl.abort();
  });
  // a restored port is told so through its input (its persisted snapshot carries no other state)
  const restored = { status: 'active', output: undefined, error: undefined, input: { restored: true } } as const;
  return { ...logic, port: true, restoreSnapshot: () => restored };
}
