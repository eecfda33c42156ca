/**
 * The split virtqueue (virtio 1.2 §2.7), driver and device sides.
 *
 * Memory layout for a queue of `num` entries (§2.7, alignments 16/2/4):
 *   descriptor table  num × 16 B   { le64 addr; le32 len; le16 flags; le16 next }
 *   avail ring        6 + 2·num B  { le16 flags; le16 idx; le16 ring[num]; le16 used_event }
 *   used ring         6 + 8·num B  { le16 flags; le16 idx; {le32 id; le32 len} ring[num]; le16 avail_event }
 *
 * The driver keeps its free list (`descNext`, QEMU SVQ's `desc_next`) and per-head state (token, number
 * of descriptors, writable bytes) in private memory and never reads them back from the ring, so a device
 * that scribbles on the descriptor table cannot corrupt the driver. The device validates everything it
 * reads as Linux's vringh and QEMU's `virtqueue_pop` do and reports each violation as a `RingError`.
 *
 * Hot paths (add, kickNeeded, reap, pop, push, callNeeded) allocate nothing on success: they work on
 * DataViews of the regions holding the ring areas, resolved once at construction.
 */
import type { AddressSpace } from '../memory/address-space.js';
import { usedElemError } from './types.js';
import { getU64, setU64 } from '../memory/address-space.js';
import { DESC_SIZE as DESC_SIZE_, resolveArea, resolveIndirectArea, takeSegment, validQueueSize, vringNeedEvent, type Area } from './common.js';
import {
  ringError,
  VRING_AVAIL_F_NO_INTERRUPT as VRING_AVAIL_F_NO_INTERRUPT_,
  VRING_DESC_F_INDIRECT as VRING_DESC_F_INDIRECT_,
  VRING_DESC_F_NEXT as VRING_DESC_F_NEXT_,
  VRING_DESC_F_WRITE as VRING_DESC_F_WRITE_,
  VRING_USED_F_NO_NOTIFY as VRING_USED_F_NO_NOTIFY_,
  type Chain,
  type RingBase,
  type RingConfig,
  type RingDevice,
  type RingDriver,
  type RingError,
  type RingFactory,
  type RingRule,
  type Used,
} from './types.js';

/**
 * Module-local copies of the imported constants the hot paths use: every use of an imported binding
 * is a cell load plus a TDZ check in V8's optimized code, a module-local const folds to its literal.
 */
const DESC_SIZE = DESC_SIZE_;
const VRING_AVAIL_F_NO_INTERRUPT = VRING_AVAIL_F_NO_INTERRUPT_;
const VRING_DESC_F_INDIRECT = VRING_DESC_F_INDIRECT_;
const VRING_DESC_F_NEXT = VRING_DESC_F_NEXT_;
const VRING_DESC_F_WRITE = VRING_DESC_F_WRITE_;
const VRING_USED_F_NO_NOTIFY = VRING_USED_F_NO_NOTIFY_;

/** Offsets inside the avail / used rings (§2.7.6, §2.7.8). */
const RING_FLAGS = 0;
const RING_IDX = 2;
const RING_ENTRIES = 4;
const USED_ELEM_SIZE = 8;

/** Byte sizes and alignments of the three areas (§2.7: "Descriptor Table 16, Available Ring 2, Used Ring 4"). */
export function splitLayoutOf(num: number) {
  return {
    desc: { size: DESC_SIZE * num, align: 16 },
    driver: { size: 6 + 2 * num, align: 2 },
    device: { size: 6 + USED_ELEM_SIZE * num, align: 4 },
  };
}

const fail = (rule: RingRule, message: string, index?: number): RingError => ringError('split', rule, message, index);

interface SplitAreas {
  readonly desc: Area;
  readonly avail: Area;
  readonly used: Area;
}

/** Check size and alignment and resolve the three areas, or say which rule the configuration breaks. */
function resolveAreas(space: AddressSpace, config: RingConfig): SplitAreas | RingError {
  const n = config.size;
  if (config.layout !== 'split' || !validQueueSize(n, true)) {
    return fail('bad-queue-size', `split queue size ${n} is not a power of two in 1..32768`);
  }
  const lay = splitLayoutOf(n);
  const { desc, driver, device } = config.addrs;
  if (desc % lay.desc.align !== 0 || driver % lay.driver.align !== 0 || device % lay.device.align !== 0) {
    return fail('ring-misaligned', `split ring areas desc 0x${desc.toString(16)} avail 0x${driver.toString(16)} used 0x${device.toString(16)} break alignment 16/2/4`);
  }
  const d = resolveArea(space, desc, lay.desc.size);
  if (d === undefined) return fail('ring-unmapped', `descriptor table at 0x${desc.toString(16)} (+${lay.desc.size}) is not in ${space.name}`);
  const a = resolveArea(space, driver, lay.driver.size);
  if (a === undefined) return fail('ring-unmapped', `avail ring at 0x${driver.toString(16)} (+${lay.driver.size}) is not in ${space.name}`);
  const u = resolveArea(space, device, lay.device.size);
  if (u === undefined) return fail('ring-unmapped', `used ring at 0x${device.toString(16)} (+${lay.device.size}) is not in ${space.name}`);
  return { desc: d, avail: a, used: u };
}

// ───────────────────────────────────────── driver ─────────────────────────────────────────

export class SplitDriver implements RingDriver {
  // Fields set in the constructor are `declare`d so none is first defined as undefined: V8 then keeps
  // numbers unboxed and views typed in the hot paths.
  declare readonly config: RingConfig;
  declare private readonly num: number;
  declare private readonly mask: number;
  declare private readonly eventIdx: boolean;
  declare private readonly descView: DataView;
  declare private readonly availView: DataView;
  declare private readonly usedView: DataView;
  /** Driver-private free list: `descNext[i]` is the descriptor after `i` (QEMU SVQ `desc_next`). */
  declare private readonly descNext: Uint16Array;
  /** Per head: the caller's token, descriptors taken on the ring (0 = not in flight), writable bytes. */
  declare private readonly token: Float64Array;
  declare private readonly ndescs: Uint16Array;
  declare private readonly inLen: Uint32Array;
  private freeHead = 0;
  declare private free: number;
  private flight = 0;
  /** Our copy of avail->idx (`shadow_avail_idx`) and of the avail idx at the last kick decision. */
  private availIdx = 0;
  private kickedIdx = 0;
  /** Next used entry to reap (`last_used_idx`). */
  private lastUsed = 0;
  private callsOn = true;
  /** Indirect tables: one slot of `indCap` descriptors per head, at `indAddr + head·indCap·16`. */
  declare private readonly indView: DataView | undefined;
  private readonly indAddr: number = 0;
  private readonly indCap: number = 0;

  constructor(config: RingConfig, areas: SplitAreas, ind: { area: Area; cap: number } | undefined) {
    this.config = config;
    const n = config.size;
    this.num = n;
    this.mask = n - 1;
    this.eventIdx = config.eventIdx;
    this.descView = areas.desc.view;
    this.availView = areas.avail.view;
    this.usedView = areas.used.view;
    this.descNext = new Uint16Array(n);
    for (let i = 0; i < n - 1; i++) this.descNext[i] = i + 1;
    this.token = new Float64Array(n);
    this.ndescs = new Uint16Array(n);
    this.inLen = new Uint32Array(n);
    this.free = n;
    if (ind !== undefined) {
      this.indView = ind.area.view;
      this.indAddr = ind.area.addr;
      this.indCap = ind.cap;
    } else {
      this.indView = undefined;
    }
    // The driver owns the ring memory and starts it clean (Linux vring_alloc_queue, QEMU SVQ memset).
    new Uint8Array(this.descView.buffer, this.descView.byteOffset, this.descView.byteLength).fill(0);
    new Uint8Array(this.availView.buffer, this.availView.byteOffset, this.availView.byteLength).fill(0);
    new Uint8Array(this.usedView.buffer, this.usedView.byteOffset, this.usedView.byteLength).fill(0);
  }

  numFree(): number {
    return this.free;
  }

  inFlight(): number {
    return this.flight;
  }

  /**
   * §2.7.13: write the chain's descriptors, then the head into avail->ring, then publish avail->idx.
   * The common case (a direct chain that fits) stays small enough for V8 to inline into the caller;
   * indirect chains and refusals take `addSlow`.
   */
  add(chain: Chain, token: number, useIndirect = false): number | RingError {
    const count = chain.count;
    if (count === 1 && !useIndirect && this.free !== 0) {
      // One buffer (a TX packet, an RX buffer): one descriptor, no loop (u32 len: no overflow to check)
      const head = this.freeHead;
      const dv = this.descView;
      const o = head * DESC_SIZE;
      const next = this.descNext[head]!;
      const a = chain.addr[0]!;
      const len = chain.len[0]!;
      const writable = chain.outCount === 0;
      dv.setUint32(o, a >>> 0, true);
      dv.setUint32(o + 4, (a * 2.3283064365386963e-10) >>> 0, true);
      dv.setUint32(o + 8, len, true);
      dv.setUint16(o + 12, writable ? 2 /* VRING_DESC_F_WRITE */ : 0, true);
      dv.setUint16(o + 14, next, true);
      this.freeHead = next;
      return this.publish(head, 1, token, writable ? len : 0);
    }
    if (useIndirect || count === 0 || count > this.free || chain.outBytes + chain.inBytes > 0xffffffff) return this.addSlow(chain, token, useIndirect);
    const head = this.freeHead;
    this.freeHead = this.writeDirect(chain, head);
    return this.publish(head, count, token, chain.inBytes);
  }

  /** Write `chain` on the free descriptors from `head`; returns the new free head. */
  private writeDirect(chain: Chain, head: number): number {
    // VRING_DESC_F_* as local literals: V8 inlines a DataView store only when its value needs no
    // module-binding load, and these are the driver's hottest stores.
    const NEXT = 1;
    const WRITE = 2;
    const dv = this.descView;
    const descNext = this.descNext;
    const outCount = chain.outCount;
    const addrs = chain.addr;
    const lens = chain.len;
    const last = chain.count - 1;
    // The chain takes free-list entries in order, so descNext already links it (QEMU SVQ).
    let i = head;
    for (let k = 0; k <= last; k++) {
      const o = i * DESC_SIZE;
      const next = descNext[i]!;
      const a = addrs[k]!;
      // le64 addr as two u32 halves, written here rather than through setU64: a double passed to a
      // call V8 did not inline would be boxed, and this path inlines into its caller.
      dv.setUint32(o, a >>> 0, true);
      dv.setUint32(o + 4, (a * 2.3283064365386963e-10) >>> 0, true);
      dv.setUint32(o + 8, lens[k]!, true);
      dv.setUint16(o + 12, (k >= outCount ? WRITE : 0) | (k < last ? NEXT : 0), true);
      dv.setUint16(o + 14, next, true);
      i = next;
    }
    return i;
  }

  /** Record the chain at `head` and make it available: avail->ring[idx], (write barrier), avail->idx. */
  private publish(head: number, need: number, token: number, inBytes: number): number {
    this.free -= need;
    this.flight++;
    this.token[head] = token;
    this.ndescs[head] = need;
    this.inLen[head] = inBytes;
    const av = this.availView;
    const idx = this.availIdx;
    av.setUint16(RING_ENTRIES + (idx & this.mask) * 2, head, true);
    const next = (idx + 1) & 0xffff;
    av.setUint16(RING_IDX, next, true);
    this.availIdx = next;
    return head;
  }

  private addSlow(chain: Chain, token: number, useIndirect: boolean): number | RingError {
    const count = chain.count;
    if (count === 0) return fail('empty-chain', 'a chain needs at least one buffer');
    if (chain.outBytes + chain.inBytes > 0xffffffff) return fail('length-overflow', `chain of ${chain.outBytes + chain.inBytes} bytes overflows u32`);
    const indirect = useIndirect && this.indView !== undefined && count <= this.indCap;
    const need = indirect ? 1 : count;
    if (this.free < need) return fail('no-space', `chain needs ${need} descriptors, ${this.free} free`);
    const head = this.freeHead;
    if (!indirect) {
      this.freeHead = this.writeDirect(chain, head);
      return this.publish(head, count, token, chain.inBytes);
    }
    // §2.7.5.3: the table holds the whole chain; its descriptors link by position in the table.
    const tv = this.indView!;
    const tOff = head * this.indCap * DESC_SIZE;
    const outCount = chain.outCount;
    const last = count - 1;
    for (let k = 0; k < count; k++) {
      const o = tOff + k * DESC_SIZE;
      setU64(tv, o, chain.addr[k]!);
      tv.setUint32(o + 8, chain.len[k]!, true);
      tv.setUint16(o + 12, (k >= outCount ? VRING_DESC_F_WRITE : 0) | (k < last ? VRING_DESC_F_NEXT : 0), true);
      tv.setUint16(o + 14, k < last ? k + 1 : 0, true);
    }
    const dv = this.descView;
    const o = head * DESC_SIZE;
    const next = this.descNext[head]!;
    setU64(dv, o, this.indAddr + head * this.indCap * DESC_SIZE);
    dv.setUint32(o + 8, count * DESC_SIZE, true);
    dv.setUint16(o + 12, VRING_DESC_F_INDIRECT, true);
    dv.setUint16(o + 14, next, true);
    this.freeHead = next;
    return this.publish(head, 1, token, chain.inBytes);
  }

  /** §2.7.10 / Linux virtqueue_kick_prepare_split: avail_event window, or the device's NO_NOTIFY flag. */
  kickNeeded(): boolean {
    const old = this.kickedIdx;
    const now = this.availIdx;
    if (old === now) return false;
    this.kickedIdx = now;
    const uv = this.usedView;
    if (this.eventIdx) return vringNeedEvent(uv.getUint16(RING_ENTRIES + this.num * USED_ELEM_SIZE, true), now, old);
    return (uv.getUint16(RING_FLAGS, true) & VRING_USED_F_NO_NOTIFY) === 0;
  }

  /** §2.7.14: take the next used element; reject ids out of range, heads not in flight, oversize lengths. */
  reap(out: Used): boolean | RingError {
    const uv = this.usedView;
    const last = this.lastUsed;
    if (uv.getUint16(RING_IDX, true) === last) return false;
    const e = RING_ENTRIES + (last & this.mask) * USED_ELEM_SIZE;
    const id = uv.getUint32(e, true);
    const len = uv.getUint32(e + 4, true);
    if (id >= this.num || this.ndescs[id] === 0 || len > this.inLen[id]!) return this.reapError(id, len);
    this.release(id);
    out.id = id;
    out.len = len;
    out.token = this.token[id]!;
    const next = (last + 1) & 0xffff;
    this.lastUsed = next;
    // Linux virtqueue_get_buf_ctx_split: used_event follows the reaps only while calls are wanted; with
    // calls off it stays parked behind (disableCalls), further behind with every reap, outside the window
    if (this.callsOn && this.eventIdx) this.writeUsedEvent(next);
    return true;
  }

  /** The rule a used element (id, len) breaks; only called when one does. */
  private reapError(id: number, len: number): RingError {
    if (id >= this.num) return usedElemError(len, fail('used-id-out-of-range', `used id ${id} >= queue size ${this.num}`, id));
    if (this.ndescs[id] === 0) return usedElemError(len, fail('used-id-not-in-flight', `used id ${id} is not a head in flight`, id));
    return usedElemError(len, fail('used-len-too-large', `used len ${len} > ${this.inLen[id]} writable bytes of head ${id}`, id));
  }

  /** Return the chain at head `id` to the free list through our own links (QEMU vhost_svq_last_desc_of_chain). */
  private release(id: number): void {
    const nd = this.ndescs[id]!;
    const descNext = this.descNext;
    let tail = id;
    if (nd > 1) for (let k = 1; k < nd; k++) tail = descNext[tail]!;
    descNext[tail] = this.freeHead;
    this.freeHead = id;
    this.free += nd;
    this.flight--;
    this.ndescs[id] = 0;
  }

  /** With EVENT_IDX and calls wanted, ask for a call at used entry `next` (Linux virtqueue_get_buf_ctx_split). */
  private writeUsedEvent(next: number): void {
    this.availView.setUint16(RING_ENTRIES + this.num * 2, next, true);
  }

  /** §2.7.7: VRING_AVAIL_F_NO_INTERRUPT, or (EVENT_IDX, flags must stay 0) used_event parked behind. */
  disableCalls(): void {
    this.callsOn = false;
    if (this.eventIdx) this.availView.setUint16(RING_ENTRIES + this.num * 2, (this.lastUsed - 1) & 0xffff, true);
    else this.availView.setUint16(RING_FLAGS, VRING_AVAIL_F_NO_INTERRUPT, true);
  }

  /** Ask for calls again; true when used entries are already waiting (re-check, Linux virtqueue_enable_cb). */
  enableCalls(): boolean {
    this.callsOn = true;
    if (this.eventIdx) this.availView.setUint16(RING_ENTRIES + this.num * 2, this.lastUsed, true);
    else this.availView.setUint16(RING_FLAGS, 0, true);
    // (full barrier) then re-read used->idx
    return this.usedView.getUint16(RING_IDX, true) !== this.lastUsed;
  }

  enableCallsDelayed(): boolean {
    if (!this.eventIdx) return this.enableCalls();
    this.callsOn = true;
    // used_event at the entry that makes 3/4 of the chains in flight used: the device calls when it uses
    // it (Linux puts it one further, at last_used + bufs; one earlier keeps the device fed while we run)
    const bufs = (((this.availIdx - this.lastUsed) & 0xffff) * 3) >> 2;
    this.availView.setUint16(RING_ENTRIES + this.num * 2, (this.lastUsed + (bufs > 0 ? bufs - 1 : 0)) & 0xffff, true);
    // (full barrier) then re-read used->idx: anything already used is reaped now, not left to the call
    return this.usedView.getUint16(RING_IDX, true) !== this.lastUsed;
  }

  inFlightTokens(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.num; i++) if (this.ndescs[i] !== 0) out.push(this.token[i]!);
    return out;
  }

  base(): RingBase {
    return { availIdx: this.availIdx, availWrap: false, usedIdx: this.lastUsed, usedWrap: false };
  }
}

// ───────────────────────────────────────── device ─────────────────────────────────────────

/** The errors `pop` can return, built out of line so that `pop` itself stays small. */
function popError(rule: RingRule, index: number, other: number, n: number): RingError {
  switch (rule) {
    case 'avail-idx-ahead':
      return fail(rule, `avail idx ${index} is ${(index - other) & 0xffff} ahead of last_avail_idx ${other} (num ${n})`, index);
    case 'chain-loop':
      return fail(rule, `chain of head ${index} is longer than the ring (${n})`, index);
    default:
      return fail(rule, other < 0 ? `head ${index} >= queue size ${n}` : `next ${index} >= queue size ${n} in chain of head ${other}`, index);
  }
}

function segmentError(rule: RingRule, i: number, head: number, addr: number, len: number): RingError {
  return fail(rule, `descriptor ${i} of head ${head}: ${rule} (addr 0x${addr.toString(16)}, len ${len})`, i);
}

export class SplitDevice implements RingDevice {
  declare readonly config: RingConfig;
  declare private readonly space: AddressSpace;
  declare private readonly num: number;
  declare private readonly mask: number;
  declare private readonly eventIdx: boolean;
  declare private readonly indirectOk: boolean;
  declare private readonly descView: DataView;
  declare private readonly availView: DataView;
  declare private readonly usedView: DataView;
  declare private readonly usedAddr: number;
  /** `last_avail_idx`: next avail entry to pop. */
  private lastAvail = 0;
  /** Our used idx (`last_used_idx` in vhost), and its value at the last call decision. */
  declare private usedIdx: number;
  declare private signalledUsed: number;
  /** EVENT_IDX with kicks wanted: each pop moves avail_event along (one field, read on every pop). */
  declare private availEventOn: boolean;

  constructor(space: AddressSpace, config: RingConfig, areas: SplitAreas) {
    this.space = space;
    this.config = config;
    this.num = config.size;
    this.mask = config.size - 1;
    this.eventIdx = config.eventIdx;
    this.availEventOn = config.eventIdx;
    this.indirectOk = config.indirect;
    this.descView = areas.desc.view;
    this.availView = areas.avail.view;
    this.usedView = areas.used.view;
    this.usedAddr = areas.used.addr;
    // vhost_vq_init_access: the used idx comes from the ring.
    this.usedIdx = this.usedView.getUint16(RING_IDX, true);
    this.signalledUsed = this.usedIdx;
  }

  hasAvail(): boolean {
    return this.availView.getUint16(RING_IDX, true) !== this.lastAvail;
  }

  /**
   * §2.7.13 from the device's side (vringh_getdesc, virtqueue_split_pop): read avail->idx, take the head
   * at last_avail_idx, flatten its chain (following one indirect table) into `out`. On a violated rule
   * nothing is consumed and the error names the rule.
   */
  pop(out: Chain): boolean | RingError {
    const av = this.availView;
    const last = this.lastAvail;
    const idx = av.getUint16(RING_IDX, true);
    if (idx === last) return false;
    const n = this.num;
    // (the head is read before the idx check: its slot lies inside the ring whatever idx says)
    const head = av.getUint16(RING_ENTRIES + (last & this.mask) * 2, true);
    if (((idx - last) & 0xffff) > n || head >= n) return this.popBad(idx, last, head);
    // The common chain, one direct descriptor (a TX packet, an RX buffer): its checks inline here — flags
    // neither NEXT nor INDIRECT (5 = VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT), address below 2^53 and
    // the buffer inside one region — so this stays small enough for V8 to inline into its caller.
    // Anything else, or any of those failing, takes the full walk, which names the broken rule.
    const dv = this.descView;
    const o = head * 16;
    const flags = dv.getUint16(o + 12, true);
    const hi = dv.getUint32(o + 4, true);
    if ((flags & 5) === 0 && hi < 0x200000 && out.capacity > 0) {
      const addr = hi * 4294967296 + dv.getUint32(o, true);
      const len = dv.getUint32(o + 8, true);
      // the buffer inside the region the space hit last (read inline: an address passed to a call is boxed
      // when V8 does not inline it); any other region is checked by the full walk, which then caches it
      const lr = this.space.lastRange;
      if (addr >= lr[0]! && addr + len <= lr[1]!) {
        // the Chain's fields written here, not through a method: a double (addr) passed to a call
        // V8 does not inline is boxed, and this path must not allocate (the same fill as PackedDevice.walk; a
        // shared helper measured 16 B/chain)
        out.id = head;
        out.ringDescs = 1;
        out.indirect = false;
        out.count = 1;
        out.addr[0] = addr;
        out.len[0] = len;
        if ((flags & 2) !== 0) {
          out.outCount = 0;
          out.outBytes = 0;
          out.inBytes = len;
        } else {
          out.outCount = 1;
          out.outBytes = len;
          out.inBytes = 0;
        }
        const next = (last + 1) & 0xffff;
        this.lastAvail = next;
        if (this.availEventOn) this.writeAvailEvent(next);
        return true;
      }
    }
    return this.popChain(out, last, head);
  }

  /** The rule an avail idx or a head breaks (avail idx ahead first); out of line so that `pop` stays small. */
  private popBad(idx: number, last: number, head: number): RingError {
    const n = this.num;
    if (((idx - last) & 0xffff) > n) return popError('avail-idx-ahead', idx, last, n);
    return popError('desc-index-out-of-range', head, -1, n);
  }

  /** `pop` of any chain from `head` (at avail entry `last`): walk, check each descriptor, name the rule broken. */
  private popChain(out: Chain, last: number, head: number): boolean | RingError {
    const n = this.num;
    out.reset();
    out.id = head;
    const space = this.space;
    const dv = this.descView;
    let i = head;
    let ringDescs = 0;
    for (;;) {
      const o = i * DESC_SIZE;
      const addr = getU64(dv, o);
      const len = dv.getUint32(o + 8, true);
      const flags = dv.getUint16(o + 12, true);
      ringDescs++;
      if ((flags & VRING_DESC_F_INDIRECT) !== 0) {
        const r = this.indirectTable(out, i, addr, len, flags);
        if (r !== undefined) return r;
        break;
      }
      const rule = takeSegment(space, out, addr, len, flags);
      if (rule !== undefined) return segmentError(rule, i, head, addr, len);
      if ((flags & VRING_DESC_F_NEXT) === 0) break;
      i = dv.getUint16(o + 14, true);
      if (i >= n) return popError('desc-index-out-of-range', i, head, n);
      // A chain has at most num descriptors (§2.7.5.3.2 / vringh "Looped descriptor").
      if (ringDescs >= n) return popError('chain-loop', head, head, n);
    }
    out.ringDescs = ringDescs;
    const next = (last + 1) & 0xffff;
    this.lastAvail = next;
    // QEMU virtqueue_pop: with EVENT_IDX and kicks wanted, ask for a kick at the next entry.
    if (this.availEventOn) this.writeAvailEvent(next);
    return true;
  }

  /** §2.7.5.3: one indirect table, the last descriptor of the ring chain. */
  private indirectTable(out: Chain, i: number, addr: number, len: number, flags: number): RingError | undefined {
    if (!this.indirectOk) return fail('indirect-not-negotiated', `descriptor ${i} is INDIRECT but VIRTIO_F_INDIRECT_DESC was not negotiated`, i);
    if ((flags & VRING_DESC_F_NEXT) !== 0) return fail('indirect-next', `descriptor ${i} has both INDIRECT and NEXT`, i);
    if (len === 0) return fail('zero-length', `indirect descriptor ${i} has an empty table`, i);
    if (len % DESC_SIZE !== 0) return fail('indirect-len', `indirect table length ${len} of descriptor ${i} is not a multiple of 16`, i);
    const r = addr < 0 ? undefined : this.space.find(addr, len);
    if (r === undefined) return fail('buffer-unmapped', `indirect table of descriptor ${i} at 0x${addr.toString(16)} (+${len}) is unmapped`, i);
    out.indirect = true;
    const tv = r.view;
    const tOff = addr - r.base;
    const entries = len / DESC_SIZE;
    const space = this.space;
    let j = 0;
    let seen = 0;
    for (;;) {
      const o = tOff + j * DESC_SIZE;
      const a = getU64(tv, o);
      const l = tv.getUint32(o + 8, true);
      const f = tv.getUint16(o + 12, true);
      seen++;
      if ((f & VRING_DESC_F_INDIRECT) !== 0) return fail('indirect-nested', `entry ${j} of the indirect table of descriptor ${i} is INDIRECT`, j);
      const rule = takeSegment(space, out, a, l, f);
      if (rule !== undefined) return fail(rule, `indirect entry ${j} of descriptor ${i}: ${rule} (addr 0x${a.toString(16)}, len ${l})`, j);
      if ((f & VRING_DESC_F_NEXT) === 0) return undefined;
      j = tv.getUint16(o + 14, true);
      if (j >= entries) return fail('desc-index-out-of-range', `indirect next ${j} >= table size ${entries}`, j);
      if (seen >= entries) return fail('chain-loop', `indirect chain of descriptor ${i} is longer than its table (${entries})`, i);
    }
  }

  /** §2.7.8: write the used element, then (write barrier) publish used->idx. Both writes go to the dirty log. */
  push(id: number, _ringDescs: number, len: number): undefined | RingError {
    if (!(id >= 0 && id < this.num)) return fail('desc-index-out-of-range', `used id ${id} >= queue size ${this.num}`, id);
    const uv = this.usedView;
    const idx = this.usedIdx;
    const slot = (idx & this.mask) * USED_ELEM_SIZE + RING_ENTRIES;
    uv.setUint32(slot, id, true);
    uv.setUint32(slot + 4, len >>> 0, true);
    const space = this.space;
    space.noteWrite(this.usedAddr + slot, USED_ELEM_SIZE);
    const next = (idx + 1) & 0xffff;
    uv.setUint16(RING_IDX, next, true);
    space.noteWrite(this.usedAddr + RING_IDX, 2);
    this.usedIdx = next;
    return undefined;
  }

  /** §2.7.10 / vhost_notify: used_event window with EVENT_IDX, else the driver's NO_INTERRUPT flag. */
  callNeeded(): boolean {
    const old = this.signalledUsed;
    const now = this.usedIdx;
    if (old === now) return false;
    this.signalledUsed = now;
    const av = this.availView;
    if (this.eventIdx) return vringNeedEvent(av.getUint16(RING_ENTRIES + this.num * 2, true), now, old);
    return (av.getUint16(RING_FLAGS, true) & VRING_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** §2.7.10: VRING_USED_F_NO_NOTIFY, or (EVENT_IDX) avail_event parked one behind last_avail_idx. */
  disableKicks(): void {
    this.availEventOn = false;
    if (this.eventIdx) this.writeAvailEvent((this.lastAvail - 1) & 0xffff);
    else this.writeUsedFlags(VRING_USED_F_NO_NOTIFY);
  }

  /** Ask for kicks again; true when chains are already available (vhost_enable_notify's re-check). */
  enableKicks(): boolean {
    this.availEventOn = this.eventIdx;
    if (this.eventIdx) this.writeAvailEvent(this.lastAvail);
    else this.writeUsedFlags(0);
    // (full barrier) then re-read avail->idx
    return this.hasAvail();
  }

  base(): RingBase {
    return { availIdx: this.lastAvail, availWrap: false, usedIdx: this.usedIdx, usedWrap: false };
  }

  /** VHOST_SET_VRING_BASE: last_avail_idx from the base; the used idx is read from the ring (vhost). */
  setBase(base: RingBase): undefined {
    // Split indexes are free-running u16 counters (§2.7.6): every value is a valid base.
    this.lastAvail = base.availIdx & 0xffff;
    this.usedIdx = this.usedView.getUint16(RING_IDX, true);
    this.signalledUsed = this.usedIdx;
    return undefined;
  }

  private writeAvailEvent(v: number): void {
    const o = RING_ENTRIES + this.num * USED_ELEM_SIZE;
    this.usedView.setUint16(o, v, true);
    this.space.noteWrite(this.usedAddr + o, 2);
  }

  private writeUsedFlags(v: number): void {
    this.usedView.setUint16(RING_FLAGS, v, true);
    this.space.noteWrite(this.usedAddr + RING_FLAGS, 2);
  }
}

// ───────────────────────────────────────── factory ─────────────────────────────────────────

export const splitRing: RingFactory = {
  driver(space, config, opts) {
    const areas = resolveAreas(space, config);
    if ('_tag' in areas) return areas;
    const ind = resolveIndirectArea(space, config, opts?.indirectArea, fail);
    if (ind !== undefined && '_tag' in ind) return ind;
    return new SplitDriver(config, areas, ind);
  },
  device(space, config) {
    const areas = resolveAreas(space, config);
    if ('_tag' in areas) return areas;
    return new SplitDevice(space, config, areas);
  },
  layoutOf: splitLayoutOf,
};
