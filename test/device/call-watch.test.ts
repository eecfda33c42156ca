import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { CallWatcher, REARM_MS } from '../../src/device/vhost-vdpa/call-watch.js';
import { EFD_CLOEXEC, EFD_NONBLOCK, libc } from '../../src/device/vhost-vdpa/libc.js';

// The watch of call eventfds the vhost-vdpa device uses (real eventfds through libc; no device needed).
const lc = libc();
const c = E.isRight(lc) ? lc.right : undefined;
const one = new BigUint64Array([1n]);
const until = async (cond: () => boolean, ms = 2000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
};

describe.skipIf(c === undefined)('CallWatcher (call eventfds polled on the thread pool)', () => {
  it('runs onCall for the queue whose eventfd was signalled, once per read, and nothing after stop', async () => {
    const fds = [c!.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), c!.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)];
    const calls: number[] = [];
    const errors: unknown[] = [];
    const w = E.getOrElseW(() => undefined)(CallWatcher.start(c!, [4, 7], fds, (qi) => calls.push(qi), (e) => errors.push(e)))!;
    expect(w.active).toBe(true);
    // the event loop is free while the poll blocks: a timer runs
    let ticked = false;
    setTimeout(() => (ticked = true), 1);
    await until(() => ticked);
    expect(ticked).toBe(true);
    c!.write(fds[1]!, one, 8);
    c!.write(fds[1]!, one, 8); // two signals before the read: one call (the eventfd counts, the read consumes)
    await until(() => calls.length > 0);
    expect(calls).toEqual([7]);
    c!.write(fds[0]!, one, 8);
    await until(() => calls.length > 1);
    expect(calls).toEqual([7, 4]);
    // idle: the pool thread sleeps in poll, it does not spin
    const before = w.wakeups;
    await new Promise((r) => setTimeout(r, 300));
    expect(w.wakeups - before).toBeLessThanOrEqual(Math.ceil(300 / REARM_MS) + 1);
    w.stop();
    expect(w.active).toBe(false);
    c!.write(fds[0]!, one, 8);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toEqual([7, 4]);
    expect(errors).toEqual([]);
    fds.forEach((fd) => c!.close(fd));
  });

  it('refuses a watch with no queues, or queues and eventfds that do not pair up', () => {
    expect(E.isLeft(CallWatcher.start(c!, [], [], () => {}, () => {}))).toBe(true);
    expect(E.isLeft(CallWatcher.start(c!, [0, 1], [3], () => {}, () => {}))).toBe(true);
  });
});
