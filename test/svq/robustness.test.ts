import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Used, type RingLayout } from '../../src/ring/types.js';
import { Harness } from './harness.js';

const side = (layout: RingLayout, size: number, eventIdx: boolean, indirect = false) => ({ layout, size, eventIdx, indirect });
const layoutArb = fc.constantFrom<RingLayout>('split', 'packed');
const pokeArb = fc.array(fc.record({ off: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 24 });

/** Run the whole engine once more; nothing may throw. */
function cycle(h: Harness): void {
  h.svq.handleGuestKick();
  h.device.process(64);
  h.svq.handleDeviceCall();
}

describe('SVQ against hostile rings', () => {
  it('a guest scribbling on its own ring gets chains forwarded or a typed guest-ring failure, never a crash', () => {
    fc.assert(
      fc.property(layoutArb, layoutArb, fc.boolean(), pokeArb, (gl, sl, ev, pokes) => {
        const h = new Harness({ guest: side(gl, 16, ev, true), shadow: side(sl, 16, ev, true) });
        for (let i = 0; i < 4; i++) h.add({ out: [16], in: [16], indirect: i % 2 === 1 });
        // the guest ring and its indirect tables live in [GUEST_RING_GPA, bufBase)
        const bytes = h.tb.guestRegion.bytes;
        const lo = 0x1000;
        const span = h.tb.bufBase - lo;
        for (const p of pokes) bytes[lo + (p.off % span)] = p.byte;
        expect(() => {
          cycle(h);
          cycle(h);
        }).not.toThrow();
        const f = h.svq.failure;
        if (f !== undefined) {
          expect(['guest-ring', 'translate', 'chain-too-long']).toContain(f.kind);
          expect(f.message.length).toBeGreaterThan(0);
        }
        // whatever happened, the engine still accounts for what it took
        expect(h.svq.inFlight()).toBeGreaterThanOrEqual(0);
        expect(h.svq.stop().inFlight.length).toBe(h.svq.inFlight());
      }),
      { numRuns: 200 },
    );
  });

  it('a device scribbling on the shadow ring gets a typed device-ring failure or is ignored, never a crash', () => {
    fc.assert(
      fc.property(layoutArb, layoutArb, fc.boolean(), pokeArb, (gl, sl, ev, pokes) => {
        const h = new Harness({ guest: side(gl, 16, ev), shadow: side(sl, 16, ev) });
        for (let i = 0; i < 6; i++) h.add({ out: [16], in: [16] });
        h.kick(true);
        h.device.process(3);
        // the shadow ring is the first SVQ host region (the device's view of it is in tb.iovaView)
        const shadow = h.tb.hva.regions()[0]!;
        for (const p of pokes) shadow.bytes[p.off % shadow.size] = p.byte;
        expect(() => {
          h.svq.handleDeviceCall();
          cycle(h);
        }).not.toThrow();
        const f = h.svq.failure;
        if (f !== undefined) expect(['device-ring', 'guest-ring', 'setup']).toContain(f.kind);
        const ho = h.svq.stop();
        // every guest chain is either back with the guest (its bytes are whatever the device wrote:
        // SVQ checks ids and lengths, not payloads) or reported in flight
        const u = new Used();
        let back = 0;
        for (let r = h.tb.guestDriver.reap(u); r === true; r = h.tb.guestDriver.reap(u)) back++;
        expect(back).toBe(h.svq.stats().returned);
        expect(ho.inFlight.length + back).toBe(6);
      }),
      { numRuns: 200 },
    );
  });
});
