/**
 * Notification suppression both ways: kicks (driver → device) and calls (device → driver), with flags
 * (§2.7.7, §2.7.10), with event indices (VIRTIO_F_EVENT_IDX) including the windows across laps, and
 * with packed event suppression in ENABLE/DISABLE/DESC modes (§2.8.10). Also the dirty-log hook.
 */
import { describe, expect, it } from 'vitest';
import { Chain, Used, vringNeedEvent } from '../../src/ring/index.js';
import { BUF_BASE, rig, type Rig } from './helpers.js';

const one = (): Chain => {
  const c = new Chain(2);
  c.push(BUF_BASE, 64, true);
  return c;
};
const popPush = (r: Rig, n = 1): void => {
  const p = new Chain();
  for (let i = 0; i < n; i++) {
    expect(r.device.pop(p)).toBe(true);
    expect(r.device.push(p.id, p.ringDescs, 1)).toBeUndefined();
  }
};
const reapAll = (r: Rig): number => {
  const u = new Used();
  let n = 0;
  while (r.driver.reap(u) === true) n++;
  return n;
};

describe('vring_need_event', () => {
  it('is true exactly when the event index lies in [old, new), modulo 2^16', () => {
    expect(vringNeedEvent(5, 6, 5)).toBe(true);
    expect(vringNeedEvent(6, 6, 5)).toBe(false);
    expect(vringNeedEvent(4, 6, 5)).toBe(false);
    expect(vringNeedEvent(0xffff, 2, 0xfffe)).toBe(true);
    expect(vringNeedEvent(1, 2, 0xfffe)).toBe(true);
    expect(vringNeedEvent(2, 2, 0xfffe)).toBe(false);
  });
});

describe.each(['split', 'packed'] as const)('%s ring without EVENT_IDX: flags', (layout) => {
  it('kicks unless the device disabled them; enable re-checks for pending chains', () => {
    const r = rig(layout, 8);
    expect(r.driver.kickNeeded()).toBe(false); // nothing added
    r.driver.add(one(), 1);
    expect(r.driver.kickNeeded()).toBe(true);
    expect(r.driver.kickNeeded()).toBe(false); // already decided for that add
    r.device.disableKicks();
    r.driver.add(one(), 2);
    expect(r.driver.kickNeeded()).toBe(false);
    expect(r.device.enableKicks()).toBe(true); // the race: chains arrived while kicks were off
    popPush(r, 2);
    expect(r.device.enableKicks()).toBe(false);
  });

  it('calls unless the driver disabled them; enable re-checks for pending used entries', () => {
    const r = rig(layout, 8);
    r.driver.add(one(), 1);
    r.driver.add(one(), 2);
    expect(r.device.callNeeded()).toBe(false); // nothing pushed
    popPush(r);
    expect(r.device.callNeeded()).toBe(true);
    r.driver.disableCalls();
    popPush(r);
    expect(r.device.callNeeded()).toBe(false);
    expect(r.driver.enableCalls()).toBe(true);
    expect(reapAll(r)).toBe(2);
    expect(r.driver.enableCalls()).toBe(false);
  });
});

describe('split ring with EVENT_IDX', () => {
  it('kicks when the new avail entries cross avail_event', () => {
    const r = rig('split', 4, { eventIdx: true });
    r.driver.add(one(), 1);
    expect(r.driver.kickNeeded()).toBe(true); // avail_event 0 in [0, 1)
    r.driver.add(one(), 2);
    expect(r.driver.kickNeeded()).toBe(false); // the device has not caught up: avail_event still 0
    popPush(r, 2); // pops write avail_event = 2
    r.driver.add(one(), 3);
    expect(r.driver.kickNeeded()).toBe(true);
    r.device.disableKicks(); // parks avail_event one behind last_avail_idx
    popPush(r);
    r.driver.add(one(), 4);
    expect(r.driver.kickNeeded()).toBe(false);
    expect(r.device.enableKicks()).toBe(true);
  });

  it('calls when the new used entries cross used_event; reaps move used_event', () => {
    const r = rig('split', 8, { eventIdx: true });
    for (let i = 0; i < 6; i++) r.driver.add(one(), i);
    popPush(r);
    expect(r.device.callNeeded()).toBe(true); // used_event 0 in [0, 1)
    popPush(r);
    expect(r.device.callNeeded()).toBe(false); // the driver has not reaped: used_event still 0
    expect(reapAll(r)).toBe(2); // used_event = 2
    popPush(r);
    expect(r.device.callNeeded()).toBe(true);
    r.driver.disableCalls();
    popPush(r, 3);
    expect(r.device.callNeeded()).toBe(false);
    expect(r.driver.enableCalls()).toBe(true);
  });

  it('keeps deciding right across the 16-bit wrap of the indices', () => {
    const r = rig('split', 2, { eventIdx: true });
    let kicks = 0;
    let calls = 0;
    const c = one();
    const p = new Chain();
    const u = new Used();
    for (let i = 0; i < 70_000; i++) {
      r.driver.add(c, i);
      if (r.driver.kickNeeded()) kicks++;
      if (r.device.pop(p) !== true || r.device.push(p.id, p.ringDescs, 1) !== undefined) throw new Error(`round ${i}`);
      if (r.device.callNeeded()) calls++;
      if (r.driver.reap(u) !== true || u.token !== i) throw new Error(`reap ${i}`);
    }
    expect([kicks, calls]).toEqual([70_000, 70_000]); // lock-step: every add and every push is wanted
    expect(r.driver.base().availIdx).toBe(70_000 & 0xffff);
  });
});

describe('packed ring with EVENT_IDX: DESC mode', () => {
  it('kicks when the new descriptors cross the device\'s off_wrap, including the lap before', () => {
    const r = rig('packed', 4, { eventIdx: true });
    r.device.enableKicks(); // DESC at slot 0, wrap 1
    r.driver.add(one(), 1);
    expect(r.driver.kickNeeded()).toBe(true);
    r.driver.add(one(), 2);
    expect(r.driver.kickNeeded()).toBe(false); // device still asks for slot 0
    popPush(r, 2); // pops move off_wrap to slot 2
    expect(reapAll(r)).toBe(2);
    r.driver.add(one(), 3);
    expect(r.driver.kickNeeded()).toBe(true);
    popPush(r); // off_wrap = slot 3, wrap 1
    expect(reapAll(r)).toBe(1);
    r.device.disableKicks();
    r.device.enableKicks(); // DESC at slot 3, wrap 1
    r.driver.add(one(), 4); // slot 3
    r.driver.add(one(), 5); // slot 0 of lap 2: the event (slot 3 of lap 1) lies in the window
    expect(r.driver.kickNeeded()).toBe(true);
    r.device.disableKicks();
    popPush(r, 2);
    expect(reapAll(r)).toBe(2);
    r.driver.add(one(), 6);
    expect(r.driver.kickNeeded()).toBe(false); // DISABLE
  });

  it('calls when the used descriptors cross the driver\'s off_wrap', () => {
    const r = rig('packed', 4, { eventIdx: true });
    expect(r.driver.enableCalls()).toBe(false); // DESC at slot 0, wrap 1
    for (let i = 0; i < 3; i++) r.driver.add(one(), i);
    popPush(r);
    expect(r.device.callNeeded()).toBe(true);
    popPush(r);
    expect(r.device.callNeeded()).toBe(false); // not reaped: the driver still asks for slot 0
    expect(reapAll(r)).toBe(2); // reaps move off_wrap to slot 2
    popPush(r);
    expect(r.device.callNeeded()).toBe(true);
    r.driver.disableCalls();
    r.driver.add(one(), 9);
    popPush(r);
    expect(r.device.callNeeded()).toBe(false);
    expect(r.driver.enableCalls()).toBe(true);
  });
});

describe.each(['split', 'packed'] as const)('%s ring: delayed calls (Linux virtqueue_enable_cb_delayed)', (layout) => {
  it('with EVENT_IDX the device calls once 3/4 of the chains in flight are used, across laps; pending entries are reported', () => {
    const r = rig(layout, 16, { eventIdx: true });
    const u = new Used();
    // several laps of 12 in flight: no call for the first 8 used, a call at the 9th (3/4 used: used_event = last + 8)
    for (let lap = 0; lap < 5; lap++) {
      for (let i = 0; i < 12; i++) expect(typeof r.driver.add(one(), i)).toBe('number');
      r.driver.disableCalls();
      expect(r.driver.enableCallsDelayed()).toBe(false);
      for (let k = 1; k <= 12; k++) {
        popPush(r);
        expect(r.device.callNeeded(), `lap ${lap}, used ${k}`).toBe(k === 9);
      }
      expect(reapAll(r)).toBe(12);
    }
    // used entries already pending when calls are re-armed: reported, so the caller reaps them now
    r.driver.add(one(), 1);
    r.driver.add(one(), 2);
    r.driver.disableCalls();
    popPush(r);
    expect(r.driver.enableCallsDelayed()).toBe(true);
    expect(r.driver.reap(u)).toBe(true);
    // one chain in flight: the next used entry is the call
    expect(r.driver.enableCallsDelayed()).toBe(false);
    popPush(r);
    expect(r.device.callNeeded()).toBe(true);
  });

  it('without EVENT_IDX it is enableCalls: every used batch calls', () => {
    const r = rig(layout, 8);
    for (let i = 0; i < 4; i++) r.driver.add(one(), i);
    r.driver.disableCalls();
    expect(r.driver.enableCallsDelayed()).toBe(false);
    popPush(r);
    expect(r.device.callNeeded()).toBe(true);
  });
});

describe('dirty log', () => {
  it('sees every device write into the split used ring: element, idx, avail_event, flags', () => {
    const r = rig('split', 8, { eventIdx: true });
    const used = r.config.addrs.device;
    const seen: Array<[number, number]> = [];
    r.space.setWriteHook((a, l) => seen.push([a, l]));
    r.driver.add(one(), 1);
    r.driver.add(one(), 2);
    const p = new Chain();
    r.device.pop(p);
    r.device.push(p.id, p.ringDescs, 3);
    r.device.pop(p);
    r.device.push(p.id, p.ringDescs, 3);
    r.device.disableKicks();
    expect(seen).toEqual([
      [used + 4 + 8 * 8, 2], // avail_event after the first pop
      [used + 4, 8], // used elem 0
      [used + 2, 2], // used idx
      [used + 4 + 8 * 8, 2],
      [used + 4 + 8, 8],
      [used + 2, 2],
      [used + 4 + 8 * 8, 2], // avail_event parked by disableKicks
    ]);
  });

  it('sees every packed used descriptor and device-area write', () => {
    const r = rig('packed', 4, { eventIdx: true });
    const { desc, device } = r.config.addrs;
    const seen: Array<[number, number]> = [];
    r.space.setWriteHook((a, l) => seen.push([a, l]));
    r.device.enableKicks();
    const c = new Chain(2);
    c.push(BUF_BASE, 8, false);
    c.push(BUF_BASE, 8, true);
    r.driver.add(c, 1);
    r.driver.add(one(), 2);
    const p = new Chain();
    r.device.pop(p);
    r.device.pop(p);
    r.device.push(1, 1, 8);
    expect(seen).toEqual([
      [device, 2], // off_wrap
      [device + 2, 2], // flags DESC
      [device, 2], // off_wrap after pop 1
      [device, 2], // off_wrap after pop 2
      [desc + 8, 8], // used descriptor len/id/flags in slot 0
    ]);
  });
});
