/**
 * The shared interface around the hot paths: vring base hand-over (a second device resumes where the
 * first stopped, as after VHOST_GET/SET_VRING_BASE), the vhost base encoding, the fp-ts wrappers.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import {
  addE,
  Chain,
  decodeBase,
  encodeBase,
  isRingError,
  makeDeviceE,
  makeDriverE,
  popE,
  pushE,
  reapE,
  ringFactory,
  Used,
  type RingDevice,
} from '../../src/ring/index.js';
import { BUF_BASE, rig } from './helpers.js';

describe.each(['split', 'packed'] as const)('%s ring: base hand-over', (layout) => {
  it('a new device resumes from the old one\'s base without losing or repeating a chain', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 7 }), (before, pending) => {
        const r = rig(layout, 8, { eventIdx: true });
        const c = new Chain(4);
        c.push(BUF_BASE, 8, false);
        c.push(BUF_BASE + 64, 32, true);
        const p = new Chain(4);
        const u = new Used();
        let token = 0;
        for (let i = 0; i < before; i++) {
          r.driver.add(c, token++);
          r.device.pop(p);
          r.device.push(p.id, p.ringDescs, 32);
          expect(r.driver.reap(u)).toBe(true);
        }
        // Chains in flight at the hand-over: some available, none popped.
        const want = Math.min(pending, 4);
        for (let i = 0; i < want; i++) r.driver.add(c, token++);
        const base = r.device.base();
        const next = ringFactory(layout).device(r.space, r.config) as RingDevice;
        expect(isRingError(next)).toBe(false);
        next.setBase(layout === 'packed' ? decodeBase('packed', encodeBase('packed', base)) : base);
        const seen: number[] = [];
        while (next.pop(p) === true) {
          next.push(p.id, p.ringDescs, 1);
          seen.push(p.id);
        }
        expect(seen.length).toBe(want);
        const tokens: number[] = [];
        while (r.driver.reap(u) === true) tokens.push(u.token);
        expect(tokens.sort((a, b) => a - b)).toEqual(Array.from({ length: want }, (_, i) => before + i));
        expect(next.base()).toEqual(r.driver.base()); // both sides agree where the ring stands
      }),
      { numRuns: 60 },
    );
  });

  it('lists the tokens in flight', () => {
    const r = rig(layout, 8);
    const c = new Chain(2);
    c.push(BUF_BASE, 4, true);
    for (const t of [11, 22, 33]) r.driver.add(c, t);
    const p = new Chain();
    r.device.pop(p);
    r.device.push(p.id, p.ringDescs, 0);
    r.driver.reap(new Used());
    expect(r.driver.inFlightTokens().sort()).toEqual([22, 33]);
    expect(r.driver.inFlight()).toBe(2);
  });
});

describe('vhost base encoding', () => {
  it('packed: decode ∘ encode is the identity on 15-bit indices and wrap bits', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fff }), fc.boolean(), fc.integer({ min: 0, max: 0x7fff }), fc.boolean(), (a, aw, u, uw) => {
        const b = { availIdx: a, availWrap: aw, usedIdx: u, usedWrap: uw };
        const v = encodeBase('packed', b);
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThan(2 ** 32);
        expect(decodeBase('packed', v)).toEqual(b);
      }),
    );
  });
});

describe('fp-ts wrappers', () => {
  it('carry ring errors on the left and results on the right', () => {
    const bad = makeDriverE(ringFactory('split'), rig('split', 4).space, { layout: 'split', size: 3, addrs: { desc: 0, driver: 0, device: 0 }, eventIdx: false, indirect: false });
    expect(E.isLeft(bad) && bad.left.rule).toBe('bad-queue-size');
    const r = rig('split', 4);
    const drv = makeDriverE(ringFactory('split'), r.space, r.config);
    const dev = makeDeviceE(ringFactory('split'), r.space, r.config);
    if (E.isLeft(drv) || E.isLeft(dev)) throw new Error('set-up');
    const c = new Chain(2);
    expect(E.isLeft(addE(drv.right, c, 1))).toBe(true); // empty chain
    c.push(BUF_BASE, 16, true);
    expect(addE(drv.right, c, 1)).toEqual(E.right(0));
    const p = new Chain();
    expect(popE(dev.right, p)).toEqual(E.right(true));
    expect(popE(dev.right, p)).toEqual(E.right(false));
    expect(pushE(dev.right, 0, 1, 16)).toEqual(E.right(undefined));
    expect(E.isLeft(pushE(dev.right, 9, 1, 16))).toBe(true);
    const u = new Used();
    expect(reapE(drv.right, u)).toEqual(E.right(true));
    expect([u.id, u.len, u.token]).toEqual([0, 16, 1]);
    expect(reapE(drv.right, u)).toEqual(E.right(false));
  });
});

describe('Chain.one', () => {
  it('builds the same chain as reset + push of one buffer, over a chain in any prior state', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 0xffffffff }), fc.boolean()), { maxLength: 4 }),
        fc.integer({ min: 0, max: 2 ** 52 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.boolean(),
        (before, addr, len, writable) => {
          const a = new Chain(4);
          const b = new Chain(4);
          for (const [x, l, w] of before) {
            a.push(x, l, w);
            b.push(x, l, w);
          }
          a.id = b.id = 7;
          a.indirect = b.indirect = true;
          expect(a.one(addr, len, writable)).toBe(true);
          b.reset();
          b.push(addr, len, writable);
          for (const k of ['id', 'ringDescs', 'indirect', 'count', 'outCount', 'outBytes', 'inBytes', 'inCount'] as const) expect(a[k]).toBe(b[k]);
          expect(a.addr[0]).toBe(b.addr[0]);
          expect(a.len[0]).toBe(b.len[0]);
        },
      ),
    );
  });

  it('refuses a chain with no room', () => {
    expect(new Chain(0).one(BUF_BASE, 8, false)).toBe(false);
  });
});
