/**
 * machines/svq-relayout's effects: the shadow rings of a set of queues, moved live from one geometry
 * (entries per ring) to another while SVQ keeps forwarding — the VDUSE bridge's live switch
 * (src/device/vduse), and any SVQ back end that never goes passthrough.
 *
 * `ShadowRingSets` holds, for one vhost-vdpa device, up to two ring sets (the one the device works on and
 * the one a relayout moves to), each one host region mapped at its own IOVA (IOVA tree, the device's
 * IOTLB, the view SVQ writes through), and the queues' SVQs with their hand-overs. Each effect is one
 * step of the machine over the queues it names; a step that fails undoes its own partial work, so the
 * machine's `progress` says exactly what `rollback` has to undo.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { AddressSpace, Region } from '../memory/address-space.js';
import { PAGE_SIZE } from '../memory/address-space.js';
import { placeRing } from '../ring/index.js';
import type { RingConfig } from '../ring/types.js';
import { deviceError, VHOST_ACCESS_RW, type DeviceError, type VdpaDevice } from '../device/types.js';
import { isIovaTreeError, type IovaTree, type MapKind } from '../svq/iova-tree.js';
import { isSvqError, ShadowVirtqueue, type SvqError, type SvqHandover } from '../svq/shadow-virtqueue.js';
import type { EffectsOf } from '../../machines/contract.js';
import type { svqRelayoutMachine } from '../../machines/svq-relayout.js';
import { orReject } from './common.js';

/** machines/svq-relayout's effects (the type is the machine's). */
export type SvqRelayoutEffects = EffectsOf<typeof svqRelayoutMachine>;

/** Bytes of one split shadow ring of `size` entries (device area on its own page), rounded to pages. */
export const shadowRingBytes = (size: number): number => Math.ceil(placeRing('split', size, 0, { deviceAlign: PAGE_SIZE }).end / PAGE_SIZE) * PAGE_SIZE;

export interface RingSet {
  readonly size: number;
  readonly iova: number;
  readonly region: Region;
}

export interface ShadowRingsOptions {
  /** Names the SVQs and the regions. */
  readonly name: string;
  readonly dev: VdpaDevice;
  readonly asid: number;
  /** The device's IOVA tree (guest buffers are translated through it; the ring sets are entered as 'hva'). */
  readonly tree: IovaTree;
  /** The device's IOVA view, where SVQ writes the shadow rings. */
  readonly view: AddressSpace;
  /** Which map of the tree holds the guest's buffers. */
  readonly bufferMap?: MapKind;
  /** IOVA of ring set 0 and 1 (far enough apart for the largest set). */
  readonly iova: readonly [number, number];
  /** VIRTIO_F_EVENT_IDX negotiated with the device (the shadow rings use it then). */
  readonly eventIdx?: boolean;
  /** The guest side of queue `qi`: its ring (SVQ is its device). */
  guest(qi: number): { readonly space: AddressSpace; readonly config: RingConfig } | undefined;
  /** Notify the guest of used buffers on queue `qi`. */
  callGuest(qi: number): void;
  /** vhost-net's handle_tx for queue `qi` (see ShadowVirtqueueOptions.pollGuestWhileBusy). */
  pollGuestWhileBusy?(qi: number): boolean;
  /** A device kick failed (the SVQ's notification has no error path of its own). */
  onKickError?(e: DeviceError): void;
}

/** The shadow rings of one device's queues and the SVQs on them. */
export class ShadowRingSets {
  /** Ring set per slot; `active` is the one the device is pointed at (-1: none yet). */
  readonly sets: (RingSet | undefined)[] = [undefined, undefined];
  active = -1;
  /** The slot the device was on before the last `point` (a rollback returns there). */
  previous = -1;
  readonly svqs = new Map<number, ShadowVirtqueue>();
  /** The ring set each queue's SVQ writes. */
  readonly slotOf = new Map<number, number>();
  /** Hand-overs of the queues whose SVQ is stopped: where a new SVQ resumes. */
  readonly handovers = new Map<number, SvqHandover>();

  constructor(readonly opts: ShadowRingsOptions) {}

  get dev(): VdpaDevice {
    return this.opts.dev;
  }

  /** Entries of the rings the device works on (0 before the first `point`). */
  get size(): number {
    return this.sets[this.active]?.size ?? 0;
  }

  /** Where queue `qi`'s split ring of set `s` lies (IOVA). */
  placement(s: RingSet, qi: number) {
    return placeRing('split', s.size, s.iova + qi * shadowRingBytes(s.size), { deviceAlign: PAGE_SIZE });
  }

  /** Allocate a ring set of `size` entries for queues up to max(`queues`) and map it in the free slot. */
  map(queues: readonly number[], size: number): E.Either<DeviceError, number> {
    const slot = this.sets.findIndex((s, i) => s === undefined && i !== this.active);
    if (slot < 0) return E.left(deviceError('state', 'shadow rings', `both ring sets are in use (${this.sets.map((s) => s?.size).join(', ')} entries)`));
    const dev = this.dev;
    const iova = this.opts.iova[slot]!;
    const bytes = (Math.max(...queues) + 1) * shadowRingBytes(size);
    const region = dev.allocHost(bytes, `${this.opts.name}-shadow-${slot}`);
    if (E.isLeft(region)) return region;
    const r = region.right;
    const m = this.opts.tree.insert('hva', iova, { translatedAddr: r.base, size: r.size - 1, perm: VHOST_ACCESS_RW });
    if (isIovaTreeError(m)) {
      dev.freeHost(r);
      return E.left(deviceError('iotlb', 'iova-tree', m.message));
    }
    const v = this.opts.view.addRegion(iova, r.buffer, { offset: r.offset, size: r.size, name: `${this.opts.name}-shadow-${slot}@iova` });
    if (E.isLeft(v)) {
      this.opts.tree.remove(iova);
      dev.freeHost(r);
      return E.left(deviceError('invalid', 'shadow view', v.left.message));
    }
    const u = dev.iotlbUpdate(this.opts.asid, iova, r.size, r.base, VHOST_ACCESS_RW);
    if (E.isLeft(u)) {
      this.opts.view.removeRegion(iova);
      this.opts.tree.remove(iova);
      dev.freeHost(r);
      return u;
    }
    this.sets[slot] = { size, iova, region: r };
    return E.right(slot);
  }

  /** Unmap and free ring set `slot` (the device no longer uses it). */
  unmap(slot: number): E.Either<DeviceError, void> {
    const s = this.sets[slot];
    if (s === undefined) return E.right(undefined);
    const inv = this.dev.iotlbInvalidate(this.opts.asid, s.iova, s.region.size);
    if (E.isLeft(inv)) return inv;
    this.opts.tree.remove(s.iova);
    this.opts.view.removeRegion(s.iova);
    this.sets[slot] = undefined;
    return this.dev.freeHost(s.region);
  }

  /** The set the device is not on: a relayout's new rings, or after it the old ones. */
  get other(): number {
    return this.sets.findIndex((s, i) => s !== undefined && i !== this.active);
  }

  /** SVQ stop: used entries returned to the guest, the chains in flight kept as hand-overs. */
  drain(queues: readonly number[]): number {
    let n = 0;
    for (const qi of queues) {
      const svq = this.svqs.get(qi);
      if (svq === undefined) continue;
      const h = svq.stop();
      this.svqs.delete(qi);
      this.handovers.set(qi, h);
      n += h.inFlight.length;
    }
    return n;
  }

  /**
   * Disable queue `qi`, give it set `slot`'s ring (cleared) at base 0, enable it again unless `enable` is
   * false (the device suspended or not yet running). Returns the shadow ring's config.
   */
  pointQueue(qi: number, slot: number, enable = true): E.Either<DeviceError, RingConfig> {
    const s = this.sets[slot];
    if (s === undefined) return E.left(deviceError('state', 'shadow rings', `no ring set in slot ${slot}`));
    const dev = this.dev;
    const p = this.placement(s, qi);
    s.region.bytes.fill(0, p.addrs.desc - s.iova, p.end - s.iova);
    const steps = [() => dev.setVringEnable(qi, false), () => dev.setVringNum(qi, s.size), () => dev.setVringAddr(qi, p.addrs), () => dev.setVringBase(qi, 0), ...(enable ? [() => dev.setVringEnable(qi, true)] : [])];
    for (const step of steps) {
      const r = step();
      if (E.isLeft(r)) return r;
    }
    return E.right({ layout: 'split', size: s.size, addrs: p.addrs, eventIdx: this.opts.eventIdx ?? false, indirect: false });
  }

  /** A stopped queue's SVQ rebuilt on `shadow` (a ring of set `slot`), resumed from its hand-over (not started). */
  rebuild(qi: number, slot: number, shadow: RingConfig): E.Either<SvqError | DeviceError, ShadowVirtqueue> {
    const g = this.opts.guest(qi);
    const h = this.handovers.get(qi);
    if (g === undefined || h === undefined) return E.left(deviceError('state', 'shadow rings', `queue ${qi} has no ${g === undefined ? 'guest ring' : 'hand-over'}`));
    const dev = this.dev;
    const svq = ShadowVirtqueue.create({
      name: `${this.opts.name}-q${qi}`,
      guest: g,
      shadow: { space: this.opts.view, config: shadow },
      iova: this.opts.tree,
      ...(this.opts.bufferMap === undefined ? {} : { bufferMap: this.opts.bufferMap }),
      kickDevice: () => {
        const r = dev.kick(qi);
        if (E.isLeft(r)) this.opts.onKickError?.(r.left);
      },
      callGuest: () => this.opts.callGuest(qi),
      ...(this.opts.pollGuestWhileBusy === undefined ? {} : { pollGuestWhileBusy: this.opts.pollGuestWhileBusy(qi) }),
      resume: h,
    });
    if (isSvqError(svq)) return E.left(svq);
    this.svqs.set(qi, svq);
    this.slotOf.set(qi, slot);
    this.handovers.delete(qi);
    return E.right(svq);
  }

  /** Point the stopped `queues` at set `slot` and rebuild their SVQs there; the device is on `slot` from now. */
  point(queues: readonly number[], slot: number): E.Either<SvqError | DeviceError, void> {
    for (const qi of queues) {
      const c = this.pointQueue(qi, slot);
      if (E.isLeft(c)) return c;
      const s = this.rebuild(qi, slot, c.right);
      if (E.isLeft(s)) return s;
    }
    if (this.active !== slot) this.previous = this.active;
    this.active = slot;
    return E.right(undefined);
  }

  /** Start forwarding: the handed-over chains first, then what the guest made available meanwhile. */
  start(queues: readonly number[]): E.Either<SvqError, void> {
    for (const qi of queues) {
      const svq = this.svqs.get(qi);
      svq?.start();
      if (svq?.failure !== undefined) return E.left(svq.failure);
    }
    return E.right(undefined);
  }

  /** Stop every SVQ (teardown), hand-overs kept. */
  stopAll(): void {
    this.drain([...this.svqs.keys()]);
  }

  /** Unmap every ring set (teardown). */
  release(): E.Either<DeviceError, void> {
    const errs: string[] = [];
    for (let slot = 0; slot < this.sets.length; slot++) {
      const r = this.unmap(slot);
      if (E.isLeft(r)) errs.push(r.left.message);
    }
    this.active = -1;
    return errs.length ? E.left(deviceError('iotlb', 'shadow rings', errs.join('; '))) : E.right(undefined);
  }
}

const must = <L, R>(r: E.Either<L, R>): R => {
  if (E.isLeft(r)) throw r.left;
  return r.right;
};

export function svqRelayoutEffects(rings: ShadowRingSets): SvqRelayoutEffects {
  const dev = () => rings.dev;
  return {
    suspendDevice: async () => orReject(dev().suspend()),
    resumeDevice: async () => orReject(dev().resume()),
    async drainShadow({ queues }) {
      return { handedOver: rings.drain(queues) };
    },
    async mapShadowRings({ queues, size }) {
      must(rings.map(queues, size));
    },
    async pointToShadow({ queues }) {
      const slot = rings.other;
      if (slot < 0) throw deviceError('state', 'shadow rings', 'no new ring set is mapped');
      must(rings.point(queues, slot));
    },
    async startForwarding({ queues }) {
      must(rings.start(queues));
    },
    async unmapShadowRings() {
      const slot = rings.other;
      if (slot >= 0) must(rings.unmap(slot));
    },
    async rollback({ queues, progress }) {
      const did = new Set(progress);
      const errs: string[] = [];
      const note = (r: E.Either<{ readonly message: string }, unknown>) => E.isLeft(r) && errs.push(r.left.message);
      // the old rings: the device was pointed away (`previous`), or is still on them (`active`)
      const old = did.has('pointed') ? rings.previous : rings.active;
      const fresh = rings.sets.findIndex((s, i) => s !== undefined && i !== old);
      // SVQs on the new rings (forwarding, or rebuilt by a pointing that failed half-way): stopped again;
      // the suspended device has used everything it took from them
      rings.drain(queues.filter((qi) => rings.svqs.has(qi) && rings.slotOf.get(qi) !== old));
      // every stopped queue back on its old ring at base 0, its SVQ rebuilt from the hand-over
      const stopped = queues.filter((qi) => !rings.svqs.has(qi) && rings.handovers.has(qi));
      if (old >= 0 && stopped.length > 0) note(rings.point(stopped, old));
      if (old >= 0) {
        rings.active = old;
        rings.previous = -1;
      }
      if (did.has('mapped') && fresh >= 0) note(rings.unmap(fresh));
      note(rings.start(queues));
      if (did.has('suspended')) note(dev().resume());
      if (errs.length) throw deviceError('state', 'svq-relayout rollback', errs.join('; '));
    },
  };
}
