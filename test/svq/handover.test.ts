import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ringFactory } from '../../src/ring/index.js';
import { Chain, isRingError, type RingLayout } from '../../src/ring/types.js';
import { LoopbackDevice } from '../../src/svq/loopback.js';
import { Harness, type Shape } from './harness.js';

const side = (layout: RingLayout, size: number, eventIdx: boolean, indirect = false) => ({ layout, size, eventIdx, indirect });
const layoutArb = fc.constantFrom<RingLayout>('split', 'packed');

type Op =
  | { op: 'add'; shape: Shape }
  | { op: 'kick' }
  | { op: 'device'; n: number; call: boolean }
  | { op: 'reap' }
  | { op: 'restart'; layout: RingLayout; eventIdx: boolean; size: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('add' as const), shape: fc.record({ out: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 2 }), in: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 2 }), indirect: fc.boolean() }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('kick' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('device' as const), n: fc.integer({ min: 0, max: 4 }), call: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('reap' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('restart' as const), layout: layoutArb, eventIdx: fc.boolean(), size: fc.constantFrom(4, 8, 16) }) },
);

describe('SVQ stop and hand-over', () => {
  it('loses and duplicates nothing across stop/start at random points (new shadow ring, any layout)', () => {
    let carried = 0;
    fc.assert(
      fc.property(layoutArb, fc.boolean(), fc.array(opArb, { minLength: 1, maxLength: 80 }), (gl, gEvent, ops) => {
        const h = new Harness({ guest: side(gl, 16, gEvent, true), shadow: side('split', 8, false) });
        let added = 0;
        let restarts = 0;
        for (const o of ops) {
          if (o.op === 'add') added += h.add(o.shape) ? 1 : 0;
          else if (o.op === 'kick') h.kick();
          else if (o.op === 'device') h.runDevice(o.n, o.call);
          else if (o.op === 'reap') h.reap();
          else {
            const before = h.svq.inFlight();
            const ho = h.svq.stop();
            expect(ho.inFlight.length).toBe(before);
            carried += ho.inFlight.length;
            expect(h.svq.state).toBe('stopped');
            // the device is reset: its ring is gone; a new SVQ resumes on a fresh shadow ring
            h.connect(ho, side(o.layout, o.size, o.eventIdx));
            restarts++;
          }
          expect(h.svq.failure).toBeUndefined();
        }
        h.drain();
        expect(h.returned).toBe(added);
        void restarts;
      }),
      { numRuns: 120 },
    );
    // the runs did carry chains in flight across restarts (the property is not vacuous)
    expect(carried).toBeGreaterThan(5);
  });

  for (const gl of ['split', 'packed'] as const) {
    it(`hands a ${gl} guest ring back to a device (SVQ off) at the un-popped position when in-flight chains are the last popped`, () => {
      const h = new Harness({ guest: side(gl, 8, false), shadow: side('packed', 8, false) });
      // two laps of the guest ring so the packed wrap counter flips
      for (let i = 0; i < 12; i++) {
        expect(h.add({ out: [32], in: [32] })).toBe(true);
        h.kick(true);
        h.runDevice(i % 3 === 2 ? 0 : 1, true);
        h.reap();
      }
      const ho = h.svq.stop();
      expect(ho.inFlight.length).toBe(4);
      expect(ho.passthroughBase).toBeDefined();
      // a device taking the guest ring directly from the hand-over position completes exactly the rest
      const dev = ringFactory(gl).device(h.tb.gpa, h.tb.guestConfig);
      if (isRingError(dev)) throw new Error(dev.message);
      dev.setBase(ho.passthroughBase!);
      const lb = new LoopbackDevice(h.tb.gpa, dev);
      expect(lb.process(100)).toBe(4);
      expect(h.reap()).toBe(4);
      expect(h.inFlight.size).toBe(0);
    });
  }

  it('refuses to un-pop when the device completed out of order (drain or resume SVQ instead)', () => {
    const h = new Harness({ guest: side('split', 8, false), shadow: side('split', 8, false) });
    for (let i = 0; i < 3; i++) h.add({ out: [8], in: [] });
    h.kick(true);
    const ring = h.device.ring;
    const a = new Chain(8);
    const b = new Chain(8);
    expect(ring.pop(a)).toBe(true);
    expect(ring.pop(b)).toBe(true);
    ring.push(b.id, b.ringDescs, 0);
    h.svq.handleDeviceCall();
    expect(h.reap()).toBe(1);
    const ho = h.svq.stop();
    expect(ho.inFlight.length).toBe(2);
    expect(ho.passthroughBase).toBeUndefined();
    // resuming SVQ from the hand-over completes both
    h.connect(ho);
    h.drain();
    expect(h.returned).toBe(3);
  });

  it('refuses a hand-over for another guest ring', () => {
    const h = new Harness({ guest: side('split', 8, false), shadow: side('split', 8, false) });
    const ho = h.svq.stop();
    const r = h.tb.connect({ kickDevice: () => {}, callGuest: () => {} }, { ...ho, guestSize: 16 });
    expect(r).toMatchObject({ _tag: 'SvqError', kind: 'resume' });
  });

  it('refuses an in-flight chain whose id or descriptor count is not one of this guest ring', () => {
    const h = new Harness({ guest: side('packed', 8, false), shadow: side('split', 8, false) });
    const ho = h.svq.stop();
    const one = { id: 0, ringDescs: 1, indirect: false, outCount: 1, addr: [h.tb.bufBase], len: [64] };
    for (const bad of [{ id: 8 }, { id: -1 }, { id: 1.5 }, { ringDescs: 0 }, { ringDescs: 9 }, { id: 65536 + 3 }]) {
      const r = h.tb.connect({ kickDevice: () => {}, callGuest: () => {} }, { ...ho, inFlight: [{ ...one, ...bad }] });
      expect(r, JSON.stringify(bad)).toMatchObject({ _tag: 'SvqError', kind: 'resume' });
    }
    const ok = h.tb.connect({ kickDevice: () => {}, callGuest: () => {} }, { ...ho, inFlight: [{ ...one, id: 7, ringDescs: 8 }] });
    expect(ok).not.toMatchObject({ _tag: 'SvqError' });
  });
});
