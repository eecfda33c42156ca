/**
 * The embedded simulated virtio-net vDPA device: the vhost-vdpa uAPI (`VdpaDevice`) with the kernel's
 * semantics (drivers/vhost/vdpa.c over drivers/vdpa/vdpa_sim), so the SVQ engine, the CVQ engine and
 * the machines drive it exactly as they drive `/dev/vhost-vdpa-N`. This file is the uAPI surface; the
 * rooms behind it:
 *
 * - core.ts: what every room shares — status and features (virtio 1.2 §2.1, §3.1.1, with vhost-vdpa's
 *   rule that only a reset clears bits), IOTLBs per ASID (iotlb.ts; virtqueue groups as vdpa_sim, the
 *   CVQ alone in group 1, bound to ASIDs with SET_GROUP_ASID, all back to ASID 0 on reset), faults
 *   (faults.ts), the clock (clock.ts), statistics and the device-error path.
 * - queues.ts: the rings — at DRIVER_OK (or enable after it) each ready queue gets a device-side ring
 *   from the ring layer over its group's IOVA space, resuming from its vring base; kicks are processed
 *   deferred (setImmediate) or on demand by `waitCall` / `flush`; a kick's processing completes one
 *   kick-to-call latency later on the `VirtualClock` (plus a per-chain cost), and a wait that nothing
 *   answers advances virtual time to its timeout instead of sleeping.
 * - cvq.ts: the control queue (§5.1.6.5), answered by the profile's CVQ model (net-model.ts, over the
 *   CVQ class modules of src/cvq/classes).
 * - loopback.ts: vdpa_sim_net's loopback TX → RX with the receive filter (rx-filter.ts).
 * - dma.ts: buffer access with the IOTLB permissions; options.ts: options, stats, records.
 */
import * as E from 'fp-ts/lib/Either.js';
import { PAGE_SIZE, type AddressSpace, type Region } from '../../memory/address-space.js';
import { decodeBase, encodeBase } from '../../ring/index.js';
import type { RingAddrs } from '../../ring/types.js';
import type { NetDeviceState } from '../../state/net-state.js';
import { checkFeatureDependencies, formatFeatures, hasFeature } from '../../virtio/features.js';
import { VIRTIO_NET_S_ANNOUNCE, VIRTIO_NET_S_LINK_UP, formatMac, type MacString } from '../../virtio/net.js';
import { VIRTIO_CONFIG_S } from '../../virtio/status.js';
import { deviceError, VHOST_BACKEND_F, type DeviceError, type IovaRange, type VdpaDevice } from '../types.js';
import type { VirtualClock } from './clock.js';
import { errnoErr, errnoNameOf, ok, SimCore } from './core.js';
import { SimCvq } from './cvq.js';
import { ERRNO } from './errno.js';
import { FaultState, type FaultPlan } from './faults.js';
import type { Iotlb } from './iotlb.js';
import { Loopback } from './loopback.js';
import { checkSimOptions, VIRTIO_ID_NET, type CvqLogEntry, type SimDeviceFault, type SimDeviceOptions, type SimStats } from './options.js';
import type { SimProfile } from './profiles.js';
import { SimQueues, type SimQueue } from './queues.js';

export { VIRTIO_CONFIG_S };
export { CVQ_MAX_COMMAND, VIRTIO_ID_NET, checkSimOptions } from './options.js';
export type { CvqLogEntry, SimDeviceFault, SimDeviceOptions, SimLatency, SimStats } from './options.js';

/** Synthetic host addresses start here (a typical x86-64 mmap area). */
const HOST_BASE = 0x7f00_0000_0000;

export class SimVdpaDevice implements VdpaDevice {
  readonly kind = 'sim' as const;
  readonly name: string;
  readonly host: AddressSpace;
  /** The simulator is in this process: a buffer of ours mapped into `host` is what it reads. */
  readonly sharesProcessMemory = true as const;
  readonly profile: SimProfile;
  readonly clock: VirtualClock;
  readonly stats: SimStats;
  /** Every CVQ command the device popped, in order (tests and the demo read it). */
  readonly cvqLog: CvqLogEntry[];
  /** Device errors seen (each also counted in `stats.deviceErrors`). */
  readonly errors: SimDeviceFault[];

  private readonly core: SimCore;
  private readonly queues: SimQueues;
  private readonly cvq: SimCvq;
  private readonly loopback: Loopback;
  private inBatch = false;
  private nextHost = HOST_BASE;
  /** `allocHost` hands out SharedArrayBuffers (options.sharedMemory). */
  private readonly sharedMemory: boolean;
  /** Address spaces vhost-vdpa has created (on the first UPDATE / BATCH_BEGIN of an ASID). */
  private readonly asCreated: boolean[] = [];

  /** A device from options that may come from a user (CLI, state file): bad ones are an error value. */
  static create(opts: SimDeviceOptions = {}): E.Either<DeviceError, SimVdpaDevice> {
    const bad = checkSimOptions(opts);
    return bad === undefined ? E.right(new SimVdpaDevice(opts)) : E.left(deviceError('invalid', 'open', bad));
  }

  /** Options are the caller's contract (see `create` for unchecked input); invalid ones throw a TypeError. */
  constructor(opts: SimDeviceOptions = {}) {
    const bad = checkSimOptions(opts);
    if (bad !== undefined) throw new TypeError(`SimVdpaDevice: ${bad}`);
    const core = new SimCore(opts);
    this.core = core;
    this.profile = core.profile;
    this.name = core.name;
    this.host = core.host;
    this.clock = core.clock;
    this.stats = core.stats;
    this.cvqLog = core.cvqLog;
    this.errors = core.errors;
    this.sharedMemory = opts.sharedMemory === true;
    this.queues = new SimQueues(core);
    this.cvq = new SimCvq(core, this.queues);
    this.loopback = new Loopback(core, this.queues);
    this.queues.process = (q) => this.process(q);
    this.queues.onStop = (q) => this.loopback.stop(q.index >> 1);
  }

  /** A kicked queue's pass: the CVQ, or the loopback of an active pair. */
  private process(q: SimQueue): number {
    const core = this.core;
    if (core.fCtrlVq && q.index === core.cvqIndex()) return this.cvq.process(q);
    const pair = q.index >> 1;
    return pair < core.activePairs() ? this.loopback.process(pair) : 0;
  }

  // ---- introspection (not part of the uAPI) ----

  /** The virtio-net state the device holds (what a CVQ restore must reproduce). */
  netState(): NetDeviceState {
    return this.core.model.state();
  }

  /** The features the device runs with (the driver's SET_FEATURES as the device kept them). */
  negotiatedFeatures(): bigint {
    return this.core.driverFeatures;
  }

  ackedBackendFeatures(): bigint {
    return this.core.backendAcked;
  }

  isSuspended(): boolean {
    return this.core.suspended;
  }

  /** Index of the control virtqueue for the features written so far (2 × max pairs with MQ, else 2). */
  cvqIndex(): number {
    return this.core.cvqIndex();
  }

  /** IOVA view of an address space (tests inspect it; the SVQ engine never needs it). */
  iovaSpace(asid: number): AddressSpace | undefined {
    return this.core.iotlbs[asid]?.space;
  }

  iotlbEntries(asid: number) {
    return this.core.iotlbs[asid]?.entries() ?? [];
  }

  /** The ASID whose IOVA space queue `qi`'s group uses. */
  queueAsid(qi: number): number {
    return this.core.queueAsid(qi);
  }

  /** Replace the fault plan (hit counters start over). */
  setFaults(plan: FaultPlan): void {
    this.core.faults = new FaultState(plan);
  }

  faultHits(): readonly number[] {
    return this.core.faults.hits;
  }

  /** Set DEVICE_NEEDS_RESET now (§2.1.2), as a device that hit an internal error. */
  injectNeedsReset(reason = 'injected'): void {
    this.core.needsReset(-1, reason);
  }

  /**
   * Ask the driver to announce itself (virtio 1.2 §5.1.6.5.4, after a migration): sets
   * VIRTIO_NET_S_ANNOUNCE in config status until the driver's ANNOUNCE_ACK. False (nothing set) when
   * GUEST_ANNOUNCE is not negotiated or the device is not running.
   */
  announce(): boolean {
    if (!hasFeature(this.core.driverFeatures, 'GUEST_ANNOUNCE') || (this.core.status & VIRTIO_CONFIG_S.DRIVER_OK) === 0) return false;
    this.core.model.announcePending = true;
    return true;
  }

  /** Called (in a microtask) whenever the device signals queue `qi`; returns an unsubscribe function. */
  onCall(qi: number, fn: () => void): () => void {
    return this.queues.onCall(qi, fn);
  }

  /** Process every pending kick now (synchronously). */
  flush(): void {
    this.queues.drain();
  }

  /** Process pending kicks and fire every timed event (delayed acks), advancing virtual time as needed. */
  settle(): void {
    for (;;) {
      this.queues.drain();
      const next = this.clock.nextEventAt();
      if (next === undefined) break;
      this.clock.advanceTo(next);
    }
  }

  // ---- host memory ----

  allocHost(size: number, name?: string): E.Either<DeviceError, Region> {
    if (this.core.closed) return this.core.closedErr('allocHost');
    if (!Number.isSafeInteger(size) || size <= 0) return errnoErr('invalid', 'mmap', 'EINVAL', `host allocation of ${size} bytes`);
    const len = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    let buf: ArrayBufferLike;
    try {
      buf = this.sharedMemory ? new SharedArrayBuffer(len) : new ArrayBuffer(len);
    } catch {
      return errnoErr('ioctl', 'mmap', 'ENOMEM', `cannot allocate ${len} bytes of host memory`);
    }
    const base = this.nextHost;
    // one unmapped guard page between allocations, like separate mmaps usually get
    this.nextHost = base + len + PAGE_SIZE;
    const r = this.host.addRegion(base, buf, { name: name ?? `${this.host.name}@0x${base.toString(16)}` });
    return E.isLeft(r) ? errnoErr('invalid', 'mmap', 'EINVAL', r.left.message) : E.right(r.right);
  }

  freeHost(region: Region): E.Either<DeviceError, void> {
    if (this.core.closed) return this.core.closedErr('freeHost');
    const r = this.host.removeRegion(region.base);
    return E.isLeft(r) ? errnoErr('invalid', 'munmap', 'EINVAL', r.left.message) : ok;
  }

  // ---- device identity and negotiation ----

  setOwner(): E.Either<DeviceError, void> {
    if (this.core.closed) return this.core.closedErr('VHOST_SET_OWNER');
    if (this.core.owned) return errnoErr('ioctl', 'VHOST_SET_OWNER', 'EBUSY', 'the device already has an owner');
    this.core.owned = true;
    return ok;
  }

  getDeviceId(): E.Either<DeviceError, number> {
    return this.core.closed ? this.core.closedErr('VHOST_VDPA_GET_DEVICE_ID') : E.right(VIRTIO_ID_NET);
  }

  getFeatures(): E.Either<DeviceError, bigint> {
    return this.core.closed ? this.core.closedErr('VHOST_GET_FEATURES') : E.right(this.profile.deviceFeatures);
  }

  /**
   * VHOST_SET_FEATURES: EBUSY once FEATURES_OK is set; EINVAL without ACCESS_PLATFORM ("DMA mapping must
   * be done by driver", vdpasim_set_driver_features). vdpa_sim_net keeps `features & supported`; the
   * full profile keeps what was written and judges it at FEATURES_OK.
   */
  setFeatures(features: bigint): E.Either<DeviceError, void> {
    const op = 'VHOST_SET_FEATURES';
    if (this.core.closed) return this.core.closedErr(op);
    if ((this.core.status & VIRTIO_CONFIG_S.FEATURES_OK) !== 0) return errnoErr('state', op, 'EBUSY', 'FEATURES_OK is already set');
    if (features < 0n || features >= 1n << 64n) return errnoErr('invalid', op, 'EINVAL', 'features are a u64');
    if (!hasFeature(features, 'ACCESS_PLATFORM')) return errnoErr('invalid', op, 'EINVAL', 'VIRTIO_F_ACCESS_PLATFORM is required (DMA mapping is done by the driver)');
    this.core.setDriverFeatures(this.profile.featureCheck === 'mask' ? features & this.profile.deviceFeatures : features);
    return ok;
  }

  getBackendFeatures(): E.Either<DeviceError, bigint> {
    return this.core.closed ? this.core.closedErr('VHOST_GET_BACKEND_FEATURES') : E.right(this.profile.backendFeatures);
  }

  setBackendFeatures(features: bigint): E.Either<DeviceError, void> {
    const op = 'VHOST_SET_BACKEND_FEATURES';
    if (this.core.closed) return this.core.closedErr(op);
    if ((features & ~this.profile.backendFeatures) !== 0n) {
      return errnoErr('unsupported', op, 'EOPNOTSUPP', `backend features 0x${features.toString(16)} beyond the offered 0x${this.profile.backendFeatures.toString(16)}`);
    }
    this.core.backendAcked = features;
    return ok;
  }

  getStatus(): E.Either<DeviceError, number> {
    return this.core.closed ? this.core.closedErr('VHOST_VDPA_GET_STATUS') : E.right(this.core.status);
  }

  /**
   * VHOST_VDPA_SET_STATUS. 0 resets the device. Otherwise no bit may be cleared (EINVAL, vhost-vdpa:
   * "Userspace shouldn't remove status bits unless reset the status to 0"). FEATURES_OK is not kept
   * when the full profile refuses the features (virtio 1.2 §3.1.1 step 5-6: the driver re-reads it).
   * DRIVER_OK starts every ready queue.
   */
  setStatus(status: number): E.Either<DeviceError, void> {
    const op = 'VHOST_VDPA_SET_STATUS';
    if (this.core.closed) return this.core.closedErr(op);
    if (!Number.isInteger(status) || status < 0 || status > 0xff) return errnoErr('invalid', op, 'EINVAL', `status ${status} is not a u8`);
    const old = this.core.status;
    if (status === 0) {
      this.reset();
      return ok;
    }
    if ((old & ~status) !== 0) {
      return errnoErr('invalid', op, 'EINVAL', `status 0x${status.toString(16)} clears bits of 0x${old.toString(16)} without a reset`);
    }
    let next = status;
    if ((status & VIRTIO_CONFIG_S.FEATURES_OK) !== 0 && (old & VIRTIO_CONFIG_S.FEATURES_OK) === 0) {
      if (this.featuresRefused() !== undefined) next &= ~VIRTIO_CONFIG_S.FEATURES_OK;
      else this.core.model.reset(this.configMacString(), this.core.driverFeatures);
    }
    this.core.status = next;
    if ((next & VIRTIO_CONFIG_S.DRIVER_OK) !== 0 && (old & VIRTIO_CONFIG_S.DRIVER_OK) === 0) {
      for (const q of this.queues.list) if (q.ready) this.queues.start(q);
    }
    return ok;
  }

  /** Why the full profile refuses the written features at FEATURES_OK, or undefined when it accepts them. */
  featuresRefused(): string | undefined {
    if (this.profile.featureCheck === 'mask') return undefined;
    const extra = this.core.driverFeatures & ~this.profile.deviceFeatures;
    if (extra !== 0n) return `features ${formatFeatures(extra)} are not offered`;
    if (!hasFeature(this.core.driverFeatures, 'VERSION_1')) return 'VIRTIO_F_VERSION_1 is required (modern device)';
    const dep = checkFeatureDependencies(this.core.driverFeatures);
    return E.isLeft(dep) ? dep.left.message : undefined;
  }

  /** VHOST_VDPA_GET_CONFIG: EINVAL for len 0 or offset beyond the size, E2BIG past the end. */
  getConfig(offset: number, len: number): E.Either<DeviceError, Uint8Array> {
    const op = 'VHOST_VDPA_GET_CONFIG';
    if (this.core.closed) return this.core.closedErr(op);
    const size = this.profile.configSize;
    if (!Number.isInteger(offset) || !Number.isInteger(len) || offset < 0 || len <= 0 || offset > size) {
      return errnoErr('invalid', op, 'EINVAL', `config read of ${len} byte(s) at ${offset} (config size ${size})`);
    }
    if (len > size - offset) return errnoErr('invalid', op, 'E2BIG', `config read of ${len} byte(s) at ${offset} runs past ${size}`);
    return E.right(this.configBytes().slice(offset, offset + len));
  }

  getConfigSize(): E.Either<DeviceError, number> {
    return this.core.closed ? this.core.closedErr('VHOST_VDPA_GET_CONFIG_SIZE') : E.right(this.profile.configSize);
  }

  getVringNum(): E.Either<DeviceError, number> {
    return this.core.closed ? this.core.closedErr('VHOST_VDPA_GET_VRING_NUM') : E.right(this.profile.vringNum);
  }

  getVqsCount(): E.Either<DeviceError, number> {
    return this.core.closed ? this.core.closedErr('VHOST_VDPA_GET_VQS_COUNT') : E.right(this.queues.list.length);
  }

  getGroupNum(): E.Either<DeviceError, number> {
    return this.core.closed ? this.core.closedErr('VHOST_VDPA_GET_GROUP_NUM') : E.right(this.profile.groupNum);
  }

  getAsNum(): E.Either<DeviceError, number> {
    return this.core.closed ? this.core.closedErr('VHOST_VDPA_GET_AS_NUM') : E.right(this.profile.asNum);
  }

  getVringGroup(qi: number): E.Either<DeviceError, number> {
    const op = 'VHOST_VDPA_GET_VRING_GROUP';
    const q = this.queueOr(op, qi);
    return E.isLeft(q) ? q : E.right(this.core.groupOf(qi));
  }

  /**
   * VHOST_VDPA_SET_GROUP_ASID. The group travels in the vring ioctl's index, so a group ≥ the vq count
   * is ENOBUFS; an ASID ≥ the AS count is EINVAL. Linux 6.12's vdpasim checks `group > ngroups`
   * (off by one): on vdpa_sim_net group == ngroups is accepted and binds nothing; the full profile
   * refuses it (EINVAL) as the fixed kernel does. Allowed at any time, as in the kernel: the queues of
   * a running group move to the new address space at once (vringh_set_iotlb), keeping their position.
   */
  setGroupAsid(group: number, asid: number): E.Either<DeviceError, void> {
    const op = 'VHOST_VDPA_SET_GROUP_ASID';
    if (this.core.closed) return this.core.closedErr(op);
    if (!Number.isInteger(group) || group < 0 || group >= this.queues.list.length) return errnoErr('invalid', op, 'ENOBUFS', `group ${group} is not a vring index (the device has ${this.queues.list.length})`);
    if (!Number.isInteger(asid) || asid < 0 || asid >= this.profile.asNum) return errnoErr('invalid', op, 'EINVAL', `ASID ${asid} (the device has ${this.profile.asNum})`);
    const quirk = this.profile.name === 'vdpa_sim_net';
    if (group > this.profile.groupNum || (group === this.profile.groupNum && !quirk)) return errnoErr('invalid', op, 'EINVAL', `group ${group} (the device has ${this.profile.groupNum})`);
    if (group === this.profile.groupNum) return ok; // vdpasim's off-by-one: accepted, no queue is in that group
    if (this.core.groupAsid[group] === asid) return ok;
    this.core.groupAsid[group] = asid;
    this.queues.rebind(group);
    return ok;
  }

  getIovaRange(): E.Either<DeviceError, IovaRange> {
    return this.core.closed ? this.core.closedErr('VHOST_VDPA_GET_IOVA_RANGE') : E.right(this.iovaRange());
  }

  // ---- virtqueues ----

  /**
   * VHOST_SET_VRING_NUM: a power of two in 1..max (vhost). Like vdpa_sim's set_vq_num it is only
   * stored: a running ring keeps its size until the queue is enabled again.
   */
  setVringNum(qi: number, num: number): E.Either<DeviceError, void> {
    const op = 'VHOST_SET_VRING_NUM';
    const q = this.queueOr(op, qi);
    if (E.isLeft(q)) return q;
    if (!Number.isInteger(num) || num <= 0 || num > this.profile.vringNum || (num & (num - 1)) !== 0) {
      return errnoErr('invalid', op, 'EINVAL', `queue size ${num} is not a power of two in 1..${this.profile.vringNum}`);
    }
    q.right.num = num;
    return ok;
  }

  /**
   * VHOST_SET_VRING_ADDR: IOVAs; avail (driver area) 2-byte and used (device area) 4-byte aligned
   * (vhost). After DRIVER_OK only while suspended (EINVAL otherwise, vhost_vdpa_vring_ioctl); the new
   * addresses take effect when the queue is next enabled (vdpasim_queue_ready).
   */
  setVringAddr(qi: number, addrs: RingAddrs): E.Either<DeviceError, void> {
    const op = 'VHOST_SET_VRING_ADDR';
    const q = this.queueOr(op, qi);
    if (E.isLeft(q)) return q;
    const { desc, driver, device } = addrs;
    if (![desc, driver, device].every((a) => Number.isSafeInteger(a) && a >= 0)) return errnoErr('invalid', op, 'EFAULT', 'ring addresses must be integers below 2^53');
    if (driver % 2 !== 0 || device % 4 !== 0) return errnoErr('invalid', op, 'EINVAL', `misaligned ring: avail 0x${driver.toString(16)}, used 0x${device.toString(16)}`);
    if (this.core.runningUnsuspended()) return errnoErr('state', op, 'EINVAL', 'ring addresses change after DRIVER_OK only while suspended');
    q.right.addrs = { desc, driver, device };
    return ok;
  }

  /**
   * VHOST_SET_VRING_BASE. Split: last_avail_idx (≤ 0xffff, else EINVAL). Packed: vhost's
   * `avail idx | wrap << 15 | used idx << 16 | used wrap << 31`. After DRIVER_OK only while suspended
   * (EINVAL otherwise); a live ring takes it at once (vdpasim_set_vq_state).
   */
  setVringBase(qi: number, base: number): E.Either<DeviceError, void> {
    const op = 'VHOST_SET_VRING_BASE';
    const q = this.queueOr(op, qi);
    if (E.isLeft(q)) return q;
    const layout = this.core.layoutNegotiated();
    if (!Number.isInteger(base) || base < 0 || base > 0xffffffff || (layout === 'split' && base > 0xffff)) {
      return errnoErr('invalid', op, 'EINVAL', `vring base 0x${base.toString(16)} for a ${layout} ring`);
    }
    if (this.core.runningUnsuspended()) return errnoErr('state', op, 'EINVAL', 'the vring base changes after DRIVER_OK only while suspended');
    const b = decodeBase(layout, base);
    const next = layout === 'split' ? { availIdx: b.availIdx, availWrap: true, usedIdx: b.availIdx, usedWrap: true } : b;
    // A packed index is a descriptor position (§2.8.1): it must be below the queue size.
    if (layout === 'packed' && (next.availIdx >= q.right.num || next.usedIdx >= q.right.num)) {
      return errnoErr('invalid', op, 'EINVAL', `vring base 0x${base.toString(16)}: index beyond a packed ring of ${q.right.num}`);
    }
    if (q.right.ring !== undefined) {
      const bad = q.right.ring.setBase(next);
      if (bad !== undefined) return errnoErr('invalid', op, 'EINVAL', bad.message);
    }
    q.right.base = next;
    return ok;
  }

  /** VHOST_GET_VRING_BASE: from the running ring when there is one (e.g. after SUSPEND), else the stored base. */
  getVringBase(qi: number): E.Either<DeviceError, number> {
    const op = 'VHOST_GET_VRING_BASE';
    const q = this.queueOr(op, qi);
    if (E.isLeft(q)) return q;
    const s = q.right;
    const b = s.ring !== undefined ? s.ring.base() : s.base;
    return E.right(encodeBase(s.ring !== undefined ? s.layout : this.core.layoutNegotiated(), b));
  }

  /**
   * VHOST_VDPA_SET_VRING_ENABLE. Enabling after DRIVER_OK starts the queue at once (the device offers
   * ENABLE_AFTER_DRIVER_OK); disabling keeps its position as the vring base.
   */
  setVringEnable(qi: number, enable: boolean): E.Either<DeviceError, void> {
    const q = this.queueOr('VHOST_VDPA_SET_VRING_ENABLE', qi);
    if (E.isLeft(q)) return q;
    const s = q.right;
    if (enable && !s.ready) {
      s.ready = true;
      if ((this.core.status & VIRTIO_CONFIG_S.DRIVER_OK) !== 0) this.queues.start(s);
    } else if (!enable && s.ready) {
      s.ready = false;
      this.queues.stop(s);
    }
    return ok;
  }

  /** VHOST_VDPA_SUSPEND: a no-op before DRIVER_OK (as the kernel); afterwards no queue is processed. */
  suspend(): E.Either<DeviceError, void> {
    const op = 'VHOST_VDPA_SUSPEND';
    if (this.core.closed) return this.core.closedErr(op);
    if ((this.core.status & VIRTIO_CONFIG_S.DRIVER_OK) === 0) return ok;
    const f = this.core.faults.simple('suspend-fails');
    if (f !== undefined) return this.core.faultErr(op, f.errno ?? ERRNO.EIO, 'suspend refused (injected fault)');
    this.core.suspended = true;
    return ok;
  }

  /** VHOST_VDPA_RESUME: kicks that arrived while suspended are replayed (vdpasim's pending_kick). */
  resume(): E.Either<DeviceError, void> {
    const op = 'VHOST_VDPA_RESUME';
    if (this.core.closed) return this.core.closedErr(op);
    if ((this.core.status & VIRTIO_CONFIG_S.DRIVER_OK) === 0) return ok;
    const f = this.core.faults.simple('resume-fails');
    if (f !== undefined) return this.core.faultErr(op, f.errno ?? ERRNO.EIO, 'resume refused (injected fault)');
    if (!this.core.suspended) return ok;
    this.core.suspended = false;
    const deferred = this.core.afterResume.splice(0);
    for (const fn of deferred) fn();
    if (this.core.pendingKick) {
      this.core.pendingKick = false;
      for (const q of this.queues.list) if (q.ring !== undefined) this.queues.markKicked(q);
    }
    return ok;
  }

  // ---- IOTLB ----

  iotlbBatchBegin(asid: number): E.Either<DeviceError, void> {
    const r = this.iotlbOr('VHOST_IOTLB_BATCH_BEGIN', asid, true);
    if (E.isLeft(r)) return r;
    this.inBatch = true;
    return ok;
  }

  /** vdpa_sim maps with dma_map, so updates take effect at once; the batch only frames them. */
  iotlbBatchEnd(asid: number): E.Either<DeviceError, void> {
    const r = this.iotlbOr('VHOST_IOTLB_BATCH_END', asid);
    if (E.isLeft(r)) return r;
    if (this.inBatch) this.stats.iotlbBatches++;
    this.inBatch = false;
    return ok;
  }

  iotlbUpdate(asid: number, iova: number, size: number, hva: number, perm: number): E.Either<DeviceError, void> {
    const op = 'VHOST_IOTLB_UPDATE';
    const t = this.iotlbOr(op, asid, true);
    if (E.isLeft(t)) return t;
    const f = this.core.faults.iotlbUpdate(asid);
    if (f !== undefined) return this.core.faultErr(op, f.errno ?? ERRNO.ENOMEM, `IOTLB map of 0x${iova.toString(16)} (+0x${size.toString(16)}) in ASID ${asid} failed (injected fault)`);
    const r = t.right.update(this.host, iova, size, hva, perm, this.iovaRange());
    if (E.isLeft(r)) return E.left(deviceError('iotlb', op, `ASID ${asid}: ${r.left.message}`, r.left.errno, errnoNameOf(r.left.errno)));
    this.stats.iotlbUpdates++;
    return ok;
  }

  iotlbInvalidate(asid: number, iova: number, size: number): E.Either<DeviceError, void> {
    const t = this.iotlbOr('VHOST_IOTLB_INVALIDATE', asid);
    if (E.isLeft(t)) return t;
    t.right.invalidate(iova, size);
    this.stats.iotlbInvalidates++;
    return ok;
  }

  // ---- notifications ----

  /** Write queue `qi`'s kick eventfd: processing happens deferred (or in `waitCall` / `flush`). */
  kick(qi: number): E.Either<DeviceError, void> {
    const q = this.queueOr('kick', qi);
    if (E.isLeft(q)) return q;
    this.stats.kicks++;
    const s = q.right;
    if (this.core.suspended) {
      this.core.pendingKick = true;
      return ok;
    }
    if (s.ring === undefined) return ok; // not ready or no DRIVER_OK: the kick is ignored (vdpasim)
    this.queues.markKicked(s);
    return ok;
  }

  /**
   * Wait for queue `qi`'s call. Pending kicks are processed first; if no call comes, virtual time
   * advances to the next timed event (a delayed ack) within the timeout, else to the timeout itself
   * and the answer is false. Never sleeps.
   */
  async waitCall(qi: number, timeoutMs: number): Promise<E.Either<DeviceError, boolean>> {
    const q = this.queueOr('waitCall', qi);
    if (E.isLeft(q)) return q;
    await Promise.resolve();
    const s = q.right;
    const deadline = this.clock.now + Math.max(0, timeoutMs) * 1000;
    for (;;) {
      if (this.core.closed) return this.core.closedErr('waitCall');
      this.queues.drain();
      if (s.callPending) {
        s.callPending = false;
        return E.right(true);
      }
      const next = this.clock.nextEventAt();
      if (next !== undefined && next <= deadline) {
        this.clock.advanceTo(next);
        continue;
      }
      this.clock.advanceTo(deadline);
      this.queues.drain();
      if (s.callPending) {
        s.callPending = false;
        return E.right(true);
      }
      return E.right(false);
    }
  }

  close(): void {
    this.core.closed = true;
    this.clock.cancelAll();
    for (const q of this.queues.list) q.ring = undefined;
    for (const t of this.core.iotlbs) t.clear();
  }

  private configMacString(): MacString {
    return formatMac(this.core.model.configMac);
  }

  /** struct virtio_net_config (virtio 1.2 §5.1.4), little-endian, `configSize` bytes. */
  private configBytes(): Uint8Array {
    const p = this.profile;
    const b = new Uint8Array(Math.max(24, p.configSize));
    const v = new DataView(b.buffer);
    b.set(this.core.model.configMac, 0);
    v.setUint16(6, VIRTIO_NET_S_LINK_UP | (this.core.model.announcePending ? VIRTIO_NET_S_ANNOUNCE : 0), true);
    v.setUint16(8, this.core.maxQueuePairs, true);
    v.setUint16(10, p.mtu, true);
    v.setUint32(12, p.speed >>> 0, true);
    b[16] = p.duplex;
    b[17] = p.rssMaxKeySize;
    v.setUint16(18, p.rssMaxIndirectionTableLength, true);
    v.setUint32(20, p.supportedHashTypes >>> 0, true);
    return b.subarray(0, p.configSize);
  }

  private queueOr(op: string, qi: number): E.Either<DeviceError, SimQueue> {
    if (this.core.closed) return this.core.closedErr(op);
    const q = Number.isInteger(qi) && qi >= 0 ? this.queues.list[qi] : undefined;
    return q === undefined ? errnoErr('invalid', op, 'ENOBUFS', `queue ${qi} (the device has ${this.queues.list.length})`) : E.right(q);
  }

  /**
   * The IOTLB of `asid` for an IOTLB message. vhost-vdpa creates an address space on the first UPDATE
   * or BATCH_BEGIN (`create`); INVALIDATE and BATCH_END on one never created are EINVAL.
   */
  private iotlbOr(op: string, asid: number, create = false): E.Either<DeviceError, Iotlb> {
    if (this.core.closed) return this.core.closedErr(op);
    if (!this.core.owned) return errnoErr('ioctl', op, 'EPERM', 'VHOST_SET_OWNER first');
    if (asid !== 0 && !this.core.backendHas(VHOST_BACKEND_F.IOTLB_ASID)) return errnoErr('invalid', op, 'EINVAL', `ASID ${asid} without VHOST_BACKEND_F_IOTLB_ASID`);
    const t = Number.isInteger(asid) && asid >= 0 ? this.core.iotlbs[asid] : undefined;
    if (t === undefined) return errnoErr('invalid', op, 'EINVAL', `ASID ${asid} (the device has ${this.core.iotlbs.length})`);
    if (create) this.asCreated[asid] = true;
    else if (!this.asCreated[asid]) return errnoErr('invalid', op, 'EINVAL', `ASID ${asid} has no address space yet (no UPDATE or BATCH_BEGIN)`);
    return E.right(t);
  }

  // ---- internals ----

  private reset(): void {
    const core = this.core;
    core.status = 0;
    core.setDriverFeatures(0n);
    core.suspended = false;
    core.pendingKick = false;
    core.afterResume.length = 0;
    this.inBatch = false;
    core.clock.cancelAll();
    this.queues.resetAll();
    this.loopback.reset();
    core.groupAsid.fill(0);
    // vhost-vdpa resets with VDPA_RESET_F_CLEAN_MAP unless the driver acked IOTLB_PERSIST.
    if (!core.backendHas(VHOST_BACKEND_F.IOTLB_PERSIST)) for (const t of core.iotlbs) t.clear();
    core.model.reset(this.profile.macSurvivesReset ? formatMac(core.model.configMac) : core.provisionedMac, 0n);
  }

  private iovaRange(): IovaRange {
    return { first: this.profile.iovaFirst, last: this.profile.iovaLast };
  }
}
