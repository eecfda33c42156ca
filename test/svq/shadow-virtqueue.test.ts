import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Chain, type RingLayout } from '../../src/ring/types.js';
import { VHOST_ACCESS_RO } from '../../src/device/types.js';
import { Harness, type Shape } from './harness.js';

const layouts: [RingLayout, RingLayout][] = [
  ['split', 'split'],
  ['packed', 'packed'],
  ['split', 'packed'],
  ['packed', 'split'],
];

const shapeArb: fc.Arbitrary<Shape> = fc.record({
  out: fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 3 }),
  in: fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 0, maxLength: 3 }),
  indirect: fc.boolean(),
});

function side(layout: RingLayout, size: number, eventIdx: boolean, indirect: boolean) {
  return { layout, size, eventIdx, indirect };
}

describe('ShadowVirtqueue forwarding', () => {
  for (const [g, s] of layouts) {
    for (const eventIdx of [false, true]) {
      it(`forwards guest ${g} → shadow ${s}, EVENT_IDX ${eventIdx ? 'on' : 'off'}, every byte and length intact (shadow indirect or not, guest RAM in one or two IOVA maps)`, () => {
        fc.assert(
          fc.property(fc.boolean(), fc.boolean(), fc.array(fc.tuple(shapeArb, fc.integer({ min: 0, max: 6 })), { minLength: 1, maxLength: 40 }), (shadowInd, splitMap, steps) => {
            // with two IOVA maps: 64 KiB of RAM, 3000-byte buffer slots, so slot 6 straddles the middle
            const h = splitMap
              ? new Harness({ guest: side(g, 16, eventIdx, true), shadow: side(s, 8, eventIdx, shadowInd), splitGuestMap: true, guestMem: 1 << 16 }, 3000)
              : new Harness({ guest: side(g, 16, eventIdx, true), shadow: side(s, 8, eventIdx, shadowInd) });
            let added = 0;
            for (const [shape, devN] of steps) {
              if (h.add(shape)) added++;
              h.kick();
              h.runDevice(devN);
              h.reap();
              expect(h.svq.failure).toBeUndefined();
            }
            h.drain();
            const st = h.svq.stats();
            expect(h.returned).toBe(added);
            expect(st.forwarded).toBe(added);
            expect(st.returned).toBe(added);
            expect(h.svq.inFlight()).toBe(0);
            expect(st.kicksSent).toBe(h.deviceKicked);
            expect(st.callsSent).toBe(h.guestCalled);
          }),
          { numRuns: 25 },
        );
      });
    }
  }

  it('flattens indirect guest chains when the device lacks INDIRECT_DESC, forwards them indirect when it has it', () => {
    for (const shadowInd of [false, true]) {
      const h = new Harness({ guest: side('split', 16, false, true), shadow: side('packed', 16, false, shadowInd) });
      for (let i = 0; i < 8; i++) expect(h.add({ out: [10, 20, 30], in: [40, 50], indirect: true })).toBe(true);
      h.kick(true);
      // flattened, 5 descriptors each: only 3 fit the 16-entry shadow ring at once
      expect(h.svq.stats().forwarded).toBe(shadowInd ? 8 : 3);
      h.drain();
      expect(h.returned).toBe(8);
      expect(h.svq.stats().indirectForwarded).toBe(shadowInd ? 8 : 0);
    }
  });

  it('splits a guest buffer that crosses two IOVA mappings into two shadow descriptors', () => {
    const h = new Harness({ guest: side('split', 8, false, false), shadow: side('split', 8, false, false), splitGuestMap: true });
    expect(h.add({ out: [100], in: [200] }, { cross: true })).toBe(true);
    h.kick(true);
    // the device sees three segments: 64 + 36 readable (split at the middle of RAM), 200 writable
    const seen: number[] = [];
    const ring = h.device.ring;
    const orig = ring.pop.bind(ring);
    ring.pop = (c) => {
      const r = orig(c);
      if (r === true) for (let k = 0; k < c.count; k++) seen.push(c.len[k]!);
      return r;
    };
    h.runDevice(1, true);
    expect(seen).toEqual([64, 36, 200]);
    expect(h.reap()).toBe(1);
  });

  it('translates one-buffer chains through the mapping as it is now: a removed or re-made guest mapping is never served from the last hit', () => {
    for (const [g, s] of layouts) {
      const h = new Harness({ guest: side(g, 16, false, false), shadow: side(s, 16, false, false) });
      const tree = h.tb.tree;
      // warm the last-hit mapping with one-buffer chains both ways
      expect(h.add({ out: [64], in: [] })).toBe(true);
      expect(h.add({ out: [], in: [64] })).toBe(true);
      h.kick(true);
      h.drain();
      // guest RAM re-mapped read-only at a new IOVA: a writable buffer must now fail translation ...
      const m = tree.lookup('gpa', h.tb.bufBase)!;
      expect(tree.remove(m.iova)).toMatchObject({ iova: m.iova });
      expect(tree.insert('gpa', 2 ** 32, { translatedAddr: m.translatedAddr, size: m.size, perm: VHOST_ACCESS_RO })).toMatchObject({ iova: 2 ** 32 });
      // ... and a readable one goes to the new IOVA (aliased in the device's view there), not the old one
      const seen: number[] = [];
      const ring = h.device.ring;
      const orig = ring.pop.bind(ring);
      ring.pop = (c) => {
        const r = orig(c);
        if (r === true) seen.push(c.addr[0]!);
        return r;
      };
      h.tb.iovaView.addRegion(tree.lookup('gpa', h.tb.bufBase)!.iova, h.tb.guestRegion.buffer, { offset: 0, size: h.tb.guestRegion.size, name: 'guest-ram-again' });
      expect(h.add({ out: [64], in: [] })).toBe(true);
      const gpa = [...h.inFlight.values()].at(-1)!.segs[0]!.addr;
      h.kick(true);
      h.runDevice(1, true);
      expect(seen).toEqual([tree.lookup('gpa', gpa)!.iova + (gpa - m.translatedAddr)]);
      expect(seen[0]).not.toBe(m.iova + (gpa - m.translatedAddr));
      expect(h.svq.failure).toBeUndefined();
      expect(h.add({ out: [], in: [64] })).toBe(true);
      h.kick(true);
      expect(h.svq.failure).toMatchObject({ kind: 'translate', cause: { kind: 'permission' } });
    }
  });

  it('stashes the popped element when the shadow ring is full and stops reading guest kicks until the device uses something (-ENOSPC)', () => {
    for (const [g, s] of layouts) {
      const h = new Harness({ guest: side(g, 16, false, false), shadow: side(s, 8, false, false) });
      // two descriptors a chain: four fit the 8-entry shadow ring
      for (let i = 0; i < 6; i++) expect(h.add({ out: [8], in: [8] })).toBe(true);
      h.kick(true);
      expect(h.svq.stats().forwarded).toBe(4);
      expect(h.svq.stashed()).toBe(1);
      expect(h.svq.inFlight()).toBe(5);
      expect(h.svq.stats().stashes).toBe(1);
      // more guest kicks change nothing while stashed
      h.svq.handleGuestKick();
      expect(h.svq.stats().forwarded).toBe(4);
      // the device uses one chain: the stash takes its room, the next guest chain is stashed in turn
      h.runDevice(1, true);
      expect(h.svq.stats().forwarded).toBe(5);
      expect(h.svq.stashed()).toBe(1);
      expect(h.svq.stats().stashes).toBe(2);
      h.runDevice(1, true);
      expect(h.svq.stats().forwarded).toBe(6);
      expect(h.svq.stashed()).toBe(0);
      h.drain();
      expect(h.returned).toBe(6);
    }
  });

  for (const [g, s] of layouts) {
    it(`fails the queue with a typed error on a bad used id or length (${g} → ${s}), keeping the guest chains accounted for`, () => {
      for (const bad of ['id', 'len'] as const) {
        const h = new Harness({ guest: side(g, 8, false, false), shadow: side(s, 8, false, false) });
        for (let i = 0; i < 3; i++) h.add({ out: [16], in: [16] });
        h.kick(true);
        const ring = h.device.ring;
        const chain = new Chain(64);
        expect(ring.pop(chain)).toBe(true);
        if (bad === 'id') ring.push(7, 1, 0);
        else ring.push(chain.id, chain.ringDescs, 17);
        h.svq.handleDeviceCall();
        const f = h.svq.failure;
        expect(f?.kind).toBe('device-ring');
        expect(f?.cause && 'rule' in f.cause ? f.cause.rule : '').toBe(bad === 'id' ? 'used-id-not-in-flight' : 'used-len-too-large');
        expect(h.svq.state).toBe('failed');
        expect(h.svq.inFlight()).toBe(3);
        const ho = h.svq.stop();
        expect(ho.inFlight.map((e) => e.len)).toEqual([[16, 16], [16, 16], [16, 16]]);
        // a failed queue ignores further kicks and calls
        h.svq.handleGuestKick();
        h.svq.handleDeviceCall();
        expect(h.reap()).toBe(0);
      }
    });
  }

  for (const [g, s] of layouts) {
    for (const eventIdx of [false, true]) {
      it(`relays suppression: no device kick while the device is busy, no guest call while the guest polls (${g} → ${s}, EVENT_IDX ${eventIdx ? 'on' : 'off'})`, () => {
        const h = new Harness({ guest: side(g, 16, eventIdx, false), shadow: side(s, 16, eventIdx, false) });
        // the device is busy (kicks off: NO_NOTIFY / avail_event parked / packed DISABLE)
        h.device.ring.disableKicks();
        h.add({ out: [8], in: [8] });
        h.kick(true);
        expect(h.svq.stats().forwarded).toBe(1);
        expect(h.deviceKicked).toBe(0);
        // the device goes idle and asks for kicks again: the next chain kicks it
        expect(h.device.ring.enableKicks()).toBe(true); // the race: a chain is already there
        h.runDevice(8);
        h.add({ out: [8], in: [8] });
        h.kick(true);
        expect(h.deviceKicked).toBe(1);
        // the guest polls (NO_INTERRUPT / used_event parked / packed DISABLE): SVQ returns without calling
        h.tb.guestDriver.disableCalls();
        const before = h.guestCalled;
        h.runDevice(8, true);
        expect(h.svq.stats().returned).toBe(2);
        expect(h.guestCalled).toBe(before);
        expect(h.reap()).toBe(2);
        // calls back on: the next used chain is signalled
        h.tb.guestDriver.enableCalls();
        h.add({ out: [8], in: [8] });
        h.kick(true);
        h.runDevice(8, true);
        expect(h.guestCalled).toBe(before + 1);
        expect(h.reap()).toBe(1);
        expect(h.svq.stats().kicksSent).toBe(h.deviceKicked);
      });
    }
  }
});

describe('ShadowVirtqueue kick suppression while busy (vhost-net handle_tx)', () => {
  for (const [g, s] of layouts) {
    for (const eventIdx of [false, true]) {
      it(`guest ${g} → shadow ${s}, EVENT_IDX ${eventIdx ? 'on' : 'off'}: no guest kick while chains are in flight, kicks back once idle, never a stall`, () => {
        const h = new Harness({ guest: side(g, 16, eventIdx, false), shadow: side(s, 16, eventIdx, false), pollGuestWhileBusy: true });
        const one = { out: [64], in: [64] };
        expect(h.add(one)).toBe(true);
        expect(h.tb.guestDriver.kickNeeded()).toBe(true);
        h.svq.handleGuestKick();
        expect(h.svq.stats().forwarded).toBe(1);
        // busy: the guest's next chains need no kick; the device's call makes SVQ poll the guest ring
        for (let i = 0; i < 3; i++) expect(h.add(one)).toBe(true);
        expect(h.tb.guestDriver.kickNeeded()).toBe(false);
        h.runDevice(1);
        expect(h.svq.stats().forwarded).toBe(4);
        expect(h.svq.stats().guestKicks).toBe(1);
        // the device finishes everything: SVQ goes idle and asks for kicks again
        h.runDevice(16);
        h.reap();
        expect(h.returned).toBe(4);
        expect(h.svq.inFlight()).toBe(0);
        expect(h.add(one)).toBe(true);
        expect(h.tb.guestDriver.kickNeeded()).toBe(true);
      });

      it(`guest ${g} → shadow ${s}, EVENT_IDX ${eventIdx ? 'on' : 'off'}: random traffic drains with only the notifications the rings ask for`, () => {
        fc.assert(
          fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 6 }), fc.boolean()), { minLength: 1, maxLength: 40 }), (steps) => {
            const h = new Harness({ guest: side(g, 16, eventIdx, false), shadow: side(s, 8, eventIdx, false) });
            let added = 0;
            for (const [adds, devN, reap] of steps) {
              for (let i = 0; i < adds; i++) if (h.add({ out: [32], in: [32] })) added++;
              h.kick();
              h.runDevice(devN);
              if (reap) h.reap();
            }
            // no forced kick or call: what is in flight must still come back
            for (let i = 0; i < 200 && h.returned < added; i++) {
              h.kick();
              h.runDevice(8);
              h.reap();
            }
            expect(h.svq.failure).toBeUndefined();
            expect(h.returned).toBe(added);
            expect(h.svq.inFlight()).toBe(0);
          }),
          { numRuns: 30 },
        );
      });
    }
  }
});
