import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { CallWatcher, NotifyStats, REARM_MS, type CallWaitVia } from '../../src/device/vhost-vdpa/call-watch.js';
import { EFD_CLOEXEC, EFD_NONBLOCK, libc } from '../../src/device/vhost-vdpa/libc.js';

// The watch of call eventfds the vhost-vdpa device uses (real eventfds through libc; no device needed).
const lc = libc();
const c = E.isRight(lc) ? lc.right : undefined;
const one = new BigUint64Array([1n]);
const until = async (cond: () => boolean, ms = 2000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
};

describe.skipIf(c === undefined).each(['event-loop', 'thread-pool'] as CallWaitVia[])('CallWatcher (call eventfds watched on the %s)', (via) => {
  it('runs onCall for the queue whose eventfd was signalled, once per read, and nothing after stop', async () => {
    const fds = [c!.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), c!.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)];
    const calls: number[] = [];
    const errors: unknown[] = [];
    const stats = new NotifyStats();
    const w = E.getOrElseW(() => undefined)(CallWatcher.start(c!, [4, 7], fds, (qi) => calls.push(qi), (e) => errors.push(e), { via, stats }))!;
    expect(w.active).toBe(true);
    expect(w.via).toBe(via);
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
    expect(stats.callsRead).toBe(2);
    // idle: the watch sleeps (the pool thread in poll, re-armed every REARM_MS; the loop in epoll), it does not spin
    const before = w.wakeups;
    await new Promise((r) => setTimeout(r, 300));
    expect(w.wakeups - before).toBeLessThanOrEqual(via === 'thread-pool' ? Math.ceil(300 / REARM_MS) + 1 : 0);
    w.stop();
    expect(w.active).toBe(false);
    c!.write(fds[0]!, one, 8);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toEqual([7, 4]);
    expect(errors).toEqual([]);
    fds.forEach((fd) => c!.close(fd));
  });

  it('busy-polls after poke() until the burst is in, then ends the poll once', async () => {
    const fd = c!.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    let inFlight = 3;
    const log: string[] = [];
    const w = E.getOrElseW(() => undefined)(
      CallWatcher.start(c!, [1], [fd], () => log.push('call'), () => log.push('error'), {
        via,
        busyPoll: {
          idleMs: 1000,
          // one chain comes in per pass, then a last pass that finds nothing
          poll: () => (inFlight > 0 ? (inFlight--, 1) : 0),
          busy: () => inFlight > 0,
          end: () => log.push('end'),
        },
      }),
    )!;
    w.poke();
    await until(() => log.includes('end'));
    expect(inFlight).toBe(0);
    expect(log).toEqual(['end']);
    // a device that never completes: polling gives up after idleMs
    const fd2 = c!.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    const w2 = E.getOrElseW(() => undefined)(
      CallWatcher.start(c!, [1], [fd2], () => {}, () => {}, { via, busyPoll: { idleMs: 20, poll: () => 0, busy: () => true, end: () => log.push('idle') } }),
    )!;
    const t0 = Date.now();
    w2.poke();
    await until(() => log.includes('idle'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(20);
    w.stop();
    w2.stop();
    c!.close(fd);
    c!.close(fd2);
  });

  it.runIf(via === 'event-loop')('refuses a second watch on a call eventfd already watched, and allows it once the first stopped', () => {
    const fd = c!.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    const w = E.getOrElseW(() => undefined)(CallWatcher.start(c!, [0], [fd], () => {}, () => {}, { via }))!;
    const again = CallWatcher.start(c!, [3], [fd], () => {}, () => {}, { via });
    expect(E.isLeft(again) && again.left.message).toMatch(/queue 3's call eventfd is already watched/);
    expect(E.isLeft(CallWatcher.start(c!, [0, 1], [fd + 1000, fd + 1000], () => {}, () => {}, { via }))).toBe(true);
    w.stop();
    const w2 = CallWatcher.start(c!, [0], [fd], () => {}, () => {}, { via });
    expect(E.isRight(w2)).toBe(true);
    if (E.isRight(w2)) w2.right.stop();
    c!.close(fd);
  });

  it('refuses a watch with no queues, or queues and eventfds that do not pair up', () => {
    expect(E.isLeft(CallWatcher.start(c!, [], [], () => {}, () => {}))).toBe(true);
    expect(E.isLeft(CallWatcher.start(c!, [0, 1], [3], () => {}, () => {}))).toBe(true);
  });
});
