import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AddressSpace } from '../../src/memory/address-space.js';
import { placeRing, ringFactory } from '../../src/ring/index.js';
import { Chain, Used, isRingError, type RingConfig, type RingDriver } from '../../src/ring/types.js';
import { SimVdpaDevice } from '../../src/device/sim/device.js';
import { SIM_FULL_FEATURES } from '../../src/device/sim/profiles.js';
import { resetNetState } from '../../src/state/net-state.js';
import { encodeCommand } from '../../src/virtio/cvq.js';
import { F } from '../../src/virtio/features.js';
import { VIRTIO_NET_ERR, VIRTIO_NET_OK } from '../../src/virtio/net.js';
import { SvqDevice } from '../../src/svq/svq-device.js';
import { arbCommand } from '../../testkit/fuzz/arbitraries.js';
import { right } from '../device/helpers.js';

const MAC = '52:54:00:12:34:56';
/** The full profile as a guest would negotiate it on a split ring (MQ on: the CVQ is queue 16). */
const FEATURES = SIM_FULL_FEATURES & ~F.RING_PACKED;
const CVQ = 16;

/** A guest command: well-formed, or garbage bytes the device must never see. */
const arbGuestCommand = fc.oneof(
  { weight: 6, arbitrary: arbCommand.map((c) => ({ bytes: encodeCommand(c), valid: true })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 12 }).map((b) => ({ bytes: b, valid: false })) },
);

describe('shadow CVQ against the simulated device model', () => {
  it('answers every guest command once, in order, and keeps SVQ\'s model equal to the device\'s state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(arbGuestCommand, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 5 }), async (batches) => {
        const dev = new SimVdpaDevice({ profile: 'full', mac: MAC });
        const gpa = new AddressSpace('gpa');
        const ram = right(dev.allocHost(1 << 20, 'guest-ram'));
        right(gpa.addRegion(0, ram.buffer, { offset: ram.offset, size: ram.size }));
        const configs = new Map<number, RingConfig>();
        let at = 0x1000;
        for (const qi of [0, 1, CVQ]) {
          const p = placeRing('split', 64, at);
          configs.set(qi, { layout: 'split', size: 64, addrs: p.addrs, eventIdx: true, indirect: true });
          at = Math.ceil(p.end / 4096) * 4096;
        }
        const drv = ringFactory('split').driver(gpa, configs.get(CVQ)!) as RingDriver;
        if (isRingError(drv)) throw new Error(drv.message);
        right(dev.setOwner());
        const sd = right(
          await SvqDevice.start({
            device: dev,
            mode: 'cvq',
            guest: { space: gpa, sections: [{ gpa: 0, hva: ram.base, size: ram.size }], features: FEATURES, queues: [...configs].map(([qi, config]) => ({ qi, config })), cvq: CVQ },
            callGuest: () => {},
            state: resetNetState(MAC, FEATURES),
          }),
        );
        let next = 0x20000;
        const sent: { ack: number; valid: boolean }[] = [];
        const answered: number[] = [];
        const u = new Used();
        for (const batch of batches) {
          for (const c of batch) {
            const ch = new Chain(4);
            if (c.bytes.length > 0) {
              right(gpa.write(next, c.bytes));
              ch.push(next, c.bytes.length, false);
              next += Math.ceil(c.bytes.length / 16) * 16;
            }
            right(gpa.writeU8(next, 0xff));
            ch.push(next, 1, true);
            const r = drv.add(ch, sent.length);
            if (isRingError(r)) throw new Error(r.message);
            sent.push({ ack: next, valid: c.valid });
            next += 16;
          }
          sd.guestKick(CVQ);
          for (let i = 0; i < 20 && answered.length < sent.length; i++) {
            dev.settle();
            sd.poll();
            for (;;) {
              const r = drv.reap(u);
              if (isRingError(r)) throw new Error(r.message);
              if (!r) break;
              expect(u.len).toBe(1);
              answered.push(u.token);
            }
          }
        }
        // every command answered exactly once, in the order it was sent
        expect(answered).toEqual(sent.map((_, i) => i));
        const cvq = sd.cvq!;
        expect(cvq.failure).toBeUndefined();
        for (const s of sent) {
          const ack = right(gpa.readU8(s.ack));
          expect([VIRTIO_NET_OK, VIRTIO_NET_ERR]).toContain(ack);
          if (!s.valid) expect(ack).toBe(VIRTIO_NET_ERR);
        }
        // garbage never reached the device; SVQ's model is the device's state
        expect(cvq.stats().forwarded + cvq.stats().refusedLocally + cvq.stats().emulated).toBe(sent.length);
        expect(cvq.state).toEqual(dev.netState());
      }),
      { numRuns: 40 },
    );
  });
});
