/**
 * The embedded simulated virtio-net vDPA device: the vhost-vdpa uAPI (`VdpaDevice`) with the kernel's
 * semantics (drivers/vhost/vdpa.c over drivers/vdpa/vdpa_sim), so the SVQ engine, the CVQ engine and
 * the machines drive it exactly as they drive `/dev/vhost-vdpa-N`.
 *
 * - Host memory: `allocHost` hands out page-aligned regions at synthetic user addresses in `host`.
 * - IOTLB per ASID (`Iotlb`): IOVA ranges aliasing host buffers; virtqueue groups as vdpa_sim (the CVQ
 *   alone in group 1), groups bound to ASIDs with SET_GROUP_ASID, all back to ASID 0 on reset.
 * - Status and features (virtio 1.2 §2.1, §3.1.1) with vhost-vdpa's rule that only a reset clears bits.
 * - Queues: at DRIVER_OK (or enable after it) each ready queue gets a device-side ring from the ring
 *   layer over its group's IOVA space: split or packed per RING_PACKED, EVENT_IDX and INDIRECT_DESC per
 *   negotiation, resuming from its vring base.
 * - Kicks are processed deferred (setImmediate) or on demand by `waitCall` / `flush`; time is a
 *   `VirtualClock`: a kick's processing completes one kick-to-call latency later (plus a per-chain
 *   cost), and a wait that nothing answers advances virtual time to its timeout instead of sleeping.
 * - CVQ (§5.1.6.5): the readable bytes of each chain, copied before use, go to the profile's CVQ model;
 *   the 1-byte ack goes to the first writable byte; used len = bytes written.
 * - Data queues: vdpa_sim_net's loopback — every TX chain (virtio_net_hdr included) is copied into the
 *   next RX chain of the same pair, used len = bytes written; TX completes with len 0.
 * - Faults (`FaultPlan`): see faults.ts.
 */
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace, PAGE_SIZE, type Region } from '../../memory/address-space.js';
import { decodeBase, encodeBase, ringFactory } from '../../ring/index.js';
import { Chain, type RingAddrs, type RingBase, type RingDevice, type RingError, type RingLayout } from '../../ring/types.js';
import type { NetDeviceState } from '../../state/net-state.js';
import { checkFeatureDependencies, formatFeatures, hasFeature } from '../../virtio/features.js';
import {
  QEMU_MAC_TABLE_ENTRIES,
  VIRTIO_NET_ERR,
  VIRTIO_NET_OK,
  VIRTIO_NET_S_ANNOUNCE,
  VIRTIO_NET_S_LINK_UP, formatMac, isMacString, normaliseMac, type MacString } from '../../virtio/net.js';
import { deviceError, VHOST_ACCESS_RO, VHOST_ACCESS_RW, VHOST_ACCESS_WO, VHOST_BACKEND_F, type DeviceError, type DeviceErrorKind, type IovaRange, type VdpaDevice } from '../types.js';
import { VIRTIO_CONFIG_S } from '../../virtio/status.js';
import { VirtualClock } from './clock.js';
import { ERRNO, type ErrnoName } from './errno.js';
import { cvqCommandName, FaultState, type FaultPlan } from './faults.js';
import { Iotlb } from './iotlb.js';
import { ModelCvq, VdpaSimNetCvq, type CvqModel } from './net-model.js';
import { PROFILES, type ProfileName, type SimProfile } from './profiles.js';
import { acceptFrame, hdrLenOf } from './rx-filter.js';

export { VIRTIO_CONFIG_S };

/** VIRTIO_ID_NET (virtio 1.2 §5). */
export const VIRTIO_ID_NET = 1;

/**
 * Largest CVQ command the device reads: above the biggest valid one (an RSS config with a 32768-entry
 * table, ≈ 64 KiB) with room to spare; longer chains are refused without being copied whole.
 */
export const CVQ_MAX_COMMAND = 1 << 20;

/** Synthetic host addresses start here (a typical x86-64 mmap area). */
const HOST_BASE = 0x7f00_0000_0000;

export interface SimLatency {
  /** Simulated µs from a kick to the device's call for the work it caused (default 50). */
  readonly kickToCallUs?: number;
  /** Simulated µs the device spends per chain (default 0.5). */
  readonly perChainUs?: number;
}

export interface SimDeviceOptions {
  readonly profile?: ProfileName | SimProfile;
  readonly name?: string;
  /** The provisioned MAC ("vdpa dev add … mac"); default 52:54:00:12:34:56. */
  readonly mac?: MacString;
  /** Override the profile's max_virtqueue_pairs (full profile). */
  readonly maxQueuePairs?: number;
  /** vdpa_sim_net only: reproduce vdpasim_handle_cvq's stale ack (status not reset between commands). */
  readonly staleAck?: boolean;
  readonly latency?: SimLatency;
  readonly faults?: FaultPlan;
}

/** One CVQ command as the device saw it. */
export interface CvqLogEntry {
  readonly cls: number;
  readonly cmd: number;
  readonly name: string;
  /** Header + payload bytes as read. */
  readonly bytes: Uint8Array;
  /** The ack written, or undefined when none was (no-answer, delayed and not yet due, missing header). */
  ack: number | undefined;
  readonly reason: string;
  /** Virtual time (µs) of the pop and of the ack. */
  readonly poppedAt: number;
  ackedAt: number | undefined;
}

export interface SimStats {
  kicks: number;
  calls: number;
  chains: number;
  cvqCommands: number;
  acksOk: number;
  acksErr: number;
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  rxDrops: number;
  rxOverruns: number;
  rxTruncated: number;
  iotlbUpdates: number;
  iotlbInvalidates: number;
  iotlbBatches: number;
  deviceErrors: number;
}

const newStats = (): SimStats => ({
  kicks: 0,
  calls: 0,
  chains: 0,
  cvqCommands: 0,
  acksOk: 0,
  acksErr: 0,
  txPackets: 0,
  txBytes: 0,
  rxPackets: 0,
  rxBytes: 0,
  rxDrops: 0,
  rxOverruns: 0,
  rxTruncated: 0,
  iotlbUpdates: 0,
  iotlbInvalidates: 0,
  iotlbBatches: 0,
  deviceErrors: 0,
});

/** A device error recorded by the simulator (a ring rule broken by the driver, a bad buffer …). */
export interface SimDeviceFault {
  readonly queue: number;
  readonly message: string;
  readonly ring?: RingError;
}

class SimQueue {
  num: number;
  addrs: RingAddrs | undefined;
  ready = false;
  /** vhost's vring base while the queue is not running. */
  base: RingBase = { availIdx: 0, availWrap: true, usedIdx: 0, usedWrap: true };
  ring: RingDevice | undefined;
  layout: RingLayout = 'split';
  /** A kick not yet processed, and the virtual time of the first such kick. */
  kicked = false;
  kickAt = 0;
  callPending = false;
  /** CVQ waiting on a delayed ack, or wedged by a no-answer fault (until reset). */
  stalled = false;
  readonly chain: Chain;

  constructor(
    readonly index: number,
    maxNum: number,
  ) {
    this.num = maxNum;
    this.chain = new Chain(Math.max(1024, maxNum));
  }

  resetState(maxNum: number): void {
    this.num = maxNum;
    this.addrs = undefined;
    this.ready = false;
    this.base = { availIdx: 0, availWrap: true, usedIdx: 0, usedWrap: true };
    this.ring = undefined;
    this.kicked = false;
    this.callPending = false;
    this.stalled = false;
  }
}

/**
 * One frame being delivered over several RX buffers (VIRTIO_NET_F_MRG_RXBUF, virtio 1.2 §5.1.6.4.2):
 * its bytes, the TX chain it came from, and the RX chains filled so far. When RX buffers run out
 * midway the assembly waits for the next RX kick; nothing is completed until the frame is whole.
 */
class RxAssembly {
  active = false;
  txId = 0;
  txDescs = 0;
  txLen: number | undefined;
  txIdOverride: number | undefined;
  len = 0;
  pos = 0;
  count = 0;
  readonly ids: Uint16Array;
  readonly descs: Uint16Array;
  readonly lens: Uint32Array;
  /** The first RX chain (its header gets num_buffers). */
  readonly first: Chain;

  constructor(
    readonly frame: Uint8Array,
    maxParts: number,
  ) {
    this.ids = new Uint16Array(maxParts);
    this.descs = new Uint16Array(maxParts);
    this.lens = new Uint32Array(maxParts);
    this.first = new Chain(Math.max(1024, maxParts));
  }
}

const errnoErr = (kind: DeviceErrorKind, op: string, name: ErrnoName, message: string): E.Either<DeviceError, never> =>
  E.left(deviceError(kind, op, message, ERRNO[name], name));

const ok = E.right(undefined) as E.Either<DeviceError, void>;

export class SimVdpaDevice implements VdpaDevice {
  readonly kind = 'sim' as const;
  readonly name: string;
  readonly host: AddressSpace;
  readonly profile: SimProfile;
  readonly clock = new VirtualClock();
  readonly stats: SimStats = newStats();
  /** Every CVQ command the device popped, in order (tests and the demo read it). */
  readonly cvqLog: CvqLogEntry[] = [];
  /** Device errors seen (each also counted in `stats.deviceErrors`). */
  readonly errors: SimDeviceFault[] = [];

  private readonly maxQueuePairs: number;
  private readonly provisionedMac: MacString;
  private readonly kickToCallUs: number;
  private readonly perChainUs: number;
  private readonly queues: SimQueue[];
  private readonly iotlbs: Iotlb[];
  private readonly groupAsid: number[];
  private readonly model: CvqModel;
  private faults: FaultState;

  private owned = false;
  private closed = false;
  private status = 0;
  /** Features the driver wrote (SET_FEATURES), as the device keeps them. */
  private driverFeatures = 0n;
  /** The bits the hot paths test, taken out of `driverFeatures` once (no BigInt per packet). */
  private fCtrlVq = false;
  private fMq = false;
  private fMrgRxbuf = false;
  private fCtrlVlan = false;
  private hdrLen = 10;
  private backendAcked = 0n;
  private suspended = false;
  private pendingKick = false;
  private readonly afterResume: (() => void)[] = [];
  private inBatch = false;
  private nextHost = HOST_BASE;
  private drainScheduled = false;
  private readonly callListeners = new Map<number, Set<() => void>>();
  /** Loopback scratch: one frame, reused (no allocation per packet). */
  private readonly frame: Uint8Array;
  private readonly rxChain: Chain;
  /** Per pair, made on first use: mergeable-RX assemblies (each with its own frame buffer). */
  private readonly assemblies = new Map<number, RxAssembly>();
  /** Address spaces vhost-vdpa has created (on the first UPDATE / BATCH_BEGIN of an ASID). */
  private readonly asCreated: boolean[] = [];
  /** Permission of every IOVA region of every ASID (shared with the IOTLBs). */
  private readonly regionPerms = new Map<Region, number>();

  /** A device from options that may come from a user (CLI, state file): bad ones are an error value. */
  static create(opts: SimDeviceOptions = {}): E.Either<DeviceError, SimVdpaDevice> {
    const bad = checkSimOptions(opts);
    return bad === undefined ? E.right(new SimVdpaDevice(opts)) : E.left(deviceError('invalid', 'open', bad));
  }

  /** Options are the caller's contract (see `create` for unchecked input); invalid ones throw a TypeError. */
  constructor(opts: SimDeviceOptions = {}) {
    const bad = checkSimOptions(opts);
    if (bad !== undefined) throw new TypeError(`SimVdpaDevice: ${bad}`);
    const p = typeof opts.profile === 'object' ? opts.profile : PROFILES[opts.profile ?? 'full'];
    this.profile = p;
    this.name = opts.name ?? `sim-${p.name}`;
    this.host = new AddressSpace(`hva:${this.name}`);
    this.maxQueuePairs = opts.maxQueuePairs ?? p.maxQueuePairs;
    this.provisionedMac = normaliseMac(opts.mac ?? '52:54:00:12:34:56');
    this.kickToCallUs = opts.latency?.kickToCallUs ?? 50;
    this.perChainUs = opts.latency?.perChainUs ?? 0.5;
    const nvqs = 2 * this.maxQueuePairs + 1;
    this.queues = Array.from({ length: nvqs }, (_, i) => new SimQueue(i, p.vringNum));
    this.iotlbs = Array.from({ length: p.asNum }, (_, i) => new Iotlb(i, this.name, this.regionPerms));
    this.groupAsid = new Array<number>(p.groupNum).fill(0);
    this.model =
      p.cvq === 'vdpa_sim_net'
        ? new VdpaSimNetCvq(this.provisionedMac, opts.staleAck ?? false)
        : new ModelCvq(this.provisionedMac, {
            maxQueuePairs: this.maxQueuePairs,
            rssMaxIndirectionTableLength: p.rssMaxIndirectionTableLength,
            rssMaxKeySize: p.rssMaxKeySize,
            supportedHashTypes: p.supportedHashTypes,
            macTableEntries: QEMU_MAC_TABLE_ENTRIES,
          });
    this.faults = new FaultState(opts.faults ?? []);
    this.frame = new Uint8Array(p.txMaxBytes);
    this.rxChain = new Chain(Math.max(1024, p.vringNum));
  }

  // ---- introspection (not part of the uAPI) ----

  /** The virtio-net state the device holds (what a CVQ restore must reproduce). */
  netState(): NetDeviceState {
    return this.model.state();
  }

  /** The features the device runs with (the driver's SET_FEATURES as the device kept them). */
  negotiatedFeatures(): bigint {
    return this.driverFeatures;
  }

  ackedBackendFeatures(): bigint {
    return this.backendAcked;
  }

  isSuspended(): boolean {
    return this.suspended;
  }

  /** Index of the control virtqueue for the features written so far (2 × max pairs with MQ, else 2). */
  cvqIndex(): number {
    return this.fMq ? 2 * this.maxQueuePairs : 2;
  }

  /** IOVA view of an address space (tests inspect it; the SVQ engine never needs it). */
  iovaSpace(asid: number): AddressSpace | undefined {
    return this.iotlbs[asid]?.space;
  }

  iotlbEntries(asid: number) {
    return this.iotlbs[asid]?.entries() ?? [];
  }

  /** The ASID whose IOVA space queue `qi`'s group uses. */
  queueAsid(qi: number): number {
    return this.groupAsid[this.groupOf(qi)]!;
  }

  /** Replace the fault plan (hit counters start over). */
  setFaults(plan: FaultPlan): void {
    this.faults = new FaultState(plan);
  }

  faultHits(): readonly number[] {
    return this.faults.hits;
  }

  /** Set DEVICE_NEEDS_RESET now (§2.1.2), as a device that hit an internal error. */
  injectNeedsReset(reason = 'injected'): void {
    this.needsReset(-1, reason);
  }

  /**
   * Ask the driver to announce itself (virtio 1.2 §5.1.6.5.4, after a migration): sets
   * VIRTIO_NET_S_ANNOUNCE in config status until the driver's ANNOUNCE_ACK. False (nothing set) when
   * GUEST_ANNOUNCE is not negotiated or the device is not running.
   */
  announce(): boolean {
    if (!hasFeature(this.driverFeatures, 'GUEST_ANNOUNCE') || (this.status & VIRTIO_CONFIG_S.DRIVER_OK) === 0) return false;
    this.model.announcePending = true;
    return true;
  }

  /** Called (in a microtask) whenever the device signals queue `qi`; returns an unsubscribe function. */
  onCall(qi: number, fn: () => void): () => void {
    let set = this.callListeners.get(qi);
    if (set === undefined) this.callListeners.set(qi, (set = new Set()));
    set.add(fn);
    return () => void set.delete(fn);
  }

  /** Process every pending kick now (synchronously). */
  flush(): void {
    this.drain();
  }

  /** Process pending kicks and fire every timed event (delayed acks), advancing virtual time as needed. */
  settle(): void {
    for (;;) {
      this.drain();
      const next = this.clock.nextEventAt();
      if (next === undefined) break;
      this.clock.advanceTo(next);
    }
  }

  // ---- host memory ----

  allocHost(size: number, name?: string): E.Either<DeviceError, Region> {
    if (this.closed) return this.closedErr('allocHost');
    if (!Number.isSafeInteger(size) || size <= 0) return errnoErr('invalid', 'mmap', 'EINVAL', `host allocation of ${size} bytes`);
    const len = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    let buf: ArrayBuffer;
    try {
      buf = new ArrayBuffer(len);
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
    if (this.closed) return this.closedErr('freeHost');
    const r = this.host.removeRegion(region.base);
    return E.isLeft(r) ? errnoErr('invalid', 'munmap', 'EINVAL', r.left.message) : ok;
  }

  // ---- device identity and negotiation ----

  setOwner(): E.Either<DeviceError, void> {
    if (this.closed) return this.closedErr('VHOST_SET_OWNER');
    if (this.owned) return errnoErr('ioctl', 'VHOST_SET_OWNER', 'EBUSY', 'the device already has an owner');
    this.owned = true;
    return ok;
  }

  getDeviceId(): E.Either<DeviceError, number> {
    return this.closed ? this.closedErr('VHOST_VDPA_GET_DEVICE_ID') : E.right(VIRTIO_ID_NET);
  }

  getFeatures(): E.Either<DeviceError, bigint> {
    return this.closed ? this.closedErr('VHOST_GET_FEATURES') : E.right(this.profile.deviceFeatures);
  }

  /**
   * VHOST_SET_FEATURES: EBUSY once FEATURES_OK is set; EINVAL without ACCESS_PLATFORM ("DMA mapping must
   * be done by driver", vdpasim_set_driver_features). vdpa_sim_net keeps `features & supported`; the
   * full profile keeps what was written and judges it at FEATURES_OK.
   */
  setFeatures(features: bigint): E.Either<DeviceError, void> {
    const op = 'VHOST_SET_FEATURES';
    if (this.closed) return this.closedErr(op);
    if ((this.status & VIRTIO_CONFIG_S.FEATURES_OK) !== 0) return errnoErr('state', op, 'EBUSY', 'FEATURES_OK is already set');
    if (features < 0n || features >= 1n << 64n) return errnoErr('invalid', op, 'EINVAL', 'features are a u64');
    if (!hasFeature(features, 'ACCESS_PLATFORM')) return errnoErr('invalid', op, 'EINVAL', 'VIRTIO_F_ACCESS_PLATFORM is required (DMA mapping is done by the driver)');
    this.setDriverFeatures(this.profile.featureCheck === 'mask' ? features & this.profile.deviceFeatures : features);
    return ok;
  }

  getBackendFeatures(): E.Either<DeviceError, bigint> {
    return this.closed ? this.closedErr('VHOST_GET_BACKEND_FEATURES') : E.right(this.profile.backendFeatures);
  }

  setBackendFeatures(features: bigint): E.Either<DeviceError, void> {
    const op = 'VHOST_SET_BACKEND_FEATURES';
    if (this.closed) return this.closedErr(op);
    if ((features & ~this.profile.backendFeatures) !== 0n) {
      return errnoErr('unsupported', op, 'EOPNOTSUPP', `backend features 0x${features.toString(16)} beyond the offered 0x${this.profile.backendFeatures.toString(16)}`);
    }
    this.backendAcked = features;
    return ok;
  }

  getStatus(): E.Either<DeviceError, number> {
    return this.closed ? this.closedErr('VHOST_VDPA_GET_STATUS') : E.right(this.status);
  }

  /**
   * VHOST_VDPA_SET_STATUS. 0 resets the device. Otherwise no bit may be cleared (EINVAL, vhost-vdpa:
   * "Userspace shouldn't remove status bits unless reset the status to 0"). FEATURES_OK is not kept
   * when the full profile refuses the features (virtio 1.2 §3.1.1 step 5-6: the driver re-reads it).
   * DRIVER_OK starts every ready queue.
   */
  setStatus(status: number): E.Either<DeviceError, void> {
    const op = 'VHOST_VDPA_SET_STATUS';
    if (this.closed) return this.closedErr(op);
    if (!Number.isInteger(status) || status < 0 || status > 0xff) return errnoErr('invalid', op, 'EINVAL', `status ${status} is not a u8`);
    const old = this.status;
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
      else this.model.reset(this.configMacString(), this.driverFeatures);
    }
    this.status = next;
    if ((next & VIRTIO_CONFIG_S.DRIVER_OK) !== 0 && (old & VIRTIO_CONFIG_S.DRIVER_OK) === 0) {
      for (const q of this.queues) if (q.ready) this.startQueue(q);
    }
    return ok;
  }

  /** Why the full profile refuses the written features at FEATURES_OK, or undefined when it accepts them. */
  featuresRefused(): string | undefined {
    if (this.profile.featureCheck === 'mask') return undefined;
    const extra = this.driverFeatures & ~this.profile.deviceFeatures;
    if (extra !== 0n) return `features ${formatFeatures(extra)} are not offered`;
    if (!hasFeature(this.driverFeatures, 'VERSION_1')) return 'VIRTIO_F_VERSION_1 is required (modern device)';
    const dep = checkFeatureDependencies(this.driverFeatures);
    return E.isLeft(dep) ? dep.left.message : undefined;
  }

  /** VHOST_VDPA_GET_CONFIG: EINVAL for len 0 or offset beyond the size, E2BIG past the end. */
  getConfig(offset: number, len: number): E.Either<DeviceError, Uint8Array> {
    const op = 'VHOST_VDPA_GET_CONFIG';
    if (this.closed) return this.closedErr(op);
    const size = this.profile.configSize;
    if (!Number.isInteger(offset) || !Number.isInteger(len) || offset < 0 || len <= 0 || offset > size) {
      return errnoErr('invalid', op, 'EINVAL', `config read of ${len} byte(s) at ${offset} (config size ${size})`);
    }
    if (len > size - offset) return errnoErr('invalid', op, 'E2BIG', `config read of ${len} byte(s) at ${offset} runs past ${size}`);
    return E.right(this.configBytes().slice(offset, offset + len));
  }

  getConfigSize(): E.Either<DeviceError, number> {
    return this.closed ? this.closedErr('VHOST_VDPA_GET_CONFIG_SIZE') : E.right(this.profile.configSize);
  }

  getVringNum(): E.Either<DeviceError, number> {
    return this.closed ? this.closedErr('VHOST_VDPA_GET_VRING_NUM') : E.right(this.profile.vringNum);
  }

  getVqsCount(): E.Either<DeviceError, number> {
    return this.closed ? this.closedErr('VHOST_VDPA_GET_VQS_COUNT') : E.right(this.queues.length);
  }

  getGroupNum(): E.Either<DeviceError, number> {
    return this.closed ? this.closedErr('VHOST_VDPA_GET_GROUP_NUM') : E.right(this.profile.groupNum);
  }

  getAsNum(): E.Either<DeviceError, number> {
    return this.closed ? this.closedErr('VHOST_VDPA_GET_AS_NUM') : E.right(this.profile.asNum);
  }

  getVringGroup(qi: number): E.Either<DeviceError, number> {
    const op = 'VHOST_VDPA_GET_VRING_GROUP';
    const q = this.queueOr(op, qi);
    return E.isLeft(q) ? q : E.right(this.groupOf(qi));
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
    if (this.closed) return this.closedErr(op);
    if (!Number.isInteger(group) || group < 0 || group >= this.queues.length) return errnoErr('invalid', op, 'ENOBUFS', `group ${group} is not a vring index (the device has ${this.queues.length})`);
    if (!Number.isInteger(asid) || asid < 0 || asid >= this.profile.asNum) return errnoErr('invalid', op, 'EINVAL', `ASID ${asid} (the device has ${this.profile.asNum})`);
    const quirk = this.profile.name === 'vdpa_sim_net';
    if (group > this.profile.groupNum || (group === this.profile.groupNum && !quirk)) return errnoErr('invalid', op, 'EINVAL', `group ${group} (the device has ${this.profile.groupNum})`);
    if (group === this.profile.groupNum) return ok; // vdpasim's off-by-one: accepted, no queue is in that group
    if (this.groupAsid[group] === asid) return ok;
    this.groupAsid[group] = asid;
    for (const q of this.queues) {
      if (q.ring === undefined || this.groupOf(q.index) !== group) continue;
      const b = q.ring.base();
      q.ring = undefined;
      q.base = b;
      this.startQueue(q);
    }
    return ok;
  }

  getIovaRange(): E.Either<DeviceError, IovaRange> {
    return this.closed ? this.closedErr('VHOST_VDPA_GET_IOVA_RANGE') : E.right(this.iovaRange());
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
    if (this.runningUnsuspended()) return errnoErr('state', op, 'EINVAL', 'ring addresses change after DRIVER_OK only while suspended');
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
    const layout = this.layoutNegotiated();
    if (!Number.isInteger(base) || base < 0 || base > 0xffffffff || (layout === 'split' && base > 0xffff)) {
      return errnoErr('invalid', op, 'EINVAL', `vring base 0x${base.toString(16)} for a ${layout} ring`);
    }
    if (this.runningUnsuspended()) return errnoErr('state', op, 'EINVAL', 'the vring base changes after DRIVER_OK only while suspended');
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
    return E.right(encodeBase(s.ring !== undefined ? s.layout : this.layoutNegotiated(), b));
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
      if ((this.status & VIRTIO_CONFIG_S.DRIVER_OK) !== 0) this.startQueue(s);
    } else if (!enable && s.ready) {
      s.ready = false;
      this.stopQueue(s);
    }
    return ok;
  }

  /** VHOST_VDPA_SUSPEND: a no-op before DRIVER_OK (as the kernel); afterwards no queue is processed. */
  suspend(): E.Either<DeviceError, void> {
    const op = 'VHOST_VDPA_SUSPEND';
    if (this.closed) return this.closedErr(op);
    if ((this.status & VIRTIO_CONFIG_S.DRIVER_OK) === 0) return ok;
    const f = this.faults.simple('suspend-fails');
    if (f !== undefined) return this.faultErr(op, f.errno ?? ERRNO.EIO, 'suspend refused (injected fault)');
    this.suspended = true;
    return ok;
  }

  /** VHOST_VDPA_RESUME: kicks that arrived while suspended are replayed (vdpasim's pending_kick). */
  resume(): E.Either<DeviceError, void> {
    const op = 'VHOST_VDPA_RESUME';
    if (this.closed) return this.closedErr(op);
    if ((this.status & VIRTIO_CONFIG_S.DRIVER_OK) === 0) return ok;
    const f = this.faults.simple('resume-fails');
    if (f !== undefined) return this.faultErr(op, f.errno ?? ERRNO.EIO, 'resume refused (injected fault)');
    if (!this.suspended) return ok;
    this.suspended = false;
    const deferred = this.afterResume.splice(0);
    for (const fn of deferred) fn();
    if (this.pendingKick) {
      this.pendingKick = false;
      for (const q of this.queues) if (q.ring !== undefined) this.markKicked(q);
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
    const f = this.faults.iotlbUpdate(asid);
    if (f !== undefined) return this.faultErr(op, f.errno ?? ERRNO.ENOMEM, `IOTLB map of 0x${iova.toString(16)} (+0x${size.toString(16)}) in ASID ${asid} failed (injected fault)`);
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
    if (this.suspended) {
      this.pendingKick = true;
      return ok;
    }
    if (s.ring === undefined) return ok; // not ready or no DRIVER_OK: the kick is ignored (vdpasim)
    this.markKicked(s);
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
      if (this.closed) return this.closedErr('waitCall');
      this.drain();
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
      this.drain();
      if (s.callPending) {
        s.callPending = false;
        return E.right(true);
      }
      return E.right(false);
    }
  }

  close(): void {
    this.closed = true;
    this.clock.cancelAll();
    for (const q of this.queues) q.ring = undefined;
    for (const t of this.iotlbs) t.clear();
  }

  // ---- internals: lifecycle ----

  private setDriverFeatures(f: bigint): void {
    this.driverFeatures = f;
    this.fCtrlVq = hasFeature(f, 'CTRL_VQ');
    this.fMq = hasFeature(f, 'MQ');
    this.fMrgRxbuf = hasFeature(f, 'MRG_RXBUF');
    this.fCtrlVlan = hasFeature(f, 'CTRL_VLAN');
    this.hdrLen = hdrLenOf(f);
  }

  private reset(): void {
    this.status = 0;
    this.setDriverFeatures(0n);
    this.suspended = false;
    this.pendingKick = false;
    this.afterResume.length = 0;
    this.inBatch = false;
    this.clock.cancelAll();
    for (const q of this.queues) q.resetState(this.profile.vringNum);
    for (const a of this.assemblies.values()) a.active = false;
    this.groupAsid.fill(0);
    // vhost-vdpa resets with VDPA_RESET_F_CLEAN_MAP unless the driver acked IOTLB_PERSIST.
    if (!this.backendHas(VHOST_BACKEND_F.IOTLB_PERSIST)) for (const t of this.iotlbs) t.clear();
    this.model.reset(this.profile.macSurvivesReset ? formatMac(this.model.configMac) : this.provisionedMac, 0n);
  }

  private startQueue(q: SimQueue): void {
    if (q.ring !== undefined) return;
    if (q.index >= this.activeQueues()) return;
    if (q.addrs === undefined) {
      this.deviceFault(q.index, `queue ${q.index} enabled without ring addresses`);
      return;
    }
    const layout = this.layoutNegotiated();
    const space = this.iotlbs[this.queueAsid(q.index)]!.space;
    const denied = this.ringAccessDenied(space, layout, q.num, q.addrs);
    if (denied !== undefined) {
      this.deviceFault(q.index, `queue ${q.index}: ${denied}`);
      return;
    }
    const ring = ringFactory(layout).device(space, {
      layout,
      size: q.num,
      addrs: q.addrs,
      eventIdx: hasFeature(this.driverFeatures, 'EVENT_IDX'),
      indirect: hasFeature(this.driverFeatures, 'INDIRECT_DESC'),
    });
    if ('_tag' in ring) {
      this.deviceFault(q.index, `queue ${q.index}: ${ring.message}`, ring);
      return;
    }
    const bad = ring.setBase(q.base);
    if (bad !== undefined) {
      this.deviceFault(q.index, `queue ${q.index}: ${bad.message}`, bad);
      return;
    }
    q.ring = ring;
    q.layout = layout;
  }

  /**
   * The IOTLB permissions a ring needs, as QEMU maps SVQ rings (driver area RO, device area RW): the
   * device reads the descriptor table and driver area and writes the device area; a packed device also
   * writes used descriptors into the descriptor ring. Undefined when the mappings allow it (or the
   * areas are unmapped, which the ring layer reports).
   */
  private ringAccessDenied(space: AddressSpace, layout: RingLayout, num: number, addrs: RingAddrs): string | undefined {
    const l = ringFactory(layout).layoutOf(num);
    const areas: [string, number, number, number][] = [
      ['descriptor area', addrs.desc, l.desc.size, layout === 'packed' ? VHOST_ACCESS_RW : VHOST_ACCESS_RO],
      ['driver area', addrs.driver, l.driver.size, VHOST_ACCESS_RO],
      ['device area', addrs.device, l.device.size, VHOST_ACCESS_WO],
    ];
    for (const [what, addr, size, need] of areas) {
      const r = space.find(addr, size);
      if (r === undefined) continue;
      const perm = this.permOfRegion(r);
      if (perm !== 0 && (perm & need) !== need) return `${what} at 0x${addr.toString(16)} is mapped ${permName(perm)}, the device needs ${permName(need)}`;
    }
    return undefined;
  }

  private stopQueue(q: SimQueue): void {
    if (q.ring !== undefined) {
      const b = q.ring.base();
      // vdpasim_queue_ready: a restarted split queue resumes with last_used_idx = last_avail_idx
      q.base = q.layout === 'split' ? { availIdx: b.availIdx, availWrap: true, usedIdx: b.availIdx, usedWrap: true } : b;
    }
    q.ring = undefined;
    q.kicked = false;
    q.stalled = false;
    const a = this.assemblies.get(q.index >> 1);
    if (a !== undefined) a.active = false;
  }

  /** Queues that exist for the written features: the data queues plus the CVQ when CTRL_VQ is there. */
  private activeQueues(): number {
    return this.fCtrlVq ? this.cvqIndex() + 1 : this.cvqIndex();
  }

  private layoutNegotiated(): RingLayout {
    return hasFeature(this.driverFeatures, 'RING_PACKED') ? 'packed' : 'split';
  }

  private groupOf(qi: number): number {
    return this.fCtrlVq || this.profile.name === 'vdpa_sim_net' ? (qi === this.cvqIndex() ? 1 : 0) : 0;
  }

  private iovaRange(): IovaRange {
    return { first: this.profile.iovaFirst, last: this.profile.iovaLast };
  }

  private configMacString(): MacString {
    return formatMac(this.model.configMac);
  }

  /** struct virtio_net_config (virtio 1.2 §5.1.4), little-endian, `configSize` bytes. */
  private configBytes(): Uint8Array {
    const p = this.profile;
    const b = new Uint8Array(Math.max(24, p.configSize));
    const v = new DataView(b.buffer);
    b.set(this.model.configMac, 0);
    v.setUint16(6, VIRTIO_NET_S_LINK_UP | (this.model.announcePending ? VIRTIO_NET_S_ANNOUNCE : 0), true);
    v.setUint16(8, this.maxQueuePairs, true);
    v.setUint16(10, p.mtu, true);
    v.setUint32(12, p.speed >>> 0, true);
    b[16] = p.duplex;
    b[17] = p.rssMaxKeySize;
    v.setUint16(18, p.rssMaxIndirectionTableLength, true);
    v.setUint32(20, p.supportedHashTypes >>> 0, true);
    return b.subarray(0, p.configSize);
  }

  private queueOr(op: string, qi: number): E.Either<DeviceError, SimQueue> {
    if (this.closed) return this.closedErr(op);
    const q = Number.isInteger(qi) && qi >= 0 ? this.queues[qi] : undefined;
    return q === undefined ? errnoErr('invalid', op, 'ENOBUFS', `queue ${qi} (the device has ${this.queues.length})`) : E.right(q);
  }

  /**
   * The IOTLB of `asid` for an IOTLB message. vhost-vdpa creates an address space on the first UPDATE
   * or BATCH_BEGIN (`create`); INVALIDATE and BATCH_END on one never created are EINVAL.
   */
  private iotlbOr(op: string, asid: number, create = false): E.Either<DeviceError, Iotlb> {
    if (this.closed) return this.closedErr(op);
    if (!this.owned) return errnoErr('ioctl', op, 'EPERM', 'VHOST_SET_OWNER first');
    if (asid !== 0 && !this.backendHas(VHOST_BACKEND_F.IOTLB_ASID)) return errnoErr('invalid', op, 'EINVAL', `ASID ${asid} without VHOST_BACKEND_F_IOTLB_ASID`);
    const t = Number.isInteger(asid) && asid >= 0 ? this.iotlbs[asid] : undefined;
    if (t === undefined) return errnoErr('invalid', op, 'EINVAL', `ASID ${asid} (the device has ${this.iotlbs.length})`);
    if (create) this.asCreated[asid] = true;
    else if (!this.asCreated[asid]) return errnoErr('invalid', op, 'EINVAL', `ASID ${asid} has no address space yet (no UPDATE or BATCH_BEGIN)`);
    return E.right(t);
  }

  private runningUnsuspended(): boolean {
    return (this.status & VIRTIO_CONFIG_S.DRIVER_OK) !== 0 && !this.suspended;
  }

  private backendHas(bit: number): boolean {
    return (this.backendAcked & (1n << BigInt(bit))) !== 0n;
  }

  private closedErr(op: string): E.Either<DeviceError, never> {
    return E.left(deviceError('closed', op, `${this.name} is closed`));
  }

  private faultErr(op: string, errno: number, message: string): E.Either<DeviceError, never> {
    return E.left(deviceError('fault', op, message, errno, errnoNameOf(errno)));
  }

  private deviceFault(queue: number, message: string, ring?: RingError): void {
    this.stats.deviceErrors++;
    this.errors.push(ring === undefined ? { queue, message } : { queue, message, ring });
    if (this.profile.needsResetOnError) this.needsReset(queue, message);
  }

  /** §2.1.2: DEVICE_NEEDS_RESET; the device stops using every queue until the driver resets it. */
  private needsReset(queue: number, reason: string): void {
    if ((this.status & VIRTIO_CONFIG_S.NEEDS_RESET) !== 0) return;
    this.status |= VIRTIO_CONFIG_S.NEEDS_RESET;
    if (queue < 0) this.errors.push({ queue, message: `NEEDS_RESET: ${reason}` });
    this.clock.cancelAll();
  }

  private running(): boolean {
    return (this.status & VIRTIO_CONFIG_S.DRIVER_OK) !== 0 && (this.status & VIRTIO_CONFIG_S.NEEDS_RESET) === 0 && !this.suspended && !this.closed;
  }

  // ---- internals: processing ----

  private markKicked(q: SimQueue): void {
    if (!q.kicked) {
      q.kicked = true;
      q.kickAt = this.clock.now;
    }
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => {
        this.drainScheduled = false;
        this.drain();
      });
    }
  }

  /** Process every kicked queue, each at kick time + latency on the virtual clock. */
  private drain(): void {
    for (let guard = 0; guard < 64; guard++) {
      let any = false;
      for (const q of this.queues) {
        if (!q.kicked) continue;
        q.kicked = false;
        any = true;
        if (q.ring === undefined) continue;
        if (this.suspended) {
          this.pendingKick = true; // processed on resume, not lost
          continue;
        }
        if (!this.running()) continue;
        this.clock.advanceTo(Math.max(this.clock.now, q.kickAt + this.kickToCallUs));
        const chains = this.processQueue(q);
        if (chains > 0) this.clock.advance(chains * this.perChainUs);
      }
      if (!any) return;
    }
  }

  /** Returns the chains handled. */
  private processQueue(q: SimQueue): number {
    const cvq = this.fCtrlVq && q.index === this.cvqIndex();
    if (cvq) return this.processCvq(q);
    const pair = q.index >> 1;
    if (pair >= this.activePairs()) return 0;
    return this.processPair(pair);
  }

  private activePairs(): number {
    return this.fMq ? this.model.state().queuePairs : 1;
  }

  private raiseCall(q: SimQueue): void {
    if (q.ring === undefined || !q.ring.callNeeded()) return;
    if (!q.callPending) this.clock.roundTrips++;
    q.callPending = true;
    this.stats.calls++;
    const ls = this.callListeners.get(q.index);
    if (ls !== undefined && ls.size > 0) queueMicrotask(() => ls.forEach((fn) => fn()));
  }

  /**
   * Return a chain as used, applying the used-length / used-id faults by rewriting the used element
   * after the ring layer wrote it (so the device's own ring state stays consistent and the driver sees
   * exactly the lie).
   */
  private complete(q: SimQueue, id: number, ringDescs: number, len: number, lenOverride: number | undefined, idOverride: number | undefined): boolean {
    const ring = q.ring!;
    const patch = lenOverride !== undefined || idOverride !== undefined;
    const before = patch ? ring.base() : undefined; // allocation only when a fault rewrites the element
    const r = ring.push(id, ringDescs, len);
    if (r !== undefined) {
      this.deviceFault(q.index, `queue ${q.index}: ${r.message}`, r);
      return false;
    }
    this.stats.chains++;
    if (before !== undefined) this.patchUsed(q, before, lenOverride, idOverride);
    if (this.faults.chainDone(q.index)) this.needsReset(q.index, `injected after chains on queue ${q.index}`);
    return true;
  }

  private patchUsed(q: SimQueue, before: RingBase, len: number | undefined, id: number | undefined): void {
    const space = this.iotlbs[this.queueAsid(q.index)]!.space;
    const addrs = q.addrs!;
    if (q.layout === 'split') {
      // §2.7.8: used ring = flags, idx, ring[num] of { le32 id, le32 len }
      const elem = addrs.device + 4 + (before.usedIdx & (q.num - 1)) * 8;
      if (id !== undefined) space.writeU32(elem, id);
      if (len !== undefined) space.writeU32(elem + 4, len);
    } else {
      // §2.8.6: the used descriptor sits at the device's used index: le64 addr, le32 len, le16 id, le16 flags
      const d = addrs.desc + before.usedIdx * 16;
      if (len !== undefined) space.writeU32(d + 8, len);
      if (id !== undefined) space.writeU16(d + 12, id & 0xffff);
    }
  }

  // CVQ

  private processCvq(q: SimQueue): number {
    if (q.stalled) return 0;
    const ring = q.ring!;
    const full = this.profile.cvq === 'model';
    this.model.beginPass();
    if (full) ring.disableKicks();
    let n = 0;
    for (;;) {
      if (!this.running() || q.ring !== ring || q.stalled) break;
      const chain = q.chain;
      const r = ring.pop(chain);
      if (r === false) {
        if (full && ring.enableKicks()) continue;
        break;
      }
      if (r !== true) {
        this.deviceFault(q.index, `CVQ: ${r.message}`, r);
        break;
      }
      n++;
      if (!this.cvqCommand(q, chain)) break;
    }
    this.raiseCall(q);
    return n;
  }

  /** One popped CVQ chain; false when the pass must stop. */
  private cvqCommand(q: SimQueue, chain: Chain): boolean {
    const space = this.iotlbs[this.queueAsid(q.index)]!.space;
    // Copy the command before judging it (no time-of-check/time-of-use), at most CVQ_MAX_COMMAND bytes.
    const outBytes = chain.outBytes;
    const tooLong = outBytes > CVQ_MAX_COMMAND;
    const bytes = new Uint8Array(tooLong ? CVQ_MAX_COMMAND : outBytes);
    if (!this.gather(space, chain, bytes, bytes.length)) {
      this.deviceFault(q.index, 'CVQ: command buffer not readable');
      return false;
    }
    const now = this.clock.now;
    if (bytes.length < 2) {
      // vdpasim: header pull fails → the chain is dropped unanswered and the pass ends;
      // QEMU: "virtio-net ctrl missing headers" → virtio_error (NEEDS_RESET).
      this.cvqLog.push({ cls: -1, cmd: -1, name: 'SHORT_HEADER', bytes, ack: undefined, reason: `${bytes.length}-byte command, no header`, poppedAt: now, ackedAt: undefined });
      this.deviceFault(q.index, `CVQ: ${bytes.length}-byte command has no header`);
      return false;
    }
    if (chain.inBytes < 1 && this.profile.cvq === 'model') {
      this.deviceFault(q.index, 'CVQ: command without a writable ack byte');
      return false;
    }
    const cls = bytes[0]!;
    const cmd = bytes[1]!;
    const name = cvqCommandName(cls, cmd);
    this.stats.cvqCommands++;
    const entry: CvqLogEntry = { cls, cmd, name, bytes, ack: undefined, reason: '', poppedAt: now, ackedAt: undefined };
    const id = chain.id;
    const ringDescs = chain.ringDescs;
    // the ack goes to the first device-writable byte (a zero-length writable descriptor holds none)
    let ackAddr = -1;
    for (let i = chain.outCount; i < chain.count; i++) {
      if (chain.len[i]! > 0) {
        ackAddr = chain.addr[i]!;
        break;
      }
    }

    if (this.faults.forCommand('needs-reset', cls, cmd) !== undefined) {
      this.cvqLog.push({ ...entry, reason: 'NEEDS_RESET (injected)' });
      this.needsReset(q.index, `injected on ${name}`);
      return false;
    }
    if (this.faults.forCommand('no-answer', cls, cmd) !== undefined) {
      this.cvqLog.push({ ...entry, reason: 'never answered (injected)' });
      q.stalled = true;
      return false;
    }
    const nack = this.faults.forCommand('nack', cls, cmd) !== undefined;
    const badLen = this.faults.forCommand('wrong-used-len', cls, cmd);
    const badId = this.faults.forCommand('bad-used-id', cls, cmd);
    const finish = (): boolean => {
      const out = nack
        ? { ack: VIRTIO_NET_ERR, reason: 'NACK (injected)' }
        : tooLong && this.profile.cvq === 'model'
          ? { ack: VIRTIO_NET_ERR, reason: `command of ${outBytes} bytes exceeds ${CVQ_MAX_COMMAND}` }
          : this.model.handle(bytes, this.driverFeatures);
      const e: CvqLogEntry = { ...entry, ack: out.ack, reason: out.reason, ackedAt: this.clock.now };
      this.cvqLog.push(e);
      if (out.ack === VIRTIO_NET_OK) this.stats.acksOk++;
      else this.stats.acksErr++;
      let written = 0;
      if (ackAddr >= 0) {
        if (!this.writeByte(space, ackAddr, out.ack)) {
          this.deviceFault(q.index, `CVQ: ack byte at 0x${ackAddr.toString(16)} not writable`);
          return false;
        }
        written = 1;
      }
      return this.complete(q, id, ringDescs, written, badLen?.len, badId === undefined ? undefined : (badId.id ?? q.num));
    };

    const delay = this.faults.forCommand('delay-ack', cls, cmd);
    if (delay !== undefined) {
      q.stalled = true;
      const ring = q.ring;
      this.clock.schedule(this.clock.now + delay.us, () => {
        const fire = (): void => {
          if (q.ring !== ring || !q.stalled) return; // reset or disabled meanwhile
          q.stalled = false;
          // answer, then carry on at once with what queued up behind it (raises the call)
          if (finish()) this.processCvq(q);
          else this.raiseCall(q);
        };
        if (this.suspended) this.afterResume.push(fire);
        else fire();
      });
      return false;
    }
    return finish();
  }

  // Dataplane

  /** vdpasim_net_work for one pair: TX (2p+1) → RX (2p). Returns the chains handled. */
  private processPair(pair: number): number {
    const txq = this.queues[2 * pair + 1]!;
    const rxq = this.queues[2 * pair]!;
    const tx = txq.ring;
    const rx = rxq.ring;
    if (tx === undefined || rx === undefined) return 0;
    const full = this.profile.cvq === 'model';
    const txSpace = this.iotlbs[this.queueAsid(txq.index)]!.space;
    const rxSpace = this.iotlbs[this.queueAsid(rxq.index)]!.space;
    const hdrLen = this.hdrLen;
    const asm = full && this.fMrgRxbuf ? this.assembly(pair) : undefined;
    const frame = asm !== undefined ? asm.frame : this.frame;
    const txChain = txq.chain;
    const rxChain = this.rxChain;
    let n = 0;
    let budget = this.profile.txBudget;
    let rescheduled = false;
    if (full) tx.disableKicks();
    for (;;) {
      if (!this.running() || txq.ring !== tx || rxq.ring !== rx) break;
      if (asm !== undefined && asm.active) {
        // finish the frame waiting for RX buffers before taking another
        const st = this.deliverMerged(asm, txq, rxq, rxSpace, hdrLen);
        if (st !== 'done') break;
        continue;
      }
      if (budget-- <= 0) {
        this.markKicked(txq);
        rescheduled = true;
        break;
      }
      if (this.profile.rxOverrun === 'backpressure' && !rx.hasAvail()) break; // an RX kick resumes us
      const r = tx.pop(txChain);
      if (r === false) {
        if (full && tx.enableKicks()) continue;
        break;
      }
      if (r !== true) {
        this.deviceFault(txq.index, `TX: ${r.message}`, r);
        break;
      }
      n++;
      const len = Math.min(txChain.outBytes, frame.length);
      if (!this.gather(txSpace, txChain, frame, len)) {
        this.deviceFault(txq.index, 'TX buffer not readable');
        break;
      }
      this.stats.txPackets++;
      this.stats.txBytes += len;
      const txLen = this.faults.forQueue('wrong-used-len', txq.index)?.len;
      const txId = this.faults.forQueue('bad-used-id', txq.index);
      const txIdOverride = txId === undefined ? undefined : (txId.id ?? txq.num);
      if (!acceptFrame(this.profile.rxFilter, frame, len, hdrLen, this.model.configMac, this.model.state(), this.fCtrlVlan)) {
        this.stats.rxDrops++;
        if (!this.complete(txq, txChain.id, txChain.ringDescs, 0, txLen, txIdOverride)) break;
        continue;
      }
      if (asm !== undefined) {
        asm.active = true;
        asm.txId = txChain.id;
        asm.txDescs = txChain.ringDescs;
        asm.txLen = txLen;
        asm.txIdOverride = txIdOverride;
        asm.len = len;
        asm.pos = 0;
        asm.count = 0;
        if (this.deliverMerged(asm, txq, rxq, rxSpace, hdrLen) !== 'done') break;
        n++;
        continue;
      }
      const rr = rx.pop(rxChain);
      if (rr !== true) {
        if (rr !== false) this.deviceFault(rxq.index, `RX: ${rr.message}`, rr);
        else this.stats.rxOverruns++;
        this.complete(txq, txChain.id, txChain.ringDescs, 0, txLen, txIdOverride);
        break;
      }
      n++;
      const written = this.scatter(rxSpace, rxChain, frame, 0, len);
      if (this.profile.rxSetsNumBuffers && hdrLen >= 12 && written >= 12) this.setNumBuffers(rxSpace, rxChain, 1);
      if (written < 0) {
        this.deviceFault(rxq.index, 'RX buffer not writable');
        break;
      }
      this.stats.rxPackets++;
      this.stats.rxBytes += written;
      if (written < len) this.stats.rxTruncated++;
      const rxLen = this.faults.forQueue('wrong-used-len', rxq.index)?.len;
      const rxId = this.faults.forQueue('bad-used-id', rxq.index);
      if (!this.complete(txq, txChain.id, txChain.ringDescs, 0, txLen, txIdOverride)) break;
      if (!this.complete(rxq, rxChain.id, rxChain.ringDescs, written, rxLen, rxId === undefined ? undefined : (rxId.id ?? rxq.num))) break;
    }
    // Whatever stopped the pass (no RX buffer, an error), TX kicks are wanted again unless we come back anyway.
    if (full && !rescheduled && txq.ring === tx) tx.enableKicks();
    this.raiseCall(txq);
    this.raiseCall(rxq);
    return n;
  }

  /** Copy the first `len` readable bytes of `chain` into `dst`. Allocation-free for small segments. */
  private gather(space: AddressSpace, chain: Chain, dst: Uint8Array, len: number): boolean {
    let pos = 0;
    for (let i = 0; i < chain.outCount && pos < len; i++) {
      const a = chain.addr[i]!;
      const l = Math.min(chain.len[i]!, len - pos);
      if (l === 0) continue;
      const r = space.find(a, l);
      if (r === undefined || !readable(this.permOfRegion(r))) return false;
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
  private scatter(space: AddressSpace, chain: Chain, src: Uint8Array, srcOff: number, len: number): number {
    let pos = 0;
    for (let i = chain.outCount; i < chain.count && pos < len; i++) {
      const a = chain.addr[i]!;
      const l = Math.min(chain.len[i]!, len - pos);
      if (l === 0) continue;
      const r = space.find(a, l);
      if (r === undefined || !writable(this.permOfRegion(r))) return -1;
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

  /** num_buffers: le16 at offset 10 of virtio_net_hdr_v1 (§5.1.6.4), wherever the chain put it. */
  private setNumBuffers(space: AddressSpace, chain: Chain, n: number): void {
    this.putHeaderByte(space, chain, 10, n & 0xff);
    this.putHeaderByte(space, chain, 11, n >>> 8);
  }

  private assembly(pair: number): RxAssembly {
    let a = this.assemblies.get(pair);
    if (a === undefined) this.assemblies.set(pair, (a = new RxAssembly(new Uint8Array(this.profile.txMaxBytes), this.profile.vringNum)));
    return a;
  }

  /**
   * Fill RX chains with the assembly's frame (§5.1.6.4.2: as many buffers as it takes, num_buffers in
   * the first header), then complete the TX chain and every RX chain in order. 'wait' when the RX ring
   * ran dry (an RX kick resumes), 'error' on a device error.
   */
  private deliverMerged(asm: RxAssembly, txq: SimQueue, rxq: SimQueue, space: AddressSpace, hdrLen: number): 'done' | 'wait' | 'error' {
    const rx = rxq.ring!;
    const rxChain = this.rxChain;
    while (asm.pos < asm.len) {
      if (asm.count >= asm.ids.length || asm.count >= 0xffff) {
        this.deviceFault(rxq.index, `RX: a ${asm.len}-byte frame needs more than ${asm.count} buffers`);
        asm.active = false;
        return 'error';
      }
      const rr = rx.pop(rxChain);
      if (rr === false) return 'wait';
      if (rr !== true) {
        this.deviceFault(rxq.index, `RX: ${rr.message}`, rr);
        asm.active = false;
        return 'error';
      }
      const w = rxChain.inBytes === 0 ? -1 : this.scatter(space, rxChain, asm.frame, asm.pos, asm.len - asm.pos);
      if (w <= 0) {
        this.deviceFault(rxq.index, 'RX buffer not writable');
        asm.active = false;
        return 'error';
      }
      if (asm.count === 0) {
        // Chain.copyFrom takes subarray views; copy field by field to stay allocation-free
        const f = asm.first;
        f.reset();
        for (let i = 0; i < rxChain.count; i++) f.push(rxChain.addr[i]!, rxChain.len[i]!, i >= rxChain.outCount);
      }
      asm.ids[asm.count] = rxChain.id;
      asm.descs[asm.count] = rxChain.ringDescs;
      asm.lens[asm.count] = w;
      asm.count++;
      asm.pos += w;
    }
    asm.active = false;
    if (hdrLen >= 12 && asm.lens[0]! >= 12) this.setNumBuffers(space, asm.first, asm.count);
    this.stats.rxPackets++;
    this.stats.rxBytes += asm.len;
    if (!this.complete(txq, asm.txId, asm.txDescs, 0, asm.txLen, asm.txIdOverride)) return 'error';
    for (let i = 0; i < asm.count; i++) {
      const rxLen = this.faults.forQueue('wrong-used-len', rxq.index)?.len;
      const rxId = this.faults.forQueue('bad-used-id', rxq.index);
      if (!this.complete(rxq, asm.ids[i]!, asm.descs[i]!, asm.lens[i]!, rxLen, rxId === undefined ? undefined : (rxId.id ?? rxq.num))) return 'error';
    }
    return 'done';
  }

  /** Write byte `at` of the chain's writable part (it may sit in any segment). */
  private putHeaderByte(space: AddressSpace, chain: Chain, at: number, v: number): void {
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

  private writeByte(space: AddressSpace, addr: number, v: number): boolean {
    const r = space.find(addr, 1);
    if (r === undefined) return false;
    if (!writable(this.permOfRegion(r))) return false;
    r.bytes[addr - r.base] = v;
    space.noteWrite(addr, 1);
    return true;
  }

  /** VHOST_ACCESS_* of an IOVA region, whichever ASID it belongs to (0: not an IOTLB region). */
  private permOfRegion(r: Region): number {
    return this.regionPerms.get(r) ?? 0;
  }
}

/** Why options are unusable, or undefined. */
export function checkSimOptions(opts: SimDeviceOptions): string | undefined {
  const p = typeof opts.profile === 'object' ? opts.profile : opts.profile === undefined ? PROFILES.full : PROFILES[opts.profile];
  if (p === undefined) return `unknown profile "${String(opts.profile)}"`;
  if (opts.mac !== undefined && !isMacString(opts.mac)) return `MAC "${opts.mac}" is not xx:xx:xx:xx:xx:xx`;
  const m = opts.maxQueuePairs;
  if (m !== undefined && (!Number.isInteger(m) || m < 1 || m > 0x8000)) return `max_virtqueue_pairs ${m} is not in 1..32768 (virtio 1.2 §5.1.4)`;
  if (m !== undefined && m > 1 && !hasFeature(p.deviceFeatures, 'MQ')) return `profile ${p.name} has no VIRTIO_NET_F_MQ: max_virtqueue_pairs must be 1`;
  const l = opts.latency;
  for (const [k, v] of [['kickToCallUs', l?.kickToCallUs], ['perChainUs', l?.perChainUs]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) return `latency.${k} ${v} is not a non-negative number of µs`;
  }
  if (opts.staleAck === true && p.cvq !== 'vdpa_sim_net') return `staleAck reproduces vdpa_sim_net's bug; profile ${p.name} has no such CVQ`;
  return undefined;
}

const permName = (p: number): string => (p === VHOST_ACCESS_RW ? 'RW' : p === VHOST_ACCESS_WO ? 'WO' : 'RO');

/** A region the device may read: mapped RO or RW (0 = not an IOTLB region). */
const readable = (perm: number): boolean => perm === 0 || (perm & VHOST_ACCESS_RO) !== 0;

/** A region the device may write: mapped WO or RW (0 = not an IOTLB region, e.g. a test's own space). */
const writable = (perm: number): boolean => perm === 0 || (perm & VHOST_ACCESS_WO) !== 0;

function errnoNameOf(errno: number): string | undefined {
  for (const [k, v] of Object.entries(ERRNO)) if (v === errno) return k;
  return undefined;
}
