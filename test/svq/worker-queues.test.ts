/**
 * The back end's adapter: the same traffic on 2 queue pairs, run by the single-thread path and by one
 * worker per queue pair, with the devices on this thread (kicks and calls relayed). Hand-overs, stats,
 * used lengths and the dirty log come out identical.
 */
import { describe, expect, it } from 'vitest';
import { isSvqWorkerError } from '../../src/svq/worker.js';
import { startShadowQueues, type QueueStop } from '../../src/svq/worker-queues.js';
import { World, until } from './worker-world.js';

const N = 4;
const shapes = (qi: number) => [0, 1, 2, 3, 4, 5].map((i) => ({ out: 100 + 700 * i + qi, in: 50 + 900 * i }));

async function run(threading: 'single' | 'workers'): Promise<{ stops: readonly QueueStop[]; dirty: number[][]; used: number[][]; threading: string }> {
  const world = new World(N, { layout: 'packed', eventIdx: true }, { layout: 'split', eventIdx: true });
  const devs = world.queues.map((_, qi) => world.inline(qi, { dirty: false }).device); // devices only
  const kicked = new Array<number>(N).fill(0);
  const set = await startShadowQueues({
    threading,
    queues: world.queues.map((q, qi) => ({ qi, guest: { space: world.tb.gpa, config: q.config }, shadow: { space: world.tb.iovaView, config: q.shadow.config }, iova: world.tb.tree })),
    kickDevice: (qi) => kicked[qi]!++,
    callGuest: () => {},
    dirty: { space: world.tb.gpa, log: world.log },
  });
  if (isSvqWorkerError(set)) throw new Error(set.message);
  const dirty: number[][] = [];
  try {
    for (let qi = 0; qi < N; qi++) {
      for (const s of shapes(qi)) world.add(qi, s);
      if (world.queues[qi]!.driver.kickNeeded()) set.guestKick(qi);
    }
    // each device completes 2 + qi chains once SVQ forwarded them all, then calls
    for (let qi = 0; qi < N; qi++) {
      expect(await until(() => kicked[qi]! > 0)).toBe(true);
      expect(devs[qi]!.process(2 + (qi % 3))).toBe(2 + (qi % 3));
      if (devs[qi]!.callNeeded()) set.deviceCall(qi);
    }
    expect(await until(() => world.queues.every((q, qi) => (world.reap(qi), q.inFlight.size === 6 - 2 - (qi % 3))))).toBe(true);
    expect(set.guestKick(N)?.kind).toBe('state');
    const status = set.collectDirty();
    if (isSvqWorkerError(status)) throw new Error(status.message);
    expect(status.map((q) => q.state)).toEqual(['running', 'running', 'running', 'running']);
    dirty.push(world.log.collect());
    const { stops, error } = set.stop();
    if (error !== undefined) throw new Error(error.message);
    dirty.push(world.log.collect());
    return { stops, dirty, used: world.queues.map((q) => q.usedLens), threading: set.threading };
  } finally {
    await set.close();
  }
}

describe('shadow queues: single thread or one worker per queue pair', () => {
  it('give the same hand-overs, stats, used lengths and dirty pages', async () => {
    const a = await run('single');
    const b = await run('workers');
    expect(a.threading).toBe('single');
    expect(b.threading).toBe('workers');
    expect(b.stops.map((s) => s.qi)).toEqual([0, 1, 2, 3]);
    for (let i = 0; i < N; i++) {
      expect(b.stops[i]!.handover).toEqual(a.stops[i]!.handover);
      expect(b.stops[i]!.shadowBase).toEqual(a.stops[i]!.shadowBase);
      expect(b.stops[i]!.stats.forwarded).toBe(6);
      expect(b.stops[i]!.stats.returned).toBe(a.stops[i]!.stats.returned);
      expect(b.stops[i]!.failure).toBeUndefined();
    }
    expect(b.used).toEqual(a.used);
    expect(b.dirty).toEqual(a.dirty);
    expect(a.dirty[0]!.length).toBeGreaterThan(4);
  });
});
