import { describe, expect, it } from 'vitest';
import { placeRing, ringFactory } from '../../src/ring/index.js';
import { Chain } from '../../src/ring/types.js';
import { ringBaseTargets, chainProblem, checkDeviceSide, checkDriverSide, guardedRam, ringOutcomes, ringTargets, RAM0 } from '../../testkit/fuzz/ring.js';
import { assertTarget } from './helpers.js';

describe('fuzz: ring images', () => {
  for (const t of ringTargets()) {
    it(`${t.kind}: typed error or a valid in-memory chain, bounded work, no stray write`, async () => {
      await assertTarget(t, 250);
    });
  }

  it('the slice reaches the rules a hostile ring can break (the fuzzing is not blind)', () => {
    const seen = [...ringOutcomes.keys()];
    for (const want of [
      'split pop: chain (indirect)', 'split pop: avail-idx-ahead', 'split pop: desc-index-out-of-range', 'split pop: buffer-unmapped',
      'split pop: chain-too-long', 'split pop: chain-loop', 'packed pop: chain (indirect)', 'packed pop: packed-id-out-of-range',
      'packed pop: buffer-unmapped', 'split reap: used-id-out-of-range', 'split reap: used-len-too-large',
      'packed reap: used-id-out-of-range', 'packed reap: used-len-too-large',
    ]) {
      expect(seen, want).toContain(want);
    }
  });

  it('an untouched driver-built ring pops back every chain it holds', () => {
    // the checker accepts honest rings: no mutation, every chain valid
    for (const layout of ['split', 'packed'] as const) {
      const c = { layout, size: 8, eventIdx: true, indirect: true, capacity: 64, served: 3, order: 5, mutations: [],
        chains: [{ out: [10, 20], in: [30], indirect: true }, { out: [1], in: [], indirect: false }, { out: [], in: [4, 4], indirect: false }] };
      expect(checkDeviceSide(c)).toBeUndefined();
      expect(checkDriverSide(c)).toBeUndefined();
    }
  });

  it('the checker catches a chain escaping memory (it is not vacuous)', () => {
    const mem = guardedRam();
    const c = new Chain(4);
    c.push(RAM0 + 0xfff0, 0x20, false); // crosses the end of ram0 into the hole
    c.ringDescs = 1;
    expect(chainProblem(mem.space, c, 8, 4)).toMatch(/not inside the address space/);
    c.reset();
    c.ringDescs = 1;
    c.push(RAM0, 16, false);
    expect(chainProblem(mem.space, c, 8, 4)).toBeUndefined();
  });

  for (const t of ringBaseTargets()) {
    it(`${t.kind}: refused with a typed error or taken, never an access past the ring`, async () => {
      await assertTarget(t, 150);
    });
  }

  // Was a bug: a packed vring base with an index ≥ num was taken as is and pop/push indexed past the
  // descriptor ring. setBase now refuses it with the 'bad-base' rule and changes nothing.
  it('packed setBase with an index ≥ num: refused with a typed error, and pop stays in bounds', () => {
    const mem = guardedRam();
    const placed = placeRing('packed', 8, RAM0);
    const dev = ringFactory('packed').device(mem.space, { layout: 'packed', size: 8, addrs: placed.addrs, eventIdx: false, indirect: false });
    if ('_tag' in dev) throw new Error(dev.message);
    const refused = dev.setBase({ availIdx: 0x7fff, availWrap: true, usedIdx: 9, usedWrap: true });
    expect(refused?.rule).toBe('bad-base');
    const r = dev.pop(new Chain(8));
    expect(r === false || (typeof r === 'object' && r._tag === 'RingError')).toBe(true);
  });

  it('packed setBase with used index ≥ num: refused, and push never writes past the descriptor ring', () => {
    const mem = guardedRam();
    const placed = placeRing('packed', 8, RAM0);
    const dev = ringFactory('packed').device(mem.space, { layout: 'packed', size: 8, addrs: placed.addrs, eventIdx: false, indirect: false });
    if ('_tag' in dev) throw new Error(dev.message);
    expect(dev.setBase({ availIdx: 0, availWrap: true, usedIdx: 9, usedWrap: true })?.rule).toBe('bad-base');
    const before = mem.snapshot(placed.addrs.desc + 8 * 16, 64);
    dev.push(0, 1, 0);
    expect(mem.changedOutside(placed.addrs.desc + 8 * 16, before, [])).toBe(-1);
  });
});
