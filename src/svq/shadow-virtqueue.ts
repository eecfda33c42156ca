/**
 * One shadow virtqueue (QEMU hw/virtio/vhost-shadow-virtqueue.c), for either layout on either side.
 *
 *   guest driver ──avail──▶ [guest ring, GPA]  ◀─RingDevice─  SVQ  ─RingDriver─▶ [shadow ring, IOVA] ──▶ device
 *   guest driver ◀──used─── [guest ring, GPA]  ─────────────  SVQ  ◀──────────── [shadow ring, IOVA] ◀── device
 *
 * Guest side: SVQ is the *device* of the guest's ring. Shadow side: SVQ is the *driver* of the ring the
 * device sees, whose descriptors carry IOVAs translated through the IOVA tree (the guest's buffers are
 * mapped GPA→IOVA, the shadow ring itself HVA→IOVA). The shadow ring is addressed in the device's IOVA
 * view (an AddressSpace whose regions alias the host memory at their IOVAs), so indirect tables written
 * by the ring layer carry IOVAs too.
 *
 * Every popped guest chain is kept in an element slot (QEMU's `desc_state[].elem`): guest id, the
 * descriptors it took on the guest ring, and its guest-physical segments, in preallocated typed arrays.
 * The slot number is the token of the shadow chain, so a used entry leads back to the guest chain and to
 * the in-buffers whose pages the device wrote (marked in the dirty log up to the used length).
 *
 * Notifications are injected: `kickDevice` (a VdpaDevice's kick(qi)) and `callGuest` (the guest's
 * irqfd); no I/O here. Hot paths (`handleGuestKick`, `handleDeviceCall`) allocate nothing per buffer.
 *
 * Rules kept from QEMU:
 *  - shadow ring full (`-ENOSPC`): the popped element is stashed, guest kicks are disabled and not read
 *    until the device uses something; nothing is dropped (vhost_handle_guest_kick / vhost_svq_flush);
 *  - used id / length checked against SVQ's own bookkeeping (the ring layer's driver); a bad entry puts the
 *    queue in the failed state with a typed error, and the guest chains in flight stay accounted for;
 *  - after each batch of used entries: signal the guest if its suppression allows, re-enable device
 *    notifications and loop while the device raced us (vhost_svq_enable_notification).
 * And one from vhost-net (handle_tx / handle_rx): while chains are in flight on the shadow ring, guest
 * kicks stay off and every device call polls the guest ring; they are re-enabled, with the re-check,
 * when the shadow ring goes idle; with EVENT_IDX it asks for the device's call only once 3/4 of what is
 * in flight is used (Linux virtqueue_enable_cb_delayed). Each pass forwards in a burst: every available
 * guest chain popped and added, then one kick decision; every used entry reaped and pushed, then one
 * call decision.
 */
import { virtioMb } from '../memory/barrier.js';
import type { AddressSpace } from '../memory/address-space.js';
import { ringFactory } from '../ring/index.js';
import { Chain, Used, isRingError, type RingBase, type RingConfig, type RingDevice, type RingDriver, type RingError, type RingLayout } from '../ring/types.js';
import type { DirtyLog } from './dirty-log.js';
import { VHOST_ACCESS_RO as ACCESS_RO, VHOST_ACCESS_WO as ACCESS_WO } from '../device/types.js';
import type { IovaTree, IovaTreeError, MapKind } from './iova-tree.js';

/** Module-local copies (an imported binding is a cell load and a TDZ check per use in optimized code). */
const VHOST_ACCESS_RO = ACCESS_RO;
const VHOST_ACCESS_WO = ACCESS_WO;

export type SvqErrorKind =
  | 'guest-ring' // the guest's ring broke a rule while SVQ popped from it or pushed to it
  | 'device-ring' // the device returned a bad used entry (unknown id, length beyond writable bytes …)
  | 'translate' // a guest buffer has no IOVA mapping (or lacks the permission)
  | 'chain-too-long' // a guest chain can never fit the shadow ring
  | 'setup' // the rings could not be set up
  | 'resume'; // a hand-over does not fit this queue

export interface SvqError {
  readonly _tag: 'SvqError';
  readonly kind: SvqErrorKind;
  readonly queue: string;
  readonly cause?: RingError | IovaTreeError;
  readonly message: string;
}

export const svqError = (kind: SvqErrorKind, queue: string, message: string, cause?: RingError | IovaTreeError): SvqError =>
  cause === undefined ? { _tag: 'SvqError', kind, queue, message: `${queue}: ${message}` } : { _tag: 'SvqError', kind, queue, cause, message: `${queue}: ${message}: ${cause.message}` };

export const isSvqError = (x: unknown): x is SvqError => typeof x === 'object' && x !== null && (x as { _tag?: unknown })._tag === 'SvqError';

/** A guest chain SVQ popped and has not returned: enough to forward it again after a hand-over. */
export interface SvqElement {
  /** Split: head index. Packed: buffer id. */
  readonly id: number;
  /** Descriptors it took on the guest ring (packed needs it to return the chain). */
  readonly ringDescs: number;
  readonly indirect: boolean;
  readonly outCount: number;
  /** Guest-physical segments, readable ones first. */
  readonly addr: readonly number[];
  readonly len: readonly number[];
}

/** What a stopped queue hands over (vhost's GET_VRING_BASE plus the in-flight set). */
export interface SvqHandover {
  readonly guestLayout: RingLayout;
  readonly guestSize: number;
  /** The guest ring position after every chain SVQ popped: resume SVQ (here or at the destination) from it. */
  readonly guestBase: RingBase;
  /** Guest chains popped and not used, in pop order: a resumed SVQ forwards them first. */
  readonly inFlight: readonly SvqElement[];
  /**
   * Position for a device that resumes directly on the guest ring (SVQ switched off): the in-flight chains
   * un-popped, as QEMU's `virtqueue_unpop`. Only exact when they are the chains popped last (the device
   * completed everything before them); otherwise undefined and the queue must be drained first.
   */
  readonly passthroughBase: RingBase | undefined;
}

export interface SvqStats {
  /** Guest chains added to the shadow ring. */
  forwarded: number;
  /** Guest chains returned used to the guest. */
  returned: number;
  /** Guest kicks handled / device calls handled. */
  guestKicks: number;
  deviceCalls: number;
  /** Notifications SVQ sent: kicks to the device, calls to the guest. */
  kicksSent: number;
  callsSent: number;
  /** Times the shadow ring was full and a guest element was stashed (-ENOSPC). */
  stashes: number;
  /** Chains forwarded through an indirect table on the shadow ring. */
  indirectForwarded: number;
  /** Guest in-buffer bytes the device wrote (sum of used lengths). */
  usedBytes: number;
}

export interface ShadowVirtqueueOptions {
  readonly name?: string;
  /** The guest's ring in guest-physical memory; SVQ is its device. */
  readonly guest: { readonly space: AddressSpace; readonly config: RingConfig };
  /**
   * SVQ's ring, addressed in the device's IOVA view (`space`); SVQ is its driver. `indirectArea` (IOVAs)
   * holds the shadow indirect tables when the device negotiated INDIRECT_DESC.
   */
  readonly shadow: { readonly space: AddressSpace; readonly config: RingConfig; readonly indirectArea?: { addr: number; size: number } };
  /** Translates the guest's buffer addresses to IOVAs. */
  readonly iova: IovaTree;
  /** Which map of the tree holds guest buffers: 'gpa' (default), or 'hva' when guest memory is mapped by HVA. */
  readonly bufferMap?: MapKind;
  /** Pages of in-buffers the device wrote are marked here (used-ring writes reach it through the space's write hook). */
  readonly dirty?: DirtyLog;
  readonly kickDevice: () => void;
  readonly callGuest: () => void;
  /** Longest flattened guest chain accepted (segments); default: the guest queue size. */
  readonly maxChain?: number;
  /** Resume from a hand-over: guest ring position and the in-flight chains to forward again. */
  readonly resume?: SvqHandover;
  /**
   * vhost-net's handle_tx: while chains are in flight on the shadow ring, leave guest kicks off and
   * poll the guest ring on each device call. Only for a queue whose device calls come as surely as the
   * guest's chains (a transmit queue): on a receive queue the device needs the guest's new buffers
   * before it can use any — waiting for its call would starve it (vdpa_sim_net drops the frame).
   * Such a queue also asks the device for its call only once 3/4 of the chains in flight are used
   * (EVENT_IDX: Linux virtqueue_enable_cb_delayed, as virtio-net's transmit path does): one call per
   * burst instead of one per device batch. Default off: QEMU's rules, guest kicks re-enabled after every
   * pass and a call asked for at the next used entry.
   */
  readonly pollGuestWhileBusy?: boolean;
}

/** Segments per element slot kept inline; longer chains keep theirs in a per-slot array grown once. */
const INLINE_SEGS = 8;
/** The fields of a slot in `su` (u32) and `sf` (f64). */
/** Guest head (split) / buffer id (packed) | descriptors it took on the guest ring << 16 (both ≤ 32768, §2.7 / §2.8). */
const S_HEAD = 0;
const S_COUNT = 1; // segments
const S_OUT = 2; // readable segments (first)
const S_INDIRECT = 3; // 1 when it came through an indirect table
const S_LEN = 4; // INLINE_SEGS segment lengths
const SLOT_U32 = S_LEN + INLINE_SEGS;
/** forwardOne's answers besides a slot: on the shadow ring, not yet counted / counted by addToShadow. */
const ADDED = -1;
const ADDED_COUNTED = -2;
const F_SEQ = 0; // pop order (hand-over)
const F_ADDR = 1; // INLINE_SEGS segment addresses
const SLOT_F64 = F_ADDR + INLINE_SEGS;

export type SvqState = 'running' | 'failed' | 'stopped';

export class ShadowVirtqueue {
  readonly name: string;
  readonly guestRing: RingDevice;
  readonly shadowRing: RingDriver;
  private readonly iova: IovaTree;
  private readonly bufferMap: MapKind;
  private readonly dirty: DirtyLog | undefined;
  private readonly kickDevice: () => void;
  private readonly callGuest: () => void;
  private readonly shadowSize: number;
  private readonly shadowIndirect: boolean;
  private readonly guestLayout: RingLayout;
  private readonly guestSize: number;

  // element slots (one per guest chain that can be in flight)
  private readonly nSlots: number;
  /** Per-slot u32 fields (S_*), SLOT_U32 apart: one array per method to load, not one per field. */
  private readonly su: Uint32Array;
  /** Per-slot doubles (F_*), SLOT_F64 apart: the pop sequence number and the inline segment addresses. */
  private readonly sf: Float64Array;
  private readonly bigAddr: (Float64Array | undefined)[];
  private readonly bigLen: (Uint32Array | undefined)[];
  /** Free slot numbers (a stack). Int32: a slot loaded from it is a small integer to V8, never a double. */
  private readonly freeSlots: Int32Array;
  private freeTop: number;
  /** Elements popped but not yet on the shadow ring, FIFO (the stash; several only after a resume). */
  private readonly pending: Int32Array;
  private pendHead = 0;
  private pendCount = 0;
  private nextSeq = 0;

  private readonly gchain: Chain;
  private readonly schain: Chain;
  private readonly used = new Used();
  /**
   * The last mapping a one-segment buffer hit: [tcLo, tcEnd) of addresses, IOVA − address, the access it
   * allows, the tree's generation then. Plain fields, not a typed array: each typed-array access costs a
   * detach and a bounds check in V8's code, a field load does not. NaN bounds until the first lookup.
   */
  private tcLo = Number.NaN;
  private tcEnd = Number.NaN;
  private tcDelta = 0.5;
  private tcRead = false;
  private tcWrite = false;
  private tcGen = -1;

  /** Guest kicks left off while chains were in flight: the next device call polls the guest ring. */
  private guestPolling = false;
  private readonly pollWhileBusy: boolean;
  private st: SvqState = 'running';
  private err: SvqError | undefined;
  private readonly counters: SvqStats = { forwarded: 0, returned: 0, guestKicks: 0, deviceCalls: 0, kicksSent: 0, callsSent: 0, stashes: 0, indirectForwarded: 0, usedBytes: 0 };

  private constructor(opts: ShadowVirtqueueOptions, guestRing: RingDevice, shadowRing: RingDriver) {
    this.name = opts.name ?? 'svq';
    this.pollWhileBusy = opts.pollGuestWhileBusy === true;
    this.guestRing = guestRing;
    this.shadowRing = shadowRing;
    this.iova = opts.iova;
    this.bufferMap = opts.bufferMap ?? 'gpa';
    this.dirty = opts.dirty;
    this.kickDevice = opts.kickDevice;
    this.callGuest = opts.callGuest;
    this.shadowSize = opts.shadow.config.size;
    this.shadowIndirect = opts.shadow.config.indirect && opts.shadow.indirectArea !== undefined;
    this.guestLayout = opts.guest.config.layout;
    this.guestSize = opts.guest.config.size;
    const n = opts.guest.config.size;
    this.nSlots = n;
    this.su = new Uint32Array(n * SLOT_U32);
    this.sf = new Float64Array(n * SLOT_F64);
    this.bigAddr = new Array<Float64Array | undefined>(n).fill(undefined);
    this.bigLen = new Array<Uint32Array | undefined>(n).fill(undefined);
    this.freeSlots = new Int32Array(n);
    for (let i = 0; i < n; i++) this.freeSlots[i] = n - 1 - i;
    this.freeTop = n;
    this.pending = new Int32Array(n);
    const maxChain = Math.max(1, opts.maxChain ?? n);
    this.gchain = new Chain(maxChain);
    // translation may split a guest buffer at mapping boundaries: room for twice the guest chain
    this.schain = new Chain(Math.max(2 * maxChain, 16));
  }

  /** Build the two ring ends (and resume a hand-over) or say why not. */
  static create(opts: ShadowVirtqueueOptions): ShadowVirtqueue | SvqError {
    const name = opts.name ?? 'svq';
    const g = ringFactory(opts.guest.config.layout).device(opts.guest.space, opts.guest.config);
    if (isRingError(g)) return svqError('setup', name, 'guest ring', g);
    const ia = opts.shadow.indirectArea;
    const s = ringFactory(opts.shadow.config.layout).driver(opts.shadow.space, opts.shadow.config, ia === undefined ? undefined : { indirectArea: ia });
    if (isRingError(s)) return svqError('setup', name, 'shadow ring', s);
    const q = new ShadowVirtqueue(opts, g, s);
    if (opts.resume !== undefined) {
      const r = q.load(opts.resume);
      if (r !== undefined) return r;
    }
    return q;
  }

  get state(): SvqState {
    return this.st;
  }

  /** The error that failed the queue, if any. */
  get failure(): SvqError | undefined {
    return this.err;
  }

  stats(): SvqStats {
    return { ...this.counters };
  }

  /** Guest chains SVQ holds (on the shadow ring or stashed). */
  inFlight(): number {
    return this.nSlots - this.freeTop;
  }

  /** Guest chains popped but not on the shadow ring (the -ENOSPC stash). */
  stashed(): number {
    return this.pendCount;
  }

  private fail(e: SvqError): void {
    if (this.err === undefined) this.err = e;
    this.st = 'failed';
  }

  // ─────────────────────────────── guest kick → shadow ring ───────────────────────────────

  /** The guest kicked (its kick eventfd fired): forward every available chain. */
  handleGuestKick(): void {
    if (this.st !== 'running') return;
    this.counters.guestKicks++;
    this.forwardAvail();
  }

  /** vhost_handle_guest_kick: pop, translate, add; stash on -ENOSPC; loop on the enable-notification race. */
  private forwardAvail(): void {
    const guest = this.guestRing;
    for (;;) {
      // (already off when a busy pass left them so: the device call that brings us here polls the ring)
      if (!this.guestPolling) guest.disableKicks();
      // the stash first: its chains were popped before anything still on the guest ring
      while (this.pendCount > 0) {
        const slot = this.pending[this.pendHead]!;
        if (!this.addToShadow(slot)) break;
        this.pendHead = this.pendHead + 1 === this.nSlots ? 0 : this.pendHead + 1;
        this.pendCount--;
      }
      if (this.pendCount === 0 && this.st === 'running') this.forwardBurst();
      virtioMb(); // §2.7.13.3.1: avail index published before avail_event is read (the device may be another thread)
      if (this.shadowRing.kickNeeded()) {
        this.counters.kicksSent++;
        this.kickDevice();
      }
      // stashed: leave guest kicks off until the device returns something (QEMU's -ENOSPC rule)
      if (this.pendCount > 0 || this.st !== 'running') return;
      // Busy (vhost-net's handle_tx keeps notifications off while it has work): with chains in flight
      // on the shadow ring the device will call, and handleDeviceCall polls the guest ring then, so
      // guest kicks stay off (§2.7.10 / §2.8.10 allow the device to suppress them) and a guest under
      // load kicks only when SVQ went idle. Re-enabled (and re-checked) once nothing is in flight.
      if (this.pollWhileBusy && this.shadowRing.inFlight() > 0) {
        this.guestPolling = true;
        return;
      }
      this.guestPolling = false;
      if (!guest.enableKicks()) return;
    }
  }

  /** Pop every available guest chain and add it to the shadow ring; stop at a full shadow ring (stashed) or a failure. */
  private forwardBurst(): void {
    const guest = this.guestRing;
    const gchain = this.gchain;
    // counted per burst, not per chain (the general path counts its own)
    let ones = 0;
    for (;;) {
      const r = guest.pop(gchain);
      if (r === false) break;
      if (r !== true) {
        this.fail(svqError('guest-ring', this.name, 'pop from the guest ring', r));
        break;
      }
      if (this.freeTop === 0) {
        // more chains in flight than the queue has entries: the guest reused a head/id in flight
        this.fail(svqError('guest-ring', this.name, `guest made chain ${gchain.id} available with ${this.nSlots} chains already in flight`));
        break;
      }
      if (gchain.count === 1) {
        const slot = this.forwardOne(gchain);
        if (slot === ADDED) ones++;
        if (slot < 0) continue;
        if (this.st === 'running') this.stash(slot);
        break;
      }
      const slot = this.storeElement(gchain);
      if (!this.addToShadow(slot)) {
        if (this.st === 'running') this.stash(slot);
        break;
      }
    }
    this.counters.forwarded += ones;
  }

  private stash(slot: number): void {
    let t = this.pendHead + this.pendCount;
    if (t >= this.nSlots) t -= this.nSlots;
    this.pending[t] = slot;
    this.pendCount++;
    this.counters.stashes++;
  }

  /** Keep a popped guest chain in a free slot; returns the slot. */
  private storeElement(c: Chain): number {
    // a well-behaved guest never has more chains in flight than its queue size (§2.7.13.3 / §2.8)
    const slot = this.freeSlots[--this.freeTop]!;
    const count = c.count;
    const su = this.su;
    const sf = this.sf;
    const o = slot * SLOT_U32;
    const f = slot * SLOT_F64;
    su[o + S_HEAD] = c.id | (c.ringDescs << 16);
    su[o + S_COUNT] = count;
    su[o + S_OUT] = c.outCount;
    su[o + S_INDIRECT] = c.indirect ? 1 : 0;
    sf[f + F_SEQ] = this.nextSeq++;
    if (count <= INLINE_SEGS) {
      const addr = c.addr;
      const len = c.len;
      for (let k = 0; k < count; k++) {
        sf[f + F_ADDR + k] = addr[k]!;
        su[o + S_LEN + k] = len[k]!;
      }
    } else this.storeBig(slot, c);
    return slot;
  }

  /** A chain longer than INLINE_SEGS keeps its segments in the slot's own arrays (grown once, then reused). */
  private storeBig(slot: number, c: Chain): void {
    const count = c.count;
    let a = this.bigAddr[slot];
    let l = this.bigLen[slot];
    if (a === undefined || l === undefined || a.length < count) {
      a = this.bigAddr[slot] = new Float64Array(c.capacity);
      l = this.bigLen[slot] = new Uint32Array(c.capacity);
    }
    a.set(c.addr.subarray(0, count));
    l.set(c.len.subarray(0, count));
  }

  /**
   * Translate slot's chain to IOVAs and add it to the shadow ring. False when it does not fit now
   * (-ENOSPC) or on a failure (the queue is then failed).
   */
  private addToShadow(slot: number): boolean {
    const su = this.su;
    const count = su[slot * SLOT_U32 + S_COUNT]!;
    const outCount = su[slot * SLOT_U32 + S_OUT]!;
    const big = count > INLINE_SEGS;
    const ga = big ? this.bigAddr[slot]! : this.sf;
    const gl = big ? this.bigLen[slot]! : su;
    const ba = big ? 0 : slot * SLOT_F64 + F_ADDR;
    const bl = big ? 0 : slot * SLOT_U32 + S_LEN;
    const sc = this.schain;
    const sa = sc.addr;
    const sl = sc.len;
    const cap = sc.capacity;
    const iova = this.iova;
    const map = this.bufferMap;
    let n = 0;
    let so = 0;
    let outBytes = 0;
    let inBytes = 0;
    for (let k = 0; k < count; k++) {
      const len = gl[bl + k]!;
      const w = k >= outCount;
      const r = iova.translate(map, ga[ba + k]!, len, w, sa, sl, n, cap);
      if (typeof r !== 'number') return this.translateFailed(slot, k, r);
      n += r;
      if (w) inBytes += len;
      else {
        outBytes += len;
        so = n;
      }
    }
    sc.id = 0;
    sc.ringDescs = 0;
    sc.indirect = false;
    sc.count = n;
    sc.outCount = so;
    sc.outBytes = outBytes;
    sc.inBytes = inBytes;
    const drv = this.shadowRing;
    // indirect on the shadow ring when the guest used one, or when the chain would not fit directly
    const useInd = this.shadowIndirect && n > 1 && (su[slot * SLOT_U32 + S_INDIRECT] === 1 || n > drv.numFree());
    const r = drv.add(sc, slot, useInd);
    if (typeof r === 'number') {
      this.counters.forwarded++;
      if (useInd) this.counters.indirectForwarded++;
      return true;
    }
    return this.addFailed(slot, n, r);
  }

  /**
   * `storeElement` + `addToShadow` of a one-segment chain just popped into `c` (a TX packet, an RX buffer),
   * in one pass: kept in a free slot, translated in one piece through the last mapping hit (tc*) when the
   * buffer lies inside it, added to the shadow ring straight from `c`. Anything else (another mapping, a
   * buffer across mappings, an error to name) takes the general path. Returns ADDED when the chain is on
   * the shadow ring (ADDED_COUNTED: by the general path, which counted it), else its slot (not added:
   * stash it, unless the queue failed).
   */
  private forwardOne(c: Chain): number {
    const slot = this.freeSlots[--this.freeTop]!;
    const su = this.su;
    const sf = this.sf;
    const o = slot * SLOT_U32;
    const f = slot * SLOT_F64;
    const a = c.addr[0]!;
    const len = c.len[0]!;
    const w = c.outCount === 0;
    su[o + S_HEAD] = c.id | (c.ringDescs << 16);
    su[o + S_COUNT] = 1;
    su[o + S_OUT] = w ? 0 : 1;
    su[o + S_INDIRECT] = c.indirect ? 1 : 0;
    su[o + S_LEN] = len;
    sf[f + F_SEQ] = this.nextSeq++;
    sf[f + F_ADDR] = a;
    // inside the cached mapping, with the access it allows, and no mapping removed since it was cached
    if (!(a >= this.tcLo && a + len <= this.tcEnd && (w ? this.tcWrite : this.tcRead) && this.tcGen === this.iova.generation)) {
      if (!this.cacheMapping(c.addr, len, w)) return this.addToShadow(slot) ? ADDED_COUNTED : slot;
    }
    // the popped chain itself goes to the shadow ring, its one address translated in place (its guest
    // address is in the slot): count, lengths and byte sums are already those of the shadow chain
    c.addr[0] = a + this.tcDelta;
    const r = this.shadowRing.add(c, slot, false);
    if (typeof r === 'number') return ADDED;
    this.addFailed(slot, 1, r);
    return slot;
  }

  /**
   * Cache the mapping holding the buffer at `src[0]` (`len` bytes) in the tc* fields; false when no single mapping
   * holds it with the access (`addToShadow` then splits it or names the error). The address travels in
   * its Float64Array (a double passed to a call V8 does not inline is boxed).
   */
  private cacheMapping(src: Float64Array, len: number, w: boolean): boolean {
    const a = src[0]!;
    const m = this.iova.lookup(this.bufferMap, a);
    if (m === undefined) return false;
    this.tcLo = m.translatedAddr;
    this.tcEnd = m.translatedAddr + m.size + 1;
    this.tcDelta = m.iova - m.translatedAddr;
    this.tcRead = (m.perm & VHOST_ACCESS_RO) !== 0;
    this.tcWrite = (m.perm & VHOST_ACCESS_WO) !== 0;
    this.tcGen = this.iova.generation;
    return a + len <= this.tcEnd && (w ? this.tcWrite : this.tcRead);
  }

  /** A guest segment without an IOVA mapping (or too many pieces): the queue fails. Always false. */
  private translateFailed(slot: number, k: number, r: IovaTreeError): boolean {
    this.fail(svqError(r.kind === 'too-many-segments' ? 'chain-too-long' : 'translate', this.name, `guest chain ${this.su[slot * SLOT_U32 + S_HEAD]! & 0xffff} segment ${k}`, r));
    return false;
  }

  /**
   * The shadow ring refused slot's chain of `n` descriptors: full for now (-ENOSPC, false, the caller
   * stashes it) or never able to hold it / broken (the queue fails). Always false.
   */
  private addFailed(slot: number, n: number, r: RingError): boolean {
    if (r.rule === 'no-space') {
      // with nothing in flight the ring will never have more room: this chain can never be shadowed
      if (this.shadowRing.inFlight() === 0) this.fail(svqError('chain-too-long', this.name, `guest chain ${this.su[slot * SLOT_U32 + S_HEAD]! & 0xffff} needs ${n} descriptors, shadow ring has ${this.shadowSize}`, r));
      return false;
    }
    this.fail(svqError('setup', this.name, `add guest chain ${this.su[slot * SLOT_U32 + S_HEAD]! & 0xffff} to the shadow ring`, r));
    return false;
  }

  // ─────────────────────────────── device call → guest used ring ───────────────────────────────

  /** The device called (its call eventfd fired): return used chains to the guest, then resume a stash. */
  handleDeviceCall(): void {
    if (this.st !== 'running') return;
    this.counters.deviceCalls++;
    this.endPolling();
  }

  /**
   * Busy-poll the device (vhost-net's busy-poll, NAPI): return what it used without waiting for its call,
   * and leave its calls off (VRING_AVAIL_F_NO_INTERRUPT / used_event, §2.7.10) while the caller keeps
   * polling. `endPolling` (or a call) turns them back on with the re-check. Returns the chains returned.
   */
  pollDevice(): number {
    if (this.st !== 'running') return 0;
    const before = this.counters.returned;
    if (this.reapUsed() && (this.pendCount > 0 || this.guestPolling) && this.st === 'running') this.forwardAvail();
    return this.counters.returned - before;
  }

  /** Polling over (or a device call): reap, calls back on with the re-check, then resume a stash. */
  endPolling(): void {
    for (;;) {
      if (this.st !== 'running') return;
      this.flush();
      // the stash first, and the guest ring while its kicks are off because we were busy
      if (!((this.pendCount > 0 || this.guestPolling) && this.st === 'running')) return;
      const before = this.counters.forwarded;
      this.forwardAvail();
      // a transmit queue's call waits for 3/4 of what is in flight: count the chains just added too
      // (re-armed further out; if the device used more meanwhile, reap it now and go round)
      if (!this.pollWhileBusy || this.counters.forwarded === before || this.st !== 'running') return;
      if (!this.shadowRing.enableCallsDelayed()) return;
    }
  }

  /**
   * vhost_svq_flush: reap every used entry, push to the guest, signal, re-enable and re-check. A transmit
   * queue (pollGuestWhileBusy: the device uses every chain it has) asks for its call only once 3/4 of the
   * chains in flight are used (Linux virtqueue_enable_cb_delayed): one call per burst.
   */
  private flush(): void {
    // re-enable calls; if the device used more meanwhile, go round again (the race QEMU re-checks)
    const drv = this.shadowRing;
    while (this.reapUsed() && (this.pollWhileBusy ? drv.enableCallsDelayed() : drv.enableCalls()));
  }

  /** Device calls off, every used entry reaped and pushed to the guest, the guest signalled; false on a failure. */
  private reapUsed(): boolean {
    const drv = this.shadowRing;
    const used = this.used;
    drv.disableCalls();
    let ok = true;
    // counted per pass, not per chain
    let returned = 0;
    let bytes = 0;
    for (;;) {
      const r = drv.reap(used);
      if (r === false) break;
      if (r !== true) {
        this.fail(svqError('device-ring', this.name, 'used entry from the device', r));
        ok = false;
        break;
      }
      const len = used.len;
      // the token is the slot we gave `add` (a small integer; the ring keeps tokens as doubles): as an
      // int32 the slot's offsets stay integer arithmetic
      if (!this.returnToGuest(used.token | 0, len)) {
        ok = false;
        break;
      }
      returned++;
      bytes += len;
    }
    this.counters.returned += returned;
    this.counters.usedBytes += bytes;
    virtioMb(); // §2.7.10.1: used index published before used_event is read (the guest may be another thread)
    if (this.guestRing.callNeeded()) {
      this.counters.callsSent++;
      this.callGuest();
    }
    return ok;
  }

  private returnToGuest(slot: number, len: number): boolean {
    const su = this.su;
    const o = slot * SLOT_U32;
    const head = su[o + S_HEAD]!;
    const pr = this.guestRing.push(head & 0xffff, head >>> 16, len);
    if (pr !== undefined) return this.pushFailed(slot, pr);
    if (this.dirty !== undefined && len > 0) this.markWritten(this.dirty, slot, len);
    this.freeSlots[this.freeTop++] = slot;
    return true;
  }

  /** The guest ring refused the used entry: the queue fails. Always false. */
  private pushFailed(slot: number, pr: RingError): boolean {
    this.fail(svqError('guest-ring', this.name, `push used id ${this.su[slot * SLOT_U32 + S_HEAD]! & 0xffff}`, pr));
    return false;
  }

  /** The device wrote `len` bytes into slot's in-buffers, in order (§2.7.8.1): mark their pages dirty. */
  private markWritten(d: DirtyLog, slot: number, len: number): void {
    const count = this.su[slot * SLOT_U32 + S_COUNT]!;
    const big = count > INLINE_SEGS;
    const ga = big ? this.bigAddr[slot]! : this.sf;
    const gl = big ? this.bigLen[slot]! : this.su;
    const ba = big ? 0 : slot * SLOT_F64 + F_ADDR;
    const bl = big ? 0 : slot * SLOT_U32 + S_LEN;
    let left = len;
    for (let k = this.su[slot * SLOT_U32 + S_OUT]!; k < count && left > 0; k++) {
      const l = gl[bl + k]!;
      const m = l < left ? l : left;
      d.mark(ga[ba + k]!, m);
      left -= m;
    }
  }

  // ─────────────────────────────── stop and hand-over ───────────────────────────────

  /**
   * Stop the queue (the device is suspended or reset first): return every used entry the device already
   * wrote, then hand over the guest ring position and the chains still in flight. Works on a failed queue
   * too (its in-flight chains are reported). After stop the queue ignores kicks and calls.
   */
  stop(): SvqHandover {
    if (this.st === 'running') this.flush();
    this.st = this.st === 'failed' ? 'failed' : 'stopped';
    // the guest ring goes back to a device that knows nothing of our suppression: leave its kicks on
    // (a busy SVQ or a stash left them off; the next owner would never be notified)
    this.guestPolling = false;
    this.guestRing.enableKicks();
    const slots: number[] = [];
    // in flight (on the shadow ring or stashed): every slot not on the free list
    const free = new Uint8Array(this.nSlots);
    for (let i = 0; i < this.freeTop; i++) free[this.freeSlots[i]!] = 1;
    for (let i = 0; i < this.nSlots; i++) if (free[i] === 0) slots.push(i);
    slots.sort((a, b) => this.sf[a * SLOT_F64 + F_SEQ]! - this.sf[b * SLOT_F64 + F_SEQ]!);
    const inFlight = slots.map((s) => this.element(s));
    const base = this.guestRing.base();
    // un-popping is exact only when the in-flight chains are the last ones popped
    let tail = true;
    for (let i = 0; i < slots.length; i++) if (this.sf[slots[i]! * SLOT_F64 + F_SEQ] !== this.nextSeq - slots.length + i) tail = false;
    let passthroughBase: RingBase | undefined;
    if (tail) {
      let idx = base.availIdx;
      let wrap = base.availWrap;
      if (this.guestLayout === 'split') idx = (idx - slots.length) & 0xffff;
      else {
        for (const e of inFlight) idx -= e.ringDescs;
        if (idx < 0) {
          idx += this.guestSize;
          wrap = !wrap;
        }
      }
      passthroughBase = { ...base, availIdx: idx, availWrap: wrap };
    }
    return { guestLayout: this.guestLayout, guestSize: this.guestSize, guestBase: base, inFlight, passthroughBase };
  }

  private element(slot: number): SvqElement {
    const count = this.su[slot * SLOT_U32 + S_COUNT]!;
    const big = count > INLINE_SEGS;
    const ga = big ? this.bigAddr[slot]! : this.sf;
    const gl = big ? this.bigLen[slot]! : this.su;
    const ba = big ? 0 : slot * SLOT_F64 + F_ADDR;
    const bl = big ? 0 : slot * SLOT_U32 + S_LEN;
    return {
      id: this.su[slot * SLOT_U32 + S_HEAD]! & 0xffff,
      ringDescs: this.su[slot * SLOT_U32 + S_HEAD]! >>> 16,
      indirect: this.su[slot * SLOT_U32 + S_INDIRECT] === 1,
      outCount: this.su[slot * SLOT_U32 + S_OUT]!,
      addr: Array.from(ga.subarray(ba, ba + count)),
      len: Array.from(gl.subarray(bl, bl + count)),
    };
  }

  /** Take over a hand-over: guest ring position, then the in-flight chains as stashed elements. */
  private load(h: SvqHandover): SvqError | undefined {
    if (h.guestLayout !== this.guestLayout || h.guestSize !== this.guestSize) {
      return svqError('resume', this.name, `hand-over is for a ${h.guestLayout} ring of ${h.guestSize}, this guest ring is ${this.guestLayout} of ${this.guestSize}`);
    }
    if (h.inFlight.length > this.nSlots) return svqError('resume', this.name, `${h.inFlight.length} chains in flight exceed the queue size`);
    const badBase = this.guestRing.setBase(h.guestBase);
    if (badBase !== undefined) return svqError('resume', this.name, 'hand-over position', badBase);
    const c = this.gchain;
    for (const e of h.inFlight) {
      if (e.addr.length !== e.len.length || e.addr.length > c.capacity || e.outCount > e.addr.length) {
        return svqError('resume', this.name, `in-flight chain ${e.id} has ${e.addr.length} segments (at most ${c.capacity})`);
      }
      // an id and a descriptor count of this guest ring (a slot keeps both in one u32, 16 bits each)
      if (!Number.isInteger(e.id) || e.id < 0 || e.id >= this.guestSize || !Number.isInteger(e.ringDescs) || e.ringDescs < 1 || e.ringDescs > this.guestSize) {
        return svqError('resume', this.name, `in-flight chain ${e.id} (${e.ringDescs} descriptors) is not a chain of a ${this.guestSize}-entry ring`);
      }
      c.reset();
      for (let k = 0; k < e.addr.length; k++) c.push(e.addr[k]!, e.len[k]!, k >= e.outCount);
      c.id = e.id;
      c.ringDescs = e.ringDescs;
      c.indirect = e.indirect;
      const slot = this.storeElement(c);
      let t = this.pendHead + this.pendCount;
      if (t >= this.nSlots) t -= this.nSlots;
      this.pending[t] = slot;
      this.pendCount++;
    }
    return undefined;
  }

  /**
   * Start forwarding: the chains carried over by a hand-over go to the shadow ring first, then whatever
   * the guest made available while the queue was stopped (a resumed queue has missed those kicks).
   */
  start(): void {
    if (this.st !== 'running') return;
    this.forwardAvail();
  }
}

export const isSvq = (x: ShadowVirtqueue | SvqError): x is ShadowVirtqueue => !isSvqError(x);
