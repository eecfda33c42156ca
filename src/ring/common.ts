/**
 * Pieces both ring layouts share: the event-index test, ring areas resolved to a region view, and the
 * per-segment checks a device makes while flattening a chain.
 */
import type { AddressSpace } from '../memory/address-space.js';
import { MAX_QUEUE_SIZE, VRING_DESC_F_WRITE, type Chain, type RingRule } from './types.js';

/**
 * `vring_need_event` (linux/virtio_ring.h; virtio 1.2 §2.7.10): notify when `event` lies in the
 * half-open window [old, new) of 16-bit indices that this round of adds/pushes moved across.
 */
export function vringNeedEvent(event: number, newIdx: number, old: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - old) & 0xffff);
}

/**
 * A ring area resolved once to the region that holds all of it, as a DataView of exactly the area:
 * offsets in the hot paths then start at 0 and stay small integers, whatever the area's address
 * (an offset inside a region at 4 GiB would otherwise turn every index computation into doubles).
 */
export interface Area {
  readonly view: DataView;
  /** Address of the area in its space (for `noteWrite`). */
  readonly addr: number;
}

export function resolveArea(space: AddressSpace, addr: number, size: number): Area | undefined {
  if (!Number.isSafeInteger(addr) || addr < 0) return undefined;
  const r = space.find(addr, size);
  return r === undefined ? undefined : { view: new DataView(r.buffer, r.offset + (addr - r.base), size), addr };
}

export const isPowerOfTwo = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

export const validQueueSize = (n: number, powerOfTwo: boolean): boolean =>
  Number.isInteger(n) && n >= 1 && n <= MAX_QUEUE_SIZE && (!powerOfTwo || isPowerOfTwo(n));

/**
 * Add one descriptor to the flattened chain the device is building, with the checks every descriptor
 * gets (vringh `__vringh_iov`, QEMU `virtqueue_map_desc`): the address fits a number (`addr` is -1
 * otherwise), the buffer lies inside one region, readable descriptors come before writable ones
 * (§2.7.4.2), the chain's total length stays a u32, and the caller's Chain has room.
 * Returns the violated rule or `undefined`. Allocation-free.
 */
export function takeSegment(space: AddressSpace, out: Chain, addr: number, len: number, flags: number): RingRule | undefined {
  if (addr < 0 || !space.contains(addr, len)) return 'buffer-unmapped';
  const writable = (flags & VRING_DESC_F_WRITE) !== 0;
  if (!writable && out.count !== out.outCount) return 'readable-after-writable';
  if (out.outBytes + out.inBytes + len > 0xffffffff) return 'length-overflow';
  if (!out.push(addr, len, writable)) return 'chain-too-long';
  return undefined;
}
