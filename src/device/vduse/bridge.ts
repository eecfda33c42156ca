/**
 * The VDUSE ⇄ vhost-vdpa bridge: a kernel virtio driver (virtio_vdpa → virtio_net, an ethX) drives the
 * rings of a VDUSE device this process serves, and shadowvq's SVQ forwards them onto a vhost-vdpa device
 * (vdpa_sim_net in the test guest), as QEMU's SVQ forwards a guest's rings:
 *
 *   kernel virtio_net ─▶ VDUSE rings (IOVA, mmap'ed) ◀─RingDevice─ SVQ ─RingDriver─▶ shadow ring ─▶ vhost-vdpa
 *                     ◀─ VDUSE_VQ_INJECT_IRQ ◀──────────────────── SVQ ◀── call eventfd ◀──────────┘
 *
 * The SVQ's guest side is the VDUSE ring, split or packed as the kernel negotiated; the shadow side is
 * split (vdpa_sim_net takes split only). Memory: the kernel's rings are read through VDUSE_IOTLB_GET_FD
 * mmaps; the bounce area (where every streaming-DMA buffer lives) is backed by this process's shared
 * pages (VDUSE_IOTLB_REG_UMEM), the only VDUSE memory a vhost-vdpa device can be given. IOVAs are the
 * same on both devices (identity in the IOVA tree and the vhost-vdpa IOTLB; page 0 left out, VDUSE never
 * hands it out), so the SVQ's translation is the identity; the shadow rings live at `SHADOW_IOVA`.
 *
 * Live changes, each a hand-over of the SVQs (SUSPEND → stop → reset and re-negotiate → bring up from the
 * hand-over's position, in-flight chains forwarded first, never twice: the suspended device has used
 * everything it consumed): `switchTo('shadow')` moves to the other shadow-ring set (the device's ring
 * size, then half of it: a shadow ring smaller than the kernel's exercises the SVQ's stash), and
 * `migrateTo(dev)` moves the whole bridge onto another vhost-vdpa device. Passthrough is refused with the
 * reason (NO_PASSTHROUGH): the kernel's rings cannot be given to a vhost-vdpa device.
 *
 * Nothing blocks: `start()` runs a pump on the event loop (control messages, kicks, calls; poll(2) at
 * most 1 ms when idle), so the messages the kernel sends while `vdpa dev add` / a bind / `vdpa dev del`
 * run in child processes are answered in time.
 */
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace, PAGE_SIZE, type Region } from '../../memory/address-space.js';
import { layoutOf, placeRing, type RingBase, type RingConfig, type RingLayout } from '../../ring/index.js';
import { IovaTree, isIovaTreeError } from '../../svq/iova-tree.js';
import { isSvqError, ShadowVirtqueue, type SvqError, type SvqHandover } from '../../svq/shadow-virtqueue.js';
import { F, FEATURE_REQUIREMENTS, hasFeature } from '../../virtio/features.js';
import { VIRTIO_CONFIG_S } from '../../virtio/status.js';
import { backendMask, deviceError, VHOST_ACCESS_RW, type DeviceError } from '../types.js';
import { EAGAIN, EINTR, libc, POLLIN, type Libc } from '../vhost-vdpa/libc.js';
import type { VhostVdpaDevice } from '../vhost-vdpa/device.js';
import { VduseDevice, type IotlbMapping, type VduseHandlers } from './device.js';
import type { VqInfo, VqState } from './uapi.js';

/** IOVA of the shadow rings in the vhost-vdpa device (far above any VDUSE region). */
export const SHADOW_IOVA = 2 ** 40;
/** IOVA distance between the two shadow-ring sets. */
const SHADOW_SET_STRIDE = 2 ** 30;

/** vhost-vdpa devices this process has SET_OWNER'ed (VHOST_SET_OWNER a second time is EBUSY). */
const owned = new WeakSet<VhostVdpaDevice>();

/** Bytes of one split shadow ring of `size` entries (device area on its own page), rounded to pages. */
const ringBytes = (size: number): number => Math.ceil(placeRing('split', size, 0, { deviceAlign: PAGE_SIZE }).end / PAGE_SIZE) * PAGE_SIZE;

/**
 * Why the bridge has no passthrough mode: the kernel's rings live in VDUSE's coherent IOVA area, reachable
 * only through an mmap of the "[vduse-domain]" file, and vduse_domain_mmap marks that VMA VM_IO;
 * vhost_vdpa_va_map (vdpa_sim's use_va mode) skips VM_IO | VM_PFNMAP VMAs without an error, and
 * vhost_vdpa_pa_map cannot pin them either, so a vhost-vdpa device pointed at the kernel's rings would read
 * nothing. Only the bounce area can be given user memory (VDUSE_IOTLB_REG_UMEM); the rings cannot.
 */
export const NO_PASSTHROUGH =
  'passthrough impossible: the kernel driver\'s rings are in the VDUSE coherent area, mapped only as a VM_IO VMA ([vduse-domain] mmap), which vhost_vdpa_va_map skips (vhost_vdpa_pa_map cannot pin it); only the bounce area takes user memory (VDUSE_IOTLB_REG_UMEM)';
/** Longest the idle pump blocks the event loop in poll(2). */
export const PUMP_SLICE_MS = 1;

export type BridgeMode = 'shadow' | 'passthrough';
export type BridgeError = DeviceError | SvqError;

/**
 * The features the VDUSE device offers for a vdpa device's: CTRL_VQ and everything that needs it removed
 * (VDUSE refuses a net device with CTRL_VQ; Linux's virtnet_validate_features refuses a feature whose
 * requirement is missing), VERSION_1 and ACCESS_PLATFORM added (VDUSE requires both), RING_PACKED when asked.
 */
export function vduseFeaturesFor(vdpaFeatures: bigint, packed: boolean): bigint {
  let f = (vdpaFeatures & ~F.CTRL_VQ & ~F.RING_PACKED) | F.VERSION_1 | F.ACCESS_PLATFORM;
  for (let changed = true; changed; ) {
    changed = false;
    for (const [feature, requires] of FEATURE_REQUIREMENTS) {
      if (hasFeature(f, feature) && !requires.some((r) => hasFeature(f, r))) {
        f &= ~F[feature];
        changed = true;
      }
    }
  }
  return packed ? f | F.RING_PACKED : f;
}

interface Queue {
  readonly qi: number;
  info: VqInfo;
  guest: RingConfig;
  svq: ShadowVirtqueue | undefined;
}

export interface BridgeStats {
  guestKicks: number;
  deviceCalls: number;
  irqsInjected: number;
  switches: number;
  migrations: number;
  pumpRounds: number;
}

export class VduseBridge {
  private tree: IovaTree;
  /** The vhost-vdpa device's IOVA view of the shadow rings. */
  private shadowView = new AddressSpace('iova:shadow');
  private dev: VhostVdpaDevice;
  private readonly c: Libc;
  private queues: Queue[] = [];
  private negotiated = 0n;
  private backend = 0n;
  private shadowSet = 0;
  private shadowRegions: Region[] = [];
  /** Entries of each shadow-ring set's rings: the device's maximum, and half of it (a smaller ring than the kernel's 256). */
  private readonly shadowSizes: readonly number[];
  private running = false;
  private loopDone: Promise<void> | undefined;
  private err: BridgeError | undefined;
  private driverOk = false;
  private readonly counter = new BigUint64Array(1);
  private pollfds = new DataView(new ArrayBuffer(0));
  private nfds = 0;
  readonly stats: BridgeStats = { guestKicks: 0, deviceCalls: 0, irqsInjected: 0, switches: 0, migrations: 0, pumpRounds: 0 };
  /** Regions of VDUSE memory entered into the vhost-vdpa device (by VDUSE IOVA start). */
  private inVdpa = new Map<number, { iova: number; size: number; uaddr: number; own: boolean }>();
  /** This process's memory behind the VDUSE bounce area (VDUSE_IOTLB_REG_UMEM). */
  private bounce: Region | undefined;
  private readonly handlers: VduseHandlers;

  private constructor(
    readonly vduse: VduseDevice,
    vdpa: VhostVdpaDevice,
    c: Libc,
    shadowSize: number,
  ) {
    this.c = c;
    this.dev = vdpa;
    this.tree = new IovaTree({ first: 0, last: Number.MAX_SAFE_INTEGER });
    this.shadowSizes = [shadowSize, Math.max(1, shadowSize >> 1)];
    this.handlers = {
      setStatus: (s) => this.onStatus(s),
      vqState: (qi) => this.vqState(qi),
      iotlbInvalidated: (d) => this.onInvalidate(d),
    };
  }

  /**
   * Own the vhost-vdpa device (SET_OWNER, backend features) and wrap the VDUSE device. The shadow rings
   * (two sets) are allocated and mapped at once; the rest happens as the kernel driver sets the status.
   */
  static create(vduse: VduseDevice, vdpa: VhostVdpaDevice): E.Either<BridgeError, VduseBridge> {
    const lc = libc();
    if (E.isLeft(lc)) return E.left(deviceError('unsupported', 'bridge', lc.left));
    const num = vdpa.getVringNum();
    if (E.isLeft(num)) return num;
    const b = new VduseBridge(vduse, vdpa, lc.right, num.right);
    const r = b.own();
    return E.isLeft(r) ? r : E.right(b);
  }

  private own(): E.Either<BridgeError, void> {
    const v = this.vdpa;
    // vhost has one owner for a device's life: a device the bridge left (migrateTo) is still ours
    if (!owned.has(v)) {
      const o = v.setOwner();
      if (E.isLeft(o)) return o;
      owned.add(v);
    }
    const offered = v.getBackendFeatures();
    if (E.isLeft(offered)) return offered;
    this.backend = offered.right & backendMask(['IOTLB_MSG_V2', 'IOTLB_BATCH', 'SUSPEND', 'RESUME', 'IOTLB_PERSIST']);
    const sb = v.setBackendFeatures(this.backend);
    if (E.isLeft(sb)) return sb;
    const nq = this.vduse.vqNum;
    for (let set = 0; set < this.shadowSizes.length; set++) {
      const r = v.allocHost(nq * ringBytes(this.shadowSizes[set]!), `shadow-rings-${set}`);
      if (E.isLeft(r)) return r;
      this.shadowRegions.push(r.right);
      const iova = SHADOW_IOVA + set * SHADOW_SET_STRIDE;
      const m = this.tree.insert('hva', iova, { translatedAddr: r.right.base, size: r.right.size - 1, perm: VHOST_ACCESS_RW });
      if (isIovaTreeError(m)) return E.left(deviceError('iotlb', 'iova-tree', m.message));
      const added = this.shadowView.addRegion(iova, r.right.buffer, { offset: r.right.offset, size: r.right.size, name: `shadow-${set}@iova` });
      if (E.isLeft(added)) return E.left(deviceError('invalid', 'iova view', added.left.message));
      const u = v.iotlbUpdate(0, iova, r.right.size, r.right.base, VHOST_ACCESS_RW);
      if (E.isLeft(u)) return u;
    }
    return E.right(undefined);
  }

  /** The vhost-vdpa device the SVQ forwards to (changes with `migrateTo`). */
  get vdpa(): VhostVdpaDevice {
    return this.dev;
  }

  /** The shadow-ring set in use (0: the device's ring size, 1: half of it). */
  get shadowRingSet(): number {
    return this.shadowSet;
  }

  /** The first error the bridge met (a failed ioctl, a broken ring), if any. */
  get error(): BridgeError | undefined {
    return this.err;
  }

  /** Negotiated VDUSE features (valid from the kernel driver's FEATURES_OK). */
  get features(): bigint {
    return this.negotiated;
  }

  get guestLayout(): RingLayout {
    return hasFeature(this.negotiated, 'RING_PACKED') ? 'packed' : 'split';
  }

  get isDriverOk(): boolean {
    return this.driverOk;
  }

  /** The SVQ of queue `qi` in shadow mode. */
  svq(qi: number): ShadowVirtqueue | undefined {
    return this.queues[qi]?.svq;
  }

  private record(e: BridgeError): void {
    if (this.err === undefined) this.err = e;
  }

  // ───────────────────────────── control messages ─────────────────────────────

  private onStatus(status: number): boolean {
    const S = VIRTIO_CONFIG_S;
    if (status === 0) {
      // reset: stop forwarding, the vhost-vdpa device too (the kernel drops the kick eventfds)
      this.stopQueues();
      this.driverOk = false;
      this.queues = [];
      return E.isRight(this.vdpa.setStatus(0));
    }
    const had = this.vduse.deviceStatus;
    if ((status & S.FEATURES_OK) !== 0 && (had & S.FEATURES_OK) === 0) {
      const f = this.vduse.getFeatures();
      if (E.isLeft(f)) {
        this.record(f.left);
        return false;
      }
      this.negotiated = f.right;
      const n = this.negotiateVdpa();
      if (E.isLeft(n)) {
        this.record(n.left);
        return false;
      }
    }
    if ((status & S.DRIVER_OK) !== 0 && (had & S.DRIVER_OK) === 0) {
      const r = this.startQueues();
      if (E.isLeft(r)) {
        this.record(r.left);
        return false;
      }
      this.driverOk = true;
    }
    return true;
  }

  private vqState(qi: number): VqState | undefined {
    const q = this.queues[qi];
    if (q?.svq !== undefined) return q.svq.guestRing.base();
    const info = this.vduse.vqInfo(qi);
    if (E.isLeft(info)) return undefined;
    return this.guestLayout === 'packed' ? info.right.packed : { availIdx: info.right.split.availIdx, availWrap: false, usedIdx: 0, usedWrap: false };
  }

  private onInvalidate(dropped: readonly IotlbMapping[]): void {
    for (const m of dropped) {
      const e = this.inVdpa.get(m.start);
      if (e === undefined) continue;
      this.inVdpa.delete(m.start);
      this.tree.remove(e.iova);
      const r = this.vdpa.iotlbInvalidate(0, e.iova, e.size);
      if (E.isLeft(r)) this.record(r.left);
      if (e.own) this.vdpa.host.removeRegion(m.uaddr);
    }
  }

  // ───────────────────────────── vhost-vdpa side ─────────────────────────────

  /** Reset the vhost-vdpa device and negotiate the kernel driver's features (split: vdpa_sim takes no packed). */
  private negotiateVdpa(): E.Either<DeviceError, void> {
    const S = VIRTIO_CONFIG_S;
    const v = this.vdpa;
    const steps: (() => E.Either<DeviceError, unknown>)[] = [
      () => v.setStatus(0),
      () => v.setStatus(S.ACKNOWLEDGE | S.DRIVER),
      () => E.chain((offered: bigint) => v.setFeatures((this.negotiated & ~F.RING_PACKED & offered) | F.VERSION_1 | F.ACCESS_PLATFORM))(v.getFeatures()),
      () => v.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK),
      () =>
        E.chain((st: number) => ((st & S.FEATURES_OK) !== 0 ? E.right(undefined) : E.left(deviceError('state', 'VHOST_VDPA_GET_STATUS', `vhost-vdpa refused FEATURES_OK (status 0x${st.toString(16)})`))))(v.getStatus()),
    ];
    for (const s of steps) {
      const r = s();
      if (E.isLeft(r)) return r;
    }
    return E.right(undefined);
  }

  /** Enter a VDUSE mapping into the IOVA tree and the vhost-vdpa IOTLB at its own IOVA (page 0 left out). */
  private exposeToVdpa(m: IotlbMapping): E.Either<DeviceError, void> {
    if (this.inVdpa.has(m.start)) return E.right(undefined);
    const iova = Math.max(m.start, PAGE_SIZE);
    if (m.last < iova) return E.right(undefined);
    const size = m.last - iova + 1;
    const uaddr = m.uaddr + (iova - m.start);
    // user bounce memory is the vhost-vdpa device's own host memory already; a VDUSE mmap enters it here
    const own = !m.umem;
    if (own) {
      const h = this.vdpa.host.addRegion(m.uaddr, m.region.buffer, { offset: m.region.offset, size: m.region.size, name: `vduse@0x${m.start.toString(16)}` });
      if (E.isLeft(h)) return E.left(deviceError('invalid', 'bridge', h.left.message));
    }
    const t = this.tree.insert('gpa', iova, { translatedAddr: iova, size: size - 1, perm: m.perm });
    if (isIovaTreeError(t)) {
      if (own) this.vdpa.host.removeRegion(m.uaddr);
      return E.left(deviceError('iotlb', 'iova-tree', t.message));
    }
    const u = this.vdpa.iotlbUpdate(0, iova, size, uaddr, m.perm);
    if (E.isLeft(u)) {
      this.tree.remove(iova);
      if (own) this.vdpa.host.removeRegion(m.uaddr);
      return u;
    }
    this.inVdpa.set(m.start, { iova, size, uaddr, own });
    return E.right(undefined);
  }

  private mapAndExpose(iova: number, len: number): E.Either<DeviceError, void> {
    const got = this.vduse.mapIova(iova, len);
    if (E.isLeft(got)) return got;
    for (const m of got.right) {
      const r = this.exposeToVdpa(m);
      if (E.isLeft(r)) return r;
    }
    return E.right(undefined);
  }

  /**
   * The bounce area (streaming DMA, IOVA 0..bounce_size) appears in the VDUSE IOTLB with the driver's first
   * DMA mapping; no message announces it, so it is looked for when a kick comes and it is missing. It is
   * then backed by this process's shared memory (VDUSE_IOTLB_REG_UMEM) — memory vhost-vdpa can be given:
   * the kernel's own pages behind a VDUSE mmap are a VM_IO mapping, which vhost_vdpa_va_map silently
   * skips (the device would read nothing) — and entered into the IOVA tree and the IOTLB at IOVA = offset.
   */
  private ensureBounce(): void {
    if (this.vduse.umem !== undefined) return;
    const info = this.vduse.iotlbInfo(0, 0);
    if (E.isLeft(info)) {
      if (info.left.errno !== 22) this.record(info.left); // EINVAL: no bounce area yet
      return;
    }
    if (!info.right.umemCapable || info.right.start !== 0) {
      this.record(deviceError('unsupported', 'VDUSE_IOTLB_GET_INFO', `the region at IOVA 0 [0x${info.right.start.toString(16)}, 0x${info.right.last.toString(16)}] cannot take user memory`));
      return;
    }
    const size = info.right.last + 1;
    if (this.bounce === undefined || this.bounce.size !== size) {
      const r = this.vdpa.allocHost(size, 'vduse-bounce');
      if (E.isLeft(r)) {
        this.record(r.left);
        return;
      }
      this.bounce = r.right;
    }
    const m = this.vduse.registerUmem(this.bounce.base, this.bounce.buffer, this.bounce.offset, size);
    if (E.isLeft(m)) {
      this.record(m.left);
      return;
    }
    const x = this.exposeToVdpa(m.right);
    if (E.isLeft(x)) this.record(x.left);
  }

  /** DRIVER_OK: read every queue, map its rings, set up the kick eventfds, start in shadow mode. */
  private startQueues(): E.Either<BridgeError, void> {
    const layout = this.guestLayout;
    const qs: Queue[] = [];
    for (let qi = 0; qi < this.vduse.vqNum; qi++) {
      const info = this.vduse.vqInfo(qi);
      if (E.isLeft(info)) return info;
      const i = info.right;
      if (!i.ready) continue;
      const l = layoutOf(layout, i.num);
      for (const [a, n] of [[i.desc, l.desc.size], [i.driver, l.driver.size], [i.device, l.device.size]] as const) {
        const r = this.mapAndExpose(a, n);
        if (E.isLeft(r)) return r;
      }
      const k = this.vduse.setupKickfd(qi);
      if (E.isLeft(k)) return k;
      const guest: RingConfig = {
        layout,
        size: i.num,
        addrs: { desc: i.desc, driver: i.driver, device: i.device },
        eventIdx: hasFeature(this.negotiated, 'EVENT_IDX'),
        indirect: hasFeature(this.negotiated, 'INDIRECT_DESC'),
      };
      qs.push({ qi, info: i, guest, svq: undefined });
    }
    this.queues = qs;
    this.ensureBounce();
    const bases = qs.map((q): RingBase => (layout === 'packed' ? q.info.packed : { availIdx: q.info.split.availIdx, availWrap: false, usedIdx: 0, usedWrap: false }));
    return this.bringUpShadow(bases.map((b, k) => ({ guestLayout: layout, guestSize: qs[k]!.info.num, guestBase: b, inFlight: [], passthroughBase: undefined })));
  }

  /** Point the (negotiated, not yet DRIVER_OK) vhost-vdpa device at shadow-ring set `shadowSet`, SVQs resumed from `hand`. */
  private bringUpShadow(hand: readonly SvqHandover[]): E.Either<BridgeError, void> {
    const v = this.vdpa;
    const region = this.shadowRegions[this.shadowSet]!;
    region.bytes.fill(0);
    const size = this.shadowSizes[this.shadowSet]!;
    const base = SHADOW_IOVA + this.shadowSet * SHADOW_SET_STRIDE;
    for (let k = 0; k < this.queues.length; k++) {
      const q = this.queues[k]!;
      const qi = q.qi;
      const s = placeRing('split', size, base + qi * ringBytes(size), { deviceAlign: PAGE_SIZE });
      const shadow: RingConfig = { layout: 'split', size, addrs: s.addrs, eventIdx: false, indirect: false };
      const created = ShadowVirtqueue.create({
        name: `vduse-q${qi}`,
        guest: { space: this.vduse.space, config: q.guest },
        shadow: { space: this.shadowView, config: shadow },
        iova: this.tree,
        bufferMap: 'gpa',
        kickDevice: () => {
          const r = v.kick(qi);
          if (E.isLeft(r)) this.record(r.left);
        },
        callGuest: () => this.irq(qi),
        ...(hand[k] === undefined ? {} : { resume: hand[k] }),
      });
      if (isSvqError(created)) return E.left(created);
      q.svq = created;
      for (const r of [v.setVringNum(qi, size), v.setVringBase(qi, 0), v.setVringAddr(qi, s.addrs), v.setVringEnable(qi, true)]) if (E.isLeft(r)) return r;
    }
    const S = VIRTIO_CONFIG_S;
    const ok = v.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    if (E.isLeft(ok)) return ok;
    for (const q of this.queues) q.svq!.start();
    return E.right(undefined);
  }

  private irq(qi: number): void {
    const r = this.vduse.injectIrq(qi);
    if (E.isLeft(r)) this.record(r.left);
    else this.stats.irqsInjected++;
  }

  private stopQueues(): SvqHandover[] {
    const out: SvqHandover[] = [];
    for (const q of this.queues) {
      if (q.svq !== undefined) {
        out.push(q.svq.stop());
        q.svq = undefined;
      }
    }
    return out;
  }

  /** Entries of the shadow rings in use. */
  get shadowSize(): number {
    return this.shadowSizes[this.shadowSet]!;
  }

  /**
   * Switch the SVQ live onto the other shadow-ring set (the device's ring size, or half of it): SUSPEND the
   * vhost-vdpa device, stop the SVQs (used entries returned to the kernel driver, the chains in flight
   * handed over), reset and re-negotiate the device, point it at the other set and bring it up, the SVQs
   * resumed from the hand-over (in-flight chains forwarded first). `passthrough` is refused: NO_PASSTHROUGH.
   */
  switchTo(mode: BridgeMode): E.Either<BridgeError, void> {
    if (mode === 'passthrough') return E.left(deviceError('unsupported', 'switch', NO_PASSTHROUGH));
    if (this.err !== undefined) return E.left(this.err);
    if (!this.driverOk) return E.left(deviceError('state', 'switch', 'the kernel driver has not set DRIVER_OK'));
    const v = this.vdpa;
    if ((this.backend & backendMask(['SUSPEND'])) !== 0n) {
      const s = v.suspend();
      if (E.isLeft(s)) return s;
    }
    const hand = this.stopQueues();
    const n = this.negotiateVdpa();
    if (E.isLeft(n)) return n;
    this.stats.switches++;
    this.shadowSet = 1 - this.shadowSet;
    const r = this.bringUpShadow(hand);
    if (E.isLeft(r)) this.record(r.left);
    return r;
  }

  /**
   * Move the bridge's state onto another vhost-vdpa device, live (a migration's switch-over with the
   * kernel driver as the guest): SUSPEND the current device, stop the SVQs (used entries returned, the
   * chains in flight handed over), own and negotiate `next`, give it the VDUSE memory (rings' mmaps and
   * the user bounce pages) at the same IOVAs and fresh shadow rings, bring it up with the SVQs resumed
   * from the hand-over, then retire the old device (reset, IOTLB entries and shadow rings released; it
   * stays open for its owner to close). On a failure before `next` runs, the old device is resumed.
   */
  migrateTo(next: VhostVdpaDevice): E.Either<BridgeError, void> {
    if (this.err !== undefined) return E.left(this.err);
    if (!this.driverOk) return E.left(deviceError('state', 'migrate', 'the kernel driver has not set DRIVER_OK'));
    if (next === this.dev) return E.left(deviceError('invalid', 'migrate', 'already on this device'));
    const old = { dev: this.dev, tree: this.tree, view: this.shadowView, regions: this.shadowRegions, backend: this.backend, inVdpa: this.inVdpa };
    if ((old.backend & backendMask(['SUSPEND'])) !== 0n) {
      const s = old.dev.suspend();
      if (E.isLeft(s)) return s;
    }
    const hand = this.stopQueues();
    this.dev = next;
    this.tree = new IovaTree({ first: 0, last: Number.MAX_SAFE_INTEGER });
    this.shadowView = new AddressSpace('iova:shadow');
    this.shadowRegions = [];
    this.inVdpa = new Map();
    const moveBounce = (from: VhostVdpaDevice, to: VhostVdpaDevice): void => {
      const b = this.bounce;
      if (b === undefined) return;
      from.host.removeRegion(b.base);
      const r = to.host.addRegion(b.base, b.buffer, { offset: b.offset, size: b.size, name: b.name });
      if (E.isRight(r)) this.bounce = r.right;
    };
    moveBounce(old.dev, next);
    const up = ((): E.Either<BridgeError, void> => {
      const o = this.own();
      if (E.isLeft(o)) return o;
      for (const m of this.vduse.mappings()) {
        const x = this.exposeToVdpa(m);
        if (E.isLeft(x)) return x;
      }
      const n = this.negotiateVdpa();
      if (E.isLeft(n)) return n;
      return this.bringUpShadow(hand);
    })();
    if (E.isLeft(up)) {
      // back onto the old device: its rings and IOTLB are as they were at SUSPEND
      this.stopQueues();
      this.retire(this.dev, this.inVdpa, this.shadowRegions);
      moveBounce(next, old.dev);
      Object.assign(this, { dev: old.dev, tree: old.tree, shadowView: old.view, shadowRegions: old.regions, inVdpa: old.inVdpa, backend: old.backend });
      const back = this.bringUpShadowResumed(hand);
      if (E.isLeft(back)) this.record(back.left);
      return up;
    }
    this.retire(old.dev, old.inVdpa, old.regions);
    this.stats.migrations++;
    return E.right(undefined);
  }

  /** A device the bridge leaves: reset, its IOTLB entries and shadow rings released, VDUSE memory out of its host space. */
  private retire(dev: VhostVdpaDevice, inVdpa: ReadonlyMap<number, { iova: number; size: number; uaddr: number; own: boolean }>, regions: readonly Region[]): void {
    dev.setStatus(0);
    for (const [start, e] of inVdpa) {
      dev.iotlbInvalidate(0, e.iova, e.size);
      const m = this.vduse.mapping(start);
      if (e.own && m !== undefined) dev.host.removeRegion(m.uaddr);
    }
    // the shadow rings' IOTLB entries too (IOTLB_PERSIST keeps them across the reset)
    regions.forEach((r, set) => {
      dev.iotlbInvalidate(0, SHADOW_IOVA + set * SHADOW_SET_STRIDE, r.size);
      dev.freeHost(r);
    });
  }

  /** Resume the SVQs on the (suspended, untouched) current device after a failed migration. */
  private bringUpShadowResumed(hand: readonly SvqHandover[]): E.Either<BridgeError, void> {
    const n = this.negotiateVdpa();
    if (E.isLeft(n)) return n;
    return this.bringUpShadow(hand);
  }

  // ───────────────────────────── the pump ─────────────────────────────

  /** One round: control messages, kicks, device calls. True when anything happened. */
  step(): boolean {
    this.stats.pumpRounds++;
    let worked = false;
    const m = this.vduse.pollMessages(this.handlers);
    if (E.isLeft(m)) this.record(m.left);
    else if (m.right > 0) worked = true;
    if (!this.driverOk) return worked;
    for (const q of this.queues) {
      const k = this.vduse.takeKick(q.qi);
      if (E.isLeft(k)) this.record(k.left);
      else if (k.right) {
        worked = true;
        this.stats.guestKicks++;
        this.ensureBounce();
        q.svq?.handleGuestKick();
      }
      if (this.takeCall(q.qi)) {
        worked = true;
        this.stats.deviceCalls++;
        q.svq?.handleDeviceCall();
      }
      const f = q.svq?.failure;
      if (f !== undefined) this.record(f);
    }
    return worked;
  }

  private takeCall(qi: number): boolean {
    const n = this.vdpa.notifiers(qi);
    if (n === undefined) return false;
    if (this.c.read(n.call, this.counter, 8) === 8) return true;
    const errno = this.c.errno();
    if (errno !== EAGAIN && errno !== EINTR) this.record(deviceError('ioctl', 'read(call eventfd)', `read(call eventfd) failed: errno ${errno}`, errno));
    return false;
  }

  private idle(): void {
    const fds: number[] = [];
    if (this.vduse.isOpen) fds.push(this.vduse.pollFd);
    if (this.driverOk) {
      for (const q of this.queues) {
        const k = this.vduse.kickFd(q.qi);
        if (k >= 0) fds.push(k);
        const n = this.vdpa.notifiers(q.qi);
        if (n !== undefined) fds.push(n.call);
      }
    }
    if (this.pollfds.byteLength < fds.length * 8) this.pollfds = new DataView(new ArrayBuffer(fds.length * 8));
    this.nfds = fds.length;
    for (let i = 0; i < fds.length; i++) {
      this.pollfds.setInt32(i * 8, fds[i]!, true);
      this.pollfds.setInt16(i * 8 + 4, POLLIN, true);
      this.pollfds.setInt16(i * 8 + 6, 0, true);
    }
    if (this.nfds > 0) this.c.poll(this.pollfds, this.nfds, PUMP_SLICE_MS);
  }

  /** Run the pump on the event loop until `stop()`. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = new Promise((resolve) => {
      const loop = (): void => {
        if (!this.running) {
          resolve();
          return;
        }
        if (!this.step()) this.idle();
        setImmediate(loop);
      };
      setImmediate(loop);
    });
  }

  /** Stop the pump (after the current round). */
  async stop(): Promise<void> {
    this.running = false;
    await this.loopDone;
  }

  /**
   * Release everything (after `vdpa dev del` removed the kernel driver): stop the pump and the SVQs,
   * reset the vhost-vdpa device, take the VDUSE memory out of it, destroy the VDUSE device. The vhost-vdpa
   * device stays open (its owner closes it). Returns the first error.
   */
  async close(): Promise<E.Either<DeviceError, void>> {
    await this.stop();
    this.stopQueues();
    this.queues = [];
    this.vdpa.setStatus(0);
    for (const [start, e] of this.inVdpa) {
      this.vdpa.iotlbInvalidate(0, e.iova, e.size);
      const m = this.vduse.mapping(start);
      if (m !== undefined && e.own) this.vdpa.host.removeRegion(m.uaddr);
    }
    this.inVdpa.clear();
    for (const r of this.shadowRegions) this.vdpa.freeHost(r);
    this.shadowRegions = [];
    const d = this.vduse.destroy();
    // after DEREG_UMEM (in destroy) the bounce pages are ours alone again
    if (this.bounce !== undefined) this.vdpa.freeHost(this.bounce);
    this.bounce = undefined;
    return d;
  }
}

export { VduseDevice };
