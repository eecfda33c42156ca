/**
 * The bridge's single steps for the kernel driver's bring-up (the vhost-vdpa device's own status runs
 * through machines/device-lifecycle, in bridge.ts): at DRIVER_OK the kernel's queues read and their rings
 * mapped, the first shadow rings mapped and pointed at; the bounce area backed by this process's pages
 * once the kernel has made it.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Region } from '../../memory/address-space.js';
import { layoutOf, type RingBase, type RingConfig, type RingLayout } from '../../ring/index.js';
import { hasFeature } from '../../virtio/features.js';
import { deviceError, type DeviceError } from '../types.js';
import type { BridgeError, BridgeQueue } from './types.js';
import type { VduseDevice } from './device.js';
import type { DeviceLink } from './link.js';

/** Every ready queue of the kernel: VQ_GET_INFO, its rings mmap'ed and entered into `link`'s device, its kick eventfd. */
export function readKernelQueues(vduse: VduseDevice, link: DeviceLink, negotiated: bigint): E.Either<DeviceError, BridgeQueue[]> {
  const layout: RingLayout = hasFeature(negotiated, 'RING_PACKED') ? 'packed' : 'split';
  const qs: BridgeQueue[] = [];
  for (let qi = 0; qi < vduse.vqNum; qi++) {
    const info = vduse.vqInfo(qi);
    if (E.isLeft(info)) return info;
    const i = info.right;
    if (!i.ready) continue;
    const l = layoutOf(layout, i.num);
    for (const [a, n] of [[i.desc, l.desc.size], [i.driver, l.driver.size], [i.device, l.device.size]] as const) {
      const got = vduse.mapIova(a, n);
      if (E.isLeft(got)) return got;
      for (const m of got.right) {
        const r = link.expose(m);
        if (E.isLeft(r)) return r;
      }
    }
    const k = vduse.setupKickfd(qi);
    if (E.isLeft(k)) return k;
    const guest: RingConfig = {
      layout,
      size: i.num,
      addrs: { desc: i.desc, driver: i.driver, device: i.device },
      eventIdx: hasFeature(negotiated, 'EVENT_IDX'),
      indirect: hasFeature(negotiated, 'INDIRECT_DESC'),
    };
    qs.push({ qi, info: i, guest });
  }
  return E.right(qs);
}

/**
 * Fresh shadow rings of `size` entries for the kernel's queues, mapped and pointed at (the driver's
 * setup before DRIVER_OK, §3.1.1 step 7); the SVQs resume from the kernel rings' state (VQ_GET_INFO)
 * when started after DRIVER_OK. Right(the queue indices).
 */
export function firstShadowRings(link: DeviceLink, layout: RingLayout, qs: readonly BridgeQueue[], size: number): E.Either<BridgeError, readonly number[]> {
  const rings = link.rings;
  for (const q of qs) {
    const base: RingBase = layout === 'packed' ? q.info.packed : { availIdx: q.info.split.availIdx, availWrap: false, usedIdx: 0, usedWrap: false };
    rings.handovers.set(q.qi, { guestLayout: layout, guestSize: q.info.num, guestBase: base, inFlight: [], passthroughBase: undefined });
  }
  const queues = qs.map((q) => q.qi);
  // a restart of the kernel driver after a reset finds the rings of the last run still mapped
  for (let slot = 0; slot < rings.sets.length; slot++) {
    const u = rings.unmap(slot);
    if (E.isLeft(u)) return u;
  }
  rings.active = -1;
  const slot = rings.map(queues, size);
  if (E.isLeft(slot)) return slot;
  const p = rings.point(queues, slot.right);
  return E.isLeft(p) ? p : E.right(queues);
}

/**
 * The bounce area (streaming DMA, IOVA 0..bounce_size) appears in the VDUSE IOTLB with the driver's first
 * DMA mapping; no message announces it, so it is looked for when a kick comes and it is missing. It is
 * then backed by this process's shared memory (VDUSE_IOTLB_REG_UMEM) — memory vhost-vdpa can be given:
 * the kernel's own pages behind a VDUSE mmap are a VM_IO mapping, which vhost_vdpa_va_map silently
 * skips (the device would read nothing) — and entered into the IOVA tree and the IOTLB at IOVA = offset.
 * Right(undefined): no bounce area yet; Right(pages): backed by them (`have`, when of the right size).
 */
export function backBounce(vduse: VduseDevice, link: DeviceLink, have: Region | undefined): E.Either<DeviceError, Region | undefined> {
  const info = vduse.iotlbInfo(0, 0);
  if (E.isLeft(info)) return info.left.errno === 22 ? E.right(undefined) : info; // EINVAL: no bounce area yet
  if (!info.right.umemCapable || info.right.start !== 0) {
    return E.left(deviceError('unsupported', 'VDUSE_IOTLB_GET_INFO', `the region at IOVA 0 [0x${info.right.start.toString(16)}, 0x${info.right.last.toString(16)}] cannot take user memory`));
  }
  const size = info.right.last + 1;
  let pages = have;
  if (pages === undefined || pages.size !== size) {
    const r = link.dev.allocHost(size, 'vduse-bounce');
    if (E.isLeft(r)) return r;
    pages = r.right;
  }
  const m = vduse.registerUmem(pages.base, pages.buffer, pages.offset, size);
  if (E.isLeft(m)) {
    if (pages !== have) link.dev.freeHost(pages);
    return m;
  }
  const x = link.expose(m.right);
  return E.isLeft(x) ? x : E.right(pages);
}
