/**
 * What the main thread and an SVQ worker thread share (src/svq/worker.ts, src/svq/worker-thread.ts):
 *
 *  - memory: address spaces described region by region over SharedArrayBuffers (`SpaceDesc`); each
 *    thread builds its own `AddressSpace` on the same bytes, so the guest ring, the guest's buffers and
 *    the shadow ring are one memory seen from two threads (as guest RAM is shared by QEMU's vCPU and
 *    iothreads);
 *  - the IOVA tree, as a snapshot of its mappings (read-only while the worker runs: a mapping change
 *    stops the worker and starts it again, as QEMU's memory listener does with SVQ's iothread);
 *  - a control block (`Int32Array` over a SharedArrayBuffer): doorbells and notification counters, the
 *    kick/call relay of `Atomics.wait` / `Atomics.notify` (an eventfd counter's semantics: increments
 *    coalesce, the reader acts on "changed since I last looked").
 *
 * Everything here is data: structured-clone-safe messages and the control block's word offsets.
 */
import type { MessagePort } from 'node:worker_threads';
import { AddressSpace } from '../memory/address-space.js';
import type { RingBase, RingConfig } from '../ring/types.js';
import { IovaTree, isIovaTreeError, type DMAMap, type MapKind } from './iova-tree.js';
import type { SvqHandover, SvqState, SvqStats } from './shadow-virtqueue.js';

export type SvqWorkerErrorKind =
  | 'not-shared' // a region of a space handed to a worker is not a SharedArrayBuffer
  | 'weak-memory-order' // workers refused on a host whose memory order the ring layer does not fence
  | 'setup' // the worker could not build a queue (its SvqError is in the message)
  | 'state' // a request the worker's state does not allow (stopped, closed, unknown queue)
  | 'timeout' // the worker did not answer in time
  | 'crashed'; // the worker thread died

export interface SvqWorkerError {
  readonly _tag: 'SvqWorkerError';
  readonly kind: SvqWorkerErrorKind;
  readonly message: string;
}

export const svqWorkerError = (kind: SvqWorkerErrorKind, message: string): SvqWorkerError => ({ _tag: 'SvqWorkerError', kind, message });
export const isSvqWorkerError = (x: unknown): x is SvqWorkerError => typeof x === 'object' && x !== null && (x as { _tag?: unknown })._tag === 'SvqWorkerError';

// ─────────────────────────────── memory ───────────────────────────────

export interface RegionDesc {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  readonly buffer: SharedArrayBuffer;
  readonly offset: number;
}

export interface SpaceDesc {
  readonly name: string;
  readonly regions: readonly RegionDesc[];
}

/** Describe `space` for another thread: every region must sit on a SharedArrayBuffer. */
export function describeSpace(space: AddressSpace): SpaceDesc | SvqWorkerError {
  const regions: RegionDesc[] = [];
  for (const r of space.regions()) {
    if (!(r.buffer instanceof SharedArrayBuffer)) {
      return svqWorkerError('not-shared', `${space.name}: region ${r.name} is an ArrayBuffer; a worker needs SharedArrayBuffer-backed memory`);
    }
    regions.push({ name: r.name, base: r.base, size: r.size, buffer: r.buffer, offset: r.offset });
  }
  return { name: space.name, regions };
}

/** The same address space, in this thread, over the same bytes. */
export function spaceOf(d: SpaceDesc): AddressSpace | SvqWorkerError {
  const s = new AddressSpace(d.name);
  for (const r of d.regions) {
    const added = s.addRegion(r.base, r.buffer, { offset: r.offset, size: r.size, name: r.name });
    if (added._tag === 'Left') return svqWorkerError('setup', added.left.message);
  }
  return s;
}

export interface TreeDesc {
  readonly first: number;
  readonly last: number;
  readonly maps: readonly DMAMap[];
}

export const describeTree = (t: IovaTree): TreeDesc => ({ first: t.first, last: t.last, maps: t.maps() });

/** A copy of the tree: same range, same mappings at the same IOVAs. */
export function treeOf(d: TreeDesc): IovaTree | SvqWorkerError {
  const t = new IovaTree({ first: d.first, last: d.last });
  for (const m of d.maps) {
    const r = t.insert(m.kind, m.iova, { translatedAddr: m.translatedAddr, size: m.size, perm: m.perm });
    if (isIovaTreeError(r)) return svqWorkerError('setup', `IOVA tree copy: ${r.message}`);
  }
  return t;
}

// ─────────────────────────────── queues ───────────────────────────────

/** The simulated device on a shadow ring run by the worker itself (vdpa_sim's kthread), or an outside one. */
export type DeviceEnd = 'external' | 'loopback';

/**
 * An in-worker guest driver that keeps the guest ring busy (the bench's traffic; a vCPU elsewhere in a
 * real VM). Chains of `descs` descriptors over buffers at `bufBase + i·512`, `inFlight` at most.
 */
export interface TrafficDesc {
  readonly bufBase: number;
  readonly descs: 1 | 4;
  readonly inFlight: number;
  /** Chains added per pass (then one kick decision). */
  readonly burst: number;
}

export interface QueueDesc {
  /** Slot of the queue in this worker's control block (0 … MAX_QUEUES-1). */
  readonly slot: number;
  readonly name: string;
  readonly guest: { readonly space: string; readonly config: RingConfig };
  readonly shadow: { readonly space: string; readonly config: RingConfig; readonly indirectArea?: { addr: number; size: number } };
  readonly tree: string;
  readonly bufferMap?: MapKind;
  readonly maxChain?: number;
  readonly pollGuestWhileBusy?: boolean;
  readonly resume?: SvqHandover;
  readonly device: DeviceEnd;
  readonly traffic?: TrafficDesc;
}

/** The engine's optional settings of a queue, only those set (exactOptionalPropertyTypes). */
export type EngineOptions = Pick<QueueDesc, 'bufferMap' | 'maxChain' | 'pollGuestWhileBusy' | 'resume'>;
export const engineOptions = (q: EngineOptions): EngineOptions => ({
  ...(q.bufferMap === undefined ? {} : { bufferMap: q.bufferMap }),
  ...(q.maxChain === undefined ? {} : { maxChain: q.maxChain }),
  ...(q.pollGuestWhileBusy === true ? { pollGuestWhileBusy: true } : {}),
  ...(q.resume === undefined ? {} : { resume: q.resume }),
});

export interface InitMessage {
  readonly type: 'init';
  readonly ctl: SharedArrayBuffer;
  /** Where the worker posts its answers to requests (`collected`, `stopped`). */
  readonly reply: MessagePort;
  /** Address spaces by id (a guest RAM shared by every queue is described once). */
  readonly spaces: Readonly<Record<string, SpaceDesc>>;
  readonly trees: Readonly<Record<string, TreeDesc>>;
  /** Spaces (ids) whose writes the worker logs in its own dirty log (guest RAM when migration logs). */
  readonly dirty: readonly string[];
  readonly queues: readonly QueueDesc[];
}

export type ToWorker = InitMessage | { readonly type: 'close' };

export interface QueueReport {
  readonly slot: number;
  readonly state: SvqState;
  readonly failure?: string;
  readonly stats: SvqStats;
  readonly inFlight: number;
  /** Idle timeouts on which the worker polled a queue with chains in flight (a lost notification; 0 when the relay is right). */
  readonly forcedPolls: number;
}

export interface StopReport extends QueueReport {
  readonly handover: SvqHandover;
  /** The shadow ring's driver position when SVQ stopped (what the device was offered). */
  readonly shadowBase: RingBase;
}

/** Dirty pages (guest addresses) the worker logged since its previous collect, per logged space id. */
export type DirtyReport = Readonly<Record<string, readonly number[]>>;

export type FromWorker =
  | { readonly type: 'ready'; readonly error?: SvqWorkerError }
  | {
      readonly type: 'collected';
      readonly seq: number;
      readonly dirty: DirtyReport;
      readonly queues: readonly QueueReport[];
      /** Heap bytes the worker's isolate allocated since the previous collect (used-heap growth plus what GCs reclaimed); NaN without v8.GCProfiler. */
      readonly heapBytes: number;
      /** CPU seconds this worker thread has used (its own, from /proc/thread-self/stat); NaN where that is missing. */
      readonly threadCpu: number;
    }
  | { readonly type: 'stopped'; readonly seq: number; readonly dirty: DirtyReport; readonly queues: readonly StopReport[] }
  | { readonly type: 'closed' };

// ─────────────────────────────── control block ───────────────────────────────

/** Queues one worker can host (a queue pair is 2; a worker hosting every queue of a device, more). */
export const MAX_QUEUES = 64;

/** Int32 word offsets in the control block. */
export const CTL = {
  /** Incremented (then notified) by anyone who wants the worker's attention; the worker waits on it. */
  DOORBELL: 0,
  /** The main thread's relay waits on this one: the worker kicked a device or called a guest. */
  OUT_DOORBELL: 1,
  /** Request code (`REQ`) and its sequence number; the worker answers by message with that number. */
  REQ: 2,
  REQ_SEQ: 3,
  /** 1 while in-worker traffic generators may add chains (the bench pauses and resumes them). */
  TRAFFIC: 4,
  /** Worker loop state: 0 idle (event loop), 1 running the dataplane (its queues started). */
  RUNNING: 5,
  /**
   * Bumped (then notified) by the worker after it posted an answer on the reply port: the main thread
   * waits on it (`Atomics.wait`, bounded) and takes the answer with `receiveMessageOnPort`, so a request
   * is one synchronous step for its caller, as QEMU stops an iothread's AioContext under the BQL.
   */
  ANSWER: 6,
  /** Per queue, 8 words from QUEUE_BASE + slot·QUEUE_WORDS. */
  QUEUE_BASE: 16,
  QUEUE_WORDS: 8,
  /** Per-queue word: guest kicks delivered to SVQ (the guest's ioeventfd). */
  GUEST_KICK: 0,
  /** Per-queue word: device calls delivered to SVQ (the device's call eventfd). */
  DEVICE_CALL: 1,
  /** Per-queue word: kicks SVQ sent to an external device (the device's kick eventfd). */
  DEVICE_KICK_OUT: 2,
  /** Per-queue word: calls SVQ sent to the guest (its irqfd). */
  GUEST_CALL_OUT: 3,
  /** Per-queue word: chains the in-worker traffic generator completed (bench counter, wraps at 2^32). */
  TRAFFIC_DONE: 4,
} as const;

export const CTL_WORDS = CTL.QUEUE_BASE + MAX_QUEUES * CTL.QUEUE_WORDS;

/**
 * Requests. FAULT_EXIT / FAULT_HANG are fault injection (tests, as the simulator's fault plan): the
 * worker thread ends at once, or spins without answering anything again.
 */
export const REQ = { NONE: 0, COLLECT: 1, STOP: 2, FAULT_EXIT: 3, FAULT_HANG: 4 } as const;

export const queueWord = (slot: number, word: number): number => CTL.QUEUE_BASE + slot * CTL.QUEUE_WORDS + word;

/** Ring the worker's doorbell after changing a counter (release: everything written before is visible). */
export function ring(ctl: Int32Array, word: number = CTL.DOORBELL): void {
  Atomics.add(ctl, word, 1);
  Atomics.notify(ctl, word);
}
