/**
 * Event-driven device calls: the call eventfds of some queues watched by one poll(2) that blocks on
 * libuv's thread pool (koffi's async call), never on the event loop. When it returns, each ready call
 * eventfd is read (non-blocking: it consumes the count, as KVM's irqfd would) on the main thread and
 * `onCall(qi)` runs; then the poll is armed again. A wake eventfd in the same poll set makes `stop()`
 * take effect at once; the poll also returns every REARM_MS so a watch never pins a pool thread for long.
 *
 * This replaces waiting with timers (a 1 ms poll slice on the event loop and setImmediate between
 * slices): a call is handled as soon as the pool thread sees it, and an idle watch costs no CPU.
 */
import * as E from 'fp-ts/lib/Either.js';
import { deviceError, type DeviceError } from '../types.js';
import { EAGAIN, EFD_CLOEXEC, EFD_NONBLOCK, EINTR, errnoName, POLLIN, type Libc } from './libc.js';

/** Longest one armed poll blocks a pool thread (it re-arms after). */
export const REARM_MS = 250;

/** A running watch on call eventfds; `stop()` ends it (idempotent). */
export interface CallWatch {
  stop(): void;
  /** True until stopped (by `stop`, or by a failed read/poll, reported through `onError`). */
  readonly active: boolean;
}

export class CallWatcher implements CallWatch {
  private readonly wake: number;
  /** struct pollfd[]: the call eventfds, then the wake eventfd. */
  private readonly pfds: DataView;
  private readonly counter = new BigUint64Array(1);
  private readonly one = new BigUint64Array([1n]);
  private armed = false;
  private stopped = false;
  /** Times the poll returned (calls, re-arm timeouts, the stop): an idle watch adds one per REARM_MS. */
  wakeups = 0;

  private constructor(
    private readonly c: Libc,
    private readonly qis: readonly number[],
    private readonly fds: readonly number[],
    wake: number,
    private readonly onCall: (qi: number) => void,
    private readonly onError: (e: DeviceError) => void,
  ) {
    this.wake = wake;
    this.pfds = new DataView(new ArrayBuffer((fds.length + 1) * 8));
    [...fds, wake].forEach((fd, i) => {
      this.pfds.setInt32(i * 8, fd, true);
      this.pfds.setInt16(i * 8 + 4, POLLIN, true);
    });
  }

  /** Watch `fds` (the call eventfds of queues `qis`, same order). */
  static start(c: Libc, qis: readonly number[], fds: readonly number[], onCall: (qi: number) => void, onError: (e: DeviceError) => void): E.Either<DeviceError, CallWatcher> {
    if (qis.length !== fds.length || qis.length === 0) return E.left(deviceError('invalid', 'watchCalls', `${qis.length} queue(s), ${fds.length} eventfd(s)`));
    const wake = c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake < 0) {
      const errno = c.errno();
      return E.left(deviceError('ioctl', 'eventfd', `eventfd for the call watch failed: ${errnoName(errno)}`, errno, errnoName(errno)));
    }
    const w = new CallWatcher(c, qis, fds, wake, onCall, onError);
    w.arm();
    return E.right(w);
  }

  get active(): boolean {
    return !this.stopped;
  }

  private arm(): void {
    this.armed = true;
    this.c.pollAsync(this.pfds, this.fds.length + 1, REARM_MS, (err, ready) => this.fired(err, ready));
  }

  private fired(err: unknown, ready: number): void {
    this.armed = false;
    this.wakeups++;
    if (this.stopped) {
      this.c.close(this.wake);
      return;
    }
    if (err !== null && err !== undefined) return this.failWith(deviceError('ioctl', 'poll(call eventfds)', `poll on the pool thread failed: ${String(err)}`));
    // a negative return is EINTR or worse; errno of the pool thread is not ours to read: re-arm once more
    if (ready > 0) {
      for (let i = 0; i < this.fds.length && !this.stopped; i++) {
        const n = this.c.read(this.fds[i]!, this.counter, 8);
        if (n === 8) {
          this.onCall(this.qis[i]!);
          continue;
        }
        const errno = this.c.errno();
        if (errno !== EAGAIN && errno !== EINTR) return this.failWith(deviceError('ioctl', 'read(call eventfd)', `read of queue ${this.qis[i]}'s call eventfd failed: ${errnoName(errno)}`, errno, errnoName(errno)));
      }
    }
    if (this.stopped) {
      this.c.close(this.wake);
      return;
    }
    this.arm();
  }

  private failWith(e: DeviceError): void {
    this.stopped = true;
    this.c.close(this.wake);
    this.onError(e);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.armed) {
      // wake the pool thread now; the wake eventfd is closed when its poll returns
      this.c.write(this.wake, this.one, 8);
    } else this.c.close(this.wake);
  }
}
