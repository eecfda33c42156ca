/**
 * The device's accesses to driver buffers through an IOVA space, with the IOTLB permission each
 * region was mapped with (VHOST_ACCESS_RO / WO / RW; 0 = not an IOTLB region, e.g. a test's own space).
 * Allocation-free: the loopback copies every packet through here.
 */
import type { AddressSpace, Region } from '../../memory/address-space.js';
import type { Chain } from '../../ring/types.js';
import { VHOST_ACCESS_RO, VHOST_ACCESS_RW, VHOST_ACCESS_WO } from '../types.js';

export type RegionPerms = ReadonlyMap<Region, number>;

export const permName = (p: number): string => (p === VHOST_ACCESS_RW ? 'RW' : p === VHOST_ACCESS_WO ? 'WO' : 'RO');

/** A region the device may read: mapped RO or RW (0 = not an IOTLB region). */
export const readable = (perm: number): boolean => perm === 0 || (perm & VHOST_ACCESS_RO) !== 0;

/** A region the device may write: mapped WO or RW (0 = not an IOTLB region). */
export const writable = (perm: number): boolean => perm === 0 || (perm & VHOST_ACCESS_WO) !== 0;

/** Copy the first `len` readable bytes of `chain` into `dst`. Allocation-free for small segments. */
export function gather(space: AddressSpace, perms: RegionPerms, chain: Chain, dst: Uint8Array, len: number): boolean {
  let pos = 0;
  for (let i = 0; i < chain.outCount && pos < len; i++) {
    const a = chain.addr[i]!;
    const l = Math.min(chain.len[i]!, len - pos);
    if (l === 0) continue;
    const r = space.find(a, l);
    if (r === undefined || !readable(perms.get(r) ?? 0)) return false;
    const o = a - r.base;
    const src = r.bytes;
    if (l <= 256) for (let k = 0; k < l; k++) dst[pos + k] = src[o + k]!;
    else dst.set(src.subarray(o, o + l), pos);
    pos += l;
  }
  return true;
}

/**
 * Copy `len` bytes of `src` from `srcOff` into the writable segments of `chain` (as many as fit).
 * Returns the bytes written, or -1 when a segment is not device-writable.
 */
export function scatter(space: AddressSpace, perms: RegionPerms, chain: Chain, src: Uint8Array, srcOff: number, len: number): number {
  let pos = 0;
  for (let i = chain.outCount; i < chain.count && pos < len; i++) {
    const a = chain.addr[i]!;
    const l = Math.min(chain.len[i]!, len - pos);
    if (l === 0) continue;
    const r = space.find(a, l);
    if (r === undefined || !writable(perms.get(r) ?? 0)) return -1;
    const o = a - r.base;
    const dst = r.bytes;
    const from = srcOff + pos;
    if (l <= 256) for (let k = 0; k < l; k++) dst[o + k] = src[from + k]!;
    else dst.set(src.subarray(from, from + l), o);
    space.noteWrite(a, l);
    pos += l;
  }
  return pos;
}

/** Write one byte at `addr` if the device may; false otherwise. */
export function writeByte(space: AddressSpace, perms: RegionPerms, addr: number, v: number): boolean {
  const r = space.find(addr, 1);
  if (r === undefined || !writable(perms.get(r) ?? 0)) return false;
  r.bytes[addr - r.base] = v;
  space.noteWrite(addr, 1);
  return true;
}

/** Write byte `at` of the chain's writable part (it may sit in any segment). */
function putHeaderByte(space: AddressSpace, chain: Chain, at: number, v: number): void {
  let off = 0;
  for (let i = chain.outCount; i < chain.count; i++) {
    const l = chain.len[i]!;
    if (at < off + l) {
      const a = chain.addr[i]! + (at - off);
      const r = space.find(a, 1);
      if (r !== undefined) r.bytes[a - r.base] = v;
      return;
    }
    off += l;
  }
}

/** num_buffers: le16 at offset 10 of virtio_net_hdr_v1 (§5.1.6.4), wherever the chain put it. */
export function setNumBuffers(space: AddressSpace, chain: Chain, n: number): void {
  putHeaderByte(space, chain, 10, n & 0xff);
  putHeaderByte(space, chain, 11, n >>> 8);
}
