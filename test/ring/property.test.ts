/**
 * Driver and device agree under random traffic, on both layouts: random chains of 1..N segments mixing
 * out and in (some through indirect tables), pops, out-of-order pushes, reaps, event-index kicks and
 * calls, and enough traffic to wrap the ring thousands of times and the 16-bit indices past 65535.
 * Invariant: every token added is reaped exactly once (or is still in flight), and the device sees
 * exactly the segments the driver added, and the driver reaps exactly the length the device wrote.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Chain, isRingError, Used, type RingLayout } from '../../src/ring/index.js';
import { BUF_BASE, RingLedger, rig } from './helpers.js';

type Op =
  | { op: 'add'; outs: number[]; ins: number[]; indirect: boolean }
  | { op: 'pop'; n: number }
  | { op: 'push'; pick: number; frac: number }
  | { op: 'reap'; n: number }
  | { op: 'toggle'; calls: boolean; kicks: boolean };

const seg = fc.integer({ min: 1, max: 4096 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('add' as const), outs: fc.array(seg, { maxLength: 4 }), ins: fc.array(seg, { maxLength: 4 }), indirect: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('pop' as const), n: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('push' as const), pick: fc.nat(), frac: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('reap' as const), n: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('toggle' as const), calls: fc.boolean(), kicks: fc.boolean() }) },
);

function check(layout: RingLayout, size: number, eventIdx: boolean, warmup: number, ops: Op[]): void {
  const { driver, device } = rig(layout, size, { eventIdx, indirect: true, indCap: 8 });
  const chain = new Chain(64);
  const popped = new Chain(64);
  const used = new Used();
  const ledger = new RingLedger();

  const add = (outs: number[], ins: number[], indirect: boolean): boolean => {
    chain.reset();
    for (const l of outs) chain.push(ledger.nextAddr(), l, false);
    for (const l of ins) chain.push(ledger.nextAddr(), l, true);
    const token = ledger.nextToken++;
    const r = driver.add(chain, token, indirect);
    if (isRingError(r)) {
      expect(['no-space', 'empty-chain']).toContain(r.rule);
      if (r.rule === 'empty-chain') expect(chain.count).toBe(0);
      else expect(driver.numFree()).toBeLessThan(indirect ? 1 : chain.count);
      return false;
    }
    ledger.recordChain(r, token, chain);
    driver.kickNeeded();
    return true;
  };
  const pop = (n: number): void => {
    for (let k = 0; k < n; k++) {
      const r = device.pop(popped);
      if (isRingError(r)) throw new Error(r.message);
      if (!r) return;
      ledger.seen(popped);
    }
  };
  const push = (pick: number, frac: number): void => {
    if (ledger.pending.length === 0) return;
    const p = ledger.takePending(pick, frac);
    expect(device.push(p.id, p.ringDescs, p.len)).toBeUndefined();
    device.callNeeded();
  };
  const reap = (n: number): void => {
    for (let k = 0; k < n; k++) {
      const r = driver.reap(used);
      if (isRingError(r)) throw new Error(r.message);
      if (!r) return;
      ledger.gotUsed(used.id, used.len, used.token);
    }
  };

  // Warm-up traffic of one-segment chains moves the indices (past 65535 for long warm-ups); checked
  // with plain comparisons to stay fast.
  chain.reset();
  chain.push(BUF_BASE, 64, true);
  for (let i = 0; i < warmup; i++) {
    const id = driver.add(chain, -i);
    const p = device.pop(popped);
    if (isRingError(id) || p !== true || popped.id !== id || popped.inBytes !== 64) throw new Error(`warm-up pop ${i}`);
    if (device.push(popped.id, popped.ringDescs, 64 - (i & 63)) !== undefined) throw new Error(`warm-up push ${i}`);
    if (driver.reap(used) !== true || used.token !== -i || used.len !== 64 - (i & 63)) throw new Error(`warm-up reap ${i}`);
  }
  for (const o of ops) {
    switch (o.op) {
      case 'add': add(o.outs, o.ins, o.indirect); break;
      case 'pop': pop(o.n); break;
      case 'push': push(o.pick, o.frac); break;
      case 'reap': reap(o.n); break;
      case 'toggle':
        if (o.calls) driver.enableCalls(); else driver.disableCalls();
        if (o.kicks) device.enableKicks(); else device.disableKicks();
        break;
    }
    expect(driver.inFlight()).toBe(ledger.byId.size);
  }
  // Tokens in flight are exactly those not yet reaped.
  const flying = new Set(driver.inFlightTokens());
  for (const t of ledger.sent.keys()) expect(flying.has(t) !== ledger.reaped.has(t)).toBe(true);
  // Drain: every token added comes back exactly once.
  pop(size);
  while (ledger.pending.length > 0) push(ledger.pending.length - 1, 1);
  reap(size);
  expect(ledger.reaped.size).toBe(ledger.sent.size);
  expect(driver.inFlight()).toBe(0);
  expect(driver.numFree()).toBe(size);
  expect(device.hasAvail()).toBe(false);
}

describe.each(['split', 'packed'] as const)('%s ring: random traffic', (layout) => {
  it('driver and device agree; no buffer lost or duplicated', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 4, 8, 16), fc.boolean(), fc.array(opArb, { maxLength: 120 }), (size, eventIdx, ops) => {
        check(layout, size, eventIdx, 0, ops);
      }),
      { numRuns: 150 },
    );
  });

  it('still agrees around the 16-bit index wrap (random traffic after ~65 500 round trips)', () => {
    fc.assert(
      fc.property(fc.constantFrom(4, 8), fc.integer({ min: 65_500, max: 65_560 }), fc.array(opArb, { minLength: 40, maxLength: 120 }), (size, warmup, ops) => {
        check(layout, size, true, warmup, ops);
      }),
      { numRuns: 6 },
    );
  });
});
