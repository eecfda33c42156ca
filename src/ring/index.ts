/**
 * The ring layer: split (virtio 1.2 §2.7) and packed (§2.8) virtqueues behind one driver-side and one
 * device-side interface. Upper layers import from here.
 */
import { packedRing } from './packed.js';
import { splitRing } from './split.js';
import type { RingAddrs, RingBase, RingFactory, RingLayout } from './types.js';

export * from './types.js';
export { splitRing, SplitDriver, SplitDevice, splitLayoutOf } from './split.js';
export { packedRing, PackedDriver, PackedDevice, packedLayoutOf } from './packed.js';
export { vringNeedEvent } from './common.js';
export * from './either.js';

export const ringFactory = (layout: RingLayout): RingFactory => (layout === 'split' ? splitRing : packedRing);

/** Bytes and alignment of each area of a `layout` queue of `size` entries. */
export const layoutOf = (layout: RingLayout, size: number) => ringFactory(layout).layoutOf(size);

const alignUp = (x: number, a: number): number => Math.ceil(x / a) * a;

/**
 * Lay a ring out from `base` upwards: descriptor area, then driver area, then device area, each at its
 * alignment (split 16/2/4, packed 16/4/4). Returns the addresses and the first byte after the ring.
 * Pass `deviceAlign` (e.g. 4096, as legacy virtio and QEMU SVQ do) to start the device area on its own
 * page, so the device's writes never share a page with the driver's.
 */
export function placeRing(layout: RingLayout, size: number, base: number, opts: { deviceAlign?: number } = {}): { addrs: RingAddrs; end: number } {
  const l = layoutOf(layout, size);
  const desc = alignUp(base, l.desc.align);
  const driver = alignUp(desc + l.desc.size, l.driver.align);
  const device = alignUp(driver + l.driver.size, Math.max(l.device.align, opts.deviceAlign ?? 1));
  return { addrs: { desc, driver, device }, end: device + l.device.size };
}

/**
 * vhost's `struct vhost_vring_state.num` for VHOST_{GET,SET}_VRING_BASE. Split: last_avail_idx.
 * Packed: `last_avail_idx | avail_wrap << 15 | last_used_idx << 16 | used_wrap << 31`.
 */
export function encodeBase(layout: RingLayout, b: RingBase): number {
  if (layout === 'split') return b.availIdx & 0xffff;
  return ((b.availIdx & 0x7fff) | (b.availWrap ? 0x8000 : 0) | ((b.usedIdx & 0x7fff) << 16) | (b.usedWrap ? 0x80000000 : 0)) >>> 0;
}

export function decodeBase(layout: RingLayout, v: number): RingBase {
  if (layout === 'split') return { availIdx: v & 0xffff, availWrap: false, usedIdx: 0, usedWrap: false };
  return { availIdx: v & 0x7fff, availWrap: (v & 0x8000) !== 0, usedIdx: (v >>> 16) & 0x7fff, usedWrap: (v & 0x80000000) !== 0 };
}
