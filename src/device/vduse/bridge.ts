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
import type { RingLayout } from '../../ring/index.js';
import type { ShadowVirtqueue } from '../../svq/shadow-virtqueue.js';
import { svqRelayoutEffects } from '../../effects/svq-relayout.js';
import { bind } from '../../../machines/contract.js';
import { svqRelayoutMachine } from '../../../machines/svq-relayout.js';
import { errorText } from '../../../machines/actors.js';
import { F, hasFeature } from '../../virtio/features.js';
import { VIRTIO_CONFIG_S } from '../../virtio/status.js';
import { deviceError, type DeviceError } from '../types.js';
import { libc, type Libc } from '../vhost-vdpa/libc.js';
import type { VhostVdpaDevice } from '../vhost-vdpa/device.js';
import { VduseDevice, type IotlbMapping, type VduseHandlers } from './device.js';
import { DeviceLink } from './link.js';
import { migrateBridge } from './migrate.js';
import { Pump } from './pump.js';
import type { BridgeError, BridgeMode, BridgeQueue, BridgeStats } from './types.js';
import { backBounce, firstShadowRings, readKernelQueues } from './kernel.js';
import { lifecycleEffects, lifecycleFailure, settleLifecycle, type LifecycleActor, type LifecycleSnapshot } from '../../effects/lifecycle.js';
import { deviceLifecycleMachine, type LifecycleEvent } from '../../../machines/device-lifecycle.js';
import { toHex } from '../../state/lifecycle.js';

/** Bound on one lifecycle step the kernel waits for (VDUSE's own message timeout is longer). */
const LIFECYCLE_TIMEOUT_MS = 10_000;
import type { VqState } from './uapi.js';

export { SHADOW_IOVA } from './link.js';
export { PUMP_SLICE_MS } from './pump.js';

import { NO_PASSTHROUGH } from './features.js';
export { NO_PASSTHROUGH, vduseFeaturesFor } from './features.js';

export type { BridgeError, BridgeMode, BridgeQueue, BridgeStats } from './types.js';

export class VduseBridge {
  private cur: DeviceLink;
  private readonly pump: Pump;
  private qs: BridgeQueue[] = [];
  private negotiated = 0n;
  /** Entries of the two shadow-ring geometries: the device's maximum, and half of it (smaller than the kernel's 256). */
  readonly shadowSizes: readonly [number, number];
  private err: BridgeError | undefined;
  private driverOk = false;
  /** A machine is moving the queues: the pump leaves them alone. */
  private moving = false;
  /** machines/device-lifecycle on the vhost-vdpa device, from the kernel driver's FEATURES_OK on. */
  private lifecycle: LifecycleActor | undefined;
  private relayout: { readonly link: DeviceLink; readonly actor: Actor<typeof svqRelayoutMachine> } | undefined;
  /** machines/migration's phases of the last migration, per end (`source:source.active.stopAndCopy.draining` …). */
  readonly migrationPhases: string[] = [];
  readonly stats: BridgeStats = { guestKicks: 0, deviceCalls: 0, irqsInjected: 0, switches: 0, migrations: 0, pumpRounds: 0 };
  /** This process's memory behind the VDUSE bounce area (VDUSE_IOTLB_REG_UMEM). */
  private bounce: Region | undefined;
  readonly handlers: VduseHandlers;

  private constructor(
    readonly vduse: VduseDevice,
    vdpa: VhostVdpaDevice,
    c: Libc,
    shadowSize: number,
  ) {
    this.pump = new Pump(this, c);
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
    return (this.vdpaWanted & offered) | F.VERSION_1 | F.ACCESS_PLATFORM;
  }

  /** What the bridge wants of a vhost-vdpa device: the kernel's features but a split shadow ring, VERSION_1 and ACCESS_PLATFORM (IOVA). */
  private get vdpaWanted(): bigint {
    return (this.negotiated & ~F.RING_PACKED) | F.VERSION_1 | F.ACCESS_PLATFORM;
  }

  get guestLayout(): RingLayout {
    return hasFeature(this.negotiated, 'RING_PACKED') ? 'packed' : 'split';
  }

  get isDriverOk(): boolean {
    return this.driverOk;
  }

  queueIndices(): readonly number[] {
    return this.qs.map((q) => q.qi);
  }

  /** DRIVER_OK set and no machine moving the queues: the pump forwards. */
  get forwarding(): boolean {
    return this.driverOk && !this.moving;
  }

  /** A kick came: the bounce area may have appeared. */
  onKick(): void {
    this.ensureBounce();
  }

  /** The SVQ of queue `qi`. */
  svq(qi: number): ShadowVirtqueue | undefined {
    return this.cur.rings.svqs.get(qi);
  }

  record(e: BridgeError): void {
    if (this.err === undefined) this.err = e;
  }

  // ───────────────────────────── control messages ─────────────────────────────

  /**
   * The kernel driver's status writes, mirrored onto the vhost-vdpa device through machines/device-lifecycle
   * (§3.1.1): FEATURES_OK → START (reset, ACKNOWLEDGE, DRIVER, the kernel's features as far as the device
   * offers them, FEATURES_OK re-read); DRIVER_OK → the shadow rings mapped and pointed (the driver's
   * step 7), then DRIVER_OK; 0 → RESET. The kernel waits in its SET_STATUS for the answer.
   */
  private onStatus(status: number): boolean | Promise<boolean> {
    const S = VIRTIO_CONFIG_S;
    if (status === 0) {
      // reset: stop forwarding, the vhost-vdpa device too (the kernel drops the kick eventfds)
      this.cur.rings.stopAll();
      this.cur.rings.handovers.clear();
      this.driverOk = false;
      this.qs = [];
      return this.drive({ type: 'RESET' }, (x) => x.matches('reset'));
    }
    const had = this.vduse.deviceStatus;
    const starts = (status & S.FEATURES_OK) !== 0 && (had & S.FEATURES_OK) === 0;
    const runs = (status & S.DRIVER_OK) !== 0 && (had & S.DRIVER_OK) === 0;
    if (!starts && !runs) return true;
    return (async () => {
      if (starts) {
        const f = this.vduse.getFeatures();
        if (E.isLeft(f)) return this.failed(f.left);
        this.negotiated = f.right;
        // a fresh driver instance: the previous one's lifecycle (if any) is done with
        this.lifecycle?.stop();
        this.lifecycle = undefined;
        const wanted = toHex(this.vdpaWanted);
        if (!(await this.drive({ type: 'START', wanted, required: toHex(F.VERSION_1 | F.ACCESS_PLATFORM) }, (x) => x.matches({ active: { featuresOk: 'accepted' } })))) return false;
      }
      if (runs) {
        const qs = this.pointQueues();
        if (E.isLeft(qs)) return this.failed(qs.left);
        if (!(await this.drive({ type: 'DRIVER_OK' }, (x) => x.matches({ active: { driverOk: 'running' } })))) return false;
        const r = this.cur.rings.start(qs.right);
        if (E.isLeft(r)) return this.failed(r.left);
        this.driverOk = true;
      }
      return true;
    })();
  }

  private failed(e: BridgeError): false {
    this.record(e);
    return false;
  }

  /**
   * Send the vhost-vdpa device's lifecycle machine `event` and wait until `reached` holds, or it stops
   * short (failed, NEEDS_RESET, or back in reset with an error). The actor lives from the kernel's
   * FEATURES_OK to the next one; a RESET with none (the device came from a migration, whose destination
   * machine brought it up) starts one in `reset`, which resets from any state (§2.4).
   */
  private async drive(event: LifecycleEvent, reached: (s: LifecycleSnapshot) => boolean): Promise<boolean> {
    if (this.lifecycle === undefined) {
      this.lifecycle = createActor(bind(deviceLifecycleMachine, lifecycleEffects(this.cur.dev)), { input: { wanted: '0x0' } });
      this.lifecycle.start();
    }
    this.lifecycle.send(event);
    let why: string;
    try {
      const s = await settleLifecycle(this.lifecycle, reached, LIFECYCLE_TIMEOUT_MS);
      if (reached(s)) return true;
      why = lifecycleFailure(s).message;
    } catch (e) {
      why = errorText(e);
    }
    return this.failed(deviceError('state', `device-lifecycle ${event.type}`, why));
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

  // ───────────────────────────── the kernel's bring-up (answers to its SET_STATUS: ./kernel.ts) ─────────────────────────────

  /** The bounce area, once the kernel made it, backed by this process's pages (./kernel.ts `backBounce`). */
  ensureBounce(): void {
    if (this.vduse.umem !== undefined) return;
    const r = backBounce(this.vduse, this.cur, this.bounce);
    if (E.isLeft(r)) this.record(r.left);
    else if (r.right !== undefined) this.bounce = r.right;
  }

  /** The bounce pages move into `to`'s host space (a migration); `from` forgets them. */
  moveBounce(from: DeviceLink, to: DeviceLink): E.Either<DeviceError, void> {
    if (this.bounce === undefined) return E.right(undefined);
    const r = to.adoptBounce(this.bounce, from);
    if (E.isLeft(r)) return r;
    this.bounce = r.right;
    return E.right(undefined);
  }

  /** DRIVER_OK from the kernel: its queues read and mapped, the first shadow rings mapped and pointed (./kernel.ts). */
  private pointQueues(): E.Either<BridgeError, readonly number[]> {
    const qs = readKernelQueues(this.vduse, this.cur, this.negotiated);
    if (E.isLeft(qs)) return qs;
    this.qs = qs.right;
    this.ensureBounce();
    this.dropRelayout();
    return firstShadowRings(this.cur, this.guestLayout, qs.right, this.shadowSizes[0]);
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
      this.migrationPhases.length = 0;
      const r = await migrateBridge(this, this.linkTo(next), (end, phase) => this.migrationPhases.push(`${end}:${phase}`));
      if (E.isLeft(r)) return r;
      const old = this.cur;
      this.cur = r.right;
      // the new device was brought up by the migration's destination machine; the old one's lifecycle ends
      this.lifecycle?.stop();
      this.lifecycle = undefined;
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

  /** One round of the pump: control messages, kicks, device calls. True when anything happened. */
  step(): boolean {
    return this.pump.step();
  }

  /** Run the pump on the event loop until `stop()`. */
  start(): void {
    this.pump.start();
  }

  /** Stop the pump (after the current round). */
  stop(): Promise<void> {
    return this.pump.stop();
  }

  /**
   * Release everything (after `vdpa dev del` removed the kernel driver): stop the pump and the SVQs,
   * reset the vhost-vdpa device, take the VDUSE memory and the shadow rings out of it, destroy the VDUSE
   * device. The vhost-vdpa device stays open (its owner closes it). Returns the first error.
   */
  async close(): Promise<E.Either<DeviceError, void>> {
    await this.stop();
    this.lifecycle?.stop();
    this.lifecycle = undefined;
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
