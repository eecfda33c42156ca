/**
 * The device's virtqueues: each queue's vhost state (size, addresses, base, ready), its device-side
 * ring from the ring layer once started (split or packed per RING_PACKED, EVENT_IDX and INDIRECT_DESC
 * per negotiation, over its group's IOVA space), kicks processed deferred on the virtual clock, calls,
 * and the completion of chains (with the used-length / used-id faults).
 */
import { virtioMb } from '../../memory/barrier.js';
import type { AddressSpace } from '../../memory/address-space.js';
import { ringFactory } from '../../ring/index.js';
import { Chain, type RingAddrs, type RingBase, type RingDevice, type RingLayout } from '../../ring/types.js';
import { hasFeature } from '../../virtio/features.js';
import { VHOST_ACCESS_RO, VHOST_ACCESS_RW, VHOST_ACCESS_WO } from '../types.js';
import type { SimCore } from './core.js';
import { permName } from './dma.js';

export class SimQueue {
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

export class SimQueues {
  readonly list: SimQueue[];
  /** Processes one kicked queue; returns the chains handled (set by the device: CVQ or loopback). */
  process: (q: SimQueue) => number = () => 0;
  /** A queue stopped (the loopback drops a half-delivered frame). */
  onStop: (q: SimQueue) => void = () => {};
  private drainScheduled = false;
  private readonly callListeners = new Map<number, Set<() => void>>();

  constructor(private readonly core: SimCore) {
    const n = 2 * core.maxQueuePairs + 1;
    this.list = Array.from({ length: n }, (_, i) => new SimQueue(i, core.profile.vringNum));
  }

  get(qi: number): SimQueue | undefined {
    return Number.isInteger(qi) && qi >= 0 ? this.list[qi] : undefined;
  }

  /** The IOVA space queue `q` uses. */
  space(q: SimQueue): AddressSpace {
    return this.core.spaceOf(q.index);
  }

  /** Queues that exist for the written features: the data queues plus the CVQ when CTRL_VQ is there. */
  private activeQueues(): number {
    return this.core.fCtrlVq ? this.core.cvqIndex() + 1 : this.core.cvqIndex();
  }

  resetAll(): void {
    for (const q of this.list) q.resetState(this.core.profile.vringNum);
  }

  /** Give queue `q` a device-side ring over its group's IOVA space, resuming from its vring base. */
  start(q: SimQueue): void {
    const core = this.core;
    if (q.ring !== undefined || q.index >= this.activeQueues()) return;
    if (q.addrs === undefined) return core.deviceFault(q.index, `queue ${q.index} enabled without ring addresses`);
    const layout = core.layoutNegotiated();
    const space = this.space(q);
    const denied = this.ringAccessDenied(space, layout, q.num, q.addrs);
    if (denied !== undefined) return core.deviceFault(q.index, `queue ${q.index}: ${denied}`);
    const ring = ringFactory(layout).device(space, {
      layout,
      size: q.num,
      addrs: q.addrs,
      eventIdx: hasFeature(core.driverFeatures, 'EVENT_IDX'),
      indirect: hasFeature(core.driverFeatures, 'INDIRECT_DESC'),
    });
    if ('_tag' in ring) return core.deviceFault(q.index, `queue ${q.index}: ${ring.message}`, ring);
    const bad = ring.setBase(q.base);
    if (bad !== undefined) return core.deviceFault(q.index, `queue ${q.index}: ${bad.message}`, bad);
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
      const perm = this.core.regionPerms.get(r) ?? 0;
      if (perm !== 0 && (perm & need) !== need) return `${what} at 0x${addr.toString(16)} is mapped ${permName(perm)}, the device needs ${permName(need)}`;
    }
    return undefined;
  }

  /** Stop using queue `q`, keeping its position as the vring base. */
  stop(q: SimQueue): void {
    if (q.ring !== undefined) {
      const b = q.ring.base();
      // vdpasim_queue_ready: a restarted split queue resumes with last_used_idx = last_avail_idx
      q.base = q.layout === 'split' ? { availIdx: b.availIdx, availWrap: true, usedIdx: b.availIdx, usedWrap: true } : b;
    }
    q.ring = undefined;
    q.kicked = false;
    q.stalled = false;
    this.onStop(q);
  }

  /** Move the running queues of `group` to its (new) address space at once, keeping their position. */
  rebind(group: number): void {
    for (const q of this.list) {
      if (q.ring === undefined || this.core.groupOf(q.index) !== group) continue;
      const b = q.ring.base();
      q.ring = undefined;
      q.base = b;
      this.start(q);
    }
  }

  /** Called (in a microtask) whenever the device signals queue `qi`; returns an unsubscribe function. */
  onCall(qi: number, fn: () => void): () => void {
    let set = this.callListeners.get(qi);
    if (set === undefined) this.callListeners.set(qi, (set = new Set()));
    set.add(fn);
    return () => void set.delete(fn);
  }

  markKicked(q: SimQueue): void {
    if (!q.kicked) {
      q.kicked = true;
      q.kickAt = this.core.clock.now;
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
  drain(): void {
    const core = this.core;
    for (let guard = 0; guard < 64; guard++) {
      let any = false;
      for (const q of this.list) {
        if (!q.kicked) continue;
        q.kicked = false;
        any = true;
        if (q.ring === undefined) continue;
        if (core.suspended) {
          core.pendingKick = true; // processed on resume, not lost
          continue;
        }
        if (!core.running()) continue;
        core.clock.advanceTo(Math.max(core.clock.now, q.kickAt + core.kickToCallUs));
        const chains = this.process(q);
        if (chains > 0) core.clock.advance(chains * core.perChainUs);
      }
      if (!any) return;
    }
  }

  /** Signal queue `q` when its ring asks for it (EVENT_IDX / NO_INTERRUPT). */
  raiseCall(q: SimQueue): void {
    if (q.ring === undefined) return;
    // §2.7.10.1: used entries are published before used_event is read (SVQ may be another thread)
    virtioMb();
    if (!q.ring.callNeeded()) return;
    if (!q.callPending) this.core.clock.roundTrips++;
    q.callPending = true;
    this.core.stats.calls++;
    const ls = this.callListeners.get(q.index);
    if (ls !== undefined && ls.size > 0) queueMicrotask(() => ls.forEach((fn) => fn()));
  }

  /**
   * Return a chain as used, applying the used-length / used-id faults by rewriting the used element
   * after the ring layer wrote it (so the device's own ring state stays consistent and the driver sees
   * exactly the lie).
   */
  complete(q: SimQueue, id: number, ringDescs: number, len: number, lenOverride: number | undefined, idOverride: number | undefined): boolean {
    const ring = q.ring!;
    const patch = lenOverride !== undefined || idOverride !== undefined;
    const before = patch ? ring.base() : undefined; // allocation only when a fault rewrites the element
    const r = ring.push(id, ringDescs, len);
    if (r !== undefined) {
      this.core.deviceFault(q.index, `queue ${q.index}: ${r.message}`, r);
      return false;
    }
    this.core.stats.chains++;
    if (before !== undefined) this.patchUsed(q, before, lenOverride, idOverride);
    if (this.core.faults.chainDone(q.index)) this.core.needsReset(q.index, `injected after chains on queue ${q.index}`);
    return true;
  }

  /** Complete a data-queue chain with that queue's used-length / used-id faults, if any. */
  completeData(q: SimQueue, id: number, ringDescs: number, len: number): boolean {
    const f = this.core.faults;
    const badLen = f.forQueue('wrong-used-len', q.index)?.len;
    const badId = f.forQueue('bad-used-id', q.index);
    return this.complete(q, id, ringDescs, len, badLen, badId === undefined ? undefined : (badId.id ?? q.num));
  }

  private patchUsed(q: SimQueue, before: RingBase, len: number | undefined, id: number | undefined): void {
    const space = this.space(q);
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
}
