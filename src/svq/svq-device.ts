/**
 * A vDPA net device under SVQ: N queue pairs plus the CVQ, set up on a `VdpaDevice` in one of QEMU's two
 * modes (net/vhost-vdpa.c):
 *
 *  - 'cvq': only the CVQ is shadowed. Data queues pass through — the device works on the guest's rings
 *    with IOVA = GPA in ASID 0 — while the CVQ's virtqueue group is moved to ASID 1, where the IOVA tree
 *    maps only SVQ's own memory (shadow CVQ ring and command buffers). Needs an isolated CVQ group and
 *    two address spaces (QEMU's `cvq_isolated`); otherwise a typed error says so.
 *  - 'all': every queue is shadowed (x-svq=on, or migration switching SVQ on): guest RAM is mapped
 *    GPA → IOVA through the tree, shadow rings HVA → IOVA, everything in ASID 0.
 *
 * Set-up follows vhost_dev_start, the status steps through machines/device-lifecycle (`startDevice`):
 * features (filtered for SVQ), FEATURES_OK, IOTLB updates in one batch, per queue VRING_NUM / ADDR /
 * BASE / ENABLE, then DRIVER_OK. Shadow ring memory comes from the device's
 * `allocHost` and is mapped as QEMU maps it (vhost_vdpa_svq_map_rings): descriptor and driver areas
 * read-only for the device, the device area read-write — except a packed descriptor ring, which the
 * device writes used descriptors into.
 *
 * The shadow ring memory, pointing, the call relay are the SVQ back end's (./shadow-rings.ts), shared with
 * machines/svq-switch's live switch (src/effects/svq.ts). This is QEMU's start-time path (x-svq=on,
 * shadow-CVQ-only 'cvq' mode, a device without VHOST_BACKEND_F_SUSPEND, a restart from a hand-over after a
 * reset): the device is reset and set up shadowed from scratch, the CVQ included, shadow layout free. The
 * switch moves a *running* data path between the guest rings and shadow rings while SUSPENDed, never
 * resetting the device or touching the CVQ.
 *
 * Notifications: the embedder calls `guestKick(qi)` when the guest's kick eventfd fires; device calls
 * are relayed by `relayCalls()` (event-driven on a device with call eventfds) or handled by `deviceCall(qi)`
 * / `poll()` after a device has run; SVQ calls the guest through `callGuest(qi)`.
 */
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace } from '../memory/address-space.js';
import { encodeBase, decodeBase } from '../ring/index.js';
import type { RingBase, RingConfig, RingLayout } from '../ring/types.js';
import { VHOST_ACCESS_RW, VHOST_BACKEND_F, type DeviceError, type VdpaDevice } from '../device/types.js';
import { DEFAULT_LIMITS, type DeviceLimits, type NetDeviceState } from '../state/net-state.js';
import { F } from '../virtio/features.js';
import { lifecycleEffects, startDevice } from '../effects/lifecycle.js';
import type { DirtyLog } from './dirty-log.js';
import { checkShadowable, shadowFeatures, type SvqFeatureError } from './features.js';
import { IovaTree, isIovaTreeError, type IovaTreeError } from './iova-tree.js';
import { ShadowControlVirtqueue } from './shadow-cvq.js';
import { ShadowRings } from './shadow-rings.js';
import { ShadowVirtqueue, isSvqError, svqError, type SvqError, type SvqHandover } from './shadow-virtqueue.js';

export type SvqScope = 'cvq' | 'all';

/** One piece of guest RAM: where the guest sees it and where it lives in the device's host memory. */
export interface GuestMemorySection {
  readonly gpa: number;
  readonly hva: number;
  readonly size: number;
}

export interface SvqGuestQueue {
  /** vhost queue index: rx0 = 0, tx0 = 1, …, the CVQ after the data queues. */
  readonly qi: number;
  /** The guest's ring, addresses in guest-physical memory. */
  readonly config: RingConfig;
  /** Where the queue resumes (a running guest's vring base); default: a fresh ring. */
  readonly base?: RingBase;
  /**
   * A shadowed queue's hand-over from a previous SVQ (after a device reset, or at the destination): its
   * guest position and the chains that were in flight, forwarded again first. Overrides `base`.
   */
  readonly handover?: SvqHandover;
}

export interface SvqDeviceOptions {
  readonly device: VdpaDevice;
  readonly mode: SvqScope;
  readonly guest: {
    readonly space: AddressSpace;
    readonly sections: readonly GuestMemorySection[];
    /** Features the guest driver acked. */
    readonly features: bigint;
    readonly queues: readonly SvqGuestQueue[];
    /** Index of the CVQ among `queues` (by qi); none when CTRL_VQ is not negotiated. */
    readonly cvq?: number;
  };
  /** Shadow ring choice in 'all' mode (layout, EVENT_IDX, INDIRECT_DESC, size); default as the guest's. */
  readonly shadow?: { readonly layout?: RingLayout; readonly eventIdx?: boolean; readonly indirect?: boolean; readonly size?: number };
  readonly callGuest: (qi: number) => void;
  readonly dirty?: DirtyLog;
  /** The device model the CVQ applies acked commands to. */
  readonly state: NetDeviceState;
  readonly limits?: DeviceLimits;
}

export type SvqDeviceErrorKind = 'device' | 'features' | 'iova' | 'cvq-not-isolated' | 'svq' | 'invalid';

export interface SvqDeviceError {
  readonly _tag: 'SvqDeviceError';
  readonly kind: SvqDeviceErrorKind;
  readonly message: string;
  readonly cause?: DeviceError | SvqFeatureError | IovaTreeError | SvqError;
}

const devErr = (kind: SvqDeviceErrorKind, message: string, cause?: SvqDeviceError['cause']): SvqDeviceError =>
  cause === undefined ? { _tag: 'SvqDeviceError', kind, message } : { _tag: 'SvqDeviceError', kind, message: `${message}: ${cause.message}`, cause };


const freshBase = (layout: RingLayout): RingBase => ({ availIdx: 0, availWrap: layout === 'packed', usedIdx: 0, usedWrap: layout === 'packed' });

/** What `stop` hands back per queue: SVQ hand-overs for shadowed queues, the device's base for the others. */
export interface SvqDeviceHandover {
  readonly shadowed: ReadonlyMap<number, SvqHandover>;
  readonly passthrough: ReadonlyMap<number, RingBase>;
  /** The CVQ's guest ring position and the guest commands it had not answered. */
  readonly cvq?: { readonly guestBase: RingBase; readonly unanswered: readonly number[] };
}

class SetupError {
  constructor(readonly e: SvqDeviceError) {}
}

export class SvqDevice {
  readonly tree: IovaTree;
  /** SVQ's view of the device's IOVA space (its own ASID): regions alias host memory at their IOVAs. */
  readonly view = new AddressSpace('iova:svq');
  readonly data = new Map<number, ShadowVirtqueue>();
  cvq: ShadowControlVirtqueue | undefined;
  /** vhost index of the shadowed CVQ. */
  cvqIndex: number | undefined;
  /** Queues the device works on directly (mode 'cvq'). */
  readonly passthrough = new Map<number, RingConfig>();
  readonly svqAsid: number;
  /** Errors of notifications relayed to the device (kick failures), counted not hidden. */
  readonly kickErrors: DeviceError[] = [];
  readonly negotiated: bigint;
  /** The SVQ back end: shadow ring memory (in `svqAsid`) and the call relay. */
  readonly rings: ShadowRings;
  private readonly dev: VdpaDevice;
  /** Guest RAM's IOTLB mappings, for teardown (shadow memory is the back end's). */
  private readonly mappings: { asid: number; iova: number; size: number; inTree: boolean }[] = [];

  private constructor(dev: VdpaDevice, tree: IovaTree, svqAsid: number, negotiated: bigint) {
    this.dev = dev;
    this.tree = tree;
    this.svqAsid = svqAsid;
    this.negotiated = negotiated;
    this.rings = new ShadowRings(dev, tree, this.view, svqAsid);
  }

  /**
   * Bring the device up under SVQ and start forwarding: SVQ's features are chosen first (VHOST_GET_FEATURES
   * read before START), then machines/device-lifecycle runs §3.1.1 (`startDevice`: reset, ACKNOWLEDGE,
   * DRIVER, exactly those features, FEATURES_OK) with SVQ's step 7 — ASIDs, IOTLB, vrings — before
   * DRIVER_OK. A failed set-up undoes its mappings and host memory, and the device is reset.
   */
  static async start(o: SvqDeviceOptions): Promise<E.Either<SvqDeviceError, SvqDevice>> {
    let f: ReturnType<typeof SvqDevice.features>;
    try {
      f = SvqDevice.features(o);
    } catch (x) {
      if (!(x instanceof SetupError)) throw x;
      return E.left(x.e);
    }
    const partial: { sd?: SvqDevice; error?: SvqDeviceError } = {};
    const started = await startDevice(o.device, { wanted: f.devFeatures, required: f.devFeatures }, (negotiated) => {
      try {
        return E.right(SvqDevice.queues(o, f, negotiated, partial));
      } catch (x) {
        if (!(x instanceof SetupError)) throw x;
        partial.error = x.e;
        return E.left(x.e);
      }
    });
    if (E.isLeft(started)) {
      // undo what was set up: no IOTLB entries or host memory of ours left behind, the device reset
      // (QEMU vhost_vdpa_reset_status after a failed vhost_dev_start) — the lifecycle's own reset step
      partial.sd?.teardown();
      await lifecycleEffects(o.device).resetDevice({ timeoutMs: 1000 }, new AbortController().signal).catch(() => undefined);
      return E.left(partial.error ?? devErr('features', started.left.message));
    }
    // the lifecycle actor's part is done (DRIVER_OK); SVQ's own life is `stop` / `teardown`
    started.right.actor.stop();
    const sd = started.right.setup;
    for (const v of sd.data.values()) v.start();
    sd.cvq?.handleGuestKick();
    return E.right(sd);
  }

  /** SVQ's device features, shadow ring choice and IOTLB batching; acks the backend features. */
  private static features(o: SvqDeviceOptions) {
    const dev = o.device;
    const must = <T>(r: E.Either<DeviceError, T>, what: string): T => {
      if (E.isLeft(r)) throw new SetupError(devErr('device', what, r.left));
      return r.right;
    };
    const offered = must(dev.getFeatures(), 'VHOST_GET_FEATURES');
    const gq = o.guest.queues;
    if (gq.length === 0) throw new SetupError(devErr('invalid', 'no queues'));
    const gLayout = gq[0]!.config.layout;
    if (gq.some((q) => q.config.layout !== gLayout)) throw new SetupError(devErr('invalid', 'guest queues mix ring layouts'));
    // features: 'all' acks the shadow rings' own transport bits; 'cvq' acks exactly what the guest acked
    let devFeatures: bigint;
    let sLayout: RingLayout;
    let sEvent: boolean;
    let sIndirect: boolean;
    if (o.mode === 'all') {
      const sf = shadowFeatures(o.guest.features, offered, { layout: o.shadow?.layout ?? gLayout, eventIdx: o.shadow?.eventIdx ?? true, indirect: o.shadow?.indirect ?? true });
      if (E.isLeft(sf)) throw new SetupError(devErr('features', 'SVQ cannot shadow these features', sf.left));
      devFeatures = sf.right.device;
      ({ layout: sLayout, eventIdx: sEvent, indirect: sIndirect } = sf.right.shadow);
    } else {
      const ok = checkShadowable(o.guest.features, offered);
      if (E.isLeft(ok)) throw new SetupError(devErr('features', 'SVQ cannot shadow these features', ok.left));
      devFeatures = o.guest.features;
      sLayout = gLayout;
      sEvent = (devFeatures & F.EVENT_IDX) !== 0n;
      sIndirect = false;
    }
    // backend features: v2 IOTLB messages, batching, ASIDs (what the device offers of them)
    const be = must(dev.getBackendFeatures(), 'VHOST_GET_BACKEND_FEATURES');
    const want = (1n << BigInt(VHOST_BACKEND_F.IOTLB_MSG_V2)) | (1n << BigInt(VHOST_BACKEND_F.IOTLB_BATCH)) | (1n << BigInt(VHOST_BACKEND_F.IOTLB_ASID)) | (1n << BigInt(VHOST_BACKEND_F.SUSPEND)) | (1n << BigInt(VHOST_BACKEND_F.RESUME));
    must(dev.setBackendFeatures(be & want), 'VHOST_SET_BACKEND_FEATURES');
    const batch = (be & (1n << BigInt(VHOST_BACKEND_F.IOTLB_BATCH))) !== 0n;
    return { devFeatures, sLayout, sEvent, sIndirect, gLayout, batch };
  }

  /** §3.1.1 step 7 under SVQ: ASIDs, guest RAM and shadow rings in the IOTLB, every vring programmed and enabled. */
  private static queues(o: SvqDeviceOptions, f: ReturnType<typeof SvqDevice.features>, negotiated: bigint, partial: { sd?: SvqDevice }): SvqDevice {
    const dev = o.device;
    const must = <T>(r: E.Either<DeviceError, T>, what: string): T => {
      if (E.isLeft(r)) throw new SetupError(devErr('device', what, r.left));
      return r.right;
    };
    const gq = o.guest.queues;
    const { sLayout, sEvent, sIndirect, gLayout, batch } = f;
    const devFeatures = negotiated;
    // address spaces: in 'cvq' mode the CVQ's group must be alone and get its own ASID
    const cvqQi = o.guest.cvq;
    let svqAsid = 0;
    if (o.mode === 'cvq') {
      if (cvqQi === undefined) throw new SetupError(devErr('invalid', "mode 'cvq' needs a CVQ"));
      const g = must(dev.getVringGroup(cvqQi), 'VHOST_VDPA_GET_VRING_GROUP');
      for (const q of gq) {
        if (q.qi !== cvqQi && must(dev.getVringGroup(q.qi), 'VHOST_VDPA_GET_VRING_GROUP') === g) {
          throw new SetupError(devErr('cvq-not-isolated', `queue ${q.qi} shares the CVQ's virtqueue group ${g}: shadow everything instead`));
        }
      }
      if (must(dev.getAsNum(), 'VHOST_VDPA_GET_AS_NUM') < 2) throw new SetupError(devErr('cvq-not-isolated', 'the device has one address space'));
      must(dev.setGroupAsid(g, 1), 'VHOST_VDPA_SET_GROUP_ASID');
      svqAsid = 1;
    }
    const range = must(dev.getIovaRange(), 'VHOST_VDPA_GET_IOVA_RANGE');
    const sd = new SvqDevice(dev, new IovaTree(range), svqAsid, devFeatures);
    partial.sd = sd;
    const asids = o.mode === 'cvq' ? [0, 1] : [0];
    if (batch) for (const a of asids) must(dev.iotlbBatchBegin(a), 'VHOST_IOTLB_BATCH_BEGIN');
    // guest RAM: through the tree ('all'), or identity IOVA = GPA for the pass-through queues ('cvq')
    for (const s of o.guest.sections) {
      if (o.mode === 'all') {
        const m = sd.tree.mapAlloc('gpa', { translatedAddr: s.gpa, size: s.size - 1, perm: VHOST_ACCESS_RW });
        if (isIovaTreeError(m)) throw new SetupError(devErr('iova', `guest RAM at 0x${s.gpa.toString(16)}`, m));
        must(dev.iotlbUpdate(0, m.iova, s.size, s.hva, VHOST_ACCESS_RW), 'VHOST_IOTLB_UPDATE');
        sd.mappings.push({ asid: 0, iova: m.iova, size: s.size, inTree: true });
        sd.alias(m.iova, s.hva, s.size);
      } else {
        must(dev.iotlbUpdate(0, s.gpa, s.size, s.hva, VHOST_ACCESS_RW), 'VHOST_IOTLB_UPDATE');
        sd.mappings.push({ asid: 0, iova: s.gpa, size: s.size, inTree: false });
      }
    }
    const limits = o.limits ?? DEFAULT_LIMITS;
    for (const q of gq) {
      const isCvq = q.qi === cvqQi;
      const qi = q.qi;
      if (o.mode === 'cvq' && !isCvq) {
        must(dev.setVringNum(qi, q.config.size), 'VHOST_SET_VRING_NUM');
        must(dev.setVringAddr(qi, q.config.addrs), 'VHOST_SET_VRING_ADDR');
        must(dev.setVringBase(qi, encodeBase(gLayout, q.base ?? freshBase(gLayout))), 'VHOST_SET_VRING_BASE');
        sd.passthrough.set(qi, q.config);
        continue;
      }
      const size = isCvq ? Math.min(q.config.size, 64) : (o.shadow?.size ?? q.config.size);
      const indirect = !isCvq && sIndirect;
      const mem = sd.rings.map(qi, { layout: sLayout, size, indirect, cvq: isCvq });
      if (E.isLeft(mem)) throw new SetupError(devErr('device', `shadow ring of queue ${qi}`, mem.left));
      const ring = mem.right;
      const config: RingConfig = { layout: sLayout, size, addrs: ring.addrs, eventIdx: sEvent, indirect };
      const kickDevice = (): void => {
        const r = dev.kick(qi);
        if (E.isLeft(r)) sd.kickErrors.push(r.left);
      };
      const callGuest = (): void => o.callGuest(qi);
      const resume: SvqHandover | undefined =
        q.handover ?? (q.base === undefined ? undefined : { guestLayout: gLayout, guestSize: q.config.size, guestBase: q.base, inFlight: [], passthroughBase: undefined });
      if (isCvq) {
        const c = ShadowControlVirtqueue.create({
          name: `cvq${qi}`,
          guest: { space: o.guest.space, config: q.config },
          shadow: { space: sd.view, config },
          buffers: ring.cvq!,
          negotiated: o.guest.features,
          limits,
          state: o.state,
          kickDevice,
          callGuest,
        });
        if (isSvqError(c)) throw new SetupError(devErr('svq', `CVQ ${qi}`, c));
        const badBase = q.base === undefined ? undefined : c.guestRing.setBase(q.base);
        if (badBase !== undefined) throw new SetupError(devErr('svq', `CVQ ${qi}`, svqError('resume', `vq${qi}`, 'guest ring position', badBase)));
        sd.cvq = c;
        sd.cvqIndex = qi;
      } else {
        const v = ShadowVirtqueue.create({
          name: `vq${qi}`,
          guest: { space: o.guest.space, config: q.config },
          shadow: { space: sd.view, config, ...(ring.indirectArea === undefined ? {} : { indirectArea: ring.indirectArea }) },
          iova: sd.tree,
          ...(o.dirty === undefined ? {} : { dirty: o.dirty }),
          kickDevice,
          callGuest,
          ...(resume === undefined ? {} : { resume }),
        });
        if (isSvqError(v)) throw new SetupError(devErr('svq', `queue ${qi}`, v));
        sd.data.set(qi, v);
      }
      must(dev.setVringNum(qi, size), 'VHOST_SET_VRING_NUM');
      must(dev.setVringAddr(qi, config.addrs), 'VHOST_SET_VRING_ADDR');
      must(dev.setVringBase(qi, encodeBase(sLayout, freshBase(sLayout))), 'VHOST_SET_VRING_BASE');
    }
    if (batch) for (const a of asids) must(dev.iotlbBatchEnd(a), 'VHOST_IOTLB_BATCH_END');
    for (const q of gq) must(dev.setVringEnable(q.qi, true), 'VHOST_VDPA_SET_VRING_ENABLE');
    return sd;
  }

  /** Alias host memory [hva, hva+size) into SVQ's IOVA view at `iova`. */
  private alias(iova: number, hva: number, size: number): void {
    const a = this.rings.alias(iova, hva, size);
    if (E.isLeft(a)) throw new SetupError(devErr('iova', a.left.message));
  }

  /** The guest kicked queue `qi`: SVQ forwards, a pass-through queue's kick goes to the device. */
  guestKick(qi: number): void {
    const v = this.data.get(qi);
    if (v !== undefined) return v.handleGuestKick();
    if (this.cvq !== undefined && this.cvqQi(qi)) return this.cvq.handleGuestKick();
    if (this.passthrough.has(qi)) {
      const r = this.dev.kick(qi);
      if (E.isLeft(r)) this.kickErrors.push(r.left);
    }
  }

  /** The device called queue `qi`. */
  deviceCall(qi: number): void {
    const v = this.data.get(qi);
    if (v !== undefined) return v.handleDeviceCall();
    if (this.cvq !== undefined && this.cvqQi(qi)) this.cvq.handleDeviceCall();
  }

  private cvqQi(qi: number): boolean {
    return this.cvq !== undefined && this.cvqIndex === qi;
  }

  /** Handle every shadowed queue's used entries (after the device ran; a no-op where nothing was used). */
  poll(): void {
    for (const v of this.data.values()) v.handleDeviceCall();
    this.cvq?.handleDeviceCall();
  }

  /**
   * Relay the device's calls on every shadowed queue to SVQ until `stopRelay` (or `stop`): event-driven on
   * a device with call eventfds, `waitCall` in turn on one without (./shadow-rings.ts).
   */
  relayCalls(): void {
    const qis = [...this.data.keys()];
    if (this.cvqIndex !== undefined) qis.push(this.cvqIndex);
    this.rings.relayCalls(qis, (qi) => this.deviceCall(qi));
  }

  stopRelay(): void {
    this.rings.stopRelay();
  }

  /**
   * Stop: suspend the device (when it can), hand over every shadowed queue (used entries flushed to the
   * guest, in-flight chains reported), read pass-through queues' bases from the device.
   */
  stop(): E.Either<SvqDeviceError, SvqDeviceHandover> {
    this.rings.stopRelay();
    const s = this.dev.suspend();
    if (E.isLeft(s) && s.left.kind !== 'unsupported') return E.left(devErr('device', 'VHOST_VDPA_SUSPEND', s.left));
    this.poll();
    const shadowed = new Map<number, SvqHandover>();
    for (const [qi, v] of this.data) shadowed.set(qi, v.stop());
    const passthrough = new Map<number, RingBase>();
    for (const [qi, cfg] of this.passthrough) {
      const b = this.dev.getVringBase(qi);
      if (E.isLeft(b)) return E.left(devErr('device', 'VHOST_GET_VRING_BASE', b.left));
      passthrough.set(qi, decodeBase(cfg.layout, b.right));
    }
    if (this.cvq === undefined) return E.right({ shadowed, passthrough });
    const c = this.cvq.stop();
    return E.right({ shadowed, passthrough, cvq: { guestBase: c.guestBase, unanswered: c.unanswered } });
  }

  /** Remove every IOTLB mapping SVQ made (guest RAM and its own) and free its host memory. */
  teardown(): E.Either<SvqDeviceError, void> {
    this.rings.stopRelay();
    for (const qi of this.rings.queues()) {
      const u = this.rings.unmap(qi);
      if (E.isLeft(u)) return E.left(devErr('device', `shadow ring of queue ${qi}`, u.left));
    }
    for (const m of this.mappings) {
      const inv = this.dev.iotlbInvalidate(m.asid, m.iova, m.size);
      if (E.isLeft(inv)) return E.left(devErr('device', 'VHOST_IOTLB_INVALIDATE', inv.left));
      if (m.inTree) {
        this.tree.remove(m.iova);
        this.view.removeRegion(m.iova);
      }
    }
    this.mappings.length = 0;
    return E.right(undefined);
  }
}
