/**
 * Pieces both ring layouts share: the descriptor size, the event-index test, ring areas and the
 * driver's indirect-table area resolved to region views, and the per-segment checks a device makes
 * while flattening a chain.
 */
import type { AddressSpace } from '../memory/address-space.js';
import { MAX_QUEUE_SIZE, VRING_DESC_F_WRITE, type Chain, type RingConfig, type RingError, type RingRule } from './types.js';

/** A descriptor is 16 bytes in both layouts (struct vring_desc, struct vring_packed_desc). */
export const DESC_SIZE = 16;
/** Indirect table entries per chain at most (a table's byte length must fit the descriptor's le32 len). */
const MAX_INDIRECT = 0x0fffffff;

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

/**
 * The driver's indirect-table area (§2.7.5.3, §2.8.19): 16-byte aligned and mapped, carved into one
 * table per ring slot of `cap` entries. Undefined when indirect descriptors are off, none was given,
 * or it holds less than one entry per slot (the driver then never goes indirect).
 */
export function resolveIndirectArea(
  space: AddressSpace,
  config: RingConfig,
  ia: { addr: number; size: number } | undefined,
  fail: (rule: RingRule, message: string) => RingError,
): { area: Area; cap: number } | undefined | RingError {
  if (ia === undefined || !config.indirect) return undefined;
  if (ia.addr % 16 !== 0) return fail('ring-misaligned', `indirect area 0x${ia.addr.toString(16)} is not 16-byte aligned`);
  const area = resolveArea(space, ia.addr, ia.size);
  if (area === undefined) return fail('ring-unmapped', `indirect area 0x${ia.addr.toString(16)} (+${ia.size}) is not in ${space.name}`);
  const cap = Math.floor(ia.size / (config.size * DESC_SIZE));
  return cap >= 1 ? { area, cap: Math.min(cap, MAX_INDIRECT) } : undefined;
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
