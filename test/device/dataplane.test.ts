import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Chain, Used, isRingError } from '../../src/ring/types.js';
import { encodeCommand } from '../../src/virtio/cvq.js';
import { F } from '../../src/virtio/features.js';
import { SIM_FULL_FEATURES } from '../../src/device/sim/profiles.js';
import { bringUp, right, sendSerial, type Harness } from './helpers.js';

const HDR = 12; // virtio_net_hdr_v1

/** A frame: header (num_buffers = 0 on TX, as drivers send it) + Ethernet header + payload. */
function frame(dst: number[], payloadLen: number, seed = 1, vlan?: number): Uint8Array {
  const tag = vlan === undefined ? [] : [0x81, 0x00, (vlan >> 8) & 0x0f, vlan & 0xff];
  const eth = [...dst, 0x02, 0, 0, 0, 0, 0x99, ...tag, 0x08, 0x00];
  const f = new Uint8Array(HDR + eth.length + payloadLen);
  f[0] = 0; // flags
  f.set(eth, HDR);
  for (let i = 0; i < payloadLen; i++) f[HDR + eth.length + i] = (i * 7 + seed) & 0xff;
  return f;
}

const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const OURS = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const OTHER = [0x02, 0x00, 0x00, 0x00, 0x00, 0x77];

function postRx(h: Harness, pair: number, sizes: number[], token = 0): number[] {
  const rx = h.queues.get(2 * pair)!.driver;
  const c = new Chain(16);
  const addrs: number[] = [];
  for (const s of sizes) {
    const a = h.alloc(s);
    addrs.push(a);
    c.push(a, s, true);
  }
  const r = rx.add(c, token);
  if (isRingError(r)) throw new Error(r.message);
  return addrs;
}

function postTx(h: Harness, pair: number, bytes: Uint8Array, cuts: number[] = [HDR], token = 0): void {
  const tx = h.queues.get(2 * pair + 1)!.driver;
  const c = new Chain(16);
  const at = [0, ...cuts.filter((x) => x > 0 && x < bytes.length), bytes.length];
  for (let i = 1; i < at.length; i++) {
    const piece = bytes.subarray(at[i - 1]!, at[i]!);
    const a = h.alloc(piece.length);
    right(h.space.write(a, piece));
    c.push(a, piece.length, false);
  }
  const r = tx.add(c, token);
  if (isRingError(r)) throw new Error(r.message);
}

function reapAll(h: Harness, qi: number): { token: number; len: number }[] {
  const d = h.queues.get(qi)!.driver;
  const u = new Used();
  const out: { token: number; len: number }[] = [];
  for (;;) {
    const r = d.reap(u);
    if (isRingError(r)) throw new Error(r.message);
    if (!r) return out;
    out.push({ token: u.token, len: u.len });
  }
}

function readRx(h: Harness, addrs: number[], sizes: number[], len: number): Uint8Array {
  const out = new Uint8Array(len);
  let pos = 0;
  for (let i = 0; i < addrs.length && pos < len; i++) {
    const n = Math.min(sizes[i]!, len - pos);
    out.set(right(h.space.read(addrs[i]!, n)), pos);
    pos += n;
  }
  return out;
}

async function kickTx(h: Harness, pair = 0): Promise<void> {
  right(h.dev.kick(2 * pair + 1));
  await h.dev.waitCall(2 * pair, 1);
}

describe.each(['split', 'packed'] as const)('loopback over %s rings (full profile)', (layout) => {
  it('copies a TX chain into an RX chain byte for byte, setting num_buffers to 1', async () => {
    const h = bringUp({ layout });
    const f = frame(BCAST, 1000);
    const sizes = [HDR, 600, 1000];
    const addrs = postRx(h, 0, sizes, 7);
    postTx(h, 0, f, [HDR, 20, 500], 3);
    await kickTx(h);
    expect(reapAll(h, 0)).toEqual([{ token: 7, len: f.length }]);
    expect(reapAll(h, 1)).toEqual([{ token: 3, len: 0 }]);
    const got = readRx(h, addrs, sizes, f.length);
    const want = f.slice();
    want[10] = 1; // num_buffers (§5.1.6.4)
    expect(got).toEqual(want);
    expect(h.dev.stats).toMatchObject({ txPackets: 1, rxPackets: 1, txBytes: f.length, rxBytes: f.length });
  });

  it('waits for RX buffers instead of dropping (lossless loopback), resuming on the RX kick', async () => {
    const h = bringUp({ layout });
    postTx(h, 0, frame(OURS, 64));
    await kickTx(h);
    expect(reapAll(h, 1)).toEqual([]);
    expect(h.dev.stats.txPackets).toBe(0);
    postRx(h, 0, [2048]);
    right(h.dev.kick(0));
    expect(right(await h.dev.waitCall(0, 1))).toBe(true);
    expect(reapAll(h, 0)).toEqual([{ token: 0, len: HDR + 14 + 64 }]);
    expect(reapAll(h, 1)).toHaveLength(1);
  });

  it('without MRG_RXBUF, truncates a frame to the RX buffer and reports the bytes written', async () => {
    const h = bringUp({ layout, features: SIM_FULL_FEATURES & ~F.MRG_RXBUF });
    postRx(h, 0, [100]);
    postTx(h, 0, frame(BCAST, 500));
    await kickTx(h);
    expect(reapAll(h, 0)).toEqual([{ token: 0, len: 100 }]);
    expect(h.dev.stats.rxTruncated).toBe(1);
  });

  it('with MRG_RXBUF, spreads a frame over as many RX buffers as it takes, num_buffers in the first header', async () => {
    const h = bringUp({ layout, features: SIM_FULL_FEATURES & ~F.HASH_REPORT });
    const f = frame(BCAST, 500); // 526 bytes
    const a0 = postRx(h, 0, [200], 10);
    postTx(h, 0, f, [HDR, 300], 4);
    await kickTx(h);
    // one 200-byte buffer is not enough: the device waits for more, completing nothing
    expect(reapAll(h, 0)).toEqual([]);
    expect(reapAll(h, 1)).toEqual([]);
    const a1 = postRx(h, 0, [100, 100], 11);
    const a2 = postRx(h, 0, [4096], 12);
    right(h.dev.kick(0));
    expect(right(await h.dev.waitCall(0, 1))).toBe(true);
    expect(reapAll(h, 0)).toEqual([
      { token: 10, len: 200 },
      { token: 11, len: 200 },
      { token: 12, len: 126 },
    ]);
    expect(reapAll(h, 1)).toEqual([{ token: 4, len: 0 }]);
    const got = new Uint8Array(526);
    got.set(right(h.space.read(a0[0]!, 200)), 0);
    got.set(right(h.space.read(a1[0]!, 100)), 200);
    got.set(right(h.space.read(a1[1]!, 100)), 300);
    got.set(right(h.space.read(a2[0]!, 126)), 400);
    const want = f.slice();
    want[10] = 3; // num_buffers
    expect(got).toEqual(want);
  });

});

describe('receive filter', () => {
  it('vdpa_sim_net: broadcast, multicast and our MAC pass, other unicast is dropped; the header is copied verbatim', async () => {
    const h = bringUp({ device: { profile: 'vdpa_sim_net' } });
    const frames = [frame(OTHER, 10, 1), frame(BCAST, 10, 2), frame([0x01, 0, 0x5e, 0, 0, 1], 10, 3), frame(OURS, 10, 4)];
    frames[3]![10] = 0xab; // a driver-set num_buffers survives: vdpasim copies the buffer as is
    const rxAddrs = [0, 1, 2].map((i) => postRx(h, 0, [256], i)[0]!);
    frames.forEach((f, i) => postTx(h, 0, f, [HDR], i));
    await kickTx(h);
    expect(reapAll(h, 1).map((u) => u.token)).toEqual([0, 1, 2, 3]);
    const rx = reapAll(h, 0);
    expect(rx.map((u) => u.len)).toEqual([frames[1]!.length, frames[2]!.length, frames[3]!.length]);
    expect(right(h.space.read(rxAddrs[2]!, frames[3]!.length))).toEqual(frames[3]);
    expect(h.dev.stats.rxDrops).toBe(1);
  });

  it('vdpa_sim_net drops a frame when no RX buffer is posted (an overrun), completing the TX chain', async () => {
    const h = bringUp({ device: { profile: 'vdpa_sim_net' } });
    postTx(h, 0, frame(OURS, 10));
    await kickTx(h);
    expect(reapAll(h, 1)).toEqual([{ token: 0, len: 0 }]);
    expect(h.dev.stats.rxOverruns).toBe(1);
  });

  it('full: promiscuous by default; after RX_PROMISC 0 the MAC, MAC table, RX modes and VLAN filter decide', async () => {
    // without HASH_REPORT the header is virtio_net_hdr_v1 (12 bytes; 20 with it)
    const h = bringUp({ layout: 'split', size: 256, features: SIM_FULL_FEATURES & ~F.HASH_REPORT });
    const deliver = async (f: Uint8Array): Promise<boolean> => {
      postRx(h, 0, [2048]);
      postTx(h, 0, f);
      const before = h.dev.stats.rxPackets;
      await kickTx(h);
      reapAll(h, 1);
      reapAll(h, 0);
      return h.dev.stats.rxPackets > before;
    };
    expect(await deliver(frame(OTHER, 10))).toBe(true); // promisc at reset
    expect(await sendSerial(h, [encodeCommand({ kind: 'RX_PROMISC', on: false })])).toEqual([0]);
    expect(await deliver(frame(OTHER, 10))).toBe(false);
    expect(await deliver(frame(OURS, 10))).toBe(true);
    await sendSerial(h, [encodeCommand({ kind: 'MAC_TABLE_SET', unicast: ['02:00:00:00:00:77'], multicast: [] })]);
    expect(await deliver(frame(OTHER, 10))).toBe(true);
    expect(await deliver(frame([0x01, 0, 0x5e, 0, 0, 9], 10))).toBe(false); // multicast not in the table
    await sendSerial(h, [encodeCommand({ kind: 'RX_ALLMULTI', on: true })]);
    expect(await deliver(frame([0x01, 0, 0x5e, 0, 0, 9], 10))).toBe(true);
    expect(await deliver(frame(BCAST, 10))).toBe(true);
    await sendSerial(h, [encodeCommand({ kind: 'RX_NOBCAST', on: true })]);
    expect(await deliver(frame(BCAST, 10))).toBe(false);
    // VLAN filter (CTRL_VLAN negotiated): tagged frames need their VID in the filter
    expect(await deliver(frame(OURS, 10, 1, 100))).toBe(false);
    await sendSerial(h, [encodeCommand({ kind: 'VLAN_ADD', vid: 100 })]);
    expect(await deliver(frame(OURS, 10, 1, 100))).toBe(true);
    await sendSerial(h, [encodeCommand({ kind: 'RX_NOUNI', on: true })]);
    expect(await deliver(frame(OURS, 10))).toBe(false);
  });
});

describe('multiqueue', () => {
  it('loops pair N back on itself only once MQ_VQ_PAIRS_SET made it active', async () => {
    const h = bringUp({ layout: 'split', queues: [0, 1, 2, 3, 16] });
    expect(h.cvq).toBe(16);
    postRx(h, 1, [256]);
    postTx(h, 1, frame(BCAST, 32));
    await kickTx(h, 1);
    expect(reapAll(h, 2)).toEqual([]);
    expect(await sendSerial(h, [encodeCommand({ kind: 'MQ_VQ_PAIRS_SET', pairs: 2 })])).toEqual([0]);
    await kickTx(h, 1);
    expect(reapAll(h, 2)).toEqual([{ token: 0, len: HDR + 14 + 32 }]);
    expect(reapAll(h, 0)).toEqual([]);
  });
});

describe('loopback property: random frames and segmentations, every byte, across index wraps', () => {
  it.each(['split', 'packed'] as const)('%s', async (layout) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ len: fc.integer({ min: 0, max: 300 }), cut: fc.integer({ min: 1, max: 320 }), rxSplit: fc.integer({ min: 1, max: 400 }) }), { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        async (pkts, eventIdx) => {
          const features = eventIdx ? SIM_FULL_FEATURES : SIM_FULL_FEATURES & ~F.EVENT_IDX;
          const h = bringUp({ layout, size: 8, features });
          let seq = 0;
          for (const p of pkts) {
            const f = frame(BCAST, p.len, seq);
            const rxSizes = p.rxSplit < f.length ? [p.rxSplit, f.length - p.rxSplit] : [f.length];
            const addrs = postRx(h, 0, rxSizes, seq);
            postTx(h, 0, f, [p.cut], seq);
            if (h.queues.get(1)!.driver.kickNeeded()) right(h.dev.kick(1));
            h.dev.flush();
            const tx = reapAll(h, 1);
            const rx = reapAll(h, 0);
            expect(tx).toEqual([{ token: seq, len: 0 }]);
            expect(rx).toEqual([{ token: seq, len: f.length }]);
            const want = f.slice();
            want[10] = 1;
            expect(readRx(h, addrs, rxSizes, f.length)).toEqual(want);
            seq++;
          }
          expect(h.dev.stats.rxPackets).toBe(pkts.length);
        },
      ),
      { numRuns: 30 },
    );
  });
});
