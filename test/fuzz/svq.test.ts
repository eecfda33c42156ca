import { describe, expect, it } from 'vitest';
import { svqTargets } from '../../testkit/fuzz/svq.js';
import { SvqRig } from '../../testkit/fuzz/svq-rig.js';
import { isSvqError } from '../../src/svq/shadow-virtqueue.js';
import { assertTarget } from './helpers.js';

describe('fuzz: SVQ between a hostile guest and a hostile device', () => {
  for (const t of svqTargets()) {
    it(`${t.kind}: typed failure only, nothing returned twice, every chain accounted for`, async () => {
      await assertTarget(t, 120);
    });
  }

  it('the rig\'s accounting catches a lost chain (it is not vacuous)', () => {
    const rig = SvqRig.create({ guest: { layout: 'split', size: 8, eventIdx: false, indirect: false }, shadow: { layout: 'split', size: 8, eventIdx: false, indirect: false } });
    if (isSvqError(rig)) throw new Error(rig.message);
    expect(rig.add({ out: [8], in: [8], indirect: false })).toBe(true);
    rig.kick();
    // the device never runs: the chain is held by SVQ, not lost
    expect(rig.lost()).toBe(0);
    expect(rig.inFlight()).toBe(1);
    rig.drain();
    expect(rig.inFlight()).toBe(0);
    expect(rig.returned).toBe(1);
    expect(rig.violation).toBeUndefined();
  });
});
