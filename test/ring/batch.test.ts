/**
 * The burst operations (addBatch, popBatch, pushBatch, reapBatch) against the per-chain ones, on both
 * layouts:
 *  - a property: random interleavings of burst and per-chain calls on one ring keep driver and device
 *    in agreement (the device sees exactly the segments added, the driver reaps exactly the length the
 *    device wrote, every token reaped once or still in flight);
 *  - every malformed-ring rule, built by hand on two identical rings, comes back from the burst path as
 *    the very `RingError` the per-chain path returns, after the same number of good chains, with the
 *    same ring position and the same ring bytes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  BufferBatch,
  Chain,
  ChainBatch,
  isRingError,
  placeRing,
  Used,
  UsedBatch,
  VRING_DESC_F_INDIRECT as INDIRECT,
  VRING_DESC_F_NEXT as NEXT,
  VRING_DESC_F_WRITE as WRITE,
  VRING_PACKED_DESC_F_AVAIL as AVAIL,
  VRING_PACKED_DESC_F_USED as USED,
  type RingError,
  type RingLayout,
} from '../../src/ring/index.js';
import { BUF_BASE, hex, IND_BASE, packedDesc, rig, RING_BASE, RingLedger, splitDesc, splitPublish, unwrap, type Rig } from './helpers.js';

// ───────────────────────────── property: bursts and single calls interchangeable ─────────────────────────────

type Op =
  | { op: 'add'; outs: number[]; ins: number[]; indirect: boolean }
  | { op: 'addBatch'; lens: number[]; writable: boolean[] }
  | { op: 'pop'; n: number }
  | { op: 'popBatch'; cap: number }
  | { op: 'push'; pick: number; frac: number }
  | { op: 'pushBatch'; picks: number[]; frac: number }
  | { op: 'reap'; n: number }
  | { op: 'reapBatch'; cap: number }
  | { op: 'toggle'; calls: boolean; kicks: boolean };

const seg = fc.integer({ min: 1, max: 4096 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('add' as const), outs: fc.array(seg, { maxLength: 3 }), ins: fc.array(seg, { maxLength: 3 }), indirect: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('addBatch' as const), lens: fc.array(seg, { minLength: 0, maxLength: 12 }), writable: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('pop' as const), n: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('popBatch' as const), cap: fc.integer({ min: 1, max: 10 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('push' as const), pick: fc.nat(), frac: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('pushBatch' as const), picks: fc.array(fc.nat(), { maxLength: 8 }), frac: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('reap' as const), n: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('reapBatch' as const), cap: fc.integer({ min: 1, max: 10 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('toggle' as const), calls: fc.boolean(), kicks: fc.boolean() }) },
);

function interleave(layout: RingLayout, size: number, eventIdx: boolean, ops: Op[]): void {
  const { driver, device } = rig(layout, size, { eventIdx, indirect: true, indCap: 8 });
  const chain = new Chain(64);
  const popped = new Chain(64);
  const used = new Used();
  const bufs = new BufferBatch(12);
  const usedBatches = new Map<number, UsedBatch>();
  const chainBatches = new Map<number, ChainBatch>();
  const ledger = new RingLedger();
  const reapOne = (): boolean => {
    const r = driver.reap(used);
    if (isRingError(r)) throw new Error(r.message);
    if (r) ledger.gotUsed(used.id, used.len, used.token);
    return r;
  };
  const popOne = (): boolean => {
    const r = device.pop(popped);
    if (isRingError(r)) throw new Error(r.message);
    if (r) ledger.seen(popped);
    return r;
  };

  for (const o of ops) {
    switch (o.op) {
      case 'add': {
        chain.reset();
        for (const l of o.outs) chain.push(ledger.nextAddr(), l, false);
        for (const l of o.ins) chain.push(ledger.nextAddr(), l, true);
        const token = ledger.nextToken++;
        const r = driver.add(chain, token, o.indirect);
        if (isRingError(r)) {
          expect(['no-space', 'empty-chain']).toContain(r.rule);
          break;
        }
        ledger.recordChain(r, token, chain);
        driver.kickNeeded();
        break;
      }
      case 'addBatch': {
        bufs.count = 0;
        const first = ledger.nextToken;
        for (let k = 0; k < o.lens.length; k++) expect(bufs.push(ledger.nextAddr(), o.lens[k]!, o.writable[k]!, ledger.nextToken++)).toBe(true);
        const free = driver.numFree();
        const r = driver.addBatch(bufs);
        if (isRingError(r)) {
          // refused only when not even one buffer fits
          expect(r.rule).toBe('no-space');
          expect(free).toBe(0);
          break;
        }
        expect(r).toBe(Math.min(o.lens.length, free));
        for (let k = 0; k < r; k++) {
          const w = o.writable[k]!;
          ledger.record(bufs.id[k]!, first + k, { addr: [bufs.addr[k]!], len: [o.lens[k]!], outCount: w ? 0 : 1, inBytes: w ? o.lens[k]! : 0 });
        }
        driver.kickNeeded();
        break;
      }
      case 'pop':
        for (let k = 0; k < o.n && popOne(); k++);
        break;
      case 'popBatch': {
        let cb = chainBatches.get(o.cap);
        if (cb === undefined) chainBatches.set(o.cap, (cb = new ChainBatch(o.cap, 64)));
        const r = device.popBatch(cb);
        if (isRingError(r)) throw new Error(r.message);
        expect(r).toBe(cb.count);
        for (let k = 0; k < r; k++) {
          const c = cb.chains[k]!;
          expect([cb.id[k], cb.ringDescs[k], cb.inBytes[k]]).toEqual([c.id, c.ringDescs, c.inBytes]);
          ledger.seen(c);
        }
        break;
      }
      case 'push': {
        if (ledger.pending.length === 0) break;
        const p = ledger.takePending(o.pick, o.frac);
        expect(device.push(p.id, p.ringDescs, p.len)).toBeUndefined();
        device.callNeeded();
        break;
      }
      case 'pushBatch': {
        const ids: number[] = [];
        const descs: number[] = [];
        const lens: number[] = [];
        for (const pick of o.picks) {
          if (ledger.pending.length === 0) break;
          const p = ledger.takePending(pick, o.frac);
          ids.push(p.id);
          descs.push(p.ringDescs);
          lens.push(p.len);
        }
        expect(device.pushBatch(Uint16Array.from(ids), Uint16Array.from(descs), Uint32Array.from(lens), ids.length)).toBe(ids.length);
        device.callNeeded();
        break;
      }
      case 'reap':
        for (let k = 0; k < o.n && reapOne(); k++);
        break;
      case 'reapBatch': {
        let ub = usedBatches.get(o.cap);
        if (ub === undefined) usedBatches.set(o.cap, (ub = new UsedBatch(o.cap)));
        const r = driver.reapBatch(ub);
        if (isRingError(r)) throw new Error(r.message);
        expect(r).toBe(ub.count);
        for (let k = 0; k < r; k++) ledger.gotUsed(ub.id[k]!, ub.len[k]!, ub.token[k]!);
        break;
      }
      case 'toggle':
        if (o.calls) driver.enableCalls();
        else driver.disableCalls();
        if (o.kicks) device.enableKicks();
        else device.disableKicks();
        break;
    }
    expect(driver.inFlight()).toBe(ledger.byId.size);
  }
  // Drain: every token still in flight comes back exactly once.
  while (popOne());
  while (ledger.pending.length > 0) {
    const p = ledger.takePending(0, 1);
    expect(device.push(p.id, p.ringDescs, p.len)).toBeUndefined();
  }
  while (reapOne());
  expect(driver.inFlight()).toBe(0);
  expect(ledger.byId.size).toBe(0);
  expect(ledger.reaped.size).toBe(ledger.sent.size);
}

describe('bursts and per-chain calls are interchangeable', () => {
  for (const layout of ['split', 'packed'] as const) {
    for (const eventIdx of [false, true]) {
      it(`${layout}${eventIdx ? ' + EVENT_IDX' : ''}`, () => {
        fc.assert(
          fc.property(fc.constantFrom(8, 16, 32), fc.array(opArb, { minLength: 1, maxLength: 120 }), (size, ops) => interleave(layout, size, eventIdx, ops)),
          { numRuns: 60 },
        );
      });
    }
  }
});

// ───────────────────────────── rules: the burst path reports what the per-chain path does ─────────────────────────────

const SIZE = 16;
const TABLE = IND_BASE; // a hand-built indirect table in the rig's indirect region

/** Identical rings: `lead` good one-segment chains, then the bad chain the scenario writes at `base`. */
interface DeviceScenario {
  rule: string;
  indirect?: boolean;
  segments?: number;
  /** The scenario needs the ring from its start (e.g. a chain over every slot). */
  leadless?: boolean;
  write(r: Rig, base: number): void;
}

const bigRegions = (r: Rig): void => {
  const big = new ArrayBuffer(2 ** 31);
  unwrap(r.space.addRegion(2 ** 34, big, { name: 'big-a' }));
  unwrap(r.space.addRegion(2 ** 35, big, { name: 'big-b' }));
};

const splitScenarios: DeviceScenario[] = [
  { rule: 'avail-idx-ahead', write: (r) => unwrap(r.space.writeU16(r.config.addrs.driver + 2, SIZE + 1)) },
  { rule: 'desc-index-out-of-range', write: (r) => splitPublish(r.space, r, SIZE) },
  {
    rule: 'desc-index-out-of-range',
    write: (r, b) => {
      splitDesc(r.space, r.config.addrs.desc, b, BUF_BASE, 16, NEXT, SIZE);
      splitPublish(r.space, r, b);
    },
  },
  {
    rule: 'chain-loop',
    write: (r, b) => {
      splitDesc(r.space, r.config.addrs.desc, b, BUF_BASE, 16, NEXT, b);
      splitPublish(r.space, r, b);
    },
  },
  {
    rule: 'readable-after-writable',
    write: (r, b) => {
      splitDesc(r.space, r.config.addrs.desc, b, BUF_BASE, 16, WRITE | NEXT, b + 1);
      splitDesc(r.space, r.config.addrs.desc, b + 1, BUF_BASE, 16, 0);
      splitPublish(r.space, r, b);
    },
  },
  {
    rule: 'length-overflow',
    write: (r, b) => {
      bigRegions(r);
      splitDesc(r.space, r.config.addrs.desc, b, 2 ** 34, 2 ** 31, NEXT, b + 1);
      splitDesc(r.space, r.config.addrs.desc, b + 1, 2 ** 35, 2 ** 31, 0);
      splitPublish(r.space, r, b);
    },
  },
  {
    rule: 'buffer-unmapped',
    write: (r, b) => {
      splitDesc(r.space, r.config.addrs.desc, b, 0x7000_0000, 16, 0);
      splitPublish(r.space, r, b);
    },
  },
  {
    rule: 'indirect-not-negotiated',
    indirect: false,
    write: (r, b) => {
      splitDesc(r.space, r.config.addrs.desc, b, TABLE, 16, INDIRECT);
      splitPublish(r.space, r, b);
    },
  },
  ...([
    ['zero-length', 0, INDIRECT],
    ['indirect-len', 24, INDIRECT],
    ['indirect-next', 16, INDIRECT | NEXT],
  ] as const).map(([rule, len, flags]): DeviceScenario => ({
    rule,
    write: (r, b) => {
      splitDesc(r.space, r.config.addrs.desc, b, TABLE, len, flags, b + 1);
      splitPublish(r.space, r, b);
    },
  })),
  {
    rule: 'indirect-nested',
    write: (r, b) => {
      splitDesc(r.space, TABLE, 0, BUF_BASE, 16, INDIRECT);
      splitDesc(r.space, r.config.addrs.desc, b, TABLE, 16, INDIRECT);
      splitPublish(r.space, r, b);
    },
  },
  {
    rule: 'chain-loop',
    write: (r, b) => {
      splitDesc(r.space, TABLE, 0, BUF_BASE, 16, NEXT, 1);
      splitDesc(r.space, TABLE, 1, BUF_BASE, 16, NEXT, 0);
      splitDesc(r.space, r.config.addrs.desc, b, TABLE, 32, INDIRECT);
      splitPublish(r.space, r, b);
    },
  },
  {
    rule: 'chain-too-long',
    segments: 1,
    write: (r, b) => {
      splitDesc(r.space, r.config.addrs.desc, b, BUF_BASE, 16, NEXT, b + 1);
      splitDesc(r.space, r.config.addrs.desc, b + 1, BUF_BASE, 16, 0);
      splitPublish(r.space, r, b);
    },
  },
];

const A = AVAIL; // lap 1: AVAIL set, USED clear
const packedScenarios: DeviceScenario[] = [
  { rule: 'packed-id-out-of-range', write: (r, b) => packedDesc(r.space, r.config.addrs.desc, b, BUF_BASE, 16, SIZE, A) },
  {
    rule: 'packed-chain-unterminated',
    leadless: true,
    write: (r) => {
      for (let s = 0; s < SIZE; s++) packedDesc(r.space, r.config.addrs.desc, s, BUF_BASE, 16, 0, A | NEXT);
    },
  },
  {
    rule: 'readable-after-writable',
    write: (r, b) => {
      packedDesc(r.space, r.config.addrs.desc, b + 1, BUF_BASE, 16, 0, A);
      packedDesc(r.space, r.config.addrs.desc, b, BUF_BASE, 16, 0, A | WRITE | NEXT);
    },
  },
  {
    rule: 'length-overflow',
    write: (r, b) => {
      bigRegions(r);
      packedDesc(r.space, r.config.addrs.desc, b + 1, 2 ** 35, 2 ** 31, 0, A);
      packedDesc(r.space, r.config.addrs.desc, b, 2 ** 34, 2 ** 31, 0, A | NEXT);
    },
  },
  { rule: 'buffer-unmapped', write: (r, b) => packedDesc(r.space, r.config.addrs.desc, b, 0x7000_0000, 16, 0, A) },
  { rule: 'indirect-not-negotiated', indirect: false, write: (r, b) => packedDesc(r.space, r.config.addrs.desc, b, TABLE, 16, 0, A | INDIRECT) },
  ...([
    ['zero-length', 0, INDIRECT],
    ['indirect-len', 24, INDIRECT],
    ['indirect-next', 16, INDIRECT | NEXT],
  ] as const).map(([rule, len, flags]): DeviceScenario => ({
    rule,
    write: (r, b) => packedDesc(r.space, r.config.addrs.desc, b, TABLE, len, 0, A | flags),
  })),
  {
    // §2.8.19: no INDIRECT descriptor in a list linked by NEXT (packed; split allows it, §2.7.5.3)
    rule: 'indirect-next',
    write: (r, b) => {
      packedDesc(r.space, TABLE, 0, BUF_BASE, 16, 0, 0);
      packedDesc(r.space, r.config.addrs.desc, b + 1, TABLE, 16, 0, A | INDIRECT);
      packedDesc(r.space, r.config.addrs.desc, b, BUF_BASE, 16, 0, A | NEXT);
    },
  },
  {
    rule: 'chain-too-long',
    segments: 1,
    write: (r, b) => {
      packedDesc(r.space, r.config.addrs.desc, b + 1, BUF_BASE, 16, 0, A);
      packedDesc(r.space, r.config.addrs.desc, b, BUF_BASE, 16, 0, A | NEXT);
    },
  },
];

/** `lead` good one-segment chains at descriptors / slots 0..lead-1, made available. */
function writeLead(r: Rig, lead: number): void {
  for (let k = 0; k < lead; k++) {
    if (r.config.layout === 'split') {
      splitDesc(r.space, r.config.addrs.desc, k, BUF_BASE + k * 0x1000, 64, WRITE);
      splitPublish(r.space, r, k);
    } else {
      packedDesc(r.space, r.config.addrs.desc, k, BUF_BASE + k * 0x1000, 64, k, A | WRITE);
    }
  }
}

/** Every byte of the ring's areas. */
const ringBytes = (r: Rig): string => hex(r.space, RING_BASE, placeRing(r.config.layout, r.config.size, RING_BASE).end - RING_BASE);

function expectSameDeviceError(layout: RingLayout, sc: DeviceScenario, lead: number, eventIdx: boolean): void {
  const make = (): Rig => {
    const r = rig(layout, SIZE, { indirect: sc.indirect ?? true, eventIdx });
    writeLead(r, lead);
    sc.write(r, lead);
    return r;
  };
  const one = make();
  const burst = make();
  const segs = sc.segments ?? 64;
  // per-chain: pop until the error
  const chain = new Chain(segs);
  let perChain = 0;
  let err1: RingError | undefined;
  for (;;) {
    const r = one.device.pop(chain);
    if (isRingError(r)) {
      err1 = r;
      break;
    }
    expect(r).toBe(true);
    perChain++;
  }
  // burst: popBatch until the error
  const cb = new ChainBatch(4, segs);
  let bursts = 0;
  let err2: RingError | undefined;
  for (;;) {
    const r = burst.device.popBatch(cb);
    if (isRingError(r)) {
      err2 = r;
      expect(cb.count).toBe(0);
      break;
    }
    expect(r).toBeGreaterThan(0);
    bursts += r;
  }
  expect(err1.rule).toBe(sc.rule);
  expect(err2).toEqual(err1);
  expect(bursts).toBe(perChain);
  expect(burst.device.base()).toEqual(one.device.base());
  expect(ringBytes(burst)).toBe(ringBytes(one));
  // nothing consumed: the burst path reports the same error again
  expect(burst.device.popBatch(cb)).toEqual(err1);
}

for (const [layout, scenarios] of [['split', splitScenarios], ['packed', packedScenarios]] as const) {
  describe(`${layout}: popBatch reports each device-side rule as pop does`, () => {
    for (const sc of scenarios) {
      it(`${sc.rule}${sc.indirect === false ? ' (no INDIRECT_DESC)' : ''}`, () => {
        for (const lead of sc.leadless ? [0] : [0, 1, 3, 6]) for (const ev of [false, true]) expectSameDeviceError(layout, sc, lead, ev);
      });
    }
  });
}

/** Used entries written by hand (split used ring §2.7.8, packed used descriptors §2.8.7). */
function writeUsed(r: Rig, elems: ReadonlyArray<readonly [id: number, len: number]>): void {
  if (r.config.layout === 'split') {
    const u = r.config.addrs.device;
    elems.forEach(([id, len], k) => {
      unwrap(r.space.writeU32(u + 4 + 8 * k, id));
      unwrap(r.space.writeU32(u + 8 + 8 * k, len));
    });
    unwrap(r.space.writeU16(u + 2, elems.length));
  } else {
    // WRITE marks a used descriptor whose len counts (§2.8 "Write Flag", "Element Address and Length")
    elems.forEach(([id, len], k) => packedDesc(r.space, r.config.addrs.desc, k, 0, len, id, AVAIL | USED | (len > 0 ? WRITE : 0)));
  }
}

const driverScenarios: Array<{ rule: string; used: Array<[number, number]> }> = [
  { rule: 'used-id-out-of-range', used: [[0, 100], [1, 50], [SIZE, 0]] },
  { rule: 'used-id-not-in-flight', used: [[0, 100], [1, 50], [1, 0]] },
  { rule: 'used-len-too-large', used: [[0, 100], [1, 50], [2, 101]] },
  { rule: 'used-id-out-of-range', used: [[0xffff, 0]] },
];

describe('reapBatch reports each driver-side rule as reap does', () => {
  for (const layout of ['split', 'packed'] as const) {
    for (const sc of driverScenarios) {
      it(`${layout}: ${sc.rule} after ${sc.used.length - 1} good entries`, () => {
        for (const eventIdx of [false, true]) {
          const make = (): Rig => {
            const r = rig(layout, SIZE, { eventIdx });
            const c = new Chain(1);
            for (let k = 0; k < 4; k++) {
              c.reset();
              c.push(BUF_BASE + k * 0x1000, 100, true);
              expect(r.driver.add(c, 1000 + k)).toBe(k);
            }
            writeUsed(r, sc.used);
            return r;
          };
          const one = make();
          const burst = make();
          const used = new Used();
          const tokens1: number[] = [];
          let err1: RingError | undefined;
          for (;;) {
            const r = one.driver.reap(used);
            if (isRingError(r)) {
              err1 = r;
              break;
            }
            expect(r).toBe(true);
            tokens1.push(used.token);
          }
          const ub = new UsedBatch(8);
          const tokens2: number[] = [];
          let err2: RingError | undefined;
          for (;;) {
            const r = burst.driver.reapBatch(ub);
            if (isRingError(r)) {
              err2 = r;
              break;
            }
            for (let k = 0; k < r; k++) tokens2.push(ub.token[k]!);
          }
          expect(err1.rule).toBe(sc.rule);
          expect(err2).toEqual(err1);
          expect(tokens2).toEqual(tokens1);
          expect(burst.driver.inFlight()).toBe(one.driver.inFlight());
          expect(burst.driver.numFree()).toBe(one.driver.numFree());
          expect(burst.driver.base()).toEqual(one.driver.base());
          expect(ringBytes(burst)).toBe(ringBytes(one));
        }
      });
    }
  }
});

describe('addBatch and pushBatch refuse as add and push do', () => {
  for (const layout of ['split', 'packed'] as const) {
    it(`${layout}: no-space once the ring is full; a burst stops at the last free descriptor`, () => {
      const one = rig(layout, SIZE);
      const burst = rig(layout, SIZE);
      const c = new Chain(1);
      const bufs = new BufferBatch(SIZE + 4);
      for (let k = 0; k < SIZE + 4; k++) bufs.push(BUF_BASE + k * 0x100, 0x100, k % 2 === 0, k);
      for (let k = 0; k < SIZE; k++) {
        c.reset();
        c.push(BUF_BASE + k * 0x100, 0x100, k % 2 === 0);
        expect(one.driver.add(c, k)).toBe(k);
      }
      expect(burst.driver.addBatch(bufs)).toBe(SIZE);
      expect(Array.from(bufs.id.subarray(0, SIZE))).toEqual(Array.from({ length: SIZE }, (_, k) => k));
      expect(ringBytes(burst)).toBe(ringBytes(one));
      const e1 = one.driver.add(c, 99);
      expect(isRingError(e1) && e1.rule).toBe('no-space');
      expect(burst.driver.addBatch(bufs)).toEqual(e1);
      bufs.count = 0;
      expect(burst.driver.addBatch(bufs)).toBe(0);
    });

    it(`${layout}: a bad used id stops the burst where push refuses it`, () => {
      const one = rig(layout, SIZE);
      const burst = rig(layout, SIZE);
      const ids = Uint16Array.of(0, 1, SIZE, 2);
      const descs = Uint16Array.of(1, 1, 1, 1);
      const lens = Uint32Array.of(10, 20, 30, 40);
      expect(one.device.push(0, 1, 10)).toBeUndefined();
      expect(one.device.push(1, 1, 20)).toBeUndefined();
      const e1 = one.device.push(SIZE, 1, 30);
      expect(isRingError(e1)).toBe(true);
      expect(burst.device.pushBatch(ids, descs, lens, 4)).toBe(2);
      expect(burst.device.pushBatch(ids.subarray(2), descs.subarray(2), lens.subarray(2), 2)).toEqual(e1);
      expect(burst.device.base()).toEqual(one.device.base());
      expect(ringBytes(burst)).toBe(ringBytes(one));
      if (layout === 'packed') {
        const e2 = one.device.push(3, 0, 0);
        expect(isRingError(e2) && e2.rule).toBe('desc-index-out-of-range');
        expect(burst.device.pushBatch([3], [0], [0], 1)).toEqual(e2);
      }
    });
  }

  it('pushBatch logs the same dirty bytes as push, including a wrap of the used ring', () => {
    for (const layout of ['split', 'packed'] as const) {
      const logs: string[] = [];
      for (const useBatch of [false, true]) {
        const r = rig(layout, 8);
        const dirty = new Set<number>();
        r.space.setWriteHook((a: number, l: number) => {
          for (let i = 0; i < l; i++) dirty.add(a + i);
        });
        // move the used position to 6 so the burst of 5 wraps
        for (let k = 0; k < 6; k++) expect(r.device.push(k, 1, 1)).toBeUndefined();
        dirty.clear();
        const ids = [1, 2, 3, 4, 5];
        if (useBatch) expect(r.device.pushBatch(ids, [1, 1, 1, 1, 1], [7, 7, 7, 7, 7], 5)).toBe(5);
        else for (const id of ids) expect(r.device.push(id, 1, 7)).toBeUndefined();
        logs.push([...dirty].sort((a, b) => a - b).join(','));
        logs.push(ringBytes(r));
      }
      expect(logs[2]).toBe(logs[0]);
      expect(logs[3]).toBe(logs[1]);
    }
  });
});
