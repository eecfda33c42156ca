/**
 * Byte-level checks written out by hand from virtio 1.2 §2.7 and §2.8: area sizes and offsets, the
 * exact bytes of descriptors, used elements, packed flags in both laps, event suppression structures,
 * and vhost's vring base encoding.
 */
import { describe, expect, it } from 'vitest';
import { Chain, decodeBase, encodeBase, layoutOf, placeRing, Used } from '../../src/ring/index.js';
import { BUF_BASE, hex, rig } from './helpers.js';

describe('split layout (§2.7)', () => {
  it('sizes and alignments for 256 entries: desc 4096/16, avail 518/2, used 2054/4', () => {
    expect(layoutOf('split', 256)).toEqual({
      desc: { size: 4096, align: 16 },
      driver: { size: 518, align: 2 }, // flags, idx, ring[256], used_event
      device: { size: 2054, align: 4 }, // flags, idx, ring[256]{id,len}, avail_event
    });
  });

  it('places desc/avail/used back to back at their alignments, or the used ring on its own page', () => {
    // size 4: desc 0x10000..0x1003f, avail 0x10040..0x1004d, used aligned up to 4 at 0x10050 (+38)
    expect(placeRing('split', 4, 0x10000)).toEqual({ addrs: { desc: 0x10000, driver: 0x10040, device: 0x10050 }, end: 0x10076 });
    expect(placeRing('split', 256, 0, { deviceAlign: 4096 })).toEqual({ addrs: { desc: 0, driver: 0x1000, device: 0x2000 }, end: 0x2806 });
    // size 1: avail is 8 bytes, so used lands on a 4-aligned address right after
    expect(placeRing('split', 1, 0x8)).toEqual({ addrs: { desc: 0x10, driver: 0x20, device: 0x28 }, end: 0x36 });
  });

  it('descriptor, avail and used bytes of one out+in chain', () => {
    const r = rig('split', 4, { eventIdx: true });
    const { desc, driver: avail, device: used } = r.config.addrs;
    const c = new Chain(4);
    c.push(0x1_0203_0405, 0x11, false);
    c.push(0x0a0b_0c0d_0e0f, 0x22, true);
    expect(r.driver.add(c, 42)).toBe(0);
    expect(hex(r.space, desc, 16)).toBe('05 04 03 02 01 00 00 00 11 00 00 00 01 00 01 00'); // NEXT, next=1
    expect(hex(r.space, desc + 16, 16)).toBe('0f 0e 0d 0c 0b 0a 00 00 22 00 00 00 02 00 02 00'); // WRITE, next=free list
    expect(hex(r.space, avail, 6)).toBe('00 00 01 00 00 00'); // flags 0, idx 1, ring[0] = head 0
    // the device would refuse those addresses; pretend to be it and write the used element by hand:
    expect(r.device.push(0, 2, 0x21)).toBeUndefined();
    expect(hex(r.space, used, 12)).toBe('00 00 01 00 00 00 00 00 21 00 00 00'); // flags, idx 1, {id 0, len 0x21}
    const u = new Used();
    expect(r.driver.reap(u)).toBe(true);
    expect([u.id, u.len, u.token]).toEqual([0, 0x21, 42]);
    // EVENT_IDX: the driver asks for a call at used idx 1: used_event = avail + 4 + 2·4
    expect(hex(r.space, avail + 12, 2)).toBe('01 00');
  });

  it('pop writes avail_event (EVENT_IDX) at used + 4 + 8·num', () => {
    const r = rig('split', 4, { eventIdx: true });
    const c = new Chain(4);
    c.push(BUF_BASE, 8, false);
    r.driver.add(c, 1);
    r.driver.add(c, 2);
    expect(r.device.pop(new Chain())).toBe(true);
    expect(r.device.pop(new Chain())).toBe(true);
    expect(hex(r.space, r.config.addrs.device + 36, 2)).toBe('02 00');
  });

  it('an indirect chain: one ring descriptor (INDIRECT, len 16·n) pointing at a table linked by position', () => {
    const r = rig('split', 4, { indirect: true, indCap: 4 });
    const c = new Chain(4);
    c.push(BUF_BASE, 0x10, false);
    c.push(BUF_BASE + 0x100, 0x20, true);
    expect(r.driver.add(c, 1, true)).toBe(0);
    expect(r.driver.numFree()).toBe(3);
    // table of head 0 at the start of the indirect area (0x200000)
    expect(hex(r.space, r.config.addrs.desc, 16)).toBe('00 00 20 00 00 00 00 00 20 00 00 00 04 00 01 00');
    expect(hex(r.space, 0x200000, 32)).toBe(
      '00 00 00 01 00 00 00 00 10 00 00 00 01 00 01 00 ' + '00 01 00 01 00 00 00 00 20 00 00 00 02 00 00 00',
    );
    const p = new Chain();
    expect(r.device.pop(p)).toBe(true);
    expect([p.id, p.ringDescs, p.count, p.indirect, p.outBytes, p.inBytes]).toEqual([0, 1, 2, true, 0x10, 0x20]);
  });
});

describe('packed layout (§2.8)', () => {
  it('sizes and alignments: desc 16·n/16, driver and device event areas 4/4', () => {
    expect(layoutOf('packed', 100)).toEqual({ desc: { size: 1600, align: 16 }, driver: { size: 4, align: 4 }, device: { size: 4, align: 4 } });
    expect(placeRing('packed', 3, 0x10004)).toEqual({ addrs: { desc: 0x10010, driver: 0x10040, device: 0x10044 }, end: 0x10048 });
  });

  it('descriptor bytes and flags in lap 1 (AVAIL=1, USED=0) and lap 2 (AVAIL=0, USED=1)', () => {
    const r = rig('packed', 2);
    const d = r.config.addrs.desc;
    const c = new Chain(4);
    c.push(0x1_0203_0405, 0x11, false);
    c.push(0x0a0b_0c0d_0e0f, 0x22, true);
    expect(r.driver.add(c, 7)).toBe(0);
    // le64 addr, le32 len, le16 id, le16 flags: head NEXT|AVAIL = 0x0081, tail WRITE|AVAIL = 0x0082
    expect(hex(r.space, d, 16)).toBe('05 04 03 02 01 00 00 00 11 00 00 00 00 00 81 00');
    expect(hex(r.space, d + 16, 16)).toBe('0f 0e 0d 0c 0b 0a 00 00 22 00 00 00 00 00 82 00');
    // the device writes the used descriptor in slot 0: len, id, flags AVAIL|USED|WRITE = 0x8082 —
    // §2.8 "Write Flag": "In a used descriptor, this bit is used to specify whether any data has been
    // written by the device into any parts of the buffer." (0x10 bytes were.) Element Address is
    // "unused" in a used descriptor: the device leaves it alone.
    expect(r.device.push(0, 2, 0x10)).toBeUndefined();
    expect(hex(r.space, d, 16)).toBe('05 04 03 02 01 00 00 00 10 00 00 00 00 00 82 80');
    const u = new Used();
    expect(r.driver.reap(u)).toBe(true);
    expect([u.id, u.len, u.token]).toEqual([0, 0x10, 7]);
    // lap 2: available = USED bit only (0x8000), used = both bits clear
    const one = new Chain(2);
    one.push(BUF_BASE, 0x30, true);
    expect(r.driver.add(one, 8)).toBe(0);
    expect(hex(r.space, d, 16)).toBe('00 00 00 01 00 00 00 00 30 00 00 00 00 00 02 80');
    // the device never popped the first chain (it refuses those addresses): resume it in lap 2
    r.device.setBase({ availIdx: 0, availWrap: false, usedIdx: 0, usedWrap: false });
    expect(r.device.pop(new Chain())).toBe(true);
    expect(r.device.push(0, 1, 0x30)).toBeUndefined();
    // lap 2 used: AVAIL = USED = 0, WRITE set (0x30 bytes written)
    expect(hex(r.space, d + 8, 8)).toBe('30 00 00 00 00 00 02 00');
    // nothing written: WRITE clear, and the driver reads 0 whatever len says
    expect(r.driver.reap(new Used())).toBe(true);
    r.driver.add(one, 9);
    r.device.setBase({ availIdx: 1, availWrap: false, usedIdx: 1, usedWrap: false });
    expect(r.device.pop(new Chain())).toBe(true);
    expect(r.device.push(0, 1, 0)).toBeUndefined();
    expect(hex(r.space, d + 16 + 8, 8)).toBe('00 00 00 00 00 00 00 00');
  });

  it('a chain that crosses the end of the ring: tail descriptors carry the next lap\'s bits', () => {
    const r = rig('packed', 2);
    const d = r.config.addrs.desc;
    const one = new Chain(2);
    one.push(BUF_BASE, 4, true);
    r.driver.add(one, 1);
    const p = new Chain();
    r.device.pop(p);
    r.device.push(p.id, p.ringDescs, 4);
    r.driver.reap(new Used());
    const two = new Chain(2);
    two.push(BUF_BASE, 4, false);
    two.push(BUF_BASE, 4, true);
    expect(r.driver.add(two, 2)).toBe(0);
    expect(hex(r.space, d + 14, 2)).toBe('02 80'); // slot 0, lap 2: WRITE|USED
    expect(hex(r.space, d + 16 + 14, 2)).toBe('81 00'); // slot 1, lap 1 head: NEXT|AVAIL
    expect(r.device.pop(p)).toBe(true);
    expect([p.id, p.ringDescs, p.outCount, p.count]).toEqual([0, 2, 1, 2]);
  });

  it('event suppression structures { le16 off_wrap; le16 flags }', () => {
    const r = rig('packed', 8, { eventIdx: true });
    const { driver: drv, device: dev } = r.config.addrs;
    expect(r.device.enableKicks()).toBe(false);
    expect(hex(r.space, dev, 4)).toBe('00 80 02 00'); // off 0, wrap 1; DESC
    r.device.disableKicks();
    expect(hex(r.space, dev, 4)).toBe('00 80 01 00'); // DISABLE
    r.driver.disableCalls();
    expect(hex(r.space, drv, 4)).toBe('00 00 01 00');
    expect(r.driver.enableCalls()).toBe(false);
    expect(hex(r.space, drv, 4)).toBe('00 80 02 00');
    const plain = rig('packed', 8, { eventIdx: false });
    plain.device.enableKicks();
    expect(hex(plain.space, plain.config.addrs.device, 4)).toBe('00 00 00 00'); // ENABLE
  });
});

describe('vhost vring base encoding', () => {
  it('split: last_avail_idx; packed: idx | wrap << 15 | used idx << 16 | used wrap << 31', () => {
    expect(encodeBase('split', { availIdx: 0xfffe, availWrap: false, usedIdx: 3, usedWrap: false })).toBe(0xfffe);
    expect(encodeBase('packed', { availIdx: 5, availWrap: false, usedIdx: 3, usedWrap: true })).toBe(0x80030005);
    expect(encodeBase('packed', { availIdx: 0x7fff, availWrap: true, usedIdx: 0, usedWrap: false })).toBe(0xffff);
    expect(decodeBase('packed', 0x80038005)).toEqual({ availIdx: 5, availWrap: true, usedIdx: 3, usedWrap: true });
  });
});
