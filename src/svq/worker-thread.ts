/**
 * The SVQ worker thread: one core's dataplane for the queues it is given (a queue pair, as QEMU runs a
 * queue pair's SVQ in its own AIO context / iothread). It rebuilds guest memory, the shadow rings and
 * the IOVA tree over the main thread's SharedArrayBuffers (src/svq/worker-protocol.ts), creates one
 * `ShadowVirtqueue` per queue — the engine of src/svq/shadow-virtqueue.ts, unchanged — and runs its
 * forwarding loop:
 *
 *   wait on the doorbell (Atomics.wait) → deliver guest kicks and device calls that arrived
 *   (handleGuestKick / handleDeviceCall) → run in-worker peers (a loopback device, the bench's guest) →
 *   answer a control request at this clean point (collect the dirty log, or stop and hand over)
 *
 * The loop is the dataplane, not a protocol sequence: enabling, disabling and hand-over are decided by
 * the machines on the main thread, which sends a request; the worker stops between two passes (never
 * inside a handle* call), returns each queue's `SvqHandover` (guest ring position, in-flight chains),
 * its shadow ring position, stats and the pages it logged dirty, and goes back to its event loop.
 */
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { ringFactory } from '../ring/index.js';
import { Chain, Used, isRingError, type RingDriver } from '../ring/types.js';
import type { AddressSpace } from '../memory/address-space.js';
import { ringsCrossThreads, virtioMb } from '../memory/barrier.js';
import { DirtyLog } from './dirty-log.js';
import type { IovaTree } from './iova-tree.js';
import { LoopbackDevice } from './loopback.js';
import { ShadowVirtqueue, isSvqError, type SvqHandover } from './shadow-virtqueue.js';
import {
  CTL,
  REQ,
  engineOptions,
  isSvqWorkerError,
  queueWord,
  ring,
  spaceOf,
  svqWorkerError,
  treeOf,
  type DirtyReport,
  type FromWorker,
  type InitMessage,
  type QueueDesc,
  type QueueReport,
  type StopReport,
  type SvqWorkerError,
  type ToWorker,
  type TrafficDesc,
} from './worker-protocol.js';

/** Chains a loopback device processes per slice (then the loop looks at its doorbells again). */
const DEVICE_SLICE = 8;
/**
 * How long the worker sleeps on its doorbell when a pass did nothing. In-worker peers never need it (they
 * ring the queue's own flags); it bounds the damage of a notification lost by an outside party: the
 * worker then polls every queue once and counts it (`forcedPolls`), which a correct relay keeps at 0.
 */
const IDLE_WAIT_MS = 200;

/** CPU seconds this thread used: utime + stime of /proc/thread-self/stat (fields 14, 15, in USER_HZ = 100 ticks/s). */
function threadCpuSeconds(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

const WORKED = 1;
const KICK = 2;

/** The bench's guest (a vCPU elsewhere in a real VM): keeps the guest ring busy, polls used (NAPI). */
class Traffic {
  private readonly chains: Chain[] = [];
  private readonly free: number[] = [];
  private readonly used = new Used();
  done = 0;

  constructor(readonly drv: RingDriver, space: AddressSpace, d: TrafficDesc) {
    for (let i = 0; i < d.inFlight; i++) {
      const base = d.bufBase + i * 512;
      const c = new Chain(4);
      if (d.descs === 1) c.push(base, 64, false);
      else {
        c.push(base, 12, false);
        c.push(base + 16, 64, false);
        c.push(base + 128, 12, true);
        c.push(base + 144, 64, true);
      }
      const bytes = new Uint8Array(64);
      for (let k = 0; k < 64; k++) bytes[k] = k + 1;
      space.write(base + 16, bytes);
      this.chains.push(c);
      this.free.push(d.inFlight - 1 - i);
    }
    drv.disableCalls();
    this.burst = d.burst;
  }

  private readonly burst: number;

  /** Reap used chains, add a burst; returns WORKED | KICK bits (allocation-free), or a ring error. */
  poll(): number | string {
    const drv = this.drv;
    let work = false;
    for (;;) {
      const y = drv.reap(this.used);
      if (y === false) break;
      if (y !== true) return y.message;
      this.free.push(this.used.token);
      this.done++;
      work = true;
    }
    let added = 0;
    while (added < this.burst && this.free.length > 0) {
      const t = this.free.pop()!;
      const x = drv.add(this.chains[t]!, t);
      if (typeof x !== 'number') return x.message;
      added++;
    }
    return (work || added > 0 ? WORKED : 0) | (added > 0 && drv.kickNeeded() ? KICK : 0);
  }
}

interface Queue {
  readonly slot: number;
  readonly svq: ShadowVirtqueue;
  readonly device: LoopbackDevice | undefined;
  readonly traffic: Traffic | undefined;
  lastKick: number;
  lastCall: number;
  /** In-worker notifications (same thread: plain flags). */
  localKick: boolean;
  localCall: boolean;
  deviceKicked: boolean;
  /** An in-worker peer broke a ring rule (the bench's guest or loopback device): it stops. */
  peerError: string | undefined;
  forcedPolls: number;
}

/** Heap bytes allocated between two reads: used-heap growth plus what collections reclaimed (as bench/harness.ts). */
class HeapMeter {
  private prof: v8.GCProfiler | undefined;
  private used = 0;

  since(): number {
    if (typeof v8.GCProfiler !== 'function') return Number.NaN;
    const now = process.memoryUsage().heapUsed;
    let bytes = Number.NaN;
    if (this.prof !== undefined) {
      const stats = this.prof.stop().statistics as Array<{ beforeGC: { heapStatistics: { usedHeapSize: number } }; afterGC: { heapStatistics: { usedHeapSize: number } } }>;
      let reclaimed = 0;
      for (const s of stats) reclaimed += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize;
      bytes = Math.max(0, now - this.used + reclaimed);
    }
    this.prof = new v8.GCProfiler();
    this.prof.start();
    this.used = process.memoryUsage().heapUsed;
    return bytes;
  }
}

class Dataplane {
  private readonly queues: Queue[] = [];
  private readonly heap = new HeapMeter();
  private readonly logs = new Map<string, DirtyLog>();

  constructor(private readonly ctl: Int32Array) {}

  /** Build every queue of `m`, or say why not (nothing half-built is kept: the caller drops this object). */
  setup(m: InitMessage): SvqWorkerError | undefined {
    const spaces = new Map<string, AddressSpace>();
    for (const [id, d] of Object.entries(m.spaces)) {
      const s = spaceOf(d);
      if (isSvqWorkerError(s)) return s;
      spaces.set(id, s);
    }
    const trees = new Map<string, IovaTree>();
    for (const [id, d] of Object.entries(m.trees)) {
      const t = treeOf(d);
      if (isSvqWorkerError(t)) return t;
      trees.set(id, t);
    }
    for (const id of m.dirty) {
      const s = spaces.get(id);
      if (s === undefined) return svqWorkerError('setup', `dirty log for unknown space ${id}`);
      const log = DirtyLog.forSpace(s);
      log.attach(s);
      this.logs.set(id, log);
    }
    for (const q of m.queues) {
      const r = this.queue(q, spaces, trees);
      if (isSvqWorkerError(r)) return r;
      this.queues.push(r);
    }
    return undefined;
  }

  private queue(d: QueueDesc, spaces: Map<string, AddressSpace>, trees: Map<string, IovaTree>): Queue | SvqWorkerError {
    const gs = spaces.get(d.guest.space);
    const ss = spaces.get(d.shadow.space);
    const tree = trees.get(d.tree);
    if (gs === undefined || ss === undefined || tree === undefined) return svqWorkerError('setup', `${d.name}: unknown space or tree`);
    const ctl = this.ctl;
    const out = (word: number) => () => {
      Atomics.add(ctl, queueWord(d.slot, word), 1);
      ring(ctl, CTL.OUT_DOORBELL);
    };
    // filled in below: the SVQ's notification targets depend on which peers live in this thread
    let q: Queue | undefined;
    const log = this.logs.get(d.guest.space);
    const svq = ShadowVirtqueue.create({
      name: d.name,
      guest: { space: gs, config: d.guest.config },
      shadow: { space: ss, config: d.shadow.config, ...(d.shadow.indirectArea === undefined ? {} : { indirectArea: d.shadow.indirectArea }) },
      iova: tree,
      ...engineOptions(d),
      ...(log === undefined ? {} : { dirty: log }),
      kickDevice: d.device === 'loopback' ? () => void (q!.deviceKicked = true) : out(CTL.DEVICE_KICK_OUT),
      // the in-worker guest polls its used ring; an outside guest gets its irqfd
      callGuest: d.traffic !== undefined ? () => {} : out(CTL.GUEST_CALL_OUT),
    });
    if (isSvqError(svq)) return svqWorkerError('setup', svq.message);
    let device: LoopbackDevice | undefined;
    if (d.device === 'loopback') {
      const dev = ringFactory(d.shadow.config.layout).device(ss, d.shadow.config);
      if (isRingError(dev)) return svqWorkerError('setup', `${d.name}: loopback device: ${dev.message}`);
      device = new LoopbackDevice(ss, dev);
    }
    let traffic: Traffic | undefined;
    if (d.traffic !== undefined) {
      const drv = ringFactory(d.guest.config.layout).driver(gs, d.guest.config);
      if (isRingError(drv)) return svqWorkerError('setup', `${d.name}: guest traffic: ${drv.message}`);
      traffic = new Traffic(drv, gs, d.traffic);
    }
    q = {
      slot: d.slot,
      svq,
      device,
      traffic,
      lastKick: Atomics.load(ctl, queueWord(d.slot, CTL.GUEST_KICK)),
      lastCall: Atomics.load(ctl, queueWord(d.slot, CTL.DEVICE_CALL)),
      localKick: false,
      localCall: false,
      deviceKicked: false,
      peerError: undefined,
      forcedPolls: 0,
    };
    return q;
  }

  /** Start forwarding (a resumed queue forwards its hand-over's chains first). */
  start(): void {
    for (const q of this.queues) q.svq.start();
  }

  /** One pass over every queue: deliver notifications, run in-worker peers. True when anything happened. */
  private pass(trafficOn: boolean): boolean {
    const ctl = this.ctl;
    let work = false;
    for (let i = 0; i < this.queues.length; i++) {
      const q = this.queues[i]!;
      const svq = q.svq;
      const k = Atomics.load(ctl, queueWord(q.slot, CTL.GUEST_KICK));
      if (k !== q.lastKick || q.localKick) {
        q.lastKick = k;
        q.localKick = false;
        svq.handleGuestKick();
        work = true;
      }
      const dev = q.device;
      if (dev !== undefined && q.peerError === undefined && (q.deviceKicked || dev.isBusy)) {
        q.deviceKicked = false;
        const r = dev.service(DEVICE_SLICE);
        if (typeof r !== 'boolean') q.peerError = `loopback device: ${r.message}`;
        else if (dev.callNeeded()) q.localCall = true;
        work = true;
      }
      const c = Atomics.load(ctl, queueWord(q.slot, CTL.DEVICE_CALL));
      if (c !== q.lastCall || q.localCall) {
        q.lastCall = c;
        q.localCall = false;
        svq.handleDeviceCall();
        work = true;
      }
      const t = q.traffic;
      if (t !== undefined && trafficOn && q.peerError === undefined) {
        const r = t.poll();
        if (typeof r === 'string') q.peerError = `guest traffic: ${r}`;
        else {
          if ((r & KICK) !== 0) q.localKick = true;
          if ((r & WORKED) !== 0) {
            Atomics.store(ctl, queueWord(q.slot, CTL.TRAFFIC_DONE), t.done | 0);
            work = true;
          }
        }
      }
    }
    return work;
  }

  /**
   * Nothing arrived for IDLE_WAIT_MS: poll every queue that has work waiting — chains in flight, or chains
   * on the guest ring nobody kicked for — once (a lost notification would stall it).
   */
  private forcePoll(): void {
    for (const q of this.queues) {
      if (q.svq.state !== 'running' || (q.svq.inFlight() === 0 && !q.svq.guestRing.hasAvail())) continue;
      q.forcedPolls++;
      q.svq.handleGuestKick();
      q.svq.handleDeviceCall();
    }
  }

  /**
   * Before sleeping: a full barrier, then one more look at each busy queue (§2.7.13.3.1, §2.7.10.1). SVQ
   * re-enabled kicks and calls (stored avail_event / used_event) and re-checked the rings without a
   * barrier; the guest or device on another thread may have published entries and read the old event
   * index just as well — each side skipped the notification. With the barrier here and the other side's
   * (virtioMb), one of the two sees the other's store. True when the look found work.
   */
  private lookBeforeSleep(): boolean {
    virtioMb();
    let work = false;
    for (const q of this.queues) {
      const svq = q.svq;
      if (svq.state !== 'running' || q.traffic !== undefined) continue;
      if (svq.guestRing.hasAvail()) {
        const before = svq.stats().forwarded;
        svq.handleGuestKick();
        if (svq.stats().forwarded !== before) work = true;
      }
      if (svq.inFlight() > 0 && q.device === undefined) {
        const before = svq.stats().returned;
        svq.handleDeviceCall();
        if (svq.stats().returned !== before) work = true;
      }
    }
    return work;
  }

  /** The forwarding loop; returns when the main thread asks the worker to stop. */
  run(post: (m: FromWorker) => void): void {
    const ctl = this.ctl;
    this.start();
    // running = started: what the guest makes available from now on is forwarded on a kick
    Atomics.store(ctl, CTL.RUNNING, 1);
    for (;;) {
      const bell = Atomics.load(ctl, CTL.DOORBELL);
      const work = this.pass(Atomics.load(ctl, CTL.TRAFFIC) === 1);
      const req = Atomics.load(ctl, CTL.REQ);
      if (req !== REQ.NONE) {
        const seq = Atomics.load(ctl, CTL.REQ_SEQ);
        Atomics.store(ctl, CTL.REQ, REQ.NONE);
        Atomics.notify(ctl, CTL.REQ);
        if (req === REQ.FAULT_EXIT) process.exit(70);
        if (req === REQ.FAULT_HANG) for (;;) Atomics.add(ctl, CTL.RUNNING, 0);
        if (req === REQ.STOP) {
          // deliver what was rung before the request, then stop at this clean point
          this.pass(false);
          const queues = this.queues.map((q) => this.stopQueue(q));
          Atomics.store(ctl, CTL.RUNNING, 0);
          post({ type: 'stopped', seq, dirty: this.collect(), queues });
          return;
        }
        const dirty = this.collect();
        const queues = this.queues.map((q) => this.report(q));
        post({ type: 'collected', seq, dirty, queues, heapBytes: this.heap.since(), threadCpu: threadCpuSeconds() });
        continue;
      }
      if (work || this.lookBeforeSleep()) continue;
      if (Atomics.wait(ctl, CTL.DOORBELL, bell, IDLE_WAIT_MS) === 'timed-out') this.forcePoll();
    }
  }

  private report(q: Queue): QueueReport {
    const f = q.svq.failure?.message ?? q.peerError;
    return {
      slot: q.slot,
      state: q.svq.state,
      ...(f === undefined ? {} : { failure: f }),
      stats: q.svq.stats(),
      inFlight: q.svq.inFlight(),
      forcedPolls: q.forcedPolls,
    };
  }

  private stopQueue(q: Queue): StopReport {
    const handover: SvqHandover = q.svq.stop();
    return { ...this.report(q), handover, shadowBase: q.svq.shadowRing.base() };
  }

  private collect(): DirtyReport {
    const out: Record<string, number[]> = {};
    for (const [id, log] of this.logs) out[id] = log.collect();
    return out;
  }
}

const port = parentPort;
if (port !== null) {
  // this thread's rings meet the main thread's guest and device
  ringsCrossThreads();
  port.on('message', (m: ToWorker) => {
    if (m.type === 'close') {
      port.postMessage({ type: 'closed' } satisfies FromWorker);
      port.close();
      return;
    }
    const ctl = new Int32Array(m.ctl);
    const dp = new Dataplane(ctl);
    const err = dp.setup(m);
    if (err !== undefined) {
      port.postMessage({ type: 'ready', error: err } satisfies FromWorker);
      return;
    }
    port.postMessage({ type: 'ready' } satisfies FromWorker);
    // an answer is on the reply port before the main thread is told (it takes it synchronously)
    dp.run((x) => {
      m.reply.postMessage(x);
      ring(ctl, CTL.ANSWER);
    });
  });
}
