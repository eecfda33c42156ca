import { afterEach, describe, expect, it } from 'vitest';
import { AddressSpace } from '../../src/memory/address-space.js';
import { CTL, chooseThreading, describeSpace, isSvqWorkerError, SvqWorker, type StopReport } from '../../src/svq/worker.js';
import { World, until } from './worker-world.js';

const open: SvqWorker[] = [];
afterEach(async () => {
  for (const w of open.splice(0)) await w.close();
});

async function start(opts: Parameters<typeof SvqWorker.start>[0]): Promise<SvqWorker> {
  const w = await SvqWorker.start(opts);
  if (isSvqWorkerError(w)) throw new Error(w.message);
  open.push(w);
  return w;
}

const stopped = (r: readonly StopReport[] | { message: string }): readonly StopReport[] => {
  if (!Array.isArray(r)) throw new Error((r as { message: string }).message);
  return r;
};

describe('SVQ worker', () => {
  it('forwards every chain through its own thread (loopback device in the worker), bytes and lengths exact', async () => {
    for (const [gl, sl, ev] of [['split', 'packed', true], ['packed', 'split', false]] as const) {
      const world = new World(1, { layout: gl, eventIdx: ev }, { layout: sl, eventIdx: ev });
      let calls = 0;
      const w = await start({ queues: [{ ...world.workerQueue(0), device: 'loopback', callGuest: () => calls++ }] });
      const drv = world.queues[0]!.driver;
      let sent = 0;
      for (let batch = 0; batch < 20; batch++) {
        for (let i = 0; i < 1 + (batch % 7); i++) if (world.add(0, { out: 100 + batch * 37 + i, in: 64 + i * 300 })) sent++;
        if (drv.kickNeeded()) w.guestKick(0);
        expect(await until(() => (world.reap(0), world.pending() === 0))).toBe(true);
      }
      expect(calls).toBeGreaterThan(0);
      const [r] = stopped(await w.stop());
      expect(r!.state).toBe('stopped');
      expect(r!.failure).toBeUndefined();
      expect(r!.stats.forwarded).toBe(sent);
      expect(r!.stats.returned).toBe(sent);
      expect(r!.handover.inFlight).toEqual([]);
      // every notification arrived: the worker never had to poll on a timeout
      expect(r!.forcedPolls).toBe(0);
    }
  });

  it('with the device on the main thread: kicks and calls relayed; stop hands over what ShadowVirtqueue.stop does; a resumed worker finishes', async () => {
    const guest = { layout: 'split', eventIdx: true } as const;
    const shadow = { layout: 'packed', eventIdx: false } as const;
    const shapes = [0, 1, 2, 3, 4, 5].map((i) => ({ out: 200 + i, in: 300 + i * 500 }));

    // single thread
    const one = new World(1, guest, shadow);
    const a = one.inline(0, { dirty: false });
    a.svq.start();
    for (const s of shapes) one.add(0, s);
    if (one.queues[0]!.driver.kickNeeded()) a.svq.handleGuestKick();
    a.device.process(2);
    if (a.device.callNeeded()) a.svq.handleDeviceCall();
    expect(one.reap(0)).toBe(2);
    const expected = a.svq.stop();
    expect(expected.inFlight.length).toBe(4);

    // worker, device here
    const two = new World(1, guest, shadow);
    const b = two.inline(0, { dirty: false }); // only its device is used: the worker runs the SVQ
    let kicks = 0;
    const w = await start({ queues: [{ ...two.workerQueue(0), kickDevice: () => kicks++, callGuest: () => {} }] });
    for (const s of shapes) two.add(0, s);
    if (two.queues[0]!.driver.kickNeeded()) w.guestKick(0);
    expect(await until(() => kicks > 0)).toBe(true);
    expect(b.device.process(2)).toBe(2);
    if (b.device.callNeeded()) w.deviceCall(0);
    expect(await until(() => (two.reap(0), two.pending() === 4))).toBe(true);
    const [r] = stopped(await w.stop());
    expect(r!.handover).toEqual(expected);
    expect(r!.stats.forwarded).toBe(6);
    expect(r!.stats.returned).toBe(2);
    expect(r!.inFlight).toBe(4);

    // resume on a fresh shadow ring in a new worker: the hand-over's chains go first, all complete
    two.queues[0]!.shadow.config = two.tb.shadowRing({ ...shadow, size: 16, indirect: false }).config;
    const w2 = await start({ queues: [{ ...two.workerQueue(0), device: 'loopback', resume: r!.handover }] });
    expect(await until(() => (two.reap(0), two.pending() === 0))).toBe(true);
    const [r2] = stopped(await w2.stop());
    expect(r2!.stats.returned).toBe(4);
    expect(r2!.handover.inFlight).toEqual([]);
  });

  it('a kick the guest never sent: the idle worker polls after its timeout and counts it', async () => {
    const world = new World(1, { layout: 'split', eventIdx: false }, { layout: 'split', eventIdx: false });
    const w = await start({ queues: [{ ...world.workerQueue(0), device: 'loopback' }] });
    // once its queues started, a chain reaches SVQ only through a kick (or the idle poll)
    expect(await until(() => Atomics.load(w.ctl, CTL.RUNNING) === 1)).toBe(true);
    world.add(0, { out: 300, in: 300 });
    // no guestKick: the chain still completes, and the report says a notification was missing
    expect(await until(() => (world.reap(0), world.pending() === 0))).toBe(true);
    const [r] = stopped(await w.stop());
    expect(r!.forcedPolls).toBeGreaterThan(0);
    expect(r!.stats.returned).toBe(1);
  });

  it('refuses memory a thread cannot share, and the requests of a stopped worker', async () => {
    const s = new AddressSpace('gpa');
    s.addRegion(0, 4096);
    const d = describeSpace(s);
    expect(isSvqWorkerError(d) && d.kind).toBe('not-shared');
    const world = new World(1, { layout: 'split', eventIdx: false }, { layout: 'split', eventIdx: false });
    const bad = await SvqWorker.start({ queues: [world.workerQueue(0)] });
    expect(isSvqWorkerError(bad) && bad.kind).toBe('state'); // an external device without kickDevice
    const w = await start({ queues: [{ ...world.workerQueue(0), device: 'loopback' }] });
    expect(w.guestKick(0)).toBeUndefined();
    expect(w.guestKick(1)?.kind).toBe('state');
    expect(w.deviceCall(-1)?.kind).toBe('state');
    stopped(await w.stop());
    const again = await w.stop();
    expect(isSvqWorkerError(again) && again.kind).toBe('state');
  });

  it('threading: auto picks workers only with two cores or more', () => {
    expect(chooseThreading('single', 64)).toBe('single');
    expect(chooseThreading('auto', 1)).toBe('single');
    expect(chooseThreading('auto', 2)).toBe(process.arch === 'x64' || process.arch === 'ia32' ? 'workers' : 'single');
  });
});
