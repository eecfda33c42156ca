/**
 * The device against a hostile driver: random CVQ bytes and corrupted ring memory. Nothing escapes as
 * an exception, every chain the device takes is answered or recorded as a device error, and the state
 * changes only through commands the reducers accept.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { applyCommand } from '../../src/state/apply.js';
import { DEFAULT_LIMITS } from '../../src/state/net-state.js';
import { decodeCommand, encodeCommand } from '../../src/virtio/cvq.js';
import { VIRTIO_NET_ERR, VIRTIO_NET_OK } from '../../src/virtio/net.js';
import { Chain } from '../../src/ring/types.js';
import { arbCommand } from '../../testkit/fuzz/arbitraries.js';
import { bringUp, queueCommands, right, runCvq, S } from './helpers.js';

/** Commands: valid ones, mutated ones, and raw bytes with a plausible header. */
const arbBytes = fc.oneof(
  arbCommand.map((c) => encodeCommand(c)),
  fc.tuple(arbCommand, fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 255 })).map(([c, at, v]) => {
    const b = encodeCommand(c);
    if (at < b.length) b[at] = v;
    return b;
  }),
  fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 4 }), fc.uint8Array({ maxLength: 40 })).map(([c, m, p]) => new Uint8Array([c, m, ...p])),
);

describe('hostile CVQ payloads', () => {
  it.each(['split', 'packed'] as const)('the %s device state changes exactly as the reducers say, acks match', async (layout) => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbBytes, { minLength: 1, maxLength: 12 }), async (cmds) => {
        const h = bringUp({ layout, size: 64 });
        let model = h.dev.netState();
        const expected: number[] = [];
        for (const b of cmds) {
          const d = decodeCommand([b]);
          const next = E.isRight(d) && d.right.kind !== 'ANNOUNCE_ACK' ? applyCommand(model, h.features, DEFAULT_LIMITS, d.right) : E.left(null);
          if (E.isRight(next)) model = next.right;
          expected.push(E.isRight(next) ? VIRTIO_NET_OK : VIRTIO_NET_ERR);
        }
        const r = await runCvq(h, queueCommands(h, cmds));
        expect(r.timedOut).toBe(false);
        expect(r.acks).toEqual(expected);
        expect(h.dev.netState()).toEqual(model);
      }),
      { numRuns: 60 },
    );
  });
});

describe('corrupted rings', () => {
  it.each(['split', 'packed'] as const)('random bytes over the %s CVQ ring areas never throw and leave the device accounted for', async (layout) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 24 }),
        fc.integer({ min: 0, max: 4 }),
        async (pokes, nCmds) => {
          const h = bringUp({ layout, size: 16 });
          queueCommands(
            h,
            Array.from({ length: nCmds }, (_, i) => encodeCommand({ kind: 'VLAN_ADD', vid: i })),
          );
          const { desc, driver } = h.queues.get(h.cvq)!.driver.config.addrs;
          // the driver-written areas: descriptor table/ring and avail ring / driver event area
          const span = driver + (layout === 'split' ? 4 + 2 * 16 + 2 : 4) - desc;
          for (const [at, v] of pokes) right(h.cvqSpace.writeU8(desc + (at % span), v));
          right(h.dev.kick(h.cvq));
          const t0 = h.dev.clock.now;
          const called = right(await h.dev.waitCall(h.cvq, 1));
          // a call only ever follows a used entry
          if (called) expect(h.dev.stats.chains).toBeGreaterThan(0);
          // bounded work: one pass, no runaway
          expect(h.dev.clock.now - t0).toBeLessThanOrEqual(1000 + 50 + 16);
          const st = right(h.dev.getStatus());
          if (h.dev.errors.length > 0) expect(st & S.NEEDS_RESET).toBe(S.NEEDS_RESET);
          else expect(st & S.NEEDS_RESET).toBe(0);
          expect(h.dev.stats.chains).toBeLessThanOrEqual(16);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('a chain pointing outside the IOVA space is a device error, not an exception', async () => {
    const h = bringUp({ layout: 'split' });
    const d = h.queues.get(h.cvq)!.driver;
    const c = new Chain(2);
    c.push(0xdead_0000, 8, false);
    c.push(0xdead_1000, 1, true);
    d.add(c, 0);
    right(h.dev.kick(h.cvq));
    expect(right(await h.dev.waitCall(h.cvq, 1))).toBe(false);
    expect(h.dev.errors[0]?.ring?.rule).toBe('buffer-unmapped');
    expect(right(h.dev.getStatus()) & S.NEEDS_RESET).toBe(S.NEEDS_RESET);
  });
});
