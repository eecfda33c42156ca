/**
 * The adapter a back end uses to run its shadowed data queues: on this thread (one ShadowVirtqueue per
 * queue, driven from the event loop — the single-thread path) or on SVQ workers, one per queue pair
 * (src/svq/worker.ts), chosen by `chooseThreading` (measured core count) unless the caller says.
 *
 * Both give the back end the same four operations, each a single dataplane operation:
 *  - `guestKick(qi)` / `deviceCall(qi)`: the guest's ioeventfd / the device's call eventfd fired;
 *  - `stop()`: SVQ stop for every queue (after the device is suspended): per queue the `SvqHandover`
 *    ShadowVirtqueue.stop returns and the shadow ring's driver position — machines/svq-switch's drain and
 *    write-back steps read exactly these;
 *  - `collectDirty()`: the dirty pages the queues logged are in the caller's DirtyLog afterwards (on this
 *    thread they are already; workers merge theirs).
 * SVQ's kicks to the device and calls to the guest reach `kickDevice(qi)` / `callGuest(qi)` on this thread
 * either way.
 */
import type { AddressSpace } from '../memory/address-space.js';
import type { RingBase } from '../ring/types.js';
import type { DirtyLog } from './dirty-log.js';
import { ShadowVirtqueue, isSvqError, type SvqHandover, type SvqState, type SvqStats } from './shadow-virtqueue.js';
import { SvqWorker, chooseThreading, engineFields, isSvqWorkerError, svqWorkerError, type SvqQueueEngine, type SvqThreading, type SvqWorkerError } from './worker.js';

export interface ShadowQueueSpec extends SvqQueueEngine {
  /** vhost queue index: rx of pair p is 2p, tx 2p+1 (virtio-net §5.1.2). */
  readonly qi: number;
}

export interface ShadowQueuesOptions {
  readonly queues: readonly ShadowQueueSpec[];
  readonly kickDevice: (qi: number) => void;
  readonly callGuest: (qi: number) => void;
  /** Guest RAM and the log its writes go to (attached to `space` by the caller, as for a single SVQ). */
  readonly dirty?: { readonly space: AddressSpace; readonly log: DirtyLog };
  readonly threading?: SvqThreading;
  /** How long a worker may take to answer a request (SvqWorkerOptions.timeoutMs). */
  readonly timeoutMs?: number;
}

/** A queue's engine as last seen: its state, counters and failure. */
export interface QueueStatus {
  readonly qi: number;
  readonly state: SvqState;
  readonly stats: SvqStats;
  readonly failure?: string;
}

export interface QueueStop extends QueueStatus {
  readonly handover: SvqHandover;
  readonly shadowBase: RingBase;
}

export interface ShadowQueues {
  readonly threading: 'single' | 'workers';
  /** The guest kicked queue `qi`; a typed error when `qi` is not one of the set's queues. */
  guestKick(qi: number): SvqWorkerError | undefined;
  deviceCall(qi: number): SvqWorkerError | undefined;
  /** Merge the queues' dirty pages into the caller's log (one synchronous step); each queue's status. */
  collectDirty(): readonly QueueStatus[] | SvqWorkerError;
  /**
   * SVQ stop of every queue (one synchronous step: each worker answers at a clean point of its loop).
   * A worker that died or hung costs its own queues' hand-overs only: `stops` has every other queue's,
   * `error` says which were lost and why.
   */
  stop(): { readonly stops: readonly QueueStop[]; readonly error?: SvqWorkerError };
  /** Release the threads (after stop; a set whose stop failed is released without hand-over). */
  close(): Promise<void>;
  /** Fault injection (tests): the worker running `qi` exits or hangs; no effect on the single thread. */
  injectFault(qi: number, kind: 'exit' | 'hang'): void;
  /** Why the worker running `qi` can no longer answer (died, hung, closed); undefined while it can, and on the single thread. */
  lost(qi: number): SvqWorkerError | undefined;
}

const unknownQueue = (qi: number): SvqWorkerError => svqWorkerError('state', `queue ${qi} is not shadowed here`);

const statusOf = (qi: number, s: ShadowVirtqueue): QueueStatus => {
  const f = s.failure?.message;
  return { qi, state: s.state, stats: s.stats(), ...(f === undefined ? {} : { failure: f }) };
};

/** Start forwarding on `opts.queues` (a resumed queue forwards its hand-over's chains first). */
export async function startShadowQueues(opts: ShadowQueuesOptions): Promise<ShadowQueues | SvqWorkerError> {
  const t = chooseThreading(opts.threading ?? 'auto');
  if (isSvqWorkerError(t)) return t;
  return t === 'single' ? single(opts) : workers(opts);
}

function single(opts: ShadowQueuesOptions): ShadowQueues | SvqWorkerError {
  const svqs = new Map<number, ShadowVirtqueue>();
  for (const q of opts.queues) {
    const s = ShadowVirtqueue.create({
      name: `svq-${q.qi}`,
      ...engineFields(q),
      ...(opts.dirty === undefined ? {} : { dirty: opts.dirty.log }),
      kickDevice: () => opts.kickDevice(q.qi),
      callGuest: () => opts.callGuest(q.qi),
    });
    if (isSvqError(s)) return svqWorkerError('setup', s.message);
    svqs.set(q.qi, s);
  }
  for (const s of svqs.values()) s.start();
  return {
    threading: 'single',
    guestKick(qi) {
      const s = svqs.get(qi);
      if (s === undefined) return unknownQueue(qi);
      s.handleGuestKick();
      return undefined;
    },
    deviceCall(qi) {
      const s = svqs.get(qi);
      if (s === undefined) return unknownQueue(qi);
      s.handleDeviceCall();
      return undefined;
    },
    collectDirty() {
      const out: QueueStatus[] = [];
      for (const [qi, s] of svqs) out.push(statusOf(qi, s));
      return out.sort((a, b) => a.qi - b.qi);
    },
    stop() {
      const out: QueueStop[] = [];
      for (const [qi, s] of svqs) {
        const handover = s.stop();
        out.push({ ...statusOf(qi, s), handover, shadowBase: s.shadowRing.base() });
      }
      return { stops: out.sort((a, b) => a.qi - b.qi) };
    },
    close: async () => undefined,
    injectFault: () => undefined,
    lost: () => undefined,
  };
}

/** (Long: one closure per queue set: start, notify, stop and the dirty merge share the workers.) */
async function workers(opts: ShadowQueuesOptions): Promise<ShadowQueues | SvqWorkerError> {
  // one worker per queue pair (rx 2p, tx 2p+1)
  const pairs = new Map<number, ShadowQueueSpec[]>();
  for (const q of opts.queues) {
    const p = q.qi >> 1;
    const l = pairs.get(p) ?? [];
    l.push(q);
    pairs.set(p, l);
  }
  const where = new Map<number, { w: SvqWorker; slot: number }>();
  const started: SvqWorker[] = [];
  for (const [p, qs] of pairs) {
    const w = await SvqWorker.start({
      name: `svq-pair${p}`,
      queues: qs.map((q) => ({
        name: `svq-${q.qi}`,
        ...engineFields(q),
        device: 'external' as const,
        kickDevice: () => opts.kickDevice(q.qi),
        callGuest: () => opts.callGuest(q.qi),
      })),
      ...(opts.dirty === undefined ? {} : { dirty: [opts.dirty] }),
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
    });
    if (isSvqWorkerError(w)) {
      for (const s of started) await s.close();
      return w;
    }
    started.push(w);
    qs.forEach((q, slot) => where.set(q.qi, { w, slot }));
  }
  return {
    threading: 'workers',
    guestKick(qi) {
      const x = where.get(qi);
      return x === undefined ? unknownQueue(qi) : x.w.guestKick(x.slot);
    },
    deviceCall(qi) {
      const x = where.get(qi);
      return x === undefined ? unknownQueue(qi) : x.w.deviceCall(x.slot);
    },
    collectDirty() {
      const out: QueueStatus[] = [];
      for (const [, qs] of pairs) {
        const r = where.get(qs[0]!.qi)!.w.collectDirty();
        if (isSvqWorkerError(r)) return r;
        for (const s of r) out.push({ qi: qs[s.slot]!.qi, state: s.state, stats: s.stats, ...(s.failure === undefined ? {} : { failure: s.failure }) });
      }
      return out.sort((a, b) => a.qi - b.qi);
    },
    stop() {
      // every worker is asked, even after one failed: the others' hand-overs are not lost with it
      const out: QueueStop[] = [];
      let err: SvqWorkerError | undefined;
      for (const [, qs] of pairs) {
        const r = where.get(qs[0]!.qi)!.w.stop();
        if (isSvqWorkerError(r)) {
          err ??= svqWorkerError(r.kind, `queues ${qs.map((q) => q.qi).join(', ')}: ${r.message}`);
          continue;
        }
        for (const s of r) {
          const qi = qs[s.slot]!.qi;
          out.push({ qi, state: s.state, handover: s.handover, shadowBase: s.shadowBase, stats: s.stats, ...(s.failure === undefined ? {} : { failure: s.failure }) });
        }
      }
      const stops = out.sort((a, b) => a.qi - b.qi);
      return err === undefined ? { stops } : { stops, error: err };
    },
    async close() {
      for (const w of started) await w.close();
    },
    injectFault(qi, kind) {
      where.get(qi)?.w.injectFault(kind);
    },
    lost: (qi) => where.get(qi)?.w.lost,
  };
}
