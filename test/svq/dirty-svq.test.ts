import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { RingLayout } from '../../src/ring/types.js';
import { GUEST_RING_GPA } from '../../src/svq/loopback.js';
import { Harness, type Shape } from './harness.js';

const PAGE = 4096;
const side = (layout: RingLayout, size: number, eventIdx: boolean, indirect = false) => ({ layout, size, eventIdx, indirect });

type Step = { op: 'kick' } | { op: 'device'; n: number } | { op: 'call' };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('kick' as const) }),
  fc.record({ op: fc.constant('device' as const), n: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ op: fc.constant('call' as const) }),
);
const shapeArb: fc.Arbitrary<Shape> = fc.record({
  out: fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 3 }),
  in: fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 3 }),
});

describe('dirty log through SVQ', () => {
  it('after any run, the bitmap holds exactly the guest pages SVQ and the device changed', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<RingLayout>('split', 'packed'),
        fc.constantFrom<RingLayout>('split', 'packed'),
        fc.boolean(),
        fc.array(fc.record({ adds: fc.array(shapeArb, { maxLength: 4 }), steps: fc.array(stepArb, { maxLength: 8 }) }), { minLength: 1, maxLength: 6 }),
        (gl, sl, ev, rounds) => {
          const h = new Harness({ guest: side(gl, 16, ev), shadow: side(sl, 16, ev), dirtyLog: true, guestMem: 1 << 20 }, 16384);
          const log = h.tb.dirty!;
          const mem = h.tb.guestRegion.bytes;
          // the guest ring (and its indirect area) vs. data pages
          const ringEnd = h.tb.bufBase;
          for (const r of rounds) {
            // the guest's own writes: buffers (zeroed in-buffers, non-zero payload), descriptors, avail
            for (const s of r.adds) h.add(s);
            log.collect();
            const before = mem.slice();
            for (const s of r.steps) {
              if (s.op === 'kick') h.svq.handleGuestKick();
              else if (s.op === 'device') h.device.process(s.n);
              else h.svq.handleDeviceCall();
            }
            // the log is read after SVQ has taken every used entry (QEMU syncs the log after the flush;
            // at switch-over the device is suspended first): bytes the device wrote are marked then
            h.svq.handleDeviceCall();
            const dirty = new Set(log.collect());
            const changed = new Set<number>();
            // compare a word at a time (RAM and its copy are 4-byte aligned)
            const a32 = new Uint32Array(before.buffer, before.byteOffset, before.length >> 2);
            const b32 = new Uint32Array(mem.buffer, mem.byteOffset, mem.length >> 2);
            for (let w = 0; w < a32.length; w++) if (a32[w] !== b32[w]) changed.add(Math.floor((w * 4) / PAGE) * PAGE);
            // nothing changed goes unlogged
            for (const p of changed) expect(dirty.has(p), `page 0x${p.toString(16)} changed but not dirty`).toBe(true);
            // data pages: dirty exactly when changed (the device wrote non-zero bytes over zeros)
            for (const p of dirty) if (p >= ringEnd) expect(changed.has(p), `data page 0x${p.toString(16)} dirty but unchanged`).toBe(true);
            // below the data pages only the guest ring's pages are written (page 0 never is)
            for (const p of dirty) if (p < ringEnd) expect(p).toBeGreaterThanOrEqual(GUEST_RING_GPA);
            h.reap();
            expect(h.svq.failure).toBeUndefined();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
