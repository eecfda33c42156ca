/**
 * The dirty log across workers: random traffic on two queues (one guest RAM), run once on the main thread
 * (two ShadowVirtqueues, one DirtyLog) and once through two SvqWorkers (one queue each, each with its own
 * log, merged into the main thread's on collect). Every migration round, the merged log equals the
 * single-thread log page for page; the chains come back with the same lengths and bytes.
 *
 * Each round gives every queue at least one chain: a queue's used ring page is then written by its pushes
 * in both runs, whatever notification suppression each run happened to write there (the one part of the
 * guest ring whose writes depend on timing, not on the traffic).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { RingLayout } from '../../src/ring/types.js';
import { isSvqWorkerError, SvqWorker } from '../../src/svq/worker.js';
import { World, until, type Shape } from './worker-world.js';

const shapeArb: fc.Arbitrary<Shape> = fc.record({ out: fc.integer({ min: 1, max: 4096 }), in: fc.integer({ min: 1, max: 4096 }) });
const roundArb = fc.tuple(fc.array(shapeArb, { minLength: 1, maxLength: 12 }), fc.array(shapeArb, { minLength: 1, maxLength: 12 }));

describe('dirty log across SVQ workers', () => {
  it('2 workers: the merged log equals the single-thread log, round by round', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<RingLayout>('split', 'packed'),
        fc.constantFrom<RingLayout>('split', 'packed'),
        fc.boolean(),
        fc.array(roundArb, { minLength: 1, maxLength: 5 }),
        async (gl, sl, ev, rounds) => {
          const guest = { layout: gl, eventIdx: ev };
          const shadow = { layout: sl, eventIdx: ev };

          // single thread
          const one = new World(2, guest, shadow);
          const inl = [one.inline(0, { dirty: true }), one.inline(1, { dirty: true })];
          for (const q of inl) q.svq.start();
          const single: number[][] = [];
          for (const r of rounds) {
            for (let qi = 0; qi < 2; qi++) {
              const q = inl[qi]!;
              let left = [...r[qi]!];
              // the guest ring holds 8 two-descriptor chains: add what fits, run, repeat
              while (left.length > 0 || one.queues[qi]!.inFlight.size > 0) {
                while (left.length > 0 && one.add(qi, left[0]!)) left = left.slice(1);
                if (one.queues[qi]!.driver.kickNeeded()) q.svq.handleGuestKick();
                q.device.process(64);
                if (q.device.callNeeded()) q.svq.handleDeviceCall();
                one.reap(qi);
              }
            }
            single.push(one.log.collect());
          }
          // stop writes the guest rings too (kicks re-enabled for the next owner)
          for (const q of inl) q.svq.stop();
          const singleStop = one.log.collect();

          // two workers, the devices in them
          const two = new World(2, guest, shadow);
          const ws: SvqWorker[] = [];
          try {
            for (let qi = 0; qi < 2; qi++) {
              const w = await SvqWorker.start({ queues: [{ ...two.workerQueue(qi), device: 'loopback' }], dirty: [{ space: two.tb.gpa, log: two.log }] });
              if (isSvqWorkerError(w)) throw new Error(w.message);
              ws.push(w);
            }
            for (let ri = 0; ri < rounds.length; ri++) {
              const left = [[...rounds[ri]![0]], [...rounds[ri]![1]]];
              const ok = await until(() => {
                for (let qi = 0; qi < 2; qi++) {
                  let added = false;
                  while (left[qi]!.length > 0 && two.add(qi, left[qi]![0]!)) {
                    left[qi]!.shift();
                    added = true;
                  }
                  if (added && two.queues[qi]!.driver.kickNeeded()) ws[qi]!.guestKick(0);
                  two.reap(qi);
                }
                return left[0]!.length === 0 && left[1]!.length === 0 && two.pending() === 0;
              });
              expect(ok).toBe(true);
              for (const w of ws) {
                const c = await w.collectDirty();
                if (isSvqWorkerError(c)) throw new Error(c.message);
              }
              expect(two.log.collect()).toEqual(single[ri]);
            }
            for (let qi = 0; qi < 2; qi++) expect(two.queues[qi]!.usedLens).toEqual(one.queues[qi]!.usedLens);
            for (const w of ws) {
              const s = await w.stop();
              if (isSvqWorkerError(s)) throw new Error(s.message);
              expect(s[0]!.failure).toBeUndefined();
              expect(s[0]!.forcedPolls).toBe(0);
            }
            // the pages stop wrote, merged with the hand-over
            expect(two.log.collect()).toEqual(singleStop);
          } finally {
            for (const w of ws) await w.close();
          }
        },
      ),
      { numRuns: 10 },
    );
  });
});
