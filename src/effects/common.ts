/**
 * Effects are plain async functions `(input, signal) => Promise<output>` per actor name (`Effect`, the
 * machines' own type: machines/port.ts); a machine gets them bound with `bind(machine, effects)`
 * (machines/contract.ts), typed from its actor declarations. Keeping them functions lets the
 * model-based runner gate each invocation (src/mbt/sim.ts) without a second implementation.
 * A failed effect rejects with the typed error value of the layer that failed (DeviceError, SvqError …).
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Effect } from '../../machines/port.js';

export type { Effect };
export type Effects = Record<string, Effect<never, unknown>>;


/** Right → the value; Left → a rejection with the error value itself. */
export const orReject = <L, R>(e: E.Either<L, R>): Promise<R> => (E.isRight(e) ? Promise.resolve(e.right) : Promise.reject(e.left));

export interface AbortedError {
  readonly _tag: 'Aborted';
  readonly message: string;
}
export const aborted = (op: string): AbortedError => ({ _tag: 'Aborted', message: `${op}: cancelled` });
