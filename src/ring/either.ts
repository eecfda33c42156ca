/**
 * fp-ts `Either` views of the ring interfaces for callers off the hot path (setup, control queues,
 * tests). The hot-path methods return `RingError` values instead, to stay allocation-free.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { AddressSpace } from '../memory/address-space.js';
import { isRingError, type Chain, type RingConfig, type RingDevice, type RingDriver, type RingError, type RingFactory, type Used } from './types.js';

const lift = <A>(x: A | RingError): E.Either<RingError, A> => (isRingError(x) ? E.left(x) : E.right(x));

export const makeDriverE = (f: RingFactory, space: AddressSpace, config: RingConfig, opts?: { indirectArea?: { addr: number; size: number } }): E.Either<RingError, RingDriver> =>
  lift(f.driver(space, config, opts));

export const makeDeviceE = (f: RingFactory, space: AddressSpace, config: RingConfig): E.Either<RingError, RingDevice> => lift(f.device(space, config));

/** Right(head / buffer id). */
export const addE = (d: RingDriver, chain: Chain, token: number, useIndirect = false): E.Either<RingError, number> => lift(d.add(chain, token, useIndirect));

/** Right(false) when nothing is used yet. */
export const reapE = (d: RingDriver, out: Used): E.Either<RingError, boolean> => lift(d.reap(out));

/** Right(false) when nothing is available. */
export const popE = (d: RingDevice, out: Chain): E.Either<RingError, boolean> => lift(d.pop(out));

export const pushE = (d: RingDevice, id: number, ringDescs: number, len: number): E.Either<RingError, void> => {
  const r = d.push(id, ringDescs, len);
  return r === undefined ? E.right(undefined) : E.left(r);
};
