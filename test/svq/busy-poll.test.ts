import { describe, expect, it } from 'vitest';
import type { RingLayout } from '../../src/ring/types.js';
import { Harness } from './harness.js';

// SVQ's busy-poll (the real device's relay polls the shadow used rings after a transmit kick): used chains
// come back without a device call, the device's calls stay off while polling, and endPolling turns them on.
const layouts: [RingLayout, RingLayout][] = [
  ['split', 'split'],
  ['packed', 'packed'],
  ['split', 'packed'],
  ['packed', 'split'],
];

describe('ShadowVirtqueue busy-poll', () => {
  for (const [g, s] of layouts) {
    for (const eventIdx of [false, true]) {
      it(`guest ${g} → shadow ${s}, EVENT_IDX ${eventIdx ? 'on' : 'off'}: pollDevice returns used chains with calls off, endPolling re-enables them`, () => {
        const h = new Harness({ guest: { layout: g, size: 16, eventIdx, indirect: false }, shadow: { layout: s, size: 8, eventIdx, indirect: false } });
        for (let i = 0; i < 6; i++) expect(h.add({ out: [32], in: [64] })).toBe(true);
        h.kick(true);
        expect(h.svq.pollDevice()).toBe(0); // nothing used yet
        expect(h.device.process(3)).toBe(3);
        h.device.callNeeded(); // the device checks after its pushes (its EVENT_IDX "old" moves on)
        expect(h.svq.pollDevice()).toBe(3);
        expect(h.reap()).toBe(3);
        // polling: the device is asked not to call
        expect(h.device.process(2)).toBe(2);
        expect(h.device.callNeeded()).toBe(false);
        expect(h.svq.pollDevice()).toBe(2);
        expect(h.reap()).toBe(2);
        // polling over: calls on again, the next used chain calls
        h.svq.endPolling();
        expect(h.device.process(1)).toBe(1);
        expect(h.device.callNeeded()).toBe(true);
        h.svq.handleDeviceCall();
        expect(h.reap()).toBe(1);
        const st = h.svq.stats();
        expect(st.returned).toBe(6);
        expect(st.deviceCalls).toBe(1); // polls are not calls
        expect(st.callsSent).toBe(h.guestCalled);
        expect(h.svq.failure).toBeUndefined();
      });
    }
  }

  it('endPolling reaps what the device used after the last poll (the re-check race)', () => {
    const h = new Harness({ guest: { layout: 'split', size: 16, eventIdx: false, indirect: false }, shadow: { layout: 'split', size: 8, eventIdx: false, indirect: false } });
    for (let i = 0; i < 4; i++) expect(h.add({ out: [16], in: [16] })).toBe(true);
    h.kick(true);
    expect(h.svq.pollDevice()).toBe(0);
    expect(h.device.process(4)).toBe(4);
    h.svq.endPolling();
    expect(h.reap()).toBe(4);
    expect(h.svq.inFlight()).toBe(0);
  });
});
