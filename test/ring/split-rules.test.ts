/**
 * One test per malformed-ring rule of the split layout: each builds the bad ring by hand and checks
 * that the named rule comes back (and that nothing was consumed).
 */
import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import {
  Chain,
  isRingError,
  placeRing,
  popE,
  splitRing,
  Used,
  VRING_DESC_F_INDIRECT as INDIRECT,
  VRING_DESC_F_NEXT as NEXT,
  VRING_DESC_F_WRITE as WRITE,
  type RingConfig,
  type RingRule,
} from '../../src/ring/index.js';
import { BUF_BASE, rig, splitDesc, splitPublish, unwrap, type Rig } from './helpers.js';

const TABLE = BUF_BASE + 0x8000; // an indirect table inside the buffer region

function popRule(r: Rig, chain = new Chain(64)): RingRule | 'ok' | 'none' {
  const res = r.device.pop(chain);
  if (isRingError(res)) {
    expect(res.layout).toBe('split');
    // nothing consumed: the same error again
    const again = r.device.pop(chain);
    expect(isRingError(again) && again.rule).toBe(res.rule);
    return res.rule;
  }
  return res ? 'ok' : 'none';
}

describe('split ring: device-side rules (vringh / virtqueue_pop)', () => {
  it('avail-idx-ahead: avail idx more than num past last_avail_idx', () => {
    const r = rig('split', 8);
    unwrap(r.space.writeU16(r.config.addrs.driver + 2, 9));
    expect(popRule(r)).toBe('avail-idx-ahead');
    const e = popE(r.device, new Chain());
    expect(E.isLeft(e) && e.left.rule).toBe('avail-idx-ahead');
  });

  it('accepts exactly num entries ahead', () => {
    const r = rig('split', 8);
    for (let i = 0; i < 8; i++) splitDesc(r.space, r.config.addrs.desc, i, BUF_BASE, 16, 0);
    for (let i = 0; i < 8; i++) splitPublish(r.space, r, i);
    for (let i = 0; i < 8; i++) expect(popRule(r)).toBe('ok');
    expect(popRule(r)).toBe('none');
  });

  it('desc-index-out-of-range: head >= num', () => {
    const r = rig('split', 8);
    splitPublish(r.space, r, 8);
    expect(popRule(r)).toBe('desc-index-out-of-range');
  });

  it('desc-index-out-of-range: next >= num', () => {
    const r = rig('split', 8);
    splitDesc(r.space, r.config.addrs.desc, 0, BUF_BASE, 16, NEXT, 200);
    splitPublish(r.space, r, 0);
    expect(popRule(r)).toBe('desc-index-out-of-range');
  });

  it('chain-loop: a chain that links back on itself', () => {
    const r = rig('split', 8);
    splitDesc(r.space, r.config.addrs.desc, 0, BUF_BASE, 16, NEXT, 1);
    splitDesc(r.space, r.config.addrs.desc, 1, BUF_BASE, 16, NEXT, 0);
    splitPublish(r.space, r, 0);
    expect(popRule(r)).toBe('chain-loop');
  });

  it('accepts a chain of exactly num descriptors', () => {
    const r = rig('split', 8);
    for (let i = 0; i < 8; i++) splitDesc(r.space, r.config.addrs.desc, i, BUF_BASE + i * 16, 16, i < 7 ? NEXT : 0, i + 1);
    splitPublish(r.space, r, 0);
    const c = new Chain();
    expect(popRule(r, c)).toBe('ok');
    expect(c.count).toBe(8);
    expect(c.ringDescs).toBe(8);
  });

  it('readable-after-writable: a device-readable descriptor after a writable one', () => {
    const r = rig('split', 8);
    splitDesc(r.space, r.config.addrs.desc, 0, BUF_BASE, 16, WRITE | NEXT, 1);
    splitDesc(r.space, r.config.addrs.desc, 1, BUF_BASE + 16, 16, 0);
    splitPublish(r.space, r, 0);
    expect(popRule(r)).toBe('readable-after-writable');
  });

  it('length-overflow: the chain adds up past 2^32 - 1 bytes', () => {
    const r = rig('split', 8);
    // Two 2 GiB regions aliasing one lazily-allocated buffer, so both descriptors are mapped.
    const big = new ArrayBuffer(2 ** 31);
    unwrap(r.space.addRegion(2 ** 34, big, { name: 'big-a' }));
    unwrap(r.space.addRegion(2 ** 35, big, { name: 'big-b' }));
    splitDesc(r.space, r.config.addrs.desc, 0, 2 ** 34, 2 ** 31, NEXT, 1);
    splitDesc(r.space, r.config.addrs.desc, 1, 2 ** 35, 2 ** 31, 0);
    splitPublish(r.space, r, 0);
    expect(popRule(r)).toBe('length-overflow');
  });

  it('buffer-unmapped: descriptor outside the address space, or an address past 2^53', () => {
    const r = rig('split', 8);
    splitDesc(r.space, r.config.addrs.desc, 0, 0x7000_0000, 16, 0);
    splitPublish(r.space, r, 0);
    expect(popRule(r)).toBe('buffer-unmapped');
    const r2 = rig('split', 8);
    unwrap(r2.space.writeU32(r2.config.addrs.desc + 4, 0xffffffff)); // addr high half: ≥ 2^53
    unwrap(r2.space.writeU32(r2.config.addrs.desc + 8, 16));
    splitPublish(r2.space, r2, 0);
    expect(popRule(r2)).toBe('buffer-unmapped');
    const r3 = rig('split', 8);
    splitDesc(r3.space, r3.config.addrs.desc, 0, BUF_BASE + 0xfff00, 0x200, 0); // runs off the region
    splitPublish(r3.space, r3, 0);
    expect(popRule(r3)).toBe('buffer-unmapped');
  });

  it('indirect-not-negotiated: INDIRECT without VIRTIO_F_INDIRECT_DESC', () => {
    const r = rig('split', 8, { indirect: false });
    splitDesc(r.space, TABLE, 0, BUF_BASE, 16, 0);
    splitDesc(r.space, r.config.addrs.desc, 0, TABLE, 16, INDIRECT);
    splitPublish(r.space, r, 0);
    expect(popRule(r)).toBe('indirect-not-negotiated');
  });

  it('zero-length: an indirect descriptor with an empty table', () => {
    const r = rig('split', 8, { indirect: true });
    splitDesc(r.space, r.config.addrs.desc, 0, TABLE, 0, INDIRECT);
    splitPublish(r.space, r, 0);
    expect(popRule(r)).toBe('zero-length');
  });

  it('indirect-len: table length not a multiple of 16', () => {
    const r = rig('split', 8, { indirect: true });
    splitDesc(r.space, r.config.addrs.desc, 0, TABLE, 24, INDIRECT);
    splitPublish(r.space, r, 0);
    expect(popRule(r)).toBe('indirect-len');
  });

  it('indirect-nested: INDIRECT inside an indirect table', () => {
    const r = rig('split', 8, { indirect: true });
    splitDesc(r.space, TABLE, 0, BUF_BASE, 16, NEXT, 1);
    splitDesc(r.space, TABLE, 1, TABLE, 32, INDIRECT);
    splitDesc(r.space, r.config.addrs.desc, 0, TABLE, 32, INDIRECT);
    splitPublish(r.space, r, 0);
    expect(popRule(r)).toBe('indirect-nested');
  });

  it('indirect-next: INDIRECT and NEXT on one descriptor', () => {
    const r = rig('split', 8, { indirect: true });
    splitDesc(r.space, TABLE, 0, BUF_BASE, 16, 0);
    splitDesc(r.space, r.config.addrs.desc, 0, TABLE, 16, INDIRECT | NEXT, 1);
    splitDesc(r.space, r.config.addrs.desc, 1, BUF_BASE, 16, 0);
    splitPublish(r.space, r, 0);
    expect(popRule(r)).toBe('indirect-next');
  });

  it('indirect table: next out of the table, a loop inside it, an unmapped table', () => {
    const r = rig('split', 8, { indirect: true });
    splitDesc(r.space, TABLE, 0, BUF_BASE, 16, NEXT, 2);
    splitDesc(r.space, r.config.addrs.desc, 0, TABLE, 32, INDIRECT);
    splitPublish(r.space, r, 0);
    expect(popRule(r)).toBe('desc-index-out-of-range');
    const r2 = rig('split', 8, { indirect: true });
    splitDesc(r2.space, TABLE, 0, BUF_BASE, 16, NEXT, 1);
    splitDesc(r2.space, TABLE, 1, BUF_BASE, 16, NEXT, 0);
    splitDesc(r2.space, r2.config.addrs.desc, 0, TABLE, 32, INDIRECT);
    splitPublish(r2.space, r2, 0);
    expect(popRule(r2)).toBe('chain-loop');
    const r3 = rig('split', 8, { indirect: true });
    splitDesc(r3.space, r3.config.addrs.desc, 0, 0x7000_0000, 32, INDIRECT);
    splitPublish(r3.space, r3, 0);
    expect(popRule(r3)).toBe('buffer-unmapped');
  });

  it('an indirect chain after direct descriptors is flattened in order', () => {
    const r = rig('split', 8, { indirect: true });
    splitDesc(r.space, TABLE, 0, BUF_BASE + 0x100, 32, NEXT, 1);
    splitDesc(r.space, TABLE, 1, BUF_BASE + 0x200, 64, WRITE);
    splitDesc(r.space, r.config.addrs.desc, 3, BUF_BASE, 8, NEXT, 5);
    splitDesc(r.space, r.config.addrs.desc, 5, TABLE, 32, INDIRECT);
    splitPublish(r.space, r, 3);
    const c = new Chain();
    expect(popRule(r, c)).toBe('ok');
    expect([c.id, c.ringDescs, c.count, c.outCount, c.outBytes, c.inBytes, c.indirect]).toEqual([3, 2, 3, 2, 40, 64, true]);
    expect(Array.from(c.addr.subarray(0, 3))).toEqual([BUF_BASE, BUF_BASE + 0x100, BUF_BASE + 0x200]);
  });

  it('chain-too-long: more segments than the caller\'s Chain holds', () => {
    const r = rig('split', 8);
    for (let i = 0; i < 4; i++) splitDesc(r.space, r.config.addrs.desc, i, BUF_BASE, 16, i < 3 ? NEXT : 0, i + 1);
    splitPublish(r.space, r, 0);
    expect(popRule(r, new Chain(3))).toBe('chain-too-long');
    expect(popRule(r, new Chain(4))).toBe('ok');
  });
});

describe('split ring: driver-side rules (reap validation, add)', () => {
  const oneIn = (): Chain => {
    const c = new Chain(4);
    c.push(BUF_BASE, 100, true);
    return c;
  };
  const usedElem = (r: Rig, id: number, len: number): void => {
    const used = r.config.addrs.device;
    unwrap(r.space.writeU32(used + 4, id));
    unwrap(r.space.writeU32(used + 8, len));
    unwrap(r.space.writeU16(used + 2, 1));
  };
  const reapRule = (r: Rig): RingRule | boolean => {
    const res = r.driver.reap(new Used());
    return isRingError(res) ? res.rule : res;
  };

  it('used-id-out-of-range', () => {
    const r = rig('split', 8);
    r.driver.add(oneIn(), 1);
    usedElem(r, 8, 0);
    expect(reapRule(r)).toBe('used-id-out-of-range');
    expect(r.driver.inFlight()).toBe(1);
  });

  it('used-id-not-in-flight: a descriptor that is not a head in flight', () => {
    const r = rig('split', 8);
    const c = oneIn();
    c.push(BUF_BASE + 0x1000, 100, true);
    expect(r.driver.add(c, 1)).toBe(0); // takes descriptors 0 and 1; 1 is not a head
    usedElem(r, 1, 0);
    expect(reapRule(r)).toBe('used-id-not-in-flight');
  });

  it('used-len-too-large: len beyond the chain\'s writable bytes', () => {
    const r = rig('split', 8);
    r.driver.add(oneIn(), 1);
    usedElem(r, 0, 101);
    expect(reapRule(r)).toBe('used-len-too-large');
    usedElem(r, 0, 100);
    expect(reapRule(r)).toBe(true);
  });

  it('the free list lives in driver memory: a device scribbling on next fields cannot corrupt it', () => {
    const r = rig('split', 4);
    const c = new Chain(4);
    c.push(BUF_BASE, 10, false);
    c.push(BUF_BASE, 10, true);
    expect(r.driver.add(c, 7)).toBe(0);
    for (let i = 0; i < 4; i++) unwrap(r.space.writeU16(r.config.addrs.desc + i * 16 + 14, 3)); // garbage
    usedElem(r, 0, 10);
    expect(reapRule(r)).toBe(true);
    expect(r.driver.numFree()).toBe(4);
    const four = new Chain(4);
    for (let i = 0; i < 4; i++) four.push(BUF_BASE, 10, true);
    expect(r.driver.add(four, 8)).toBe(0);
    // the chain the driver wrote links 0 → 1 → 2 → 3 again
    expect([1, 2, 3].map((i) => unwrap(r.space.readU16(r.config.addrs.desc + (i - 1) * 16 + 14)))).toEqual([1, 2, 3]);
  });

  it('no-space and empty-chain', () => {
    const r = rig('split', 2);
    const c = new Chain(4);
    expect(isRingError(r.driver.add(c, 1)) && (r.driver.add(c, 1) as { rule: string }).rule).toBe('empty-chain');
    c.push(BUF_BASE, 1, false);
    c.push(BUF_BASE, 1, false);
    c.push(BUF_BASE, 1, false);
    const e = r.driver.add(c, 1);
    expect(isRingError(e) && e.rule).toBe('no-space');
    expect(r.driver.numFree()).toBe(2);
  });

  it('length-overflow on add', () => {
    const r = rig('split', 4);
    const c = new Chain(4);
    c.push(BUF_BASE, 0xffffffff, false);
    c.push(BUF_BASE, 1, true);
    const e = r.driver.add(c, 1);
    expect(isRingError(e) && e.rule).toBe('length-overflow');
  });
});

describe('split ring: configuration rules', () => {
  const cfg = (size: number, desc = 0x10000, driver = 0x11000, device = 0x12000): RingConfig => ({
    layout: 'split', size, addrs: { desc, driver, device }, eventIdx: false, indirect: false,
  });
  const space = (): AddressSpace => {
    const s = new AddressSpace('gpa');
    unwrap(s.addRegion(0x10000, 0x10000));
    return s;
  };
  const rule = (x: unknown): string | undefined => (isRingError(x) ? x.rule : undefined);

  it('bad-queue-size: not a power of two, 0, or above 32768', () => {
    for (const n of [0, 3, 100, 65536, 1.5]) expect(rule(splitRing.device(space(), cfg(n)))).toBe('bad-queue-size');
    for (const n of [1, 2, 256]) expect(rule(splitRing.device(space(), cfg(n)))).toBeUndefined();
  });

  it('ring-unmapped: an area outside the space', () => {
    expect(rule(splitRing.driver(space(), cfg(256, 0x1000)))).toBe('ring-unmapped');
    expect(rule(splitRing.device(space(), cfg(256, 0x10000, 0x11000, 0x1f800)))).toBe('ring-unmapped');
  });

  it('ring-misaligned: desc 16, avail 2, used 4', () => {
    expect(rule(splitRing.driver(space(), cfg(8, 0x10008)))).toBe('ring-misaligned');
    expect(rule(splitRing.driver(space(), cfg(8, 0x10000, 0x11001)))).toBe('ring-misaligned');
    expect(rule(splitRing.driver(space(), cfg(8, 0x10000, 0x11002, 0x12002)))).toBe('ring-misaligned');
    const p = placeRing('split', 8, 0x10000);
    expect(rule(splitRing.driver(space(), { ...cfg(8), addrs: p.addrs }))).toBeUndefined();
  });
});
