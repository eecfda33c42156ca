/**
 * machines/svq-switch's effects on a vhost-vdpa device: switching a data path (src/effects/datapath.ts)
 * between passthrough and shadow virtqueues, as QEMU does (hw/virtio/vhost-shadow-virtqueue.c,
 * hw/virtio/vhost-vdpa.c `vhost_vdpa_svq_setup` / `_svq_map_rings` / `_svq_unmap_rings`):
 *
 *  - guest RAM is recorded in the IOVA tree at IOVA = GPA (it is already in the IOTLB);
 *  - shadow ring memory, pointing queues, the call relay and the drain check are the SVQ back end's
 *    (src/svq/shadow-rings.ts, shared with `SvqDevice`);
 *  - in shadow mode device calls are relayed to SVQ (event-driven on a device with call eventfds) and
 *    the guest's notifications go to SVQ.
 * Every step that fails undoes its own partial work before rejecting, so the machine's `progress`
 * lists exactly what `rollback` has to undo.
 *
 * This switches a device that is *running* — DRIVER_OK, its CVQ state configured — while SUSPENDed
 * (QEMU's migration log_global_start), keeping the device's state and the CVQ untouched; `SvqDevice`
 * (src/svq/svq-device.ts) starts a device shadowed from a reset on the same back end.
 */
import * as E from 'fp-ts/lib/Either.js';
import { availableParallelism } from 'node:os';
import { AddressSpace } from '../memory/address-space.js';
import { decodeBase, encodeBase } from '../ring/index.js';
import type { RingBase, RingConfig } from '../ring/types.js';
import { deviceError, VHOST_ACCESS_RW, type BusyPoll, type DeviceError } from '../device/types.js';
import { IovaTree, isIovaTreeError } from '../svq/iova-tree.js';
import { isSvqError, ShadowVirtqueue, type SvqHandover, type SvqState, type SvqStats } from '../svq/shadow-virtqueue.js';
import { ShadowRings } from '../svq/shadow-rings.js';
import type { DirtyLog } from '../svq/dirty-log.js';
import { isSvqWorkerError, workersSupported, type SvqWorkerError } from '../svq/worker.js';
import { startShadowQueues, type QueueStatus, type QueueStop, type ShadowQueues } from '../svq/worker-queues.js';
import type { SvqMode, svqSwitchMachine } from '../../machines/svq-switch.js';
import type { EffectsOf } from '../../machines/contract.js';
import { GUEST_RAM_GPA, type DataPath, type GuestQueue } from './datapath.js';
import { orReject } from './common.js';

/** machines/svq-switch's effects (the type is the machine's). */
export type SvqSwitchEffects = EffectsOf<typeof svqSwitchMachine>;

/**
 * Where the shadow queues' forwarding runs (docs/svq-workers.md): `main` — every queue on this thread's
 * event loop; `per-queue-pair` — one worker thread per queue pair (rx 2p and tx 2p+1), as QEMU gives a
 * queue pair's SVQ its own AIO context; `auto` — see `chooseSvqThreads`.
 */
export type SvqThreads = 'auto' | 'main' | 'per-queue-pair';

export interface SvqThreadsHost {
  /** Queue pairs the back end shadows. */
  readonly pairs: number;
  /** Guest RAM and the shadow rings are SharedArrayBuffers (the simulator with `sharedMemory`). */
  readonly sharedMemory: boolean;
  /** The device's dataplane runs on this thread (the simulator): every kick and call crosses to it. */
  readonly deviceOnMainThread: boolean;
  readonly cores?: number;
}

/**
 * The threading a back end runs with. `per-queue-pair` needs x86 memory order and shared memory (a typed
 * error otherwise). `auto` takes workers only where they pay, as measured (docs/svq-workers.md): a core
 * for each queue pair plus one for the main thread, shared memory, and a device that is not itself on
 * the main thread — with the simulator every kick and call would cross threads twice and the main
 * thread stays the bottleneck, so `auto` keeps it on `main`, as it does on hosts with fewer cores.
 */
export function chooseSvqThreads(want: SvqThreads, host: SvqThreadsHost): 'main' | 'per-queue-pair' | SvqWorkerError {
  if (want === 'main') return 'main';
  const why = !workersSupported()
    ? `SVQ workers need x86 memory ordering (this host is ${process.arch})`
    : !host.sharedMemory
      ? 'guest RAM is not on a SharedArrayBuffer (the simulator needs sharedMemory; a kernel device maps its memory through koffi, which cannot be shared)'
      : undefined;
  if (want === 'per-queue-pair') return why === undefined ? 'per-queue-pair' : { _tag: 'SvqWorkerError', kind: why.startsWith('SVQ') ? 'weak-memory-order' : 'not-shared', message: why };
  return why === undefined && !host.deviceOnMainThread && (host.cores ?? availableParallelism()) >= host.pairs + 1 ? 'per-queue-pair' : 'main';
}

/** What callers see of a shadow queue's engine, whichever thread runs it. */
export interface ShadowQueueView {
  readonly state: SvqState;
  readonly failure: { readonly message: string } | undefined;
  stats(): SvqStats;
}

/** A worker-run queue as its worker last reported it. */
class ReportedQueue implements ShadowQueueView {
  state: SvqState = 'stopped';
  failure: { readonly message: string } | undefined;
  constructor(private last: SvqStats) {}
  stats(): SvqStats {
    return this.last;
  }
  update(s: QueueStatus): void {
    this.state = s.state;
    this.last = s.stats;
    this.failure = s.failure === undefined ? undefined : { message: s.failure };
  }
}

interface Shadow {
  readonly config: RingConfig;
  readonly indirectArea: { readonly addr: number; readonly size: number } | undefined;
  /** The engine on this thread (`main`); undefined when workers run the queue. */
  engine: ShadowVirtqueue | undefined;
  /** Where a worker's engine starts: the guest position and the chains carried over. */
  resume: SvqHandover;
  /** The queue's engine as callers see it: the engine itself, or its worker's last report. */
  svq: ShadowQueueView;
  /** The shadow ring's start (a new engine writes it from there). */
  readonly shadowStart: RingBase;
}

export interface SvqBackendOptions {
  readonly dirty?: DirtyLog;
  /** How long the call relay waits on each queue of a device without call eventfds (the simulator). */
  readonly pumpWaitMs?: number;
  /** SVQ signals the guest's queue `qi` (its irqfd): an in-process guest waiting for used chains. */
  readonly callGuest?: (qi: number) => void;
  /**
   * Busy-poll the shadow used rings for up to this long without progress after a transmit burst is
   * kicked (ms; BUSY_POLL_MS is a fair value). Default 0: off, the relay waits for the device's calls.
   * Only a device with event-driven calls polls.
   */
  readonly busyPollMs?: number;
  /** Where forwarding runs (default `auto`). */
  readonly svqThreads?: SvqThreads;
  /** How long a worker may take to answer a request before it counts as hung (default 10 s). */
  readonly workerTimeoutMs?: number;
}

/**
 * A busy-poll budget (vhost-net's busy-poll): how long the relay polls the shadow used rings after a
 * transmit kick before it sleeps on the device's calls again. Off by default: on the 2-vCPU TCG guest of
 * test:real it loses to calls on the event loop (0.1–0.2 ms a wake-up), its spinning taking the vCPU
 * vdpa_sim's worker wants (medians 0.54–0.70× against 0.70–0.77× calls only, same runs); it pays where
 * a wake-up costs more than a burst (calls through the thread pool: 0.5–5 ms) or the device has its own core.
 */
export const BUSY_POLL_MS = 1;

const workerFailure = (where: string, e: SvqWorkerError): DeviceError => deviceError('state', where, `SVQ worker ${e.kind}: ${e.message}`);

/** The switchable data path: where the guest's notifications go, and the shadow state when shadowed. */
export class SvqBackend {
  readonly tree: IovaTree;
  /** The device's IOVA view: guest RAM at IOVA = GPA and the shadow rings at their IOVAs. */
  readonly view = new AddressSpace('iova');
  /** The SVQ back end on the device: shadow ring memory, pointing, call relay. */
  readonly rings: ShadowRings;
  readonly shadows = new Map<number, Shadow>();
  readonly handovers = new Map<number, SvqHandover>();
  /** Where forwarding runs (resolved from `opts.svqThreads` at construction). */
  readonly threads: 'main' | 'per-queue-pair';
  /** Where the guest ring of a queue whose worker was lost resumes, and why (`lostResume`). */
  readonly lost = new Map<number, string>();
  /** Where the device's queues point now. */
  mode: SvqMode = 'passthrough';
  /** The workers forwarding (per-queue-pair, while shadowed and started). */
  private set: ShadowQueues | undefined;

  constructor(
    readonly path: DataPath,
    readonly opts: SvqBackendOptions = {},
  ) {
    const range = path.dev.getIovaRange();
    this.tree = new IovaTree(E.isRight(range) ? range.right : { first: 0, last: 2 ** 48 - 1 });
    const r = path.ram;
    const m = this.tree.insert('gpa', GUEST_RAM_GPA, { translatedAddr: GUEST_RAM_GPA, size: r.size - 1, perm: VHOST_ACCESS_RW });
    if (isIovaTreeError(m)) throw new Error(`guest RAM in the IOVA tree: ${m.message}`);
    const v = this.view.addRegion(GUEST_RAM_GPA, r.buffer, { offset: r.offset, size: r.size, name: 'guest-ram' });
    if (E.isLeft(v)) throw new Error(v.left.message);
    this.rings = new ShadowRings(path.dev, this.tree, this.view, path.asid);
    const t = chooseSvqThreads(opts.svqThreads ?? 'auto', {
      pairs: Math.ceil(path.queues.length / 2),
      sharedMemory: r.buffer instanceof SharedArrayBuffer,
      deviceOnMainThread: (path.dev as { sharesProcessMemory?: unknown }).sharesProcessMemory === true,
    });
    if (isSvqWorkerError(t)) throw new Error(`svqThreads ${opts.svqThreads}: ${t.message}`);
    this.threads = t;
  }

  queue(qi: number): GuestQueue {
    const q = this.path.queues.find((x) => x.qi === qi);
    if (q === undefined) throw deviceError('invalid', 'svq', `queue ${qi} is not a data queue of this path`);
    return q;
  }

  /**
   * The guest notified queue `qi` (its kick): to SVQ once the device works on the shadow rings, to the
   * device otherwise — also while the shadow rings are being set up, so SVQ forwards nothing the device
   * is not pointed at yet (it picks those chains up from the guest ring when it starts).
   */
  notify(qi: number): E.Either<DeviceError, void> {
    if (this.mode === 'shadow') {
      const s = this.shadows.get(qi);
      if (s?.engine !== undefined && s.engine.state === 'running') {
        s.engine.handleGuestKick();
        return E.right(undefined);
      }
      // a lost worker: its queues wait for the rollback (the next request reports it)
      if (s !== undefined && this.set !== undefined) return E.right(void this.set.guestKick(qi));
    }
    return this.path.dev.kick(qi);
  }

  /** Relay device calls to the shadow queues until shadow mode ends. */
  startPump(): void {
    if (this.rings.relaying) return;
    const idleMs = this.opts.busyPollMs ?? 0;
    this.rings.relayCalls(
      [...this.shadows.keys()],
      (qi) => {
        const e = this.shadows.get(qi)?.engine;
        if (e !== undefined) {
          if (e.state === 'running') e.handleDeviceCall();
        } else void this.set?.deviceCall(qi);
      },
      this.opts.pumpWaitMs ?? 10,
      idleMs > 0 ? this.busyPoll(idleMs) : undefined,
    );
  }

  /**
   * Polling every shadow queue after a transmit kick: busy while a transmit queue (odd index, §5.1.2,
   * whose device completes what it is given) has chains in flight; receive queues are polled alongside.
   */
  private busyPoll(idleMs: number): BusyPoll {
    const shadows = this.shadows;
    return {
      idleMs,
      // engines on this thread only: a worker's queues are polled by their worker
      poll: () => {
        let n = 0;
        for (const s of shadows.values()) if (s.engine?.state === 'running') n += s.engine.pollDevice();
        return n;
      },
      busy: () => {
        for (const [qi, s] of shadows) if (qi % 2 === 1 && s.engine?.state === 'running' && s.engine.shadowRing.inFlight() > 0) return true;
        return false;
      },
      end: () => {
        for (const s of shadows.values()) s.engine?.endPolling();
      },
    };
  }

  stopPump(): void {
    this.rings.stopRelay();
  }

  /** Disable, re-address and re-enable queue `qi` while the device is suspended. */
  point(qi: number, addrs: RingConfig['addrs'], base: number): E.Either<DeviceError, void> {
    return this.rings.point(qi, addrs, base);
  }

  /** Where the device starts on queue `qi`'s shadow ring: its engine's used position, or the ring's start for a new one. */
  deviceStart(qi: number): RingBase {
    const s = this.shadows.get(qi)!;
    return deviceStartOf(s.engine?.shadowRing.base() ?? s.shadowStart);
  }

  /** SVQ of queue `qi` on its shadow ring `config`, resuming `resume` (a guest position or a hand-over). */
  private svqFor(qi: number, config: RingConfig, resume: SvqHandover): ShadowVirtqueue | DeviceError {
    const dev = this.path.dev;
    const mem = this.rings.memory(qi);
    const callGuest = this.opts.callGuest;
    const svq = ShadowVirtqueue.create({
      name: `svq-${qi}`,
      guest: { space: this.path.gpa, config: this.queue(qi).config },
      shadow: { space: this.view, config, ...(mem?.indirectArea === undefined ? {} : { indirectArea: mem.indirectArea }) },
      iova: this.tree,
      ...(this.opts.dirty === undefined ? {} : { dirty: this.opts.dirty }),
      kickDevice:
        qi % 2 === 1
          ? () => {
              void dev.kick(qi);
              this.rings.pokeRelay();
            }
          : () => void dev.kick(qi),
      callGuest: callGuest === undefined ? () => {} : () => callGuest(qi),
      // a transmit queue (odd index, §5.1.2): its device calls come for every chain, so kicks may rest
      pollGuestWhileBusy: qi % 2 === 1,
      resume,
    });
    return isSvqError(svq) ? deviceError('invalid', 'svq setup', svq.message) : svq;
  }

  /**
   * Allocate, map and build the shadow ring of `qi`, resuming the guest ring at `base`. With workers the
   * engine built here only checks the rings and says where the shadow ring starts: the worker builds
   * the one that runs.
   */
  mapOne(qi: number, base: number): E.Either<DeviceError, Shadow> {
    const g = this.queue(qi);
    const layout = g.config.layout;
    const mem = this.rings.map(qi, { layout, size: g.config.size, indirect: g.config.indirect, cvq: false });
    if (E.isLeft(mem)) return mem;
    const config: RingConfig = { ...g.config, addrs: mem.right.addrs };
    const resume: SvqHandover = { guestLayout: layout, guestSize: g.config.size, guestBase: decodeBase(layout, base), inFlight: [], passthroughBase: undefined };
    const svq = this.svqFor(qi, config, resume);
    if (!(svq instanceof ShadowVirtqueue)) {
      this.rings.unmap(qi);
      return E.left(svq);
    }
    const main = this.threads === 'main';
    const s: Shadow = { config, indirectArea: mem.right.indirectArea, engine: main ? svq : undefined, resume, svq: main ? svq : new ReportedQueue(svq.stats()), shadowStart: svq.shadowRing.base() };
    this.shadows.set(qi, s);
    return E.right(s);
  }

  /** Unmap and free the shadow ring of `qi` (after the device stopped using it). */
  unmapOne(qi: number): E.Either<DeviceError, void> {
    if (!this.shadows.has(qi)) return E.right(undefined);
    const r = this.rings.unmap(qi);
    if (E.isRight(r)) this.shadows.delete(qi);
    return r;
  }

  /** A stopped shadow queue to start again from its hand-over (a failed disable rolled back). */
  restart(qi: number, h: SvqHandover): E.Either<DeviceError, void> {
    const s = this.shadows.get(qi);
    if (s === undefined) return E.left(deviceError('state', 'svq restart', `queue ${qi} is not shadowed`));
    // a new engine starts its shadow ring clean (the ring layer's driver clears it) before the device is
    // pointed at it: with workers this one only does that and checks the hand-over; the worker's runs
    const fresh = this.svqFor(qi, s.config, h);
    if (!(fresh instanceof ShadowVirtqueue)) return E.left(fresh);
    if (this.threads === 'per-queue-pair') {
      s.resume = h;
      return E.right(undefined);
    }
    s.engine = fresh;
    s.svq = fresh;
    return E.right(undefined);
  }

  /** Whether queue `qi`'s engine is forwarding (on this thread, or in a running worker). */
  forwarding(qi: number): boolean {
    const s = this.shadows.get(qi);
    if (s === undefined) return false;
    return s.engine !== undefined ? s.engine.state === 'running' : this.set !== undefined && s.svq.state === 'running';
  }

  /**
   * Start forwarding on `queues` (pointed at their shadow rings): each engine forwards its hand-over's
   * chains first, then what the guest made available. On this thread, `ShadowVirtqueue.start`; with
   * workers, one worker per queue pair built from each queue's resume point (one step: the workers are
   * started together, or none is).
   */
  async startForwarding(queues: readonly number[]): Promise<E.Either<DeviceError, void>> {
    if (this.threads === 'main') {
      for (const qi of queues) this.shadows.get(qi)?.engine?.start();
      return E.right(undefined);
    }
    const todo = queues.filter((qi) => this.shadows.has(qi) && !this.forwarding(qi));
    if (todo.length === 0) return E.right(undefined);
    if (this.set !== undefined) return E.left(deviceError('state', 'svq start', `queues ${todo.join(', ')}: workers of another start are still running`));
    const dev = this.path.dev;
    const callGuest = this.opts.callGuest;
    const dirty = this.opts.dirty;
    const set = await startShadowQueues({
      threading: 'workers',
      queues: todo.map((qi) => {
        const s = this.shadows.get(qi)!;
        const shadow = { space: this.view, config: s.config, ...(s.indirectArea === undefined ? {} : { indirectArea: s.indirectArea }) };
        return { qi, guest: { space: this.path.gpa, config: this.queue(qi).config }, shadow, iova: this.tree, pollGuestWhileBusy: qi % 2 === 1, resume: s.resume };
      }),
      kickDevice: (qi) => void dev.kick(qi),
      callGuest: callGuest ?? (() => {}),
      ...(dirty === undefined ? {} : { dirty: { space: this.path.gpa, log: dirty } }),
      ...(this.opts.workerTimeoutMs === undefined ? {} : { timeoutMs: this.opts.workerTimeoutMs }),
    });
    if (isSvqWorkerError(set)) return E.left(workerFailure('svq start', set));
    this.set = set;
    for (const qi of todo) {
      const s = this.shadows.get(qi)!;
      if (s.svq instanceof ReportedQueue) s.svq.state = 'running';
      // a kick the guest wrote while the workers were starting went to the device: ring SVQ once (harmless when spurious)
      set.guestKick(qi);
    }
    return E.right(undefined);
  }

  /**
   * SVQ stop of every forwarding queue (QEMU vhost_svq_stop; the device is suspended): each engine
   * returns what the device used and hands over the rest. A lost worker's queues get the hand-over
   * `lostResume` recovers from the guest ring, and the error says so.
   */
  private stopForwarding(): { readonly stops: Map<number, Pick<QueueStop, 'handover' | 'shadowBase'>>; readonly error?: DeviceError; readonly recovered?: boolean } {
    const stops = new Map<number, Pick<QueueStop, 'handover' | 'shadowBase'>>();
    if (this.threads === 'main') {
      for (const [qi, s] of this.shadows) {
        const e = s.engine;
        // a failed engine stops too: its in-flight chains are handed over (ShadowVirtqueue.stop)
        if (e !== undefined && e.state !== 'stopped') stops.set(qi, { handover: e.stop(), shadowBase: e.shadowRing.base() });
      }
      return { stops };
    }
    const set = this.set;
    if (set === undefined) return { stops };
    this.set = undefined;
    const r = set.stop();
    void set.close();
    for (const st of r.stops) {
      stops.set(st.qi, st);
      const v = this.shadows.get(st.qi)?.svq;
      if (v instanceof ReportedQueue) v.update(st);
    }
    if (r.error === undefined) return { stops };
    this.lostLog();
    const errs = [r.error.message];
    let recovered = true;
    for (const [qi, s] of this.shadows) {
      if (stops.has(qi) || s.svq.state !== 'running') continue;
      if (s.svq instanceof ReportedQueue) s.svq.state = 'failed';
      const h = this.lostResume(qi, r.error);
      if (h === undefined) {
        recovered = false;
        errs.push(`queue ${qi}: the hand-over of a ${this.queue(qi).config.layout} guest ring is lost with its worker`);
      } else stops.set(qi, { handover: h, shadowBase: s.shadowStart });
    }
    return { stops, error: workerFailure('svq stop', { ...r.error, message: errs.join('; ') }), recovered };
  }

  /**
   * A queue whose worker died or hung: its in-flight set went with it. Recovered as QEMU does when the
   * device's state cannot be trusted (virtio_queue_restore_last_avail_idx): the guest ring resumes at
   * its used index, so every chain not yet returned is offered again — exact for a device that completes
   * in order (vdpa_sim does). Split guest rings only (§2.7.8: the used index is one field); a packed
   * ring's used position is not, and is refused.
   */
  private lostResume(qi: number, why: SvqWorkerError): SvqHandover | undefined {
    const c = this.queue(qi).config;
    if (c.layout !== 'split') return undefined;
    const b = this.path.gpa.read(c.addrs.device + 2, 2);
    if (E.isLeft(b)) return undefined;
    const used = b.right[0]! | (b.right[1]! << 8);
    const base: RingBase = { availIdx: used, availWrap: true, usedIdx: used, usedWrap: true };
    this.lost.set(qi, `${why.kind}: ${why.message}; guest ring resumed at its used index ${used}`);
    return { guestLayout: 'split', guestSize: c.size, guestBase: base, inFlight: [], passthroughBase: base };
  }

  /**
   * The migration's dirty-log sync for SVQ (QEMU's log_sync on vhost): with workers, merge the pages
   * they logged into the caller's log and refresh each queue's status. One step per call.
   */
  syncDirty(): E.Either<DeviceError, void> {
    const set = this.set;
    if (set === undefined) return E.right(undefined);
    const r = set.collectDirty();
    if (isSvqWorkerError(r)) {
      this.lostLog();
      return E.left(workerFailure('svq dirty sync', r));
    }
    for (const st of r) {
      const v = this.shadows.get(st.qi)?.svq;
      if (v instanceof ReportedQueue) v.update(st);
    }
    return E.right(undefined);
  }

  /**
   * A worker's dirty log went with it: every page of guest RAM counts as dirty (as QEMU marks a whole
   * region dirty when its log cannot be read), so the next round copies what it may have written.
   */
  private lostLog(): void {
    this.opts.dirty?.mark(GUEST_RAM_GPA, this.path.ram.size);
  }

  /** The shadow queues' failures (SVQ engines that broke a ring rule). */
  failures(): string[] {
    return [...this.shadows.values()].flatMap((s) => (s.svq.failure ? [s.svq.failure.message] : []));
  }

  /** Fault injection (tests): the worker running queue `qi` exits or hangs (once it took the request). */
  injectWorkerFault(qi: number, kind: 'exit' | 'hang'): void {
    this.set?.injectFault(qi, kind);
  }

  /** Why the worker running queue `qi` is known to be gone (its thread exited); undefined otherwise. */
  workerLost(qi: number): string | undefined {
    return this.set?.lost(qi)?.message;
  }

  /** Engines an enable that failed had started: stopped, their hand-overs dropped (the guest rings are re-read at the bases of the suspend). */
  discardForwarding(): void {
    void this.stopForwarding();
  }

  /** Release the workers of a back end that is done (the simulator closed, a test over). */
  async close(): Promise<void> {
    this.stopPump();
    // the queues' last status first (their counters and state stay readable), then the threads end
    void this.syncDirty();
    const set = this.set;
    this.set = undefined;
    await set?.close();
  }

  /**
   * What an owner does after a switch left the device in neither mode (the machine's `failed`): stop
   * relaying, hand every shadow queue back to its guest ring at the exact position, unmap and free the
   * shadow rings, resume the device.
   */
  recover(): E.Either<DeviceError, void> {
    this.stopPump();
    const layout = this.path.layout;
    const errs: string[] = [];
    const stopped = this.stopForwarding();
    // a lost worker whose queues were resumed from their guest rings is what recovering is for
    if (stopped.error !== undefined && stopped.recovered !== true) errs.push(stopped.error.message);
    for (const q of this.path.queues) {
      const h = stopped.stops.get(q.qi)?.handover ?? this.handovers.get(q.qi);
      let base = h?.passthroughBase === undefined ? undefined : encodeBase(layout, h.passthroughBase);
      if (base === undefined) {
        const b = this.path.dev.getVringBase(q.qi);
        if (E.isLeft(b)) errs.push(b.left.message);
        else base = b.right;
      }
      if (base !== undefined) {
        const r = this.point(q.qi, q.config.addrs, base);
        if (E.isLeft(r)) errs.push(r.left.message);
        else void this.path.dev.kick(q.qi);
      }
      const u = this.unmapOne(q.qi);
      if (E.isLeft(u)) errs.push(u.left.message);
    }
    this.handovers.clear();
    this.mode = 'passthrough';
    const r = this.path.dev.resume();
    if (E.isLeft(r)) errs.push(r.left.message);
    return errs.length ? E.left(deviceError('state', 'svq recover', errs.join('; '))) : E.right(undefined);
  }

  /**
   * SVQ stop on a suspended device (QEMU vhost_svq_stop): forward what the device used, un-pop every
   * chain still in flight so the guest ring holds it again, and say where each guest ring resumes.
   * machines/svq-switch's `drainShadow` and the migration's stop-and-copy drain are this one step.
   */
  async drain(queues: readonly number[]): Promise<{ handedBack: number; bases: number[] }> {
    const layout = this.path.layout;
    this.stopPump();
    for (const qi of queues) if (!this.shadows.has(qi)) throw deviceError('state', 'svq drain', `queue ${qi} is not shadowed`);
    const { stops, error } = this.stopForwarding();
    for (const [qi, st] of stops) this.handovers.set(qi, st.handover);
    if (error !== undefined) throw error;
    let handedBack = 0;
    const bases: number[] = [];
    for (const qi of queues) {
      const s = this.shadows.get(qi)!;
      const st = stops.get(qi);
      const h = st?.handover ?? this.handovers.get(qi);
      if (h === undefined) throw deviceError('state', 'svq drain', `queue ${qi} is not forwarding`);
      // VHOST_GET_VRING_BASE on the shadow ring: the device cannot have consumed more than SVQ offered
      if (st !== undefined) await orReject(this.rings.deviceBase(qi, st.shadowBase, layout, s.config.size));
      if (h.passthroughBase === undefined) {
        throw deviceError('state', 'svq drain', `queue ${qi}: ${h.inFlight.length} in-flight chain(s) completed out of order cannot be handed back to the guest ring`);
      }
      handedBack += h.inFlight.length;
      bases.push(encodeBase(layout, h.passthroughBase));
    }
    return { handedBack, bases };
  }

  /** Guest chains the data path holds: in the guest rings' drivers (made available, not yet reaped). */
  guestInFlight(): number {
    return this.path.queues.reduce((n, q) => n + q.driver.inFlight(), 0);
  }
}

/**
 * Where a device starts on a shadow ring: at the driver's used position, so every chain SVQ made
 * available and the device has not used yet is read again (on a new ring: the start).
 */
export const deviceStartOf = (b: RingBase): RingBase => ({ availIdx: b.usedIdx, availWrap: b.usedWrap, usedIdx: b.usedIdx, usedWrap: b.usedWrap });

const all = <T>(xs: readonly T[], f: (x: T, i: number) => E.Either<DeviceError, unknown>): E.Either<DeviceError, void> => {
  for (let i = 0; i < xs.length; i++) {
    const r = f(xs[i]!, i);
    if (E.isLeft(r)) return E.left(r.left);
  }
  return E.right(undefined);
};

/** machines/svq-switch's effects over a back end. (Long: one object literal, one method per effect; each is one device operation.) */
export function svqSwitchEffects(b: SvqBackend): SvqSwitchEffects {
  const dev = b.path.dev;
  const layout = b.path.layout;
  return {
    suspendDevice: async () => orReject(dev.suspend()),
    resumeDevice: async () => orReject(dev.resume()),
    async readVringBases({ queues }) {
      const bases: number[] = [];
      for (const qi of queues) bases.push(await orReject(dev.getVringBase(qi)));
      return { bases };
    },
    async mapShadowRings({ queues, bases }) {
      const done: number[] = [];
      const r = all(queues, (qi, i) => E.map(() => done.push(qi))(b.mapOne(qi, bases[i]!)));
      if (E.isLeft(r)) {
        for (const qi of done) b.unmapOne(qi);
        throw r.left;
      }
    },
    async pointToShadow({ queues }) {
      // a failure may leave queues pointed, or one half-pointed (its base set, its address not): the
      // machine's rollback puts every queue back on its guest ring at the base read at suspend
      const r = all(queues, (qi) => b.point(qi, b.shadows.get(qi)!.config.addrs, encodeBase(layout, b.deviceStart(qi))));
      if (E.isLeft(r)) throw r.left;
      b.mode = 'shadow';
      await orReject(await b.startForwarding(queues));
      b.startPump();
    },
    drainShadow: ({ queues }) => b.drain(queues),
    async writeBackIndexes({ queues, bases }) {
      // the guest's used ring already holds every chain SVQ returned; the device resumes at the base
      await orReject(all(queues, (qi, i) => dev.setVringBase(qi, bases[i]!)));
    },
    async unmapShadowRings({ queues }) {
      await orReject(all(queues, (qi) => b.unmapOne(qi)));
    },
    async pointToGuest({ queues, bases }) {
      await orReject(all(queues, (qi, i) => b.point(qi, b.queue(qi).config.addrs, bases[i]!)));
      // the chains handed back were kicked on the shadow ring: notify the device of them again on the
      // guest ring (held until RESUME; a spurious kick is harmless)
      await orReject(all(queues, (qi) => dev.kick(qi)));
      b.mode = 'passthrough';
      b.handovers.clear();
    },
    async rollback({ queues, to, progress, bases }) {
      const did = new Set(progress);
      const errs: string[] = [];
      const note = (r: E.Either<DeviceError, unknown>) => E.isLeft(r) && errs.push(r.left.message);
      if (to === 'passthrough') {
        // enable failed: back to the guest rings at the bases read at suspend, shadow rings gone (what
        // SVQ forwarded meanwhile the suspended device did not see: the guest rings offer it again)
        b.stopPump();
        b.discardForwarding();
        // from the moment pointing may have begun (after the map): every queue, whatever it reached
        if (did.has('mapped') || did.has('pointed') || b.mode === 'shadow') {
          for (let i = 0; i < queues.length; i++) note(b.point(queues[i]!, b.queue(queues[i]!).config.addrs, bases[i]!));
          for (const qi of queues) note(dev.kick(qi));
        }
        b.mode = 'passthrough';
        for (const qi of queues) if (b.shadows.has(qi)) note(b.unmapOne(qi));
      } else {
        // disable failed: shadow rings again, forwarding resumed from the hand-over
        if (did.has('unmapped')) {
          for (let i = 0; i < queues.length; i++) note(b.mapOne(queues[i]!, bases[i]!));
        }
        // only what the disable did is undone: a device still on its shadow rings keeps its position
        const repoint = did.has('pointed') || did.has('unmapped');
        for (const qi of queues) {
          const s = b.shadows.get(qi);
          const h = b.handovers.get(qi);
          if (s === undefined) continue;
          let recreated = false;
          if (!b.forwarding(qi) && h !== undefined) {
            const r = b.restart(qi, h);
            if (E.isLeft(r)) errs.push(r.left.message);
            else recreated = true;
          }
          // a new SVQ writes its shadow ring from the start: the device must re-read it from there
          if (repoint || recreated) note(b.point(qi, s.config.addrs, encodeBase(layout, b.deviceStart(qi))));
        }
        b.mode = 'shadow';
        b.handovers.clear();
        note(await b.startForwarding([...b.shadows.keys()]));
        b.startPump();
      }
      if (did.has('suspended')) note(dev.resume());
      if (errs.length) throw deviceError('state', 'svq rollback', errs.join('; '));
    },
  };
}
