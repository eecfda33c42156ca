/**
 * One core per queue pair: the main thread's handle on an SVQ worker thread (src/svq/worker-thread.ts).
 *
 * The main thread keeps control — the machines (machines/svq-switch, migration) decide when queues are
 * shadowed, stopped, handed over — and the worker runs the dataplane of its queues over SharedArrayBuffer
 * guest memory and shadow rings. Notifications cross threads through the control block's counters
 * (src/svq/worker-protocol.ts):
 *
 *  - `guestKick(slot)` / `deviceCall(slot)`: bump the queue's counter and ring the worker's doorbell
 *    (`Atomics.notify`); the worker, asleep in `Atomics.wait`, delivers them to its ShadowVirtqueue;
 *  - SVQ's kicks to an external device and calls to the guest come back the other way: the worker bumps
 *    the queue's out-counter and rings the out-doorbell, a relay here wakes (`Atomics.waitAsync`, the event
 *    loop stays free) and calls `kickDevice(slot)` / `callGuest(slot)` once per change (eventfd semantics);
 *  - requests (`collectDirty`, `stop`) are answered by the worker between two passes of its loop.
 *
 * `stop()` is SVQ's stop (QEMU vhost_svq_stop) done by the thread that owns the queue: it returns every
 * queue's `SvqHandover`, exactly what `ShadowVirtqueue.stop()` returns on the main thread, so
 * machines/svq-switch's drain / write-back steps work unchanged. Dirty pages the worker logged are merged
 * into the main thread's `DirtyLog` on every collect and stop: the union over workers equals the log a
 * single thread would have kept (test/svq/worker-dirty.test.ts).
 *
 * Memory order: the ring layer reads and writes shared rings with plain DataView accesses; across threads
 * those are ordered by x86-64's total store order plus the seq-cst Atomics of every notification. Hosts
 * with a weaker memory model (arm64) would need Atomics on the ring indexes (virtio 1.2 §2.7.13's
 * barriers), so workers are refused there with a typed error and the single-thread path is kept.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { AddressSpace } from '../memory/address-space.js';
import { ringsCrossThreads } from '../memory/barrier.js';
import type { RingConfig } from '../ring/types.js';
import type { DirtyLog } from './dirty-log.js';
import type { IovaTree, MapKind } from './iova-tree.js';
import type { SvqHandover } from './shadow-virtqueue.js';
import {
  CTL,
  CTL_WORDS,
  MAX_QUEUES,
  REQ,
  describeSpace,
  describeTree,
  engineOptions,
  isSvqWorkerError,
  queueWord,
  ring,
  svqWorkerError,
  type DeviceEnd,
  type DirtyReport,
  type FromWorker,
  type InitMessage,
  type QueueDesc,
  type QueueReport,
  type SpaceDesc,
  type StopReport,
  type SvqWorkerError,
  type TrafficDesc,
  type TreeDesc,
} from './worker-protocol.js';

export * from './worker-protocol.js';

/** What the engine of a queue needs (ShadowVirtqueueOptions without the notifications and the log). */
export interface SvqQueueEngine {
  /** The guest's ring in guest memory (SharedArrayBuffer-backed for a worker). */
  readonly guest: { readonly space: AddressSpace; readonly config: RingConfig };
  /** SVQ's ring in the device's IOVA view (SharedArrayBuffer-backed for a worker). */
  readonly shadow: { readonly space: AddressSpace; readonly config: RingConfig; readonly indirectArea?: { addr: number; size: number } };
  readonly iova: IovaTree;
  readonly bufferMap?: MapKind;
  readonly maxChain?: number;
  readonly pollGuestWhileBusy?: boolean;
  readonly resume?: SvqHandover;
}

/** The engine's fields of `q`, optional ones only when set. */
export const engineFields = (q: SvqQueueEngine): SvqQueueEngine => ({ guest: q.guest, shadow: q.shadow, iova: q.iova, ...engineOptions(q) });

export interface SvqWorkerQueue extends SvqQueueEngine {
  readonly name: string;
  /** Who is on the shadow ring: an outside device (kicks relayed to `kickDevice`) or the worker's loopback. */
  readonly device?: DeviceEnd;
  /** SVQ kicked the device (relayed from the worker); required for an external device. */
  readonly kickDevice?: () => void;
  /** SVQ called the guest (relayed from the worker). */
  readonly callGuest?: () => void;
  /** Bench only: an in-worker guest keeping the ring busy. */
  readonly traffic?: TrafficDesc;
}

export interface SvqWorkerOptions {
  readonly queues: readonly SvqWorkerQueue[];
  /**
   * Dirty logging: the main thread's log of a guest memory space. The worker keeps its own log of the
   * same space and its pages are merged into `log` on every `collectDirty` and `stop`.
   */
  readonly dirty?: readonly { readonly space: AddressSpace; readonly log: DirtyLog }[];
  /** How long a request may take before it fails with 'timeout' (default 10 s). */
  readonly timeoutMs?: number;
  readonly name?: string;
}

/** True when this host's memory order lets the ring layer's plain accesses cross threads (see above). */
export const workersSupported = (): boolean => process.arch === 'x64' || process.arch === 'ia32';

/**
 * The dataplane's threading, chosen by measured core count (`auto`): workers when the host has at least
 * two cores for the queue pairs to run on and a memory order they are correct on; otherwise the
 * single-thread path (the ShadowVirtqueue driven from the main thread's event loop, as before).
 */
export type SvqThreading = 'auto' | 'single' | 'workers';
export function chooseThreading(want: SvqThreading = 'auto', cores: number = availableParallelism()): 'single' | 'workers' | SvqWorkerError {
  if (want === 'single') return 'single';
  if (!workersSupported()) {
    return want === 'workers' ? svqWorkerError('weak-memory-order', `SVQ workers need x86 memory ordering (this host is ${process.arch})`) : 'single';
  }
  if (want === 'workers') return 'workers';
  return cores >= 2 ? 'workers' : 'single';
}

/** Where the worker's code is: the .ts source under tsx / vitest, the built .js otherwise. */
function spawn(): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./worker-thread.js', here));
  // a worker does not inherit the tsx loader of its parent: register it first, then load the source
  const req = createRequire(here);
  const api = pathToFileURL(req.resolve('tsx/package.json').replace(/package\.json$/, 'dist/esm/api/index.mjs')).href;
  const entry = new URL('./worker-thread.ts', here).href;
  return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, { eval: true });
}

type Answer = Extract<FromWorker, { type: 'collected' | 'stopped' }>;

/** A worker thread running the SVQ dataplane of a few queues (normally one queue pair). */
export class SvqWorker {
  readonly ctl: Int32Array;
  private seq = 0;
  private relaying = false;
  private dead: SvqWorkerError | undefined;
  private state: 'running' | 'stopped' | 'closed' = 'running';
  private readonly outSeen: Int32Array;

  private constructor(
    private readonly worker: Worker,
    ctl: SharedArrayBuffer,
    /** Our end of the reply channel: answers are taken synchronously (`receiveMessageOnPort`). */
    private readonly reply: MessagePort,
    private readonly queues: readonly SvqWorkerQueue[],
    private readonly dirty: ReadonlyMap<string, DirtyLog>,
    private readonly timeoutMs: number,
  ) {
    this.ctl = new Int32Array(ctl);
    this.outSeen = new Int32Array(2 * queues.length);
    const die = (e: SvqWorkerError) => {
      this.dead ??= e;
      this.relaying = false;
      ring(this.ctl, CTL.OUT_DOORBELL);
    };
    worker.on('error', (e) => die(svqWorkerError('crashed', `worker: ${e.message}`)));
    worker.on('exit', (code) => die(svqWorkerError('crashed', `worker exited (${code})`)));
  }

  /** Why the worker can no longer answer (it died, hung, or was closed); undefined while it can. */
  get lost(): SvqWorkerError | undefined {
    return this.dead;
  }

  /** Start a worker on `opts.queues` (slots 0…n-1 in that order); resolves once its queues are built. */
  static async start(opts: SvqWorkerOptions): Promise<SvqWorker | SvqWorkerError> {
    if (!workersSupported()) return svqWorkerError('weak-memory-order', `SVQ workers need x86 memory ordering (this host is ${process.arch})`);
    if (opts.queues.length === 0 || opts.queues.length > MAX_QUEUES) return svqWorkerError('state', `a worker hosts 1…${MAX_QUEUES} queues, not ${opts.queues.length}`);
    const init = describe(opts);
    if (isSvqWorkerError(init)) return init;
    for (const q of opts.queues) {
      if ((q.device ?? 'external') === 'external' && q.kickDevice === undefined) return svqWorkerError('state', `${q.name}: an external device needs kickDevice`);
    }
    const timeoutMs = opts.timeoutMs ?? 10_000;
    // the guest and device ends on this thread now meet SVQ on another one
    ringsCrossThreads();
    const channel = new MessageChannel();
    const worker = spawn();
    const ready = await new Promise<FromWorker | SvqWorkerError>((resolve) => {
      const t = setTimeout(() => resolve(svqWorkerError('timeout', 'worker did not start')), Math.max(timeoutMs, 30_000));
      worker.once('message', (m: FromWorker) => {
        clearTimeout(t);
        resolve(m);
      });
      worker.once('error', (e) => {
        clearTimeout(t);
        resolve(svqWorkerError('crashed', `worker: ${e.message}`));
      });
      worker.postMessage({ ...init.msg, reply: channel.port2 }, [channel.port2]);
    });
    if (isSvqWorkerError(ready) || ready.type !== 'ready' || ready.error !== undefined) {
      channel.port1.close();
      await worker.terminate();
      return isSvqWorkerError(ready) ? ready : ready.type === 'ready' && ready.error !== undefined ? ready.error : svqWorkerError('crashed', 'worker answered out of turn');
    }
    // the owner ends it (close); a forgotten worker does not keep the process alive
    worker.unref();
    const w = new SvqWorker(worker, init.msg.ctl, channel.port1, opts.queues, init.logs, timeoutMs);
    w.startRelay();
    return w;
  }

  /** The guest kicked queue `slot` (its ioeventfd): wake the worker. Allocation-free unless `slot` is not one of its queues. */
  guestKick(slot: number): SvqWorkerError | undefined {
    return this.notify(slot, CTL.GUEST_KICK);
  }

  /** The device called queue `slot` (its call eventfd): wake the worker. Allocation-free unless `slot` is not one of its queues. */
  deviceCall(slot: number): SvqWorkerError | undefined {
    return this.notify(slot, CTL.DEVICE_CALL);
  }

  private notify(slot: number, word: number): SvqWorkerError | undefined {
    if (!(slot >= 0 && slot < this.queues.length && Number.isInteger(slot))) return svqWorkerError('state', `no queue in slot ${slot} (this worker has ${this.queues.length})`);
    Atomics.add(this.ctl, queueWord(slot, word), 1);
    ring(this.ctl);
    return undefined;
  }

  /** Bench: let the in-worker guests add chains (or pause them). */
  setTraffic(on: boolean): void {
    Atomics.store(this.ctl, CTL.TRAFFIC, on ? 1 : 0);
    ring(this.ctl);
  }

  /** Bench: chains the in-worker guest of `slot` completed (mod 2^32). */
  trafficDone(slot: number): number {
    return Atomics.load(this.ctl, queueWord(slot, CTL.TRAFFIC_DONE)) >>> 0;
  }

  /** Read and clear the worker's dirty log into the main thread's logs; returns the queues' reports. */
  collectDirty(): readonly QueueReport[] | SvqWorkerError {
    const r = this.request(REQ.COLLECT);
    if (isSvqWorkerError(r)) return r;
    return r.queues;
  }

  /**
   * Bench: heap bytes the worker allocated since the previous call (NaN the first time) and the CPU
   * seconds its thread has used; collects the dirty log too.
   */
  probe(): { readonly heapBytes: number; readonly threadCpu: number } | SvqWorkerError {
    const r = this.request(REQ.COLLECT);
    if (isSvqWorkerError(r)) return r;
    return r.type === 'collected' ? { heapBytes: r.heapBytes, threadCpu: r.threadCpu } : { heapBytes: Number.NaN, threadCpu: Number.NaN };
  }

  /**
   * Stop every queue at a clean point of the worker's loop (the device is suspended first by the caller,
   * as for ShadowVirtqueue.stop): hand-overs, shadow ring positions, final stats; dirty pages merged.
   * The worker then idles; `close()` ends it.
   */
  stop(): readonly StopReport[] | SvqWorkerError {
    const r = this.request(REQ.STOP);
    if (isSvqWorkerError(r)) return r;
    this.state = 'stopped';
    // the calls SVQ made while stopping (its last flush) reach the guest as on the single-thread path
    this.relayOnce();
    this.relaying = false;
    ring(this.ctl, CTL.OUT_DOORBELL);
    return (r as Extract<FromWorker, { type: 'stopped' }>).queues;
  }

  /** End the worker thread (stop it first to get its hand-over; a running worker's queues are lost). */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.relaying = false;
    ring(this.ctl, CTL.OUT_DOORBELL);
    this.dead ??= svqWorkerError('state', 'worker closed');
    this.reply.close();
    await this.worker.terminate();
  }

  /** Fault injection (tests): the worker thread exits at once, or hangs (never answers again). */
  injectFault(kind: 'exit' | 'hang'): void {
    const code = kind === 'exit' ? REQ.FAULT_EXIT : REQ.FAULT_HANG;
    Atomics.store(this.ctl, CTL.REQ, code);
    ring(this.ctl);
    // until the worker took it (it clears the request word), so a request after this one cannot overwrite it
    const deadline = performance.now() + this.timeoutMs;
    while (Atomics.load(this.ctl, CTL.REQ) === code && performance.now() < deadline) Atomics.wait(this.ctl, CTL.REQ, code, deadline - performance.now());
  }

  /**
   * One request, answered synchronously: post it, wait (bounded by `timeoutMs`) for the worker's answer
   * at its next clean point, take it from the reply port, merge its dirty pages. A worker that does not
   * answer in time is lost: the caller gets 'timeout' (and 'crashed' once it is known to have died).
   */
  private request(code: number): Answer | SvqWorkerError {
    if (this.dead !== undefined) return this.dead;
    if (this.state !== 'running') return svqWorkerError('state', `worker is ${this.state}`);
    const ctl = this.ctl;
    const seq = ++this.seq;
    let answered = Atomics.load(ctl, CTL.ANSWER);
    Atomics.store(ctl, CTL.REQ_SEQ, seq);
    Atomics.store(ctl, CTL.REQ, code);
    ring(ctl);
    const deadline = performance.now() + this.timeoutMs;
    let last = false;
    for (;;) {
      const got = receiveMessageOnPort(this.reply) as { message: FromWorker } | undefined;
      if (got !== undefined) {
        const m = got.message;
        if ((m.type === 'collected' || m.type === 'stopped') && m.seq === seq) {
          this.merge(m.dirty);
          return m;
        }
        continue; // not ours (cannot happen: one request at a time, and a worker that missed one is lost)
      }
      if (last) break;
      const left = deadline - performance.now();
      // timed out: look at the port once more (the answer may have landed with the deadline)
      if (left <= 0 || Atomics.wait(ctl, CTL.ANSWER, answered, left) === 'timed-out') last = true;
      else answered = Atomics.load(ctl, CTL.ANSWER);
    }
    this.dead ??= svqWorkerError('timeout', `worker did not answer request ${code} in ${this.timeoutMs} ms`);
    this.relaying = false;
    return this.dead;
  }

  private merge(d: DirtyReport): void {
    for (const [id, pages] of Object.entries(d)) {
      const log = this.dirty.get(id);
      if (log === undefined) continue;
      // one byte of each page sets its bit: the page set is the log (§ migration's dirty bitmap)
      for (const p of pages) log.mark(p, 1);
    }
  }

  /** Relay the worker's kicks to external devices and its calls to the guest, without blocking the loop. */
  private startRelay(): void {
    const relayed = this.queues.some((q) => q.kickDevice !== undefined || q.callGuest !== undefined);
    if (!relayed) return;
    this.relaying = true;
    const ctl = this.ctl;
    for (let i = 0; i < this.queues.length; i++) {
      this.outSeen[2 * i] = Atomics.load(ctl, queueWord(i, CTL.DEVICE_KICK_OUT));
      this.outSeen[2 * i + 1] = Atomics.load(ctl, queueWord(i, CTL.GUEST_CALL_OUT));
    }
    const loop = async (): Promise<void> => {
      while (this.relaying) {
        const bell = Atomics.load(ctl, CTL.OUT_DOORBELL);
        this.relayOnce();
        const w = Atomics.waitAsync(ctl, CTL.OUT_DOORBELL, bell);
        if (w.async) await w.value;
      }
    };
    void loop();
  }

  private relayOnce(): void {
    const ctl = this.ctl;
    for (let i = 0; i < this.queues.length; i++) {
      const q = this.queues[i]!;
      const k = Atomics.load(ctl, queueWord(i, CTL.DEVICE_KICK_OUT));
      if (k !== this.outSeen[2 * i]) {
        this.outSeen[2 * i] = k;
        q.kickDevice?.();
      }
      const c = Atomics.load(ctl, queueWord(i, CTL.GUEST_CALL_OUT));
      if (c !== this.outSeen[2 * i + 1]) {
        this.outSeen[2 * i + 1] = c;
        q.callGuest?.();
      }
    }
  }
}

/** The init message: spaces and trees described once each (by identity), queues referring to them. */
function describe(opts: SvqWorkerOptions): { msg: Omit<InitMessage, 'reply'>; logs: Map<string, DirtyLog> } | SvqWorkerError {
  const spaceIds = new Map<AddressSpace, string>();
  const spaces: Record<string, SpaceDesc> = {};
  const treeIds = new Map<IovaTree, string>();
  const trees: Record<string, TreeDesc> = {};
  const spaceId = (s: AddressSpace): string | SvqWorkerError => {
    let id = spaceIds.get(s);
    if (id !== undefined) return id;
    const d = describeSpace(s);
    if (isSvqWorkerError(d)) return d;
    id = `s${spaceIds.size}`;
    spaceIds.set(s, id);
    spaces[id] = d;
    return id;
  };
  const queues: QueueDesc[] = [];
  for (let slot = 0; slot < opts.queues.length; slot++) {
    const q = opts.queues[slot]!;
    const g = spaceId(q.guest.space);
    if (isSvqWorkerError(g)) return g;
    const s = spaceId(q.shadow.space);
    if (isSvqWorkerError(s)) return s;
    let t = treeIds.get(q.iova);
    if (t === undefined) {
      t = `t${treeIds.size}`;
      treeIds.set(q.iova, t);
      trees[t] = describeTree(q.iova);
    }
    queues.push({
      slot,
      name: q.name,
      guest: { space: g, config: q.guest.config },
      shadow: { space: s, config: q.shadow.config, ...(q.shadow.indirectArea === undefined ? {} : { indirectArea: q.shadow.indirectArea }) },
      tree: t,
      ...engineOptions(q),
      device: q.device ?? 'external',
      ...(q.traffic === undefined ? {} : { traffic: q.traffic }),
    });
  }
  const logs = new Map<string, DirtyLog>();
  const dirty: string[] = [];
  for (const d of opts.dirty ?? []) {
    const id = spaceId(d.space);
    if (isSvqWorkerError(id)) return id;
    logs.set(id, d.log);
    dirty.push(id);
  }
  const ctl = new SharedArrayBuffer(CTL_WORDS * 4);
  return { msg: { type: 'init', ctl, spaces, trees, dirty, queues }, logs };
}
