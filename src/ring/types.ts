/**
 * The one interface over both virtqueue layouts (virtio 1.2 §2.7 split, §2.8 packed).
 *
 * Upper layers (the SVQ engine, the simulated device, the CVQ engine) work through `RingDriver`
 * (the side that makes buffers available and reaps used ones) and `RingDevice` (the side that pops
 * available chains and pushes used ones), whatever the layout.
 *
 * Hot-path contract: no allocation per buffer. Chains are popped into a caller-owned, reusable `Chain`;
 * used elements are reaped into a caller-owned `Used`. Methods return a number / boolean on success and
 * a `RingError` value on a violated rule (never throw on bad ring contents). `src/ring/either.ts`
 * wraps them as fp-ts `Either` for callers off the hot path.
 */
import type { AddressSpace } from '../memory/address-space.js';

export type RingLayout = 'split' | 'packed';

/** Rules a ring can violate; each has a test that builds the bad ring and gets this name. */
export type RingRule =
  | 'bad-queue-size' // size not a power of two in 1..32768 (split) or not in 1..32768 (packed)
  | 'ring-unmapped' // a ring area is not inside the address space
  | 'ring-misaligned' // a ring area breaks its alignment (split 16/2/4 §2.7, packed 16/4/4 §2.8.10)
  | 'avail-idx-ahead' // avail idx ran ahead of last_avail_idx by more than num (§2.7.13.3)
  | 'desc-index-out-of-range' // a head or next index ≥ num
  | 'chain-loop' // chain longer than the ring (a loop) (§2.7.5.3.2)
  | 'readable-after-writable' // device-readable descriptor after a writable one (§2.7.4.2)
  | 'length-overflow' // total chain length overflows u32
  | 'buffer-unmapped' // descriptor addr/len outside the address space
  | 'zero-length' // descriptor with len 0 where the rule forbids it (indirect table)
  | 'indirect-not-negotiated' // INDIRECT flag without VIRTIO_F_INDIRECT_DESC (§2.7.5.3)
  | 'indirect-len' // indirect table len not a non-zero multiple of 16 (§2.7.5.3.1)
  | 'indirect-nested' // split: INDIRECT inside an indirect table (§2.7.5.3.1; packed ignores every table flag but WRITE, §2.8 "Indirect Flag")
  | 'indirect-next' // INDIRECT and NEXT both set on one descriptor (§2.7.5.3.1); packed: INDIRECT anywhere in a NEXT list (§2.8.19)
  | 'chain-too-long' // more segments than the caller's Chain can hold
  | 'packed-id-out-of-range' // packed buffer id ≥ num
  | 'packed-chain-unterminated' // packed chain runs past num descriptors without ending
  | 'used-id-out-of-range' // driver: used id ≥ num
  | 'used-id-not-in-flight' // driver: used id is not a head/buffer id in flight
  | 'used-len-too-large' // driver: used len > total device-writable length of the chain
  | 'bad-base' // a vring base whose index is not a ring position (packed: ≥ num)
  | 'no-space' // driver: not enough free descriptors for the chain
  | 'empty-chain'; // driver: chain with no buffer

export interface RingError {
  readonly _tag: 'RingError';
  readonly rule: RingRule;
  readonly layout: RingLayout;
  /** Ring slot / descriptor index / id the rule is about, when there is one. */
  readonly index?: number;
  /** A driver's reap error: the used length the device wrote with that id (so a caller can report it). */
  readonly usedLen?: number;
  readonly message: string;
}

/** A reap error carrying the used element's length. */
export const usedElemError = (len: number, e: RingError): RingError => ({ ...e, usedLen: len });

export const ringError = (layout: RingLayout, rule: RingRule, message: string, index?: number): RingError =>
  index === undefined ? { _tag: 'RingError', rule, layout, message } : { _tag: 'RingError', rule, layout, index, message };

export const isRingError = (x: unknown): x is RingError =>
  typeof x === 'object' && x !== null && (x as { _tag?: unknown })._tag === 'RingError';

/** Split-ring descriptor flags (virtio 1.2 §2.7.5; linux/virtio_ring.h). */
export const VRING_DESC_F_NEXT = 1;
export const VRING_DESC_F_WRITE = 2;
export const VRING_DESC_F_INDIRECT = 4;
/** Packed descriptor flags (virtio 1.2 §2.8.1). */
export const VRING_PACKED_DESC_F_AVAIL = 1 << 7;
export const VRING_PACKED_DESC_F_USED = 1 << 15;
/** Split ring suppression flags (§2.7.7, §2.7.10). */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
export const VRING_USED_F_NO_NOTIFY = 1;
/** Packed event suppression flags (§2.8.10). */
export const VRING_PACKED_EVENT_FLAG_ENABLE = 0;
export const VRING_PACKED_EVENT_FLAG_DISABLE = 1;
export const VRING_PACKED_EVENT_FLAG_DESC = 2;
export const VRING_PACKED_EVENT_F_WRAP_CTR = 15;
/** Largest queue size (§2.7: "Queue Size … maximum 32768"). */
export const MAX_QUEUE_SIZE = 32768;

/**
 * A flattened descriptor chain (indirect tables resolved): `count` segments, the first `outCount`
 * device-readable, the rest device-writable. Reusable: preallocated typed arrays, no per-pop allocation.
 */
export class Chain {
  /** Split: head descriptor index. Packed: buffer id (from the last descriptor of the chain). */
  id = 0;
  /** Descriptors the chain occupies on the ring itself (1 for an indirect chain); packed uses it to skip. */
  ringDescs = 0;
  /** The chain came through an indirect table. */
  indirect = false;
  count = 0;
  outCount = 0;
  /** Sum of device-readable / device-writable lengths. */
  outBytes = 0;
  inBytes = 0;
  declare readonly addr: Float64Array;
  declare readonly len: Uint32Array;
  declare readonly capacity: number;

  constructor(capacity = 1024) {
    this.capacity = capacity;
    this.addr = new Float64Array(capacity);
    this.len = new Uint32Array(capacity);
  }

  get inCount(): number {
    return this.count - this.outCount;
  }

  reset(): void {
    this.id = 0;
    this.ringDescs = 0;
    this.indirect = false;
    this.count = 0;
    this.outCount = 0;
    this.outBytes = 0;
    this.inBytes = 0;
  }

  /**
   * Make this a one-segment chain (Linux `sg_init_one`): `reset` and `push` of one buffer in one go, for
   * the common single-buffer chain (a TX packet, an RX buffer). Returns false when capacity is 0.
   */
  one(addr: number, len: number, writable: boolean): boolean {
    if (this.capacity === 0) return false;
    this.id = 0;
    this.ringDescs = 0;
    this.indirect = false;
    this.count = 1;
    this.addr[0] = addr;
    this.len[0] = len;
    this.outCount = writable ? 0 : 1;
    this.outBytes = writable ? 0 : len;
    this.inBytes = writable ? len : 0;
    return true;
  }

  /** Append a segment; returns false when the chain is full. Readable segments must come first. */
  push(addr: number, len: number, writable: boolean): boolean {
    const n = this.count;
    if (n >= this.capacity) return false;
    this.addr[n] = addr;
    this.len[n] = len;
    this.count = n + 1;
    if (writable) this.inBytes += len;
    else {
      this.outCount++;
      this.outBytes += len;
    }
    return true;
  }

  copyFrom(o: Chain): void {
    this.id = o.id;
    this.ringDescs = o.ringDescs;
    this.indirect = o.indirect;
    this.count = o.count;
    this.outCount = o.outCount;
    this.outBytes = o.outBytes;
    this.inBytes = o.inBytes;
    this.addr.set(o.addr.subarray(0, o.count));
    this.len.set(o.len.subarray(0, o.count));
  }
}

/** A reaped used element; reusable. */
export class Used {
  id = 0;
  len = 0;
  /** The caller's token given to `add` for this chain (e.g. the guest head it shadows). */
  token = 0;
}

/** Where a ring lives in its address space (split: desc/avail/used; packed: desc/driver/device areas). */
export interface RingAddrs {
  /** Descriptor table (split) or descriptor ring (packed). */
  readonly desc: number;
  /** Split: avail ring. Packed: driver event suppression area. */
  readonly driver: number;
  /** Split: used ring. Packed: device event suppression area. */
  readonly device: number;
}

export interface RingConfig {
  readonly layout: RingLayout;
  readonly size: number;
  readonly addrs: RingAddrs;
  /** VIRTIO_F_RING_EVENT_IDX negotiated (§2.7.10 / §2.8.10). */
  readonly eventIdx: boolean;
  /** VIRTIO_F_INDIRECT_DESC negotiated (§2.7.5.3 / §2.8.19). */
  readonly indirect: boolean;
}

/**
 * vhost's vring base: where a queue resumes. Split: last_avail_idx (used idx is read from the ring).
 * Packed: avail/used index plus wrap counters, encoded by vhost as
 * `last_avail_idx | avail_wrap << 15 | last_used_idx << 16 | used_wrap << 31`.
 */
export interface RingBase {
  readonly availIdx: number;
  readonly availWrap: boolean;
  readonly usedIdx: number;
  readonly usedWrap: boolean;
}

/** The driver side: makes buffers available, reaps used ones (the guest driver, or SVQ on the shadow ring). */
export interface RingDriver {
  readonly config: RingConfig;
  /** Free descriptor slots (an indirect chain needs one). */
  numFree(): number;
  /** Chains made available and not yet reaped. */
  inFlight(): number;
  /**
   * Make `chain` available (its `outCount` readable segments first, then writable ones) with `token`
   * remembered for the reap. Uses an indirect table when `useIndirect` and the ring negotiated it.
   * Returns the head index (split) / buffer id (packed).
   */
  add(chain: Chain, token: number, useIndirect?: boolean): number | RingError;
  /** After adds: whether the device wants a notification (NO_NOTIFY / avail_event / packed suppression). */
  kickNeeded(): boolean;
  /** Reap one used element into `out`; false when there is none. Validates id, in-flight state and len. */
  reap(out: Used): boolean | RingError;
  /** Ask for no calls (VRING_AVAIL_F_NO_INTERRUPT or packed DISABLE). */
  disableCalls(): void;
  /** Ask for calls again (flags or used_event); true when used entries are already pending (re-check race). */
  enableCalls(): boolean;
  /**
   * Linux virtqueue_enable_cb_delayed: ask for a call only once 3/4 of the chains now in flight are used
   * (used_event / packed off_wrap that far ahead, §2.7.10 / §2.8.10); without EVENT_IDX the same as
   * `enableCalls`. Only for a queue whose device uses every chain it was given without waiting for more
   * (a transmit queue): on any other a call could wait forever. True when used entries are already pending.
   */
  enableCallsDelayed(): boolean;
  /** Token of every chain still in flight (for accounting on stop / failure). */
  inFlightTokens(): number[];
  /** Position to resume from (vhost's vring base). */
  base(): RingBase;
}

/** The device side: pops available chains, pushes used ones (a device, or SVQ on the guest's ring). */
export interface RingDevice {
  readonly config: RingConfig;
  /** Pop the next available chain into `out`; false when none is available. */
  pop(out: Chain): boolean | RingError;
  /** Whether a chain is available without popping it. */
  hasAvail(): boolean;
  /** Return a chain as used: its id, the descriptors it took on the ring, the bytes written. */
  push(id: number, ringDescs: number, len: number): undefined | RingError;
  /** After pushes: whether the driver wants an interrupt (NO_INTERRUPT / used_event / packed suppression). */
  callNeeded(): boolean;
  /** Ask for no kicks (VRING_USED_F_NO_NOTIFY or packed DISABLE). */
  disableKicks(): void;
  /** Ask for kicks again (flags or avail_event); true when chains are already available (re-check race). */
  enableKicks(): boolean;
  /** Position to resume from (vhost's vring base). */
  base(): RingBase;
  /** Resume from a saved base (VHOST_SET_VRING_BASE); a base that is not a ring position changes nothing. */
  setBase(base: RingBase): undefined | RingError;
}

/** Factory signature both layouts implement. */
export interface RingFactory {
  driver(space: AddressSpace, config: RingConfig, opts?: { indirectArea?: { addr: number; size: number } }): RingDriver | RingError;
  device(space: AddressSpace, config: RingConfig): RingDevice | RingError;
  /** Bytes each area needs and its alignment, for a queue of `size` (split §2.7, packed §2.8.10). */
  layoutOf(size: number): { desc: { size: number; align: number }; driver: { size: number; align: number }; device: { size: number; align: number } };
}
