/**
 * Every "reserved" / "ignored by the driver / device" / "MUST set … to 0" rule of virtio 1.2 §2.7 (split)
 * and §2.8 (packed), one byte-level test each, written from the spec text quoted above it: the side that
 * must ignore a field is handed garbage in it and must behave as if the field were clean; the side that
 * writes a field must write what the spec says.
 */
import { describe, expect, it } from 'vitest';
import {
  Chain,
  isRingError,
  Used,
  VRING_DESC_F_INDIRECT as INDIRECT,
  VRING_DESC_F_NEXT as NEXT,
  VRING_DESC_F_WRITE as WRITE,
  VRING_PACKED_DESC_F_AVAIL as AVAIL,
  VRING_PACKED_DESC_F_USED as USED,
} from '../../src/ring/index.js';
import { BUF_BASE, hex, packedDesc, rig, splitDesc, splitPublish, unwrap, type Rig } from './helpers.js';

const TABLE = BUF_BASE + 0x8000;
const u16 = (r: Rig, a: number, v: number): void => unwrap(r.space.writeU16(a, v));
const chainOf = (...segs: Array<[number, number, boolean]>): Chain => {
  const c = new Chain(8);
  for (const [a, l, w] of segs) c.push(a, l, w);
  return c;
};

// ───────────────────────────────────────── packed ─────────────────────────────────────────

describe('packed §2.8 "Write Flag" and "Element Address and Length" (used descriptors)', () => {
  // "In a used descriptor, this bit is used to specify whether any data has been written by the device
  //  into any parts of the buffer." / "In a used descriptor, Element Address is unused. Element Length
  //  specifies the length of the buffer that has been initialized (written to) by the device. Element
  //  Length is reserved for used descriptors without the VIRTQ_DESC_F_WRITE flag, and is ignored by drivers."

  it('device: push sets WRITE exactly when it wrote bytes, and leaves Element Address alone', () => {
    const r = rig('packed', 4);
    const d = r.config.addrs.desc;
    r.driver.add(chainOf([BUF_BASE, 0x40, true]), 1);
    r.driver.add(chainOf([BUF_BASE + 0x100, 0x40, false]), 2);
    const c = new Chain();
    expect(r.device.pop(c)).toBe(true);
    expect(r.device.pop(c)).toBe(true);
    expect(r.device.push(0, 1, 0x20)).toBeUndefined();
    expect(r.device.push(1, 1, 0)).toBeUndefined();
    // slot 0: addr as the driver wrote it, len 0x20, id 0, flags AVAIL|USED|WRITE
    expect(hex(r.space, d, 16)).toBe('00 00 00 01 00 00 00 00 20 00 00 00 00 00 82 80');
    // slot 1: nothing written → WRITE clear (len 0: the field is reserved, we write 0)
    expect(hex(r.space, d + 16, 16)).toBe('00 01 00 01 00 00 00 00 00 00 00 00 01 00 80 80');
  });

  it('driver: a used descriptor without WRITE means 0 bytes written, whatever its len (never used-len-too-large)', () => {
    {
      const r = rig('packed', 4);
      const d = r.config.addrs.desc;
      // a read-only buffer: the device writes only id and flags, the len the driver wrote (64) stays
      r.driver.add(chainOf([BUF_BASE, 64, false]), 10);
      // a writable buffer whose used descriptor has no WRITE and a garbage len
      r.driver.add(chainOf([BUF_BASE + 0x1000, 100, true]), 11);
      u16(r, d + 14, AVAIL | USED);
      packedDesc(r.space, d, 1, 0xdead_beef, 0xffffffff, 1, AVAIL | USED);
      const got: Array<[number, number]> = [];
      const u = new Used();
      for (let k = 0; k < 2; k++) {
        expect(r.driver.reap(u)).toBe(true);
        got.push([u.token, u.len]);
      }
      expect(got).toEqual([[10, 0], [11, 0]]);
      expect(r.driver.inFlight()).toBe(0);
    }
  });

  it('driver: with WRITE the length is checked as before, and Element Address is not read', () => {
    const r = rig('packed', 4);
    const d = r.config.addrs.desc;
    r.driver.add(chainOf([BUF_BASE, 100, true]), 1);
    packedDesc(r.space, d, 0, 0xffff_ffff_ffff, 101, 0, AVAIL | USED | WRITE);
    const e = r.driver.reap(new Used());
    expect(isRingError(e) && e.rule).toBe('used-len-too-large');
    packedDesc(r.space, d, 0, 0xffff_ffff_ffff, 100, 0, AVAIL | USED | WRITE);
    const u = new Used();
    expect(r.driver.reap(u)).toBe(true);
    expect([u.token, u.len]).toEqual([1, 100]);
  });

  it('driver: a read-only buffer reported written (WRITE, len > 0) is still used-len-too-large', () => {
    const r = rig('packed', 4);
    r.driver.add(chainOf([BUF_BASE, 64, false]), 1);
    packedDesc(r.space, r.config.addrs.desc, 0, 0, 1, 0, AVAIL | USED | WRITE);
    const e = r.driver.reap(new Used());
    expect(isRingError(e) && e.rule).toBe('used-len-too-large');
  });

  it('driver: NEXT (and INDIRECT) in a used descriptor are ignored — "VIRTQ_DESC_F_NEXT is reserved in used descriptors, and should be ignored by drivers"', () => {
    const r = rig('packed', 4);
    r.driver.add(chainOf([BUF_BASE, 8, false], [BUF_BASE + 0x10, 8, true]), 5);
    packedDesc(r.space, r.config.addrs.desc, 0, 0, 8, 0, AVAIL | USED | WRITE | NEXT | INDIRECT);
    const u = new Used();
    expect(r.driver.reap(u)).toBe(true);
    expect([u.token, u.len]).toEqual([5, 8]);
    // the chain's two slots were skipped, as for any used descriptor of a 2-descriptor list
    expect(r.driver.base()).toEqual({ availIdx: 2, availWrap: true, usedIdx: 2, usedWrap: true });
    expect(r.driver.numFree()).toBe(4);
  });
});

describe('packed §2.8 buffer ids and indirect tables (device side)', () => {
  it('"Buffer ID is included in the last descriptor in the list": ids of the other descriptors are ignored', () => {
    const r = rig('packed', 4);
    const d = r.config.addrs.desc;
    packedDesc(r.space, d, 0, BUF_BASE, 4, 0xffff, AVAIL | NEXT);
    packedDesc(r.space, d, 1, BUF_BASE, 4, 0x1234, AVAIL | NEXT);
    packedDesc(r.space, d, 2, BUF_BASE, 4, 3, AVAIL | WRITE);
    const c = new Chain();
    expect(r.device.pop(c)).toBe(true);
    expect([c.id, c.ringDescs, c.count]).toEqual([3, 3, 3]);
  });

  it('"In descriptors with VIRTQ_DESC_F_INDIRECT set VIRTQ_DESC_F_WRITE is reserved and is ignored by the device"', () => {
    const r = rig('packed', 4, { indirect: true });
    packedDesc(r.space, TABLE, 0, BUF_BASE, 16, 0, 0);
    packedDesc(r.space, r.config.addrs.desc, 0, TABLE, 16, 2, AVAIL | INDIRECT | WRITE);
    const c = new Chain();
    expect(r.device.pop(c)).toBe(true);
    expect([c.id, c.count, c.outCount, c.outBytes, c.inBytes]).toEqual([2, 1, 1, 16, 0]);
  });

  it('"The VIRTQ_DESC_F_WRITE flags bit is the only valid flag for descriptors in the indirect table. Others are reserved and are ignored by the device. Buffer ID is also reserved"', () => {
    const r = rig('packed', 4, { indirect: true });
    // every non-WRITE bit set in the entries, and ids out of range: none of it changes the chain
    packedDesc(r.space, TABLE, 0, BUF_BASE, 10, 0xffff, 0xffff & ~WRITE);
    packedDesc(r.space, TABLE, 1, BUF_BASE + 0x100, 20, 999, NEXT | INDIRECT | AVAIL | USED | WRITE);
    packedDesc(r.space, TABLE, 2, BUF_BASE + 0x200, 30, 4, 0xffff);
    packedDesc(r.space, r.config.addrs.desc, 0, TABLE, 48, 1, AVAIL | INDIRECT);
    const c = new Chain();
    expect(r.device.pop(c)).toBe(true);
    expect([c.id, c.ringDescs, c.count, c.outCount, c.outBytes, c.inBytes]).toEqual([1, 1, 3, 1, 10, 50]);
    expect(Array.from(c.addr.subarray(0, 3))).toEqual([BUF_BASE, BUF_BASE + 0x100, BUF_BASE + 0x200]);
  });

  it('"A driver MUST NOT write direct descriptors with DESC_F_INDIRECT set in a scatter-gather list linked by VIRTQ_DESC_F_NEXT": indirect-next, nothing consumed', () => {
    const r = rig('packed', 4, { indirect: true });
    packedDesc(r.space, TABLE, 0, BUF_BASE, 16, 0, 0);
    packedDesc(r.space, r.config.addrs.desc, 0, BUF_BASE, 16, 0, AVAIL | NEXT);
    packedDesc(r.space, r.config.addrs.desc, 1, TABLE, 16, 1, AVAIL | INDIRECT);
    for (let k = 0; k < 2; k++) {
      const e = r.device.pop(new Chain());
      expect(isRingError(e) && e.rule).toBe('indirect-next');
    }
    expect(r.device.base().availIdx).toBe(0);
  });
});

describe('packed §2.8 event suppression: "desc_event_flags : 2, reserved : 14", "The value 0x3 is reserved"', () => {
  // struct pvirtq_event_suppress { le16 desc; le16 { desc_event_flags : 2, reserved : 14; } flags; }
  // The reader looks at desc_event_flags only; the reserved value 3 and DESC without EVENT_IDX ("Only
  // valid if VIRTIO_F_RING_EVENT_IDX has been negotiated") notify, as ENABLE does — the safe reading
  // (Linux virtqueue_kick_prepare_packed: anything but DISABLE and a valid DESC notifies).
  const cases: Array<[flags: number, eventIdx: boolean, offWrap: number, notify: boolean]> = [
    [0x0000, false, 0, true], // ENABLE
    [0x0001, false, 0, false], // DISABLE
    [0x0005, false, 0, false], // DISABLE + a reserved bit
    [0xfffd, true, 0, false], // DISABLE + every reserved bit
    [0xfffc, false, 0, true], // ENABLE + every reserved bit
    [0x0003, false, 0, true], // reserved value
    [0x0003, true, 0x8005, true], // reserved value, even with an event offset that says no
    [0x0002, false, 0x8005, true], // DESC without EVENT_IDX: not valid, notify
    [0x0002, true, 0x8005, false], // DESC at slot 5 of lap 1: not crossed
    [0x0006, true, 0x8005, false], // DESC + a reserved bit: still DESC
    [0x0006, true, 0x8000, true], // DESC at slot 0 of lap 1: crossed
  ];

  it('driver kick decision reads the device area that way', () => {
    for (const [flags, eventIdx, offWrap, notify] of cases) {
      const r = rig('packed', 8, { eventIdx });
      const dev = r.config.addrs.device;
      u16(r, dev, offWrap);
      u16(r, dev + 2, flags);
      r.driver.add(chainOf([BUF_BASE, 4, false]), 1);
      expect([flags, eventIdx, offWrap, r.driver.kickNeeded()]).toEqual([flags, eventIdx, offWrap, notify]);
    }
  });

  it('device call decision reads the driver area that way', () => {
    for (const [flags, eventIdx, offWrap, notify] of cases) {
      const r = rig('packed', 8, { eventIdx });
      const drv = r.config.addrs.driver;
      u16(r, drv, offWrap);
      u16(r, drv + 2, flags);
      expect(r.device.push(0, 1, 0)).toBeUndefined();
      expect([flags, eventIdx, offWrap, r.device.callNeeded()]).toEqual([flags, eventIdx, offWrap, notify]);
    }
  });

  it('writers: flags only ever 0, 1 or 2 (reserved bits 0), DESC only with EVENT_IDX', () => {
    for (const eventIdx of [false, true]) {
      const r = rig('packed', 8, { eventIdx });
      const { driver: drv, device: dev } = r.config.addrs;
      const seen = new Set<string>();
      r.driver.disableCalls();
      seen.add(hex(r.space, drv + 2, 2));
      r.driver.enableCalls();
      seen.add(hex(r.space, drv + 2, 2));
      r.device.disableKicks();
      seen.add(hex(r.space, dev + 2, 2));
      r.device.enableKicks();
      seen.add(hex(r.space, dev + 2, 2));
      expect([...seen].sort()).toEqual(eventIdx ? ['01 00', '02 00'] : ['00 00', '01 00']);
    }
  });
});

// ───────────────────────────────────────── split ─────────────────────────────────────────

describe('split §2.7 notification suppression', () => {
  // used_event at avail + 4 + 2·num, avail_event at used + 4 + 8·num
  const usedEventAt = (r: Rig): number => r.config.addrs.driver + 4 + 2 * r.config.size;
  const availEventAt = (r: Rig): number => r.config.addrs.device + 4 + 8 * r.config.size;

  it('device, no EVENT_IDX: "The device MUST ignore the used_event value"; flags 0 → MUST notify, 1 → SHOULD NOT', () => {
    for (const [flags, call] of [[0, true], [1, false], [0xfffe, true], [0xffff, false]] as const) {
      const r = rig('split', 4);
      u16(r, usedEventAt(r), 0x7000); // an event index that would say "no"
      u16(r, r.config.addrs.driver, flags);
      expect(r.device.push(0, 1, 0)).toBeUndefined();
      expect([flags, r.device.callNeeded()]).toEqual([flags, call]);
    }
  });

  it('device, EVENT_IDX: "The device MUST ignore the lower bit of flags"; used_event decides', () => {
    for (const [flags, usedEvent, call] of [[1, 0, true], [0xffff, 0, true], [0, 1, false], [1, 1, false]] as const) {
      const r = rig('split', 4, { eventIdx: true });
      u16(r, r.config.addrs.driver, flags);
      u16(r, usedEventAt(r), usedEvent);
      expect(r.device.push(0, 1, 0)).toBeUndefined(); // used idx 0 → 1: crosses event 0, not 1
      expect([flags, usedEvent, r.device.callNeeded()]).toEqual([flags, usedEvent, call]);
    }
  });

  it('driver, no EVENT_IDX: "The driver MUST ignore the avail_event value"; used flags decide', () => {
    for (const [flags, kick] of [[0, true], [1, false], [0xfffe, true]] as const) {
      const r = rig('split', 4);
      u16(r, availEventAt(r), 0x7000);
      u16(r, r.config.addrs.device, flags);
      r.driver.add(chainOf([BUF_BASE, 4, false]), 1);
      expect([flags, r.driver.kickNeeded()]).toEqual([flags, kick]);
    }
  });

  it('driver, EVENT_IDX: "The driver MUST ignore the lower bit of flags"; avail_event decides', () => {
    for (const [flags, availEvent, kick] of [[1, 0, true], [0xffff, 0, true], [0, 1, false], [1, 1, false]] as const) {
      const r = rig('split', 4, { eventIdx: true });
      u16(r, r.config.addrs.device, flags);
      u16(r, availEventAt(r), availEvent);
      r.driver.add(chainOf([BUF_BASE, 4, false]), 1);
      expect([flags, availEvent, r.driver.kickNeeded()]).toEqual([flags, availEvent, kick]);
    }
  });

  it('EVENT_IDX writers: "The driver MUST set flags to 0" and "The device MUST set flags to 0"', () => {
    const r = rig('split', 4, { eventIdx: true });
    const { driver: avail, device: used } = r.config.addrs;
    r.driver.disableCalls();
    r.device.disableKicks();
    expect([hex(r.space, avail, 2), hex(r.space, used, 2)]).toEqual(['00 00', '00 00']);
    r.driver.enableCalls();
    r.device.enableKicks();
    expect([hex(r.space, avail, 2), hex(r.space, used, 2)]).toEqual(['00 00', '00 00']);
  });

  it('without EVENT_IDX neither side writes the event fields ("Only if VIRTIO_F_EVENT_IDX")', () => {
    const r = rig('split', 4);
    u16(r, usedEventAt(r), 0xabcd);
    u16(r, availEventAt(r), 0x1234);
    r.driver.add(chainOf([BUF_BASE, 4, true]), 1);
    const c = new Chain();
    expect(r.device.pop(c)).toBe(true);
    r.device.disableKicks();
    r.device.enableKicks();
    expect(r.device.push(c.id, c.ringDescs, 4)).toBeUndefined();
    r.driver.disableCalls();
    r.driver.enableCalls();
    expect(r.driver.reap(new Used())).toBe(true);
    expect([hex(r.space, usedEventAt(r), 2), hex(r.space, availEventAt(r), 2)]).toEqual(['cd ab', '34 12']);
  });
});

describe('split §2.7 descriptors (device side)', () => {
  it('"The device MUST ignore the write-only flag (flags&VIRTQ_DESC_F_WRITE) in the descriptor that refers to an indirect table"', () => {
    const r = rig('split', 4, { indirect: true });
    splitDesc(r.space, TABLE, 0, BUF_BASE, 16, 0);
    splitDesc(r.space, r.config.addrs.desc, 0, TABLE, 16, INDIRECT | WRITE);
    splitPublish(r.space, r, 0);
    const c = new Chain();
    expect(r.device.pop(c)).toBe(true);
    expect([c.count, c.outCount, c.outBytes, c.inBytes, c.indirect]).toEqual([1, 1, 16, 0, true]);
  });

  it('"The device MUST handle the case of zero or more normal chained descriptors followed by a single descriptor with flags&VIRTQ_DESC_F_INDIRECT"', () => {
    const r = rig('split', 4, { indirect: true });
    splitDesc(r.space, TABLE, 0, BUF_BASE + 0x100, 8, WRITE);
    splitDesc(r.space, r.config.addrs.desc, 2, BUF_BASE, 4, NEXT, 3);
    splitDesc(r.space, r.config.addrs.desc, 3, TABLE, 16, INDIRECT);
    splitPublish(r.space, r, 2);
    const c = new Chain();
    expect(r.device.pop(c)).toBe(true);
    expect([c.id, c.ringDescs, c.count, c.outBytes, c.inBytes]).toEqual([2, 2, 2, 4, 8]);
  });

  it('next is only read with NEXT ("Next field if flags & NEXT"): a garbage next on the last descriptor is ignored', () => {
    const r = rig('split', 4);
    splitDesc(r.space, r.config.addrs.desc, 1, BUF_BASE, 4, WRITE, 0xffff);
    splitPublish(r.space, r, 1);
    const c = new Chain();
    expect(r.device.pop(c)).toBe(true);
    expect([c.id, c.count]).toEqual([1, 1]);
  });
});
