/**
 * Event-driven device calls: the call eventfds of some queues watched without blocking the event loop.
 * Two ways, the first where koffi offers it:
 *
 *  - `event-loop`: each call eventfd is a libuv poll handle in Node's own loop (koffi's `node.poll`,
 *    epoll in the loop's poll phase): a call wakes the main thread once and is read there at once;
 *  - `thread-pool`: one poll(2) over all of them blocks on libuv's thread pool (koffi's async call); when
 *    it returns the ready eventfds are read on the main thread and the poll is armed again. A wake eventfd
 *    in the poll set makes `stop()` take effect at once; the poll also returns every REARM_MS so a watch
 *    never pins a pool thread for long. Each call costs a pool thread's wake-up and its hand-off to the
 *    loop: under TCG 0.6–5 ms, against tens of µs for the event-loop way (test/real/README.md).
 *
 * Either way a read is non-blocking and consumes the count (as KVM's irqfd would), then `onCall(qi)` runs;
 * an idle watch costs no CPU. With a `BusyPoll`, `poke()` (a burst just kicked) also polls the used rings
 * once per loop turn until the burst is in, with the device's calls off meanwhile.
 */
import * as E from 'fp-ts/lib/Either.js';
import { deviceError, type BusyPoll, type DeviceError } from '../types.js';
import { EAGAIN, EFD_CLOEXEC, EFD_NONBLOCK, EINTR, errnoName, POLLIN, type Libc } from './libc.js';

/** Longest one armed poll blocks a pool thread (it re-arms after). */
export const REARM_MS = 250;

/**
 * What the notification path cost, counted where it happens (one set per device, shared by its watches):
 * syscalls and thread-pool wake-ups, and the event loop's time handling calls. Plain numbers, no
 * allocation per event.
 */
export class NotifyStats {
  /** write(2)s on kick eventfds. */
  kicks = 0;
  /** Times an armed poll returned to the event loop (a call, a re-arm timeout, a stop). */
  wakeups = 0;
  /** Call eventfd reads that consumed a count (one `onCall` each). */
  callsRead = 0;
  /** read(2)s of call eventfds (consuming or EAGAIN). */
  callReads = 0;
  /** poll(2)s armed on the thread pool. */
  polls = 0;
  /** Event-loop time (ms) inside the watches' handlers: the reads and every `onCall`. */
  handleMs = 0;
  /** Time (ms) from arming a poll to its result reaching the event loop, summed (waiting + wake-up). */
  armedMs = 0;
  /** Time (ms) inside the kick write(2)s. */
  kickMs = 0;
  /** Busy-poll passes (event-loop turns), those that found used chains, and the chains they handled. */
  spins = 0;
  spinHits = 0;
  spinChains = 0;
  /** Event-loop time (ms) inside busy-poll passes. */
  spinMs = 0;
  /** Every counter back to 0 (the fields of a fresh set). */
  reset(): void {
    Object.assign(this, new NotifyStats());
  }
  /** The counters as a plain object (the own fields: every counter, no method). */
  snapshot(): NotifyCounts {
    return { ...this };
  }
}

export type NotifyCounts = Omit<NotifyStats, 'reset' | 'snapshot'>;

/** Call eventfds with a poll handle in the event loop now (libuv allows one per fd). */
const loopWatched = new Set<number>();

/** How a watch waits for calls (see the module comment). */
export type CallWaitVia = 'event-loop' | 'thread-pool';

export interface CallWatchOptions {
  readonly stats?: NotifyStats;
  readonly busyPoll?: BusyPoll;
  /** Default: `event-loop` where the libc binding offers `watchReadable`, else `thread-pool`. */
  readonly via?: CallWaitVia;
}

/** A running watch on call eventfds; `stop()` ends it (idempotent). */
export interface CallWatch {
  stop(): void;
  /** True until stopped (by `stop`, or by a failed read/poll, reported through `onError`). */
  readonly active: boolean;
}

export class CallWatcher implements CallWatch {
  /** The thread-pool way's wake eventfd; -1 on the event-loop way. */
  private readonly wake: number;
  /** The event-loop way's poll handles, one per call eventfd. */
  private handles: { close(): void }[] = [];
  /** struct pollfd[]: the call eventfds, then the wake eventfd. */
  private readonly pfds: DataView;
  private readonly counter = new BigUint64Array(1);
  private readonly one = new BigUint64Array([1n]);
  private armed = false;
  private stopped = false;
  private armedAt = 0;
  /** Times the poll returned (calls, re-arm timeouts, the stop): an idle watch adds one per REARM_MS. */
  wakeups = 0;

  private constructor(
    private readonly c: Libc,
    private readonly qis: readonly number[],
    private readonly fds: readonly number[],
    wake: number,
    private readonly onCall: (qi: number) => void,
    private readonly onError: (e: DeviceError) => void,
    private readonly stats: NotifyStats,
    private readonly busyPoll: BusyPoll | undefined,
  ) {
    this.wake = wake;
    this.pfds = new DataView(new ArrayBuffer((fds.length + 1) * 8));
    [...fds, wake].forEach((fd, i) => {
      this.pfds.setInt32(i * 8, fd, true);
      this.pfds.setInt16(i * 8 + 4, POLLIN, true);
    });
  }

  /** Watch `fds` (the call eventfds of queues `qis`, same order). */
  static start(c: Libc, qis: readonly number[], fds: readonly number[], onCall: (qi: number) => void, onError: (e: DeviceError) => void, opts: CallWatchOptions = {}): E.Either<DeviceError, CallWatcher> {
    if (qis.length !== fds.length || qis.length === 0) return E.left(deviceError('invalid', 'watchCalls', `${qis.length} queue(s), ${fds.length} eventfd(s)`));
    const via = opts.via ?? (c.watchReadable !== undefined ? 'event-loop' : 'thread-pool');
    if (via === 'event-loop' && c.watchReadable === undefined) return E.left(deviceError('unsupported', 'watchCalls', 'this koffi has no event-loop poll (node.poll)'));
    const stats = opts.stats ?? new NotifyStats();
    if (via === 'event-loop') {
      // libuv refuses a second poll handle on one fd (EEXIST), which koffi turns into a fatal error:
      // one watch per call eventfd, refused here with the queue named
      const dup = fds.findIndex((fd, i) => loopWatched.has(fd) || fds.indexOf(fd) !== i);
      if (dup >= 0) return E.left(deviceError('state', 'watchCalls', `queue ${qis[dup]}'s call eventfd is already watched (one consumer per queue)`));
      const w = new CallWatcher(c, qis, fds, -1, onCall, onError, stats, opts.busyPoll);
      try {
        for (let i = 0; i < fds.length; i++) {
          w.handles.push(c.watchReadable!(fds[i]!, () => w.readable(i)));
          loopWatched.add(fds[i]!);
        }
      } catch (e) {
        w.closeHandles();
        return E.left(deviceError('ioctl', 'watchCalls', `event-loop poll of the call eventfds failed: ${(e as Error).message}`));
      }
      return E.right(w);
    }
    const wake = c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake < 0) {
      const errno = c.errno();
      return E.left(deviceError('ioctl', 'eventfd', `eventfd for the call watch failed: ${errnoName(errno)}`, errno, errnoName(errno)));
    }
    const w = new CallWatcher(c, qis, fds, wake, onCall, onError, stats, opts.busyPoll);
    w.arm();
    return E.right(w);
  }

  /** Which way this watch waits. */
  get via(): CallWaitVia {
    return this.wake < 0 ? 'event-loop' : 'thread-pool';
  }

  /** The event-loop way: call eventfd `i` is readable. */
  private readable(i: number): void {
    if (this.stopped) return;
    const st = this.stats;
    const t0 = performance.now();
    this.wakeups++;
    st.wakeups++;
    if (this.readOne(i)) st.handleMs += performance.now() - t0;
  }

  /** Read call eventfd `i` (non-blocking) and run its `onCall`; false when the watch failed. */
  private readOne(i: number): boolean {
    const st = this.stats;
    const n = this.c.read(this.fds[i]!, this.counter, 8);
    st.callReads++;
    if (n === 8) {
      st.callsRead++;
      this.onCall(this.qis[i]!);
      return true;
    }
    const errno = this.c.errno();
    if (errno === EAGAIN || errno === EINTR) return true;
    this.failWith(deviceError('ioctl', 'read(call eventfd)', `read of queue ${this.qis[i]}'s call eventfd failed: ${errnoName(errno)}`, errno, errnoName(errno)));
    return false;
  }

  private closeHandles(): void {
    const hs = this.handles;
    this.handles = [];
    for (let i = 0; i < hs.length; i++) {
      hs[i]!.close();
      loopWatched.delete(this.fds[i]!);
    }
  }

  get active(): boolean {
    return !this.stopped;
  }

  private spinning = false;
  private lastProgress = 0;
  private readonly spinTick = (): void => this.spin();

  /**
   * A burst was just made available to the device: poll its used chains on the event loop (no thread-pool
   * round trip per call, the device's calls off meanwhile) until the burst is done or the device idles.
   */
  poke(): void {
    if (this.stopped || this.busyPoll === undefined) return;
    this.lastProgress = performance.now();
    if (this.spinning) return;
    this.spinning = true;
    setImmediate(this.spinTick);
  }

  private spin(): void {
    const bp = this.busyPoll!;
    if (this.stopped) {
      this.spinning = false;
      return;
    }
    const st = this.stats;
    const t0 = performance.now();
    const n = bp.poll();
    const t1 = performance.now();
    st.spins++;
    st.spinMs += t1 - t0;
    if (n > 0) {
      st.spinHits++;
      st.spinChains += n;
      this.lastProgress = t1;
    }
    // done: the burst is in (nothing in flight, and a pass that found nothing more — a device completes
    // the other queues' chains of a burst right after, e.g. vdpa_sim's rx after tx), or the device idles
    if ((n === 0 && !bp.busy()) || t1 - this.lastProgress > bp.idleMs) {
      this.spinning = false;
      bp.end();
      return;
    }
    setImmediate(this.spinTick);
  }

  private arm(): void {
    this.armed = true;
    this.stats.polls++;
    this.armedAt = performance.now();
    this.c.pollAsync(this.pfds, this.fds.length + 1, REARM_MS, (err, ready) => this.fired(err, ready));
  }

  private fired(err: unknown, ready: number): void {
    this.armed = false;
    this.wakeups++;
    const st = this.stats;
    const t0 = performance.now();
    st.wakeups++;
    st.armedMs += t0 - this.armedAt;
    if (this.stopped) {
      this.c.close(this.wake);
      return;
    }
    if (err !== null && err !== undefined) return this.failWith(deviceError('ioctl', 'poll(call eventfds)', `poll on the pool thread failed: ${String(err)}`));
    // a negative return is EINTR or worse; errno of the pool thread is not ours to read: re-arm once more
    if (ready > 0) {
      for (let i = 0; i < this.fds.length && !this.stopped; i++) if (!this.readOne(i)) return;
    }
    st.handleMs += performance.now() - t0;
    if (this.stopped) {
      this.c.close(this.wake);
      return;
    }
    this.arm();
  }

  private failWith(e: DeviceError): void {
    this.stopped = true;
    if (this.wake >= 0) this.c.close(this.wake);
    this.closeHandles();
    this.onError(e);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.wake < 0) this.closeHandles();
    else if (this.armed) {
      // wake the pool thread now; the wake eventfd is closed when its poll returns
      this.c.write(this.wake, this.one, 8);
    } else this.c.close(this.wake);
  }
}
