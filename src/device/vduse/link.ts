/**
 * The bridge's hold on one vhost-vdpa device: its IOVA tree and view, the VDUSE memory entered into its
 * IOTLB (the kernel's rings through their mmaps, the bounce area through this process's pages), and the
 * shadow rings with the SVQs on them (src/effects/svq-relayout.ts `ShadowRingSets`). A migration builds a
 * second link on the next device and retires the first. Each method is one device operation, or the
 * undoing of one (a teardown).
 *
 * IOVAs are the same on both sides (identity in the IOVA tree and the vhost-vdpa IOTLB; page 0 left
 * out, VDUSE never hands it out), so the SVQ's translation is the identity; the shadow rings live at
 * `SHADOW_IOVA` and `SHADOW_IOVA + SHADOW_SET_STRIDE` (far above any VDUSE region).
 */
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace, PAGE_SIZE, type Region } from '../../memory/address-space.js';
import type { RingConfig } from '../../ring/types.js';
import { IovaTree, isIovaTreeError } from '../../svq/iova-tree.js';
import { ShadowRingSets } from '../../effects/svq-relayout.js';
import { backendMask, deviceError, type DeviceError } from '../types.js';
import type { VhostVdpaDevice } from '../vhost-vdpa/device.js';
import type { IotlbMapping } from './device.js';

/** IOVA of the first shadow-ring set in the vhost-vdpa device (far above any VDUSE region). */
export const SHADOW_IOVA = 2 ** 40;
/** IOVA distance between the two shadow-ring sets. */
export const SHADOW_SET_STRIDE = 2 ** 30;

/** vhost-vdpa devices this process has SET_OWNER'ed (VHOST_SET_OWNER a second time is EBUSY). */
const owned = new WeakSet<VhostVdpaDevice>();

interface Entered {
  readonly iova: number;
  readonly size: number;
  readonly uaddr: number;
  /** A VDUSE mmap entered into the device's host space by this link (the bounce pages are the device's own). */
  readonly own: boolean;
}

export interface LinkHooks {
  guest(qi: number): { readonly space: AddressSpace; readonly config: RingConfig } | undefined;
  callGuest(qi: number): void;
  onError(e: DeviceError): void;
}

export class DeviceLink {
  readonly tree = new IovaTree({ first: 0, last: Number.MAX_SAFE_INTEGER });
  /** The device's IOVA view of the shadow rings. */
  readonly view = new AddressSpace('iova:shadow');
  readonly rings: ShadowRingSets;
  /** VDUSE regions entered into the device (by VDUSE IOVA start). */
  readonly entered = new Map<number, Entered>();
  backend = 0n;

  constructor(
    readonly dev: VhostVdpaDevice,
    hooks: LinkHooks,
  ) {
    this.rings = new ShadowRingSets({
      name: 'vduse',
      dev,
      asid: 0,
      tree: this.tree,
      view: this.view,
      bufferMap: 'gpa',
      iova: [SHADOW_IOVA, SHADOW_IOVA + SHADOW_SET_STRIDE],
      guest: hooks.guest,
      callGuest: hooks.callGuest,
      onKickError: hooks.onError,
    });
  }

  /** Open the device for the bridge: SET_OWNER (once in its life), backend features. */
  own(): E.Either<DeviceError, void> {
    const v = this.dev;
    if (!owned.has(v)) {
      const o = v.setOwner();
      if (E.isLeft(o)) return o;
      owned.add(v);
    }
    const offered = v.getBackendFeatures();
    if (E.isLeft(offered)) return offered;
    this.backend = offered.right & backendMask(['IOTLB_MSG_V2', 'IOTLB_BATCH', 'SUSPEND', 'RESUME', 'IOTLB_PERSIST']);
    return v.setBackendFeatures(this.backend);
  }

  get canSuspend(): boolean {
    return (this.backend & backendMask(['SUSPEND'])) !== 0n;
  }

  /** Enter a VDUSE mapping into the IOVA tree and the IOTLB at its own IOVA (page 0 left out). */
  expose(m: IotlbMapping): E.Either<DeviceError, void> {
    if (this.entered.has(m.start)) return E.right(undefined);
    const iova = Math.max(m.start, PAGE_SIZE);
    if (m.last < iova) return E.right(undefined);
    const size = m.last - iova + 1;
    const uaddr = m.uaddr + (iova - m.start);
    // user bounce memory is the device's own host memory already; a VDUSE mmap enters it here
    const own = !m.umem;
    if (own) {
      const h = this.dev.host.addRegion(m.uaddr, m.region.buffer, { offset: m.region.offset, size: m.region.size, name: `vduse@0x${m.start.toString(16)}` });
      if (E.isLeft(h)) return E.left(deviceError('invalid', 'bridge', h.left.message));
    }
    const t = this.tree.insert('gpa', iova, { translatedAddr: iova, size: size - 1, perm: m.perm });
    if (isIovaTreeError(t)) {
      if (own) this.dev.host.removeRegion(m.uaddr);
      return E.left(deviceError('iotlb', 'iova-tree', t.message));
    }
    const u = this.dev.iotlbUpdate(0, iova, size, uaddr, m.perm);
    if (E.isLeft(u)) {
      this.tree.remove(iova);
      if (own) this.dev.host.removeRegion(m.uaddr);
      return u;
    }
    this.entered.set(m.start, { iova, size, uaddr, own });
    return E.right(undefined);
  }

  /** Take VDUSE mapping `m` (dropped by the kernel's IOTLB update) out of the device. */
  invalidate(m: IotlbMapping): E.Either<DeviceError, void> {
    const e = this.entered.get(m.start);
    if (e === undefined) return E.right(undefined);
    this.entered.delete(m.start);
    this.tree.remove(e.iova);
    if (e.own) this.dev.host.removeRegion(m.uaddr);
    return this.dev.iotlbInvalidate(0, e.iova, e.size);
  }

  /** The bounce pages (allocated from the first device's host memory) into this device's host space. */
  adoptBounce(b: Region, from: DeviceLink): E.Either<DeviceError, Region> {
    from.dev.host.removeRegion(b.base);
    const r = this.dev.host.addRegion(b.base, b.buffer, { offset: b.offset, size: b.size, name: b.name });
    return E.isLeft(r) ? E.left(deviceError('invalid', 'bounce', r.left.message)) : r;
  }

  /**
   * Teardown (the bridge leaves the device, or closes): reset it, take every VDUSE region and both ring
   * sets out of its IOTLB (IOTLB_PERSIST keeps them across the reset) and free the rings. The device stays
   * open for its owner. `mappingOf` finds a region's current VDUSE mapping. Returns the first error.
   */
  retire(mappingOf: (start: number) => IotlbMapping | undefined): E.Either<DeviceError, void> {
    this.rings.stopAll();
    const errs: DeviceError[] = [];
    const note = (r: E.Either<DeviceError, unknown>) => void (E.isLeft(r) && errs.push(r.left));
    note(this.dev.setStatus(0));
    for (const [start, e] of this.entered) {
      note(this.dev.iotlbInvalidate(0, e.iova, e.size));
      const m = mappingOf(start);
      if (e.own && m !== undefined) this.dev.host.removeRegion(m.uaddr);
    }
    this.entered.clear();
    note(this.rings.release());
    return errs.length > 0 ? E.left(errs[0]!) : E.right(undefined);
  }
}
