/**
 * One test per malformed-ring rule of the packed layout: each builds the bad ring by hand and checks
 * that the named rule comes back (and that nothing was consumed).
 */
import { describe, expect, it } from 'vitest';
import { AddressSpace } from '../../src/memory/address-space.js';
import {
  Chain,
  isRingError,
  packedRing,
  Used,
  VRING_DESC_F_INDIRECT as INDIRECT,
  VRING_DESC_F_NEXT as NEXT,
  VRING_DESC_F_WRITE as WRITE,
  VRING_PACKED_DESC_F_AVAIL as AVAIL,
  VRING_PACKED_DESC_F_USED as USED,
  type RingConfig,
  type RingRule,
} from '../../src/ring/index.js';
import { BUF_BASE, packedDesc, rig, unwrap, type Rig } from './helpers.js';

const TABLE = BUF_BASE + 0x8000;

function popRule(r: Rig, chain = new Chain(64)): RingRule | 'ok' | 'none' {
  const res = r.device.pop(chain);
  if (isRingError(res)) {
    expect(res.layout).toBe('packed');
    const again = r.device.pop(chain);
    expect(isRingError(again) && again.rule).toBe(res.rule);
    return res.rule;
  }
  return res ? 'ok' : 'none';
}

describe('packed ring: device-side rules', () => {
  it('detects availability by the wrap counter only', () => {
    const r = rig('packed', 4);
    const d = r.config.addrs.desc;
    packedDesc(r.space, d, 0, BUF_BASE, 16, 0, 0);
    expect(popRule(r)).toBe('none'); // AVAIL=0 USED=0: not available in lap 1
    packedDesc(r.space, d, 0, BUF_BASE, 16, 0, AVAIL | USED);
    expect(popRule(r)).toBe('none'); // AVAIL=USED=1: a used descriptor
    packedDesc(r.space, d, 0, BUF_BASE, 16, 0, USED);
    expect(popRule(r)).toBe('none'); // the lap-2 encoding
    packedDesc(r.space, d, 0, BUF_BASE, 16, 0, AVAIL);
    expect(popRule(r)).toBe('ok');
  });

  it('packed-id-out-of-range: buffer id >= num in the last descriptor', () => {
    const r = rig('packed', 4);
    packedDesc(r.space, r.config.addrs.desc, 0, BUF_BASE, 16, 4, AVAIL);
    expect(popRule(r)).toBe('packed-id-out-of-range');
  });

  it('the buffer id comes from the last descriptor of the chain', () => {
    const r = rig('packed', 4);
    packedDesc(r.space, r.config.addrs.desc, 0, BUF_BASE, 16, 9, AVAIL | NEXT);
    packedDesc(r.space, r.config.addrs.desc, 1, BUF_BASE, 16, 2, AVAIL | WRITE);
    const c = new Chain();
    expect(popRule(r, c)).toBe('ok');
    expect([c.id, c.ringDescs, c.outCount, c.inBytes]).toEqual([2, 2, 1, 16]);
  });

  it('packed-chain-unterminated: NEXT on every descriptor of the ring', () => {
    const r = rig('packed', 4);
    for (let i = 0; i < 4; i++) packedDesc(r.space, r.config.addrs.desc, i, BUF_BASE, 16, 0, AVAIL | NEXT);
    expect(popRule(r)).toBe('packed-chain-unterminated');
  });

  it('readable-after-writable', () => {
    const r = rig('packed', 4);
    packedDesc(r.space, r.config.addrs.desc, 0, BUF_BASE, 16, 0, AVAIL | NEXT | WRITE);
    packedDesc(r.space, r.config.addrs.desc, 1, BUF_BASE, 16, 0, AVAIL);
    expect(popRule(r)).toBe('readable-after-writable');
  });

  it('length-overflow', () => {
    const r = rig('packed', 4);
    const big = new ArrayBuffer(2 ** 31);
    unwrap(r.space.addRegion(2 ** 34, big, { name: 'big-a' }));
    unwrap(r.space.addRegion(2 ** 35, big, { name: 'big-b' }));
    packedDesc(r.space, r.config.addrs.desc, 0, 2 ** 34, 2 ** 31, 0, AVAIL | NEXT);
    packedDesc(r.space, r.config.addrs.desc, 1, 2 ** 35, 2 ** 31, 0, AVAIL);
    expect(popRule(r)).toBe('length-overflow');
  });

  it('buffer-unmapped', () => {
    const r = rig('packed', 4);
    packedDesc(r.space, r.config.addrs.desc, 0, 0x7000_0000, 16, 0, AVAIL);
    expect(popRule(r)).toBe('buffer-unmapped');
  });

  it('indirect-not-negotiated', () => {
    const r = rig('packed', 4, { indirect: false });
    packedDesc(r.space, TABLE, 0, BUF_BASE, 16, 0, 0);
    packedDesc(r.space, r.config.addrs.desc, 0, TABLE, 16, 0, AVAIL | INDIRECT);
    expect(popRule(r)).toBe('indirect-not-negotiated');
  });

  it('zero-length and indirect-len', () => {
    const r = rig('packed', 4, { indirect: true });
    packedDesc(r.space, r.config.addrs.desc, 0, TABLE, 0, 0, AVAIL | INDIRECT);
    expect(popRule(r)).toBe('zero-length');
    packedDesc(r.space, r.config.addrs.desc, 0, TABLE, 40, 0, AVAIL | INDIRECT);
    expect(popRule(r)).toBe('indirect-len');
  });

  it('INDIRECT inside a packed table is a reserved flag, ignored: the entry is a plain buffer (no indirect-nested)', () => {
    const r = rig('packed', 4, { indirect: true });
    packedDesc(r.space, TABLE, 0, BUF_BASE, 16, 0, 0);
    packedDesc(r.space, TABLE, 1, TABLE, 16, 0, INDIRECT | WRITE);
    packedDesc(r.space, r.config.addrs.desc, 0, TABLE, 32, 0, AVAIL | INDIRECT);
    const c = new Chain();
    expect(popRule(r, c)).toBe('ok');
    expect([c.count, c.outCount, c.addr[1], c.len[1], c.inBytes]).toEqual([2, 1, TABLE, 16, 16]);
  });

  it('indirect-next: an INDIRECT descriptor ending a NEXT-linked list (§2.8.19)', () => {
    const r = rig('packed', 4, { indirect: true });
    packedDesc(r.space, TABLE, 0, BUF_BASE, 16, 0, 0);
    packedDesc(r.space, r.config.addrs.desc, 0, BUF_BASE, 16, 0, AVAIL | NEXT);
    packedDesc(r.space, r.config.addrs.desc, 1, TABLE, 16, 1, AVAIL | INDIRECT);
    expect(popRule(r)).toBe('indirect-next');
  });

  it('indirect-next', () => {
    const r = rig('packed', 4, { indirect: true });
    packedDesc(r.space, TABLE, 0, BUF_BASE, 16, 0, 0);
    packedDesc(r.space, r.config.addrs.desc, 0, TABLE, 16, 0, AVAIL | INDIRECT | NEXT);
    packedDesc(r.space, r.config.addrs.desc, 1, BUF_BASE, 16, 0, AVAIL);
    expect(popRule(r)).toBe('indirect-next');
  });

  it('an indirect table is read in sequence, WRITE its only flag (§2.8.20)', () => {
    const r = rig('packed', 4, { indirect: true });
    packedDesc(r.space, TABLE, 0, BUF_BASE, 10, 77, NEXT); // NEXT and id ignored inside the table
    packedDesc(r.space, TABLE, 1, BUF_BASE + 0x100, 20, 0, 0);
    packedDesc(r.space, TABLE, 2, BUF_BASE + 0x200, 30, 0, WRITE);
    packedDesc(r.space, r.config.addrs.desc, 0, TABLE, 48, 3, AVAIL | INDIRECT);
    const c = new Chain();
    expect(popRule(r, c)).toBe('ok');
    expect([c.id, c.ringDescs, c.count, c.outBytes, c.inBytes, c.indirect]).toEqual([3, 1, 3, 30, 30, true]);
  });

  it('chain-too-long', () => {
    const r = rig('packed', 4);
    for (let i = 0; i < 3; i++) packedDesc(r.space, r.config.addrs.desc, i, BUF_BASE, 16, 0, AVAIL | (i < 2 ? NEXT : 0));
    expect(popRule(r, new Chain(2))).toBe('chain-too-long');
    expect(popRule(r, new Chain(3))).toBe('ok');
  });
});

describe('packed ring: driver-side rules', () => {
  const oneIn = (): Chain => {
    const c = new Chain(4);
    c.push(BUF_BASE, 100, true);
    return c;
  };
  /** A used descriptor as a spec device writes it: WRITE when it wrote bytes (§2.8 "Write Flag"). */
  const usedDesc = (r: Rig, slot: number, id: number, len: number): void =>
    packedDesc(r.space, r.config.addrs.desc, slot, 0, len, id, AVAIL | USED | (len > 0 ? WRITE : 0));
  const reapRule = (r: Rig): RingRule | boolean => {
    const res = r.driver.reap(new Used());
    return isRingError(res) ? res.rule : res;
  };

  it('used-id-out-of-range', () => {
    const r = rig('packed', 4);
    r.driver.add(oneIn(), 1);
    usedDesc(r, 0, 4, 0);
    expect(reapRule(r)).toBe('used-id-out-of-range');
  });

  it('used-id-not-in-flight', () => {
    const r = rig('packed', 4);
    r.driver.add(oneIn(), 1);
    usedDesc(r, 0, 2, 0);
    expect(reapRule(r)).toBe('used-id-not-in-flight');
  });

  it('used-len-too-large', () => {
    const r = rig('packed', 4);
    r.driver.add(oneIn(), 1);
    usedDesc(r, 0, 0, 101);
    expect(reapRule(r)).toBe('used-len-too-large');
    usedDesc(r, 0, 0, 100);
    expect(reapRule(r)).toBe(true);
  });

  it('no-space counts ring slots, not ids', () => {
    const r = rig('packed', 4);
    const c = new Chain(4);
    c.push(BUF_BASE, 1, false);
    c.push(BUF_BASE, 1, false);
    c.push(BUF_BASE, 1, true);
    expect(r.driver.add(c, 1)).toBe(0);
    const e = r.driver.add(c, 2);
    expect(isRingError(e) && e.rule).toBe('no-space');
    expect(r.driver.add(oneIn(), 3)).toBe(1);
    expect(r.driver.numFree()).toBe(0);
  });
});

describe('packed ring: configuration rules', () => {
  const cfg = (size: number, desc = 0x10000, driver = 0x11000, device = 0x11004): RingConfig => ({
    layout: 'packed', size, addrs: { desc, driver, device }, eventIdx: true, indirect: false,
  });
  const space = (): AddressSpace => {
    const s = new AddressSpace('gpa');
    unwrap(s.addRegion(0x10000, 0x10000));
    return s;
  };
  const rule = (x: unknown): string | undefined => (isRingError(x) ? x.rule : undefined);

  it('bad-queue-size: 1..32768, any size (not only powers of two)', () => {
    for (const n of [0, 32769, 2.5]) expect(rule(packedRing.device(space(), cfg(n)))).toBe('bad-queue-size');
    for (const n of [1, 3, 100, 256]) expect(rule(packedRing.device(space(), cfg(n)))).toBeUndefined();
  });

  it('ring-unmapped and ring-misaligned (16/4/4)', () => {
    expect(rule(packedRing.driver(space(), cfg(4, 0x20000)))).toBe('ring-unmapped');
    expect(rule(packedRing.driver(space(), cfg(4, 0x10000, 0x11000, 0x20000)))).toBe('ring-unmapped');
    expect(rule(packedRing.driver(space(), cfg(4, 0x10004)))).toBe('ring-misaligned');
    expect(rule(packedRing.driver(space(), cfg(4, 0x10000, 0x11002)))).toBe('ring-misaligned');
  });
});
