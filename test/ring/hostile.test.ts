/**
 * Hostile ring memory: whatever bytes the other side leaves in the ring, the device's pop and the
 * driver's reap never throw, only ever return chains inside mapped memory, and the driver's private
 * accounting (free descriptors + chains in flight) stays whole.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Chain, isRingError, Used, type RingLayout } from '../../src/ring/index.js';
import { BUF_BASE, rig, unwrap } from './helpers.js';

const layouts: RingLayout[] = ['split', 'packed'];

describe.each(layouts)('%s ring under garbage', (layout) => {
  it('device pop: a chain inside mapped memory, false, or a named rule — never a throw', () => {
    fc.assert(
      fc.property(fc.constantFrom(2, 4, 8), fc.boolean(), fc.boolean(), fc.uint8Array({ minLength: 512, maxLength: 512 }), fc.array(fc.nat(), { maxLength: 16 }), (size, eventIdx, indirect, bytes, plant) => {
        const r = rig(layout, size, { eventIdx, indirect });
        const { desc, device } = r.config.addrs;
        // Garbage over the whole ring, then some descriptors pointing at real buffers / at the ring.
        const end = device + (layout === 'split' ? 6 + 8 * size : 4);
        for (let a = desc, k = 0; a < end; a++, k++) unwrap(r.space.writeU8(a, bytes[k % bytes.length]!));
        for (const p of plant) {
          const i = p % size;
          unwrap(r.space.writeU64(desc + i * 16, (p & 1) === 0 ? BUF_BASE + (p % 4096) : desc));
        }
        const chain = new Chain(16);
        for (let k = 0; k < 3 * size; k++) {
          const res = r.device.pop(chain);
          if (res === false) break;
          if (isRingError(res)) {
            expect(res.layout).toBe(layout);
            break;
          }
          expect(chain.count).toBeGreaterThan(0);
          expect(chain.count).toBeLessThanOrEqual(16);
          for (let s = 0; s < chain.count; s++) expect(r.space.contains(chain.addr[s]!, chain.len[s]!)).toBe(true);
          expect(chain.id).toBeLessThan(size);
          expect(r.device.push(chain.id, chain.ringDescs, 0)).toBeUndefined();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('driver reap: a chain it added, false, or a named rule — accounting stays whole', () => {
    fc.assert(
      fc.property(fc.constantFrom(2, 4, 8), fc.integer({ min: 1, max: 8 }), fc.uint8Array({ minLength: 256, maxLength: 256 }), (size, adds, bytes) => {
        const r = rig(layout, size, { eventIdx: true });
        const c = new Chain(2);
        c.push(BUF_BASE, 64, true);
        const added = new Set<number>();
        for (let k = 0; k < Math.min(adds, size); k++) {
          const id = r.driver.add(c, 100 + k);
          if (!isRingError(id)) added.add(100 + k);
        }
        // The device scribbles over the used side of the ring.
        const { desc, device } = r.config.addrs;
        const [from, len] = layout === 'split' ? [device, 6 + 8 * size] : [desc, 16 * size];
        for (let a = 0; a < len; a++) unwrap(r.space.writeU8(from + a, bytes[a % bytes.length]!));
        const u = new Used();
        const reaped = new Set<number>();
        for (let k = 0; k < 2 * size; k++) {
          const res = r.driver.reap(u);
          if (res === false) break;
          if (isRingError(res)) {
            expect(['used-id-out-of-range', 'used-id-not-in-flight', 'used-len-too-large']).toContain(res.rule);
            break;
          }
          expect(added.has(u.token)).toBe(true);
          expect(reaped.has(u.token)).toBe(false);
          expect(u.len).toBeLessThanOrEqual(64);
          reaped.add(u.token);
        }
        expect(r.driver.inFlight()).toBe(added.size - reaped.size);
        expect(r.driver.numFree()).toBe(size - r.driver.inFlight());
        expect(r.driver.inFlightTokens().length).toBe(r.driver.inFlight());
      }),
      { numRuns: 300 },
    );
  });
});
