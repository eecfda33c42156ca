/**
 * An in-process SVQ testbed: guest memory with the guest's ring and buffers, host memory with the shadow
 * ring, an IOVA tree and the device's IOVA view (regions aliasing guest and host memory at their IOVAs,
 * as a vhost IOTLB does), and a loopback device on the shadow ring that echoes each chain's readable
 * bytes into its writable ones. Tests, the benchmark and the CLI demo run SVQ on it without a kernel.
 */
import { AddressSpace, type Region } from '../memory/address-space.js';
import { placeRing, ringFactory } from '../ring/index.js';
import { Chain, isRingError, type RingConfig, type RingDevice, type RingDriver, type RingError, type RingLayout } from '../ring/types.js';
import { VHOST_ACCESS_RW } from '../device/types.js';
import { DirtyLog } from './dirty-log.js';
import { IovaTree, isIovaTreeError } from './iova-tree.js';
import { ShadowVirtqueue, isSvqError, type SvqError, type SvqHandover } from './shadow-virtqueue.js';

export interface RingSide {
  readonly layout: RingLayout;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  readonly size: number;
}

export interface TestbedOptions {
  readonly guest: RingSide;
  readonly shadow: RingSide;
  /** Guest memory size (bytes, ≥ 256 KiB); default 1 MiB. */
  readonly guestMem?: number;
  /**
   * Map guest memory into IOVA space in two halves that are not IOVA-contiguous, so buffers crossing
   * the middle are split into two shadow segments.
   */
  readonly splitGuestMap?: boolean;
  readonly maxChain?: number;
  /** Attach a dirty log to guest memory. */
  readonly dirtyLog?: boolean;
  /** SVQ leaves guest kicks off while busy and polls on device calls (a transmit queue). */
  readonly pollGuestWhileBusy?: boolean;
  /** Guest and host memory in SharedArrayBuffers, so an SVQ worker thread can share them (src/svq/worker.ts). */
  readonly sharedMemory?: boolean;
}

const HVA_BASE = 0x7f00_0000_0000;
/** Where the guest ring lives in guest memory; buffers are handed out above `GUEST_BUF_BASE`. */
export const GUEST_RING_GPA = 0x1000;

/** Guest memory, host memory, IOVA tree and view, the guest's ring; shadow rings are built on demand. */
export class Testbed {
  readonly gpa = new AddressSpace('gpa');
  readonly hva = new AddressSpace('hva');
  readonly iovaView = new AddressSpace('iova');
  readonly tree = new IovaTree({ first: 0, last: 2 ** 48 - 1 });
  readonly guestRegion: Region;
  readonly guestConfig: RingConfig;
  readonly guestDriver: RingDriver;
  readonly dirty: DirtyLog | undefined;
  /** First guest address free for buffers. */
  readonly bufBase: number;
  private hvaNext = HVA_BASE;

  /** Build a testbed, or say which part of the set-up failed (bad ring size, memory too small …). */
  static create(opts: TestbedOptions): Testbed | SvqError {
    try {
      return new Testbed(opts);
    } catch (e) {
      if (e instanceof SetupFailure) return { _tag: 'SvqError', kind: 'setup', queue: 'testbed', message: `testbed: ${e.message}` };
      throw e;
    }
  }

  private constructor(readonly opts: TestbedOptions) {
    const memSize = opts.guestMem ?? 1 << 20;
    this.guestRegion = must(this.gpa.addRegion(0, memSize, { name: 'guest-ram', shared: opts.sharedMemory === true }));
    const g = opts.guest;
    const placed = placeRing(g.layout, g.size, GUEST_RING_GPA);
    this.guestConfig = { layout: g.layout, size: g.size, addrs: placed.addrs, eventIdx: g.eventIdx, indirect: g.indirect };
    const indSize = g.indirect ? g.size * 16 * 16 : 0;
    const indBase = Math.ceil(placed.end / 4096) * 4096;
    const drv = ringFactory(g.layout).driver(this.gpa, this.guestConfig, g.indirect ? { indirectArea: { addr: indBase, size: indSize } } : undefined);
    if (isRingError(drv)) throw new SetupFailure(drv.message);
    this.guestDriver = drv;
    this.bufBase = Math.ceil((indBase + indSize) / 4096) * 4096;
    // guest RAM → IOVA (the gpa map), aliased into the device's view
    const halves = opts.splitGuestMap ? [[0, memSize / 2], [memSize / 2, memSize / 2]] : [[0, memSize]];
    for (const [off, len] of halves) {
      const m = this.tree.mapAlloc('gpa', { translatedAddr: off!, size: len! - 1, perm: VHOST_ACCESS_RW });
      if (isIovaTreeError(m)) throw new SetupFailure(m.message);
      must(this.iovaView.addRegion(m.iova, this.guestRegion.buffer, { offset: off!, size: len!, name: `guest-ram+${off}` }));
      // a one-page guard allocation keeps the halves apart in IOVA space
      if (opts.splitGuestMap) this.tree.mapAlloc('hva', { translatedAddr: 0x10_0000_0000 + off!, size: 4095, perm: VHOST_ACCESS_RW });
    }
    if (opts.dirtyLog) {
      this.dirty = DirtyLog.forSpace(this.gpa);
      this.dirty.attach(this.gpa);
    } else this.dirty = undefined;
  }

  /**
   * Allocate host memory for a shadow ring (+ indirect area), map it HVA→IOVA, alias it in the view
   * (public for SVQ workers, src/svq/worker.ts, which build the SVQ in their own thread). Throws SetupFailure.
   */
  shadowRing(side: RingSide): { config: RingConfig; indirectArea?: { addr: number; size: number } } {
    const ringBytes = placeRing(side.layout, side.size, 0, { deviceAlign: 4096 }).end;
    const indBytes = side.indirect ? side.size * 16 * 16 : 0;
    const size = Math.ceil((Math.ceil(ringBytes / 4096) * 4096 + indBytes) / 4096) * 4096;
    const hva = this.hvaNext;
    this.hvaNext += size + 4096;
    const region = must(this.hva.addRegion(hva, size, { name: `shadow-${side.layout}`, shared: this.opts.sharedMemory === true }));
    const m = this.tree.mapAlloc('hva', { translatedAddr: hva, size: size - 1, perm: VHOST_ACCESS_RW });
    if (isIovaTreeError(m)) throw new SetupFailure(m.message);
    must(this.iovaView.addRegion(m.iova, region.buffer, { name: `shadow@${m.iova}` }));
    const placed = placeRing(side.layout, side.size, m.iova, { deviceAlign: 4096 });
    const config: RingConfig = { layout: side.layout, size: side.size, addrs: placed.addrs, eventIdx: side.eventIdx, indirect: side.indirect };
    if (!side.indirect) return { config };
    return { config, indirectArea: { addr: Math.ceil(placed.end / 4096) * 4096, size: indBytes } };
  }

  /** An SVQ between the guest ring and a fresh shadow ring; the loopback device on that ring. */
  connect(calls: { kickDevice: () => void; callGuest: () => void }, resume?: SvqHandover, shadow?: RingSide): { svq: ShadowVirtqueue; device: LoopbackDevice } | SvqError {
    let sh: ReturnType<Testbed['shadowRing']>;
    try {
      sh = this.shadowRing(shadow ?? this.opts.shadow);
    } catch (e) {
      if (e instanceof SetupFailure) return { _tag: 'SvqError', kind: 'setup', queue: 'svq0', message: `shadow ring: ${e.message}` };
      throw e;
    }
    const svq = ShadowVirtqueue.create({
      name: 'svq0',
      guest: { space: this.gpa, config: this.guestConfig },
      shadow: { space: this.iovaView, config: sh.config, ...(sh.indirectArea === undefined ? {} : { indirectArea: sh.indirectArea }) },
      iova: this.tree,
      ...(this.dirty === undefined ? {} : { dirty: this.dirty }),
      kickDevice: calls.kickDevice,
      callGuest: calls.callGuest,
      ...(this.opts.maxChain === undefined ? {} : { maxChain: this.opts.maxChain }),
      ...(this.opts.pollGuestWhileBusy === true ? { pollGuestWhileBusy: true } : {}),
      ...(resume === undefined ? {} : { resume }),
    });
    if (isSvqError(svq)) return svq;
    const dev = ringFactory(sh.config.layout).device(this.iovaView, sh.config);
    if (isRingError(dev)) return { _tag: 'SvqError', kind: 'setup', queue: 'svq0', cause: dev, message: dev.message };
    return { svq, device: new LoopbackDevice(this.iovaView, dev) };
  }
}

/**
 * The device end of the shadow ring: pops chains, copies their readable bytes into their writable ones
 * (a loopback NIC), pushes them used with the bytes written. Reusable chain, no allocation per chain.
 */
export class LoopbackDevice {
  private readonly chain = new Chain(1024);
  /** Chains completed. */
  completed = 0;

  constructor(private readonly space: AddressSpace, readonly ring: RingDevice) {}

  /** Process up to `max` chains; returns how many, or the ring error. `call` tells whether to signal. */
  process(max: number): number | RingError {
    const c = this.chain;
    const ring = this.ring;
    let n = 0;
    while (n < max) {
      const r = ring.pop(c);
      if (r === false) break;
      if (r !== true) return r;
      const written = this.echo(c);
      const p = ring.push(c.id, c.ringDescs, written);
      if (p !== undefined) return p;
      n++;
    }
    this.completed += n;
    return n;
  }

  /** Copy out-bytes into in-buffers, in order; returns bytes written (≤ inBytes). */
  private echo(c: Chain): number {
    const space = this.space;
    let oi = 0;
    let oOff = 0;
    let written = 0;
    for (let k = c.outCount; k < c.count; k++) {
      const dst = space.find(c.addr[k]!, c.len[k]!);
      if (dst === undefined) break;
      let dOff = c.addr[k]! - dst.base;
      let room = c.len[k]!;
      while (room > 0 && oi < c.outCount) {
        const src = space.find(c.addr[oi]!, c.len[oi]!);
        if (src === undefined) return written;
        const avail = c.len[oi]! - oOff;
        const take = avail < room ? avail : room;
        const s = c.addr[oi]! - src.base + oOff;
        if (src.buffer === dst.buffer) {
          // both in one backing buffer (guest RAM): copy without making a view
          wholeOf(src.buffer).copyWithin(dst.offset + dOff, src.offset + s, src.offset + s + take);
        } else dst.bytes.set(src.bytes.subarray(s, s + take), dOff);
        dOff += take;
        room -= take;
        written += take;
        oOff += take;
        if (oOff === c.len[oi]!) {
          oi++;
          oOff = 0;
        }
      }
      if (oi >= c.outCount) break;
    }
    return written;
  }

  /** The device works with kicks off while it has work (vhost's handle_kick loop); true while busy. */
  private busy = false;

  /**
   * One scheduling slice of a busy device: process up to `max` chains with kicks suppressed; when the ring
   * runs dry, re-enable kicks and re-check the race (vhost_enable_notify). Returns whether it stays busy.
   */
  service(max: number): boolean | RingError {
    const ring = this.ring;
    if (!this.busy) ring.disableKicks();
    this.busy = true;
    const r = this.process(max);
    if (typeof r !== 'number') return r;
    if (!ring.hasAvail()) {
      if (ring.enableKicks()) ring.disableKicks(); // raced with a new chain: stay busy, kicks off
      else this.busy = false;
    }
    return this.busy;
  }

  get isBusy(): boolean {
    return this.busy;
  }

  callNeeded(): boolean {
    return this.ring.callNeeded();
  }
}

const whole = new WeakMap<ArrayBufferLike, Uint8Array>();
function wholeOf(b: ArrayBufferLike): Uint8Array {
  let u = whole.get(b);
  if (u === undefined) {
    u = new Uint8Array(b);
    whole.set(b, u);
  }
  return u;
}

class SetupFailure {
  constructor(readonly message: string) {}
}

function must<T, L extends { message: string }>(e: { _tag: 'Left'; left: L } | { _tag: 'Right'; right: T }): T {
  if (e._tag === 'Left') throw new SetupFailure(e.left.message);
  return e.right;
}
