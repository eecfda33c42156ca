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
 * pages (VDUSE_IOTLB_REG_UMEM), the only VDUSE memory a vhost-vdpa device can be given (./link.ts).
 *
 * This file holds the control-message handlers, the data plane (the pump) and the bridge's single
 * operations. The live changes run through machines: `switchTo('shadow')` through machines/svq-relayout
 * (onto the other shadow-ring geometry: the device's ring size, then half of it — a shadow ring smaller
 * than the kernel's exercises the SVQ's stash), `migrateTo(dev)` through machines/migration (./migrate.ts).
 * Passthrough is refused with the reason (NO_PASSTHROUGH): the kernel's rings cannot be given to a
 * vhost-vdpa device.
 *
 * Nothing blocks: `start()` runs a pump on the event loop (control messages, kicks, calls; poll(2) at
 * most 1 ms when idle), so the messages the kernel sends while `vdpa dev add` / a bind / `vdpa dev del`
 * run in child processes are answered in time. While a machine moves the queues, the pump leaves them
 * alone (their kicks and calls wait in the eventfds).
 */
import * as E from 'fp-ts/lib/Either.js';
import { createActor, waitFor, type Actor } from 'xstate';
import type { Region } from '../../memory/address-space.js';
import { layoutOf, type RingBase, type RingConfig, type RingLayout } from '../../ring/index.js';
import type { ShadowVirtqueue, SvqError } from '../../svq/shadow-virtqueue.js';
import { svqRelayoutEffects } from '../../effects/svq-relayout.js';
import { bind } from '../../../machines/contract.js';
import { svqRelayoutMachine } from '../../../machines/svq-relayout.js';
import { F, FEATURE_REQUIREMENTS, hasFeature } from '../../virtio/features.js';
import { VIRTIO_CONFIG_S } from '../../virtio/status.js';
import { deviceError, type DeviceError } from '../types.js';
import { EAGAIN, EINTR, libc, POLLIN, type Libc } from '../vhost-vdpa/libc.js';
import type { VhostVdpaDevice } from '../vhost-vdpa/device.js';
import { VduseDevice, type IotlbMapping, type VduseHandlers } from './device.js';
import { DeviceLink } from './link.js';
import { migrateBridge } from './migrate.js';
import type { VqInfo, VqState } from './uapi.js';

export { SHADOW_IOVA } from './link.js';

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

/** A kernel queue the bridge serves: its VDUSE ring. */
export interface BridgeQueue {
  readonly qi: number;
  readonly info: VqInfo;
  readonly guest: RingConfig;
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
  private cur: DeviceLink;
  private readonly c: Libc;
  private qs: BridgeQueue[] = [];
  private negotiated = 0n;
  /** Entries of the two shadow-ring geometries: the device's maximum, and half of it (smaller than the kernel's 256). */
  readonly shadowSizes: readonly [number, number];
  private running = false;
  private loopDone: Promise<void> | undefined;
  private err: BridgeError | undefined;
  private driverOk = false;
  /** A machine is moving the queues: the pump leaves them alone. */
  private moving = false;
  private relayout: { readonly link: DeviceLink; readonly actor: Actor<typeof svqRelayoutMachine> } | undefined;
  private readonly counter = new BigUint64Array(1);
  private pollfds = new DataView(new ArrayBuffer(0));
  private nfds = 0;
  readonly stats: BridgeStats = { guestKicks: 0, deviceCalls: 0, irqsInjected: 0, switches: 0, migrations: 0, pumpRounds: 0 };
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
    this.shadowSizes = [shadowSize, Math.max(1, shadowSize >> 1)];
    this.cur = this.linkTo(vdpa);
    this.handlers = {
      setStatus: (s) => this.onStatus(s),
      vqState: (qi) => this.vqState(qi),
      iotlbInvalidated: (d) => this.onInvalidate(d),
    };
  }

  /** Own the vhost-vdpa device (SET_OWNER, backend features) and wrap the VDUSE device; the rest happens as the kernel driver sets the status. */
  static create(vduse: VduseDevice, vdpa: VhostVdpaDevice): E.Either<BridgeError, VduseBridge> {
    const lc = libc();
    if (E.isLeft(lc)) return E.left(deviceError('unsupported', 'bridge', lc.left));
    const num = vdpa.getVringNum();
    if (E.isLeft(num)) return num;
    const b = new VduseBridge(vduse, vdpa, lc.right, num.right);
    const r = b.cur.own();
    return E.isLeft(r) ? r : E.right(b);
  }

  /** A link onto `dev` (not yet owned): the SVQs it builds read this bridge's VDUSE rings and call the kernel. */
  linkTo(dev: VhostVdpaDevice): DeviceLink {
    return new DeviceLink(dev, {
      guest: (qi) => {
        const q = this.qs.find((x) => x.qi === qi);
        return q === undefined ? undefined : { space: this.vduse.space, config: q.guest };
      },
      callGuest: (qi) => this.irq(qi),
      onError: (e) => this.record(e),
    });
  }

  /** The vhost-vdpa device the SVQ forwards to (changes with `migrateTo`). */
  get vdpa(): VhostVdpaDevice {
    return this.cur.dev;
  }

  get link(): DeviceLink {
    return this.cur;
  }

  get queues(): readonly BridgeQueue[] {
    return this.qs;
  }

  /** The shadow-ring geometry in use (0: the device's ring size, 1: half of it). */
  get shadowRingSet(): number {
    return this.shadowSize === this.shadowSizes[0] ? 0 : 1;
  }

  /** Entries of the shadow rings in use. */
  get shadowSize(): number {
    return this.cur.rings.size;
  }

  /** The bounce pages (VDUSE_IOTLB_REG_UMEM), once the kernel made the bounce area. */
  get bouncePages(): Region | undefined {
    return this.bounce;
  }

  /** The first error the bridge met (a failed ioctl, a broken ring), if any. */
  get error(): BridgeError | undefined {
    return this.err;
  }

  /** Negotiated VDUSE features (valid from the kernel driver's FEATURES_OK). */
  get features(): bigint {
    return this.negotiated;
  }

  /** The features the vhost-vdpa device gets: the kernel's, split (vdpa_sim takes no packed), VERSION_1 and ACCESS_PLATFORM. */
  vdpaFeatures(offered: bigint): bigint {
    return (this.negotiated & ~F.RING_PACKED & offered) | F.VERSION_1 | F.ACCESS_PLATFORM;
  }

  get guestLayout(): RingLayout {
    return hasFeature(this.negotiated, 'RING_PACKED') ? 'packed' : 'split';
  }

  get isDriverOk(): boolean {
    return this.driverOk;
  }

  /** The SVQ of queue `qi`. */
  svq(qi: number): ShadowVirtqueue | undefined {
    return this.cur.rings.svqs.get(qi);
  }

  record(e: BridgeError): void {
    if (this.err === undefined) this.err = e;
  }

  // ───────────────────────────── control messages ─────────────────────────────

  private onStatus(status: number): boolean {
    const S = VIRTIO_CONFIG_S;
    if (status === 0) {
      // reset: stop forwarding, the vhost-vdpa device too (the kernel drops the kick eventfds)
      this.cur.rings.stopAll();
      this.cur.rings.handovers.clear();
      this.driverOk = false;
      this.qs = [];
      return E.isRight(this.vdpa.setStatus(0));
    }
    const had = this.vduse.deviceStatus;
    const step = (r: E.Either<BridgeError, unknown>): boolean => {
      if (E.isLeft(r)) this.record(r.left);
      return E.isRight(r);
    };
    if ((status & S.FEATURES_OK) !== 0 && (had & S.FEATURES_OK) === 0) {
      const f = this.vduse.getFeatures();
      if (!step(f)) return false;
      this.negotiated = (f as E.Right<bigint>).right;
      if (!step(this.negotiateVdpa())) return false;
    }
    if ((status & S.DRIVER_OK) !== 0 && (had & S.DRIVER_OK) === 0) {
      if (!step(this.startQueues())) return false;
      this.driverOk = true;
    }
    return true;
  }

  private vqState(qi: number): VqState | undefined {
    const svq = this.svq(qi);
    if (svq !== undefined) return svq.guestRing.base();
    const info = this.vduse.vqInfo(qi);
    if (E.isLeft(info)) return undefined;
    return this.guestLayout === 'packed' ? info.right.packed : { availIdx: info.right.split.availIdx, availWrap: false, usedIdx: 0, usedWrap: false };
  }

  private onInvalidate(dropped: readonly IotlbMapping[]): void {
    for (const m of dropped) {
      const r = this.cur.invalidate(m);
      if (E.isLeft(r)) this.record(r.left);
    }
  }

  // ───────────────────────────── the kernel's bring-up (answers to its SET_STATUS) ─────────────────────────────

  /**
   * FEATURES_OK from the kernel: reset the vhost-vdpa device and negotiate the kernel driver's features
   * with it (§3.1.1). Runs inside the VDUSE SET_STATUS message, whose answer is synchronous.
   */
  private negotiateVdpa(): E.Either<DeviceError, void> {
    const S = VIRTIO_CONFIG_S;
    const v = this.vdpa;
    const steps: (() => E.Either<DeviceError, unknown>)[] = [
      () => v.setStatus(0),
      () => v.setStatus(S.ACKNOWLEDGE | S.DRIVER),
      () => E.chain((offered: bigint) => v.setFeatures(this.vdpaFeatures(offered)))(v.getFeatures()),
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

  private mapAndExpose(iova: number, len: number): E.Either<DeviceError, void> {
    const got = this.vduse.mapIova(iova, len);
    if (E.isLeft(got)) return got;
    for (const m of got.right) {
      const r = this.cur.expose(m);
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
    const x = this.cur.expose(m.right);
    if (E.isLeft(x)) this.record(x.left);
  }

  /** The bounce pages move into `to`'s host space (a migration); `from` forgets them. */
  moveBounce(from: DeviceLink, to: DeviceLink): E.Either<DeviceError, void> {
    if (this.bounce === undefined) return E.right(undefined);
    const r = to.adoptBounce(this.bounce, from);
    if (E.isLeft(r)) return r;
    this.bounce = r.right;
    return E.right(undefined);
  }

  /**
   * DRIVER_OK from the kernel: read every queue, map its rings, set up the kick eventfds, put the SVQs on
   * the first shadow rings from the rings' state, DRIVER_OK on the vhost-vdpa device, forward.
   */
  private startQueues(): E.Either<BridgeError, void> {
    const layout = this.guestLayout;
    const qs: BridgeQueue[] = [];
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
      qs.push({ qi, info: i, guest });
    }
    this.qs = qs;
    this.ensureBounce();
    const rings = this.cur.rings;
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
    const slot = rings.map(queues, this.shadowSizes[0]);
    if (E.isLeft(slot)) return slot;
    const p = rings.point(queues, slot.right);
    if (E.isLeft(p)) return p;
    const S = VIRTIO_CONFIG_S;
    const ok = this.vdpa.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    if (E.isLeft(ok)) return ok;
    this.dropRelayout();
    return rings.start(queues);
  }

  private irq(qi: number): void {
    const r = this.vduse.injectIrq(qi);
    if (E.isLeft(r)) this.record(r.left);
    else this.stats.irqsInjected++;
  }

  // ───────────────────────────── live changes, through machines ─────────────────────────────

  private dropRelayout(): void {
    this.relayout?.actor.stop();
    this.relayout = undefined;
  }

  /**
   * Switch the SVQ live onto the other shadow-ring geometry through machines/svq-relayout (suspend, drain,
   * map, point, forward, resume, release). `passthrough` is refused: NO_PASSTHROUGH.
   */
  async switchTo(mode: BridgeMode): Promise<E.Either<BridgeError, void>> {
    if (mode === 'passthrough') return E.left(deviceError('unsupported', 'switch', NO_PASSTHROUGH));
    const ready = this.ready('switch');
    if (E.isLeft(ready)) return ready;
    if (!this.cur.canSuspend) return E.left(deviceError('unsupported', 'switch', `${this.vdpa.name} offers no VHOST_BACKEND_F_SUSPEND: its rings cannot change under a running driver`));
    const queues = this.qs.map((q) => q.qi);
    if (this.relayout?.link !== this.cur) {
      this.dropRelayout();
      const actor = createActor(bind(svqRelayoutMachine, svqRelayoutEffects(this.cur.rings)), { input: { queues, size: this.shadowSize } });
      actor.start();
      this.relayout = { link: this.cur, actor };
    }
    const { actor } = this.relayout;
    const before = actor.getSnapshot().context.relayouts;
    const size = this.shadowSize === this.shadowSizes[0] ? this.shadowSizes[1] : this.shadowSizes[0];
    this.moving = true;
    try {
      actor.send({ type: 'RELAYOUT', size });
      const s = await waitFor(actor, (x) => x.matches('shadow') || x.matches('failed'), { timeout: 10_000 });
      const moved = s.context.relayouts > before;
      if (moved) this.stats.switches++;
      if (s.context.error === null) return E.right(undefined);
      const e = deviceError('state', 'svq-relayout', s.context.error);
      // rolled back: the old rings run on and the switch is refused; failed: the bridge is broken
      if (s.matches('failed') || moved) this.record(e);
      return E.left(e);
    } finally {
      this.moving = false;
    }
  }

  private ready(what: string): E.Either<BridgeError, void> {
    if (this.err !== undefined) return E.left(this.err);
    if (!this.driverOk) return E.left(deviceError('state', what, 'the kernel driver has not set DRIVER_OK'));
    if (this.moving) return E.left(deviceError('state', what, 'another switch or migration is running'));
    return E.right(undefined);
  }

  /**
   * Move the bridge's state onto another vhost-vdpa device, live, through machines/migration (./migrate.ts):
   * the current device is the source, `next` the destination; the old device is retired once `next`
   * runs. On a failure the bridge stays on the old device.
   */
  async migrateTo(next: VhostVdpaDevice): Promise<E.Either<BridgeError, void>> {
    const ready = this.ready('migrate');
    if (E.isLeft(ready)) return ready;
    if (next === this.vdpa) return E.left(deviceError('invalid', 'migrate', 'already on this device'));
    this.moving = true;
    try {
      const r = await migrateBridge(this, this.linkTo(next));
      if (E.isLeft(r)) return r;
      const old = this.cur;
      this.cur = r.right;
      this.dropRelayout();
      this.stats.migrations++;
      const retired = old.retire((start) => this.vduse.mapping(start));
      if (E.isLeft(retired)) this.record(retired.left);
      return retired;
    } finally {
      this.moving = false;
    }
  }

  // ───────────────────────────── the pump ─────────────────────────────

  /** One round: control messages, kicks, device calls. True when anything happened. */
  step(): boolean {
    this.stats.pumpRounds++;
    let worked = false;
    const m = this.vduse.pollMessages(this.handlers);
    if (E.isLeft(m)) this.record(m.left);
    else if (m.right > 0) worked = true;
    if (!this.driverOk || this.moving) return worked;
    for (const q of this.qs) {
      const svq = this.svq(q.qi);
      const k = this.vduse.takeKick(q.qi);
      if (E.isLeft(k)) this.record(k.left);
      else if (k.right) {
        worked = true;
        this.stats.guestKicks++;
        this.ensureBounce();
        svq?.handleGuestKick();
      }
      if (this.takeCall(q.qi)) {
        worked = true;
        this.stats.deviceCalls++;
        svq?.handleDeviceCall();
      }
      const f = svq?.failure;
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
    if (this.driverOk && !this.moving) {
      for (const q of this.qs) {
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
   * reset the vhost-vdpa device, take the VDUSE memory and the shadow rings out of it, destroy the VDUSE
   * device. The vhost-vdpa device stays open (its owner closes it). Returns the first error.
   */
  async close(): Promise<E.Either<DeviceError, void>> {
    await this.stop();
    this.dropRelayout();
    this.qs = [];
    const retired = this.cur.retire((start) => this.vduse.mapping(start));
    const d = this.vduse.destroy();
    // after DEREG_UMEM (in destroy) the bounce pages are ours alone again
    if (this.bounce !== undefined) this.vdpa.freeHost(this.bounce);
    this.bounce = undefined;
    return E.isLeft(retired) ? retired : d;
  }
}

export { VduseDevice };
