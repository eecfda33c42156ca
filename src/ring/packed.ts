/**
 * The packed virtqueue (virtio 1.2 §2.8), driver and device sides.
 *
 * Memory layout for a queue of `num` entries (alignments 16/4/4, §2.8.10):
 *   descriptor ring            num × 16 B { le64 addr; le32 len; le16 id; le16 flags }
 *   driver event suppression   4 B        { le16 off_wrap; le16 flags }   written by the driver
 *   device event suppression   4 B        { le16 off_wrap; le16 flags }   written by the device
 *
 * A descriptor is available when its AVAIL bit equals the driver's wrap counter and its USED bit does
 * not; it is used when both bits equal the device's used wrap counter (§2.8.1). The driver hands out
 * buffer ids from a private free list and remembers, per id, how many ring slots the chain took: the
 * device writes one used descriptor per chain and skips the rest, possibly out of order (§2.8.7).
 */
import type { AddressSpace } from '../memory/address-space.js';
import { usedElemError } from './types.js';
import { getU64, setU64 } from '../memory/address-space.js';
import { DESC_SIZE as DESC_SIZE_, resolveArea, resolveIndirectArea, takeSegment, validQueueSize, vringNeedEvent, type Area } from './common.js';
import {
  ringError,
  VRING_DESC_F_INDIRECT as VRING_DESC_F_INDIRECT_,
  VRING_DESC_F_NEXT as VRING_DESC_F_NEXT_,
  VRING_DESC_F_WRITE as VRING_DESC_F_WRITE_,
  VRING_PACKED_DESC_F_AVAIL as VRING_PACKED_DESC_F_AVAIL_,
  VRING_PACKED_DESC_F_USED as VRING_PACKED_DESC_F_USED_,
  VRING_PACKED_EVENT_F_WRAP_CTR as VRING_PACKED_EVENT_F_WRAP_CTR_,
  VRING_PACKED_EVENT_FLAG_DESC as VRING_PACKED_EVENT_FLAG_DESC_,
  VRING_PACKED_EVENT_FLAG_DISABLE as VRING_PACKED_EVENT_FLAG_DISABLE_,
  VRING_PACKED_EVENT_FLAG_ENABLE as VRING_PACKED_EVENT_FLAG_ENABLE_,
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
const VRING_DESC_F_INDIRECT = VRING_DESC_F_INDIRECT_;
const VRING_DESC_F_NEXT = VRING_DESC_F_NEXT_;
const VRING_DESC_F_WRITE = VRING_DESC_F_WRITE_;
const VRING_PACKED_DESC_F_AVAIL = VRING_PACKED_DESC_F_AVAIL_;
const VRING_PACKED_DESC_F_USED = VRING_PACKED_DESC_F_USED_;
const VRING_PACKED_EVENT_F_WRAP_CTR = VRING_PACKED_EVENT_F_WRAP_CTR_;
const VRING_PACKED_EVENT_FLAG_DESC = VRING_PACKED_EVENT_FLAG_DESC_;
const VRING_PACKED_EVENT_FLAG_DISABLE = VRING_PACKED_EVENT_FLAG_DISABLE_;
const VRING_PACKED_EVENT_FLAG_ENABLE = VRING_PACKED_EVENT_FLAG_ENABLE_;

/** Offsets inside a packed descriptor (§2.8.13). */
const D_LEN = 8;
const D_ID = 12;
const D_FLAGS = 14;
/** Offsets inside an event suppression structure (§2.8.14). */
const EV_OFF_WRAP = 0;
const EV_FLAGS = 2;
/** `desc_event_flags : 2` of the flags word; the other 14 bits are reserved (§2.8.14). */
const EV_FLAGS_MASK = 0x3;
const WRAP_BIT = 1 << VRING_PACKED_EVENT_F_WRAP_CTR;
const AVAIL_USED = VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED;

export function packedLayoutOf(num: number) {
  return {
    desc: { size: DESC_SIZE * num, align: 16 },
    driver: { size: 4, align: 4 },
    device: { size: 4, align: 4 },
  };
}

const fail = (rule: RingRule, message: string, index?: number): RingError => ringError('packed', rule, message, index);

interface PackedAreas {
  readonly desc: Area;
  readonly driver: Area;
  readonly device: Area;
}

function resolveAreas(space: AddressSpace, config: RingConfig): PackedAreas | RingError {
  const n = config.size;
  if (config.layout !== 'packed' || !validQueueSize(n, false)) return fail('bad-queue-size', `packed queue size ${n} is not in 1..32768`);
  const { desc, driver, device } = config.addrs;
  if (desc % 16 !== 0 || driver % 4 !== 0 || device % 4 !== 0) {
    return fail('ring-misaligned', `packed ring areas desc 0x${desc.toString(16)} driver 0x${driver.toString(16)} device 0x${device.toString(16)} break alignment 16/4/4`);
  }
  const d = resolveArea(space, desc, DESC_SIZE * n);
  if (d === undefined) return fail('ring-unmapped', `descriptor ring at 0x${desc.toString(16)} (+${DESC_SIZE * n}) is not in ${space.name}`);
  const dr = resolveArea(space, driver, 4);
  if (dr === undefined) return fail('ring-unmapped', `driver event area at 0x${driver.toString(16)} is not in ${space.name}`);
  const de = resolveArea(space, device, 4);
  if (de === undefined) return fail('ring-unmapped', `device event area at 0x${device.toString(16)} is not in ${space.name}`);
  return { desc: d, driver: dr, device: de };
}

/**
 * The event test of §2.8.10 on ring positions (Linux virtqueue_kick_prepare_packed, QEMU
 * vring_packed_need_event): `moved` slots were crossed since the last decision, ending at `pos` with
 * wrap counter `wrap`; the event offset is moved back one ring when it names the previous lap.
 */
function packedNeedEvent(offWrap: number, pos: number, wrap: boolean, moved: number, num: number): boolean {
  if (moved >= num) return true;
  let event = offWrap & ~WRAP_BIT & 0xffff;
  if (offWrap >>> VRING_PACKED_EVENT_F_WRAP_CTR !== (wrap ? 1 : 0)) event -= num;
  return vringNeedEvent(event, pos, pos - moved);
}

// ───────────────────────────────────────── driver ─────────────────────────────────────────

export class PackedDriver implements RingDriver {
  // Fields set in the constructor are `declare`d so none is first defined as undefined: V8 then keeps
  // numbers unboxed and views typed in the hot paths.
  declare readonly config: RingConfig;
  declare private readonly num: number;
  declare private readonly eventIdx: boolean;
  declare private readonly descView: DataView;
  declare private readonly drvView: DataView;
  declare private readonly devView: DataView;
  /** Driver-private free list of buffer ids. */
  declare private readonly idNext: Uint16Array;
  /** Per buffer id: the caller's token, ring slots taken (0 = not in flight), writable bytes. */
  declare private readonly token: Float64Array;
  declare private readonly ndescs: Uint16Array;
  declare private readonly inLen: Uint32Array;
  private freeId = 0;
  declare private free: number;
  private flight = 0;
  private nextAvail = 0;
  private availWrap = true;
  private nextUsed = 0;
  private usedWrap = true;
  /** Slots made available since the last kick decision. */
  private addedSince = 0;
  /** What we last wrote into the driver area's flags (Linux `event_flags_shadow`). */
  private eventFlags = VRING_PACKED_EVENT_FLAG_ENABLE;
  declare private readonly indView: DataView | undefined;
  private readonly indAddr: number = 0;
  private readonly indCap: number = 0;

  constructor(config: RingConfig, areas: PackedAreas, ind: { area: Area; cap: number } | undefined) {
    this.config = config;
    const n = config.size;
    this.num = n;
    this.eventIdx = config.eventIdx;
    this.descView = areas.desc.view;
    this.drvView = areas.driver.view;
    this.devView = areas.device.view;
    this.idNext = new Uint16Array(n);
    for (let i = 0; i < n - 1; i++) this.idNext[i] = i + 1;
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
    // The driver owns the ring and starts it clean: no descriptor available or used, events enabled.
    new Uint8Array(this.descView.buffer, this.descView.byteOffset, this.descView.byteLength).fill(0);
    this.drvView.setUint32(0, 0, true);
    this.devView.setUint32(0, 0, true);
  }

  numFree(): number {
    return this.free;
  }

  inFlight(): number {
    return this.flight;
  }

  /**
   * §2.8.21: write the chain tail-first, every descriptor carrying the buffer id and the AVAIL/USED
   * bits of the lap its slot falls in; the head's flags are stored last and publish the whole chain.
   * The common case (a direct chain that fits) stays small enough for V8 to inline into the caller;
   * indirect chains and refusals take `addSlow`.
   */
  add(chain: Chain, token: number, useIndirect = false): number | RingError {
    const count = chain.count;
    if (count === 1 && !useIndirect && this.free !== 0) {
      // One buffer: one descriptor, its flags (which publish it) stored last (u32 len: no overflow)
      const id = this.freeId;
      const dv = this.descView;
      const o = this.nextAvail * DESC_SIZE;
      const a = chain.addr[0]!;
      const len = chain.len[0]!;
      const writable = chain.outCount === 0;
      dv.setUint32(o, a >>> 0, true);
      dv.setUint32(o + 4, (a * 2.3283064365386963e-10) >>> 0, true);
      dv.setUint32(o + 8, len, true);
      dv.setUint16(o + 12, id, true);
      // WRITE = 2, AVAIL = 0x80, USED = 0x8000 (§2.8.1: AVAIL = wrap counter, USED its inverse)
      this.publish(id, (writable ? 2 : 0) | (this.availWrap ? 0x80 : 0x8000), 1, token, writable ? len : 0);
      return id;
    }
    if (useIndirect || count === 0 || count > this.free || chain.outBytes + chain.inBytes > 0xffffffff) return this.addSlow(chain, token, useIndirect);
    const id = this.freeId;
    this.publish(id, this.writeDirect(chain, id), count, token, chain.inBytes);
    return id;
  }

  /** Write `chain` from the avail position, all but the head's flags; returns the head's flags. */
  private writeDirect(chain: Chain, id: number): number {
    // Flag values as local literals (VRING_DESC_F_*, VRING_PACKED_DESC_F_*): V8 inlines a DataView
    // store only when its value needs no module-binding load, and these are the driver's hottest stores.
    const NEXT = 1;
    const WRITE = 2;
    const AVAIL = 0x80;
    const USED = 0x8000;
    const n = this.num;
    const dv = this.descView;
    const head = this.nextAvail;
    const wrap = this.availWrap;
    const outCount = chain.outCount;
    const addrs = chain.addr;
    const lens = chain.len;
    const last = chain.count - 1;
    let headFlags = 0;
    for (let k = last; k >= 0; k--) {
      let s = head + k;
      let w = wrap;
      if (s >= n) {
        s -= n;
        w = !w;
      }
      const o = s * DESC_SIZE;
      const a = addrs[k]!;
      // le64 addr as two u32 halves, inline (a double passed to a call V8 did not inline is boxed)
      dv.setUint32(o, a >>> 0, true);
      dv.setUint32(o + 4, (a * 2.3283064365386963e-10) >>> 0, true);
      dv.setUint32(o + D_LEN, lens[k]!, true);
      dv.setUint16(o + D_ID, id, true);
      const f = (k >= outCount ? WRITE : 0) | (k < last ? NEXT : 0) | (w ? AVAIL : USED);
      if (k === 0) headFlags = f;
      else dv.setUint16(o + D_FLAGS, f, true);
    }
    return headFlags;
  }

  /** (write barrier) store the head's flags, which makes the chain available; record buffer `id`. */
  private publish(id: number, headFlags: number, need: number, token: number, inBytes: number): void {
    const n = this.num;
    const head = this.nextAvail;
    this.descView.setUint16(head * DESC_SIZE + D_FLAGS, headFlags, true);
    let s = head + need;
    if (s >= n) {
      s -= n;
      this.availWrap = !this.availWrap;
    }
    this.nextAvail = s;
    this.addedSince += need;
    this.free -= need;
    this.flight++;
    this.freeId = this.idNext[id]!;
    this.token[id] = token;
    this.ndescs[id] = need;
    this.inLen[id] = inBytes;
  }

  private addSlow(chain: Chain, token: number, useIndirect: boolean): number | RingError {
    const count = chain.count;
    if (count === 0) return fail('empty-chain', 'a chain needs at least one buffer');
    if (chain.outBytes + chain.inBytes > 0xffffffff) return fail('length-overflow', `chain of ${chain.outBytes + chain.inBytes} bytes overflows u32`);
    const indirect = useIndirect && this.indView !== undefined && count <= this.indCap;
    const need = indirect ? 1 : count;
    if (this.free < need) return fail('no-space', `chain needs ${need} descriptors, ${this.free} free`);
    const id = this.freeId;
    if (!indirect) {
      this.publish(id, this.writeDirect(chain, id), count, token, chain.inBytes);
      return id;
    }
    // §2.8.20: table entries in sequence; WRITE is their only meaningful flag, their id is ignored.
    const tv = this.indView!;
    const tOff = id * this.indCap * DESC_SIZE;
    const outCount = chain.outCount;
    for (let k = 0; k < count; k++) {
      const o = tOff + k * DESC_SIZE;
      setU64(tv, o, chain.addr[k]!);
      tv.setUint32(o + D_LEN, chain.len[k]!, true);
      tv.setUint16(o + D_ID, 0, true);
      tv.setUint16(o + D_FLAGS, k >= outCount ? VRING_DESC_F_WRITE : 0, true);
    }
    const dv = this.descView;
    const o = this.nextAvail * DESC_SIZE;
    setU64(dv, o, this.indAddr + id * this.indCap * DESC_SIZE);
    dv.setUint32(o + D_LEN, count * DESC_SIZE, true);
    dv.setUint16(o + D_ID, id, true);
    this.publish(id, VRING_DESC_F_INDIRECT | (this.availWrap ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED), 1, token, chain.inBytes);
    return id;
  }

  /** §2.8.10 from the driver's side: the device's event suppression area decides. */
  kickNeeded(): boolean {
    const moved = this.addedSince;
    if (moved === 0) return false;
    this.addedSince = 0;
    // §2.8.14: desc_event_flags is the low 2 bits, the other 14 are reserved; §2.8.10: 0x3 is reserved
    // and DESC "only valid if VIRTIO_F_RING_EVENT_IDX has been negotiated" — both notify, as ENABLE does
    // (a spurious notification is harmless, a missed one stalls the queue).
    const flags = this.devView.getUint16(EV_FLAGS, true) & EV_FLAGS_MASK;
    if (flags === VRING_PACKED_EVENT_FLAG_DESC && this.eventIdx) {
      return packedNeedEvent(this.devView.getUint16(EV_OFF_WRAP, true), this.nextAvail, this.availWrap, moved, this.num);
    }
    return flags !== VRING_PACKED_EVENT_FLAG_DISABLE;
  }

  /** §2.8.7: the slot at our used position holds a used descriptor when AVAIL = USED = our used wrap. */
  reap(out: Used): boolean | RingError {
    const dv = this.descView;
    const o = this.nextUsed * DESC_SIZE;
    const flags = dv.getUint16(o + D_FLAGS, true);
    const fl = flags & AVAIL_USED;
    if (fl !== (this.usedWrap ? AVAIL_USED : 0)) return false;
    const id = dv.getUint16(o + D_ID, true);
    // §2.8 "Element Address and Length": "Element Length is reserved for used descriptors without the VIRTQ_DESC_F_WRITE flag, and
    // is ignored by drivers" — without WRITE the device wrote nothing ("Write Flag"), whatever len holds.
    const len = (flags & VRING_DESC_F_WRITE) !== 0 ? dv.getUint32(o + D_LEN, true) : 0;
    if (id >= this.num || this.ndescs[id] === 0 || len > this.inLen[id]!) return this.reapError(id, len);
    this.release(id);
    out.id = id;
    out.len = len;
    out.token = this.token[id]!;
    // Linux virtqueue_get_buf_ctx_packed: in DESC mode ask for a call at the next used slot.
    if (this.eventFlags === VRING_PACKED_EVENT_FLAG_DESC) this.writeUsedEvent();
    return true;
  }

  /** The rule a used descriptor (id, len) breaks; only called when one does. */
  private reapError(id: number, len: number): RingError {
    if (id >= this.num) return usedElemError(len, fail('used-id-out-of-range', `used id ${id} >= queue size ${this.num}`, id));
    if (this.ndescs[id] === 0) return usedElemError(len, fail('used-id-not-in-flight', `used id ${id} is not a buffer in flight`, id));
    return usedElemError(len, fail('used-len-too-large', `used len ${len} > ${this.inLen[id]} writable bytes of buffer ${id}`, id));
  }

  /** Skip the slots buffer `id` took and return the id to the driver's free list. */
  private release(id: number): void {
    const nd = this.ndescs[id]!;
    let s = this.nextUsed + nd;
    if (s >= this.num) {
      s -= this.num;
      this.usedWrap = !this.usedWrap;
    }
    this.nextUsed = s;
    this.free += nd;
    this.flight--;
    this.ndescs[id] = 0;
    this.idNext[id] = this.freeId;
    this.freeId = id;
  }

  private writeUsedEvent(): void {
    this.drvView.setUint16(EV_OFF_WRAP, this.nextUsed | (this.usedWrap ? WRAP_BIT : 0), true);
  }

  disableCalls(): void {
    this.eventFlags = VRING_PACKED_EVENT_FLAG_DISABLE;
    this.drvView.setUint16(EV_FLAGS, VRING_PACKED_EVENT_FLAG_DISABLE, true);
  }

  /** Linux virtqueue_enable_cb_prepare_packed + virtqueue_poll: DESC at our used position, or ENABLE. */
  enableCalls(): boolean {
    if (this.eventIdx) {
      this.drvView.setUint16(EV_OFF_WRAP, this.nextUsed | (this.usedWrap ? WRAP_BIT : 0), true);
      this.eventFlags = VRING_PACKED_EVENT_FLAG_DESC;
    } else {
      this.eventFlags = VRING_PACKED_EVENT_FLAG_ENABLE;
    }
    // (write barrier) flags after off_wrap, (full barrier) then re-check the used slot
    this.drvView.setUint16(EV_FLAGS, this.eventFlags, true);
    const flags = this.descView.getUint16(this.nextUsed * DESC_SIZE + D_FLAGS, true);
    return (flags & AVAIL_USED) === (this.usedWrap ? AVAIL_USED : 0);
  }

  /** Linux virtqueue_enable_cb_delayed_packed: DESC at the slot 3/4 of the way through the slots in flight. */
  enableCallsDelayed(): boolean {
    if (!this.eventIdx) return this.enableCalls();
    const n = this.num;
    // off_wrap at the slot whose use makes 3/4 of the slots in flight used (as split's used_event)
    const bufs = ((n - this.free) * 3) >> 2;
    let pos = this.nextUsed + (bufs > 0 ? bufs - 1 : 0);
    let wrap = this.usedWrap;
    if (pos >= n) {
      pos -= n;
      wrap = !wrap;
    }
    this.drvView.setUint16(EV_OFF_WRAP, pos | (wrap ? WRAP_BIT : 0), true);
    this.eventFlags = VRING_PACKED_EVENT_FLAG_DESC;
    // (write barrier) flags after off_wrap, (full barrier) then re-check the used slot
    this.drvView.setUint16(EV_FLAGS, VRING_PACKED_EVENT_FLAG_DESC, true);
    const flags = this.descView.getUint16(this.nextUsed * DESC_SIZE + D_FLAGS, true);
    return (flags & AVAIL_USED) === (this.usedWrap ? AVAIL_USED : 0);
  }

  inFlightTokens(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.num; i++) if (this.ndescs[i] !== 0) out.push(this.token[i]!);
    return out;
  }

  base(): RingBase {
    return { availIdx: this.nextAvail, availWrap: this.availWrap, usedIdx: this.nextUsed, usedWrap: this.usedWrap };
  }
}

// ───────────────────────────────────────── device ─────────────────────────────────────────

export class PackedDevice implements RingDevice {
  declare readonly config: RingConfig;
  declare private readonly space: AddressSpace;
  declare private readonly num: number;
  declare private readonly eventIdx: boolean;
  declare private readonly indirectOk: boolean;
  declare private readonly descView: DataView;
  declare private readonly descAddr: number;
  declare private readonly drvView: DataView;
  declare private readonly devView: DataView;
  declare private readonly devAddr: number;
  private nextAvail = 0;
  private availWrap = true;
  private nextUsed = 0;
  private usedWrap = true;
  /** Slots marked used since the last call decision. */
  private pushedSince = 0;
  /** What we last wrote into the device area's flags. */
  private eventFlags = VRING_PACKED_EVENT_FLAG_ENABLE;

  constructor(space: AddressSpace, config: RingConfig, areas: PackedAreas) {
    this.space = space;
    this.config = config;
    this.num = config.size;
    this.eventIdx = config.eventIdx;
    this.indirectOk = config.indirect;
    this.descView = areas.desc.view;
    this.descAddr = areas.desc.addr;
    this.drvView = areas.driver.view;
    this.devView = areas.device.view;
    this.devAddr = areas.device.addr;
  }

  hasAvail(): boolean {
    const f = this.descView.getUint16(this.nextAvail * DESC_SIZE + D_FLAGS, true) & AVAIL_USED;
    return f === (this.availWrap ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED);
  }

  /**
   * §2.8.6, §2.8.17 (QEMU virtqueue_packed_pop): the head at our avail position is available when its
   * AVAIL bit is our wrap counter and its USED bit is not; follow NEXT through the ring (the buffer id
   * is in the last descriptor) or one indirect table. On a violated rule nothing is consumed.
   */
  pop(out: Chain): boolean | RingError {
    const r = this.walk(out);
    if (r !== true) return r;
    if (this.eventFlags === VRING_PACKED_EVENT_FLAG_DESC) this.writeEvent(this.nextAvail | (this.availWrap ? WRAP_BIT : 0), -1);
    return true;
  }

  /** Flatten the chain at our avail position into `out` and move past it; false when none is available. */
  private walk(out: Chain): boolean | RingError {
    const n = this.num;
    const dv = this.descView;
    const head = this.nextAvail;
    let o = head * DESC_SIZE;
    let flags = dv.getUint16(o + D_FLAGS, true);
    if ((flags & AVAIL_USED) !== (this.availWrap ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED)) return false;
    // The common buffer, one direct descriptor: its checks inline (neither NEXT nor INDIRECT = 5, id in
    // range, address below 2^53, buffer inside one region); anything else, or any check failing, takes
    // the full walk below, which names the rule broken.
    const hi = dv.getUint32(o + 4, true);
    const id0 = dv.getUint16(o + D_ID, true);
    if ((flags & 5) === 0 && hi < 0x200000 && id0 < n && out.capacity > 0) {
      const addr = hi * 4294967296 + dv.getUint32(o, true);
      const len = dv.getUint32(o + D_LEN, true);
      // the buffer inside the region the space hit last (read inline: an address passed to a call is boxed
      // when V8 does not inline it); any other region is checked by the full walk, which then caches it
      const lr = this.space.lastRange;
      if (addr >= lr[0]! && addr + len <= lr[1]!) {
        // the Chain's fields written here, not through a method: a double (addr) passed to a call
        // V8 does not inline is boxed, and this path must not allocate (the same fill as SplitDevice.pop; a
        // shared helper measured 16 B/chain)
        out.id = id0;
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
        const next = head + 1;
        if (next === n) {
          this.nextAvail = 0;
          this.availWrap = !this.availWrap;
        } else this.nextAvail = next;
        return true;
      }
    }
    return this.walkChain(out, head, flags);
  }

  /** `walk` of any chain from slot `head` (whose flags are `flags`): every descriptor checked, the rule broken named. */
  private walkChain(out: Chain, head: number, flags: number): boolean | RingError {
    const n = this.num;
    const dv = this.descView;
    let o = head * DESC_SIZE;
    out.reset();
    const space = this.space;
    let s = head;
    let cnt = 0;
    let id: number;
    for (;;) {
      const addr = getU64(dv, o);
      const len = dv.getUint32(o + D_LEN, true);
      id = dv.getUint16(o + D_ID, true);
      cnt++;
      if ((flags & VRING_DESC_F_INDIRECT) !== 0) {
        const r = this.indirectTable(out, s, addr, len, flags, cnt);
        if (r !== undefined) return r;
        break;
      }
      const rule = takeSegment(space, out, addr, len, flags);
      if (rule !== undefined) return fail(rule, `descriptor at slot ${s}: ${rule} (addr 0x${addr.toString(16)}, len ${len})`, s);
      if ((flags & VRING_DESC_F_NEXT) === 0) break;
      if (cnt >= n) return fail('packed-chain-unterminated', `chain at slot ${head} runs past ${n} descriptors`, head);
      if (++s === n) s = 0;
      o = s * DESC_SIZE;
      flags = dv.getUint16(o + D_FLAGS, true);
    }
    if (id >= n) return fail('packed-id-out-of-range', `buffer id ${id} >= queue size ${n}`, id);
    out.id = id;
    out.ringDescs = cnt;
    let next = head + cnt;
    if (next >= n) {
      next -= n;
      this.availWrap = !this.availWrap;
    }
    this.nextAvail = next;
    return true;
  }

  /**
   * §2.8 "Indirect Flag: Scatter-Gather Support" and §2.8.19: one indirect table, the whole buffer;
   * its entries are used in sequence. The INDIRECT descriptor's own WRITE bit is ignored ("In descriptors with
   * VIRTQ_DESC_F_INDIRECT set VIRTQ_DESC_F_WRITE is reserved and is ignored by the device"), and so is
   * every flag of a table entry but WRITE, and its Buffer ID ("The VIRTQ_DESC_F_WRITE flags bit is the
   * only valid flag for descriptors in the indirect table. Others are reserved and are ignored by the
   * device. Buffer ID is also reserved and is ignored by the device.").
   */
  private indirectTable(out: Chain, s: number, addr: number, len: number, flags: number, nth: number): RingError | undefined {
    if (!this.indirectOk) return fail('indirect-not-negotiated', `descriptor at slot ${s} is INDIRECT but VIRTIO_F_INDIRECT_DESC was not negotiated`, s);
    if ((flags & VRING_DESC_F_NEXT) !== 0) return fail('indirect-next', `descriptor at slot ${s} has both INDIRECT and NEXT`, s);
    // §2.8.19: "A driver MUST NOT write direct descriptors with DESC_F_INDIRECT set in a scatter-gather
    // list linked by VIRTQ_DESC_F_NEXT" (unlike split §2.7.5.3, which allows direct descriptors before it)
    if (nth > 1) return fail('indirect-next', `INDIRECT descriptor at slot ${s} ends a list linked by NEXT`, s);
    if (len === 0) return fail('zero-length', `indirect descriptor at slot ${s} has an empty table`, s);
    if (len % DESC_SIZE !== 0) return fail('indirect-len', `indirect table length ${len} at slot ${s} is not a multiple of 16`, s);
    const r = addr < 0 ? undefined : this.space.find(addr, len);
    if (r === undefined) return fail('buffer-unmapped', `indirect table at slot ${s} (0x${addr.toString(16)}, +${len}) is unmapped`, s);
    out.indirect = true;
    const tv = r.view;
    const tOff = addr - r.base;
    const entries = len / DESC_SIZE;
    const space = this.space;
    for (let j = 0; j < entries; j++) {
      const o = tOff + j * DESC_SIZE;
      // only WRITE counts (reserved flags ignored, see above): an INDIRECT bit here is not a nested table
      const f = tv.getUint16(o + D_FLAGS, true);
      const a = getU64(tv, o);
      const l = tv.getUint32(o + D_LEN, true);
      const rule = takeSegment(space, out, a, l, f & VRING_DESC_F_WRITE);
      if (rule !== undefined) return fail(rule, `indirect entry ${j} at slot ${s}: ${rule} (addr 0x${a.toString(16)}, len ${l})`, j);
    }
    return undefined;
  }

  /**
   * §2.8.7: write the used descriptor (len, id, then flags with AVAIL = USED = our used wrap counter) at
   * our used position and skip the `ringDescs` slots the chain took. The write goes to the dirty log.
   */
  push(id: number, ringDescs: number, len: number): undefined | RingError {
    const n = this.num;
    if (!(id >= 0 && id < n) || !(ringDescs >= 1 && ringDescs <= n)) return this.pushError(id, ringDescs);
    const dv = this.descView;
    const slot = this.nextUsed;
    const o = slot * DESC_SIZE;
    const l = len >>> 0;
    dv.setUint32(o + D_LEN, l, true);
    dv.setUint16(o + D_ID, id, true);
    // (write barrier) then the flags publish it: AVAIL = USED = our wrap counter (§2.8.1), and WRITE
    // when the device wrote anything — §2.8 "Write Flag": "In a used descriptor, this bit is used to specify
    // whether any data has been written by the device into any parts of the buffer."
    dv.setUint16(o + D_FLAGS, (this.usedWrap ? 0x8080 /* AVAIL | USED */ : 0) | (l !== 0 ? 2 /* VRING_DESC_F_WRITE */ : 0), true);
    this.space.noteWrite(this.descAddr + slot * DESC_SIZE + D_LEN, DESC_SIZE - D_LEN);
    let next = slot + ringDescs;
    if (next >= n) {
      next -= n;
      this.usedWrap = !this.usedWrap;
    }
    this.nextUsed = next;
    this.pushedSince += ringDescs;
    return undefined;
  }

  private pushError(id: number, ringDescs: number): RingError {
    const n = this.num;
    if (!(id >= 0 && id < n)) return fail('packed-id-out-of-range', `used buffer id ${id} >= queue size ${n}`, id);
    return fail('desc-index-out-of-range', `chain of ${ringDescs} descriptors does not fit a ring of ${n}`, ringDescs);
  }

  /** §2.8.10 from the device's side: the driver's event suppression area decides. */
  callNeeded(): boolean {
    const moved = this.pushedSince;
    if (moved === 0) return false;
    this.pushedSince = 0;
    // reserved bits and the reserved value 3 as in PackedDriver.kickNeeded (§2.8.14, §2.8.10)
    const flags = this.drvView.getUint16(EV_FLAGS, true) & EV_FLAGS_MASK;
    if (flags === VRING_PACKED_EVENT_FLAG_DESC && this.eventIdx) {
      return packedNeedEvent(this.drvView.getUint16(EV_OFF_WRAP, true), this.nextUsed, this.usedWrap, moved, this.num);
    }
    return flags !== VRING_PACKED_EVENT_FLAG_DISABLE;
  }

  disableKicks(): void {
    this.eventFlags = VRING_PACKED_EVENT_FLAG_DISABLE;
    this.writeEvent(-1, VRING_PACKED_EVENT_FLAG_DISABLE);
  }

  /** QEMU virtio_queue_packed_set_notification: DESC at our avail position with EVENT_IDX, else ENABLE. */
  enableKicks(): boolean {
    this.eventFlags = this.eventIdx ? VRING_PACKED_EVENT_FLAG_DESC : VRING_PACKED_EVENT_FLAG_ENABLE;
    this.writeEvent(this.eventIdx ? this.nextAvail | (this.availWrap ? WRAP_BIT : 0) : -1, this.eventFlags);
    return this.hasAvail();
  }

  base(): RingBase {
    return { availIdx: this.nextAvail, availWrap: this.availWrap, usedIdx: this.nextUsed, usedWrap: this.usedWrap };
  }

  setBase(base: RingBase): undefined | RingError {
    // §2.8.1: a packed index is a descriptor position, so it must be < num (vhost keeps 15 bits + wrap).
    const avail = base.availIdx & 0x7fff;
    const used = base.usedIdx & 0x7fff;
    if (avail >= this.num || used >= this.num) {
      return fail('bad-base', `vring base avail ${avail} / used ${used} is outside a packed ring of ${this.num}`, avail >= this.num ? avail : used);
    }
    this.nextAvail = avail;
    this.availWrap = base.availWrap;
    this.nextUsed = used;
    this.usedWrap = base.usedWrap;
    this.pushedSince = 0;
    return undefined;
  }

  /** Write the device area's off_wrap and/or flags (−1 leaves a field alone), off_wrap first. */
  private writeEvent(offWrap: number, flags: number): void {
    const v = this.devView;
    if (offWrap >= 0) {
      v.setUint16(EV_OFF_WRAP, offWrap, true);
      this.space.noteWrite(this.devAddr + EV_OFF_WRAP, 2);
    }
    if (flags >= 0) {
      v.setUint16(EV_FLAGS, flags, true);
      this.space.noteWrite(this.devAddr + EV_FLAGS, 2);
    }
  }
}

// ───────────────────────────────────────── factory ─────────────────────────────────────────

export const packedRing: RingFactory = {
  driver(space, config, opts) {
    const areas = resolveAreas(space, config);
    if ('_tag' in areas) return areas;
    const ind = resolveIndirectArea(space, config, opts?.indirectArea, fail);
    if (ind !== undefined && '_tag' in ind) return ind;
    return new PackedDriver(config, areas, ind);
  },
  device(space, config) {
    const areas = resolveAreas(space, config);
    if ('_tag' in areas) return areas;
    return new PackedDevice(space, config, areas);
  },
  layoutOf: packedLayoutOf,
};
