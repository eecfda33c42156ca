import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { encodeCommand, type NetCtrlCommand } from '../../src/virtio/cvq.js';
import { F, maskOf } from '../../src/virtio/features.js';
import { VIRTIO_NET_ERR, VIRTIO_NET_OK } from '../../src/virtio/net.js';
import { applyAll } from '../../src/state/apply.js';
import { DEFAULT_LIMITS, resetNetState, vlanList } from '../../src/state/net-state.js';
import { planRestore } from '../../src/state/plan.js';
import { viewThrough } from '../../src/state/view.js';
import { SIM_FULL_FEATURES, VDPA_SIM_NET_FEATURES } from '../../src/device/sim/profiles.js';
import { CVQ_MAX_COMMAND } from '../../src/device/sim/device.js';
import { Chain } from '../../src/ring/types.js';
import { arbState } from '../../testkit/fuzz/arbitraries.js';
import { bringUp, consistent, hdr, queueCommands, right, runCvq, S, sendBatch, sendSerial } from './helpers.js';

const enc = (c: NetCtrlCommand): Uint8Array => encodeCommand(c);

const RICH: NetCtrlCommand[] = [
  { kind: 'MAC_ADDR_SET', mac: '02:00:00:aa:bb:cc' },
  { kind: 'MQ_VQ_PAIRS_SET', pairs: 4 },
  { kind: 'MAC_TABLE_SET', unicast: ['02:00:00:00:00:01'], multicast: ['01:00:5e:00:00:01', '33:33:00:00:00:01'] },
  { kind: 'RX_PROMISC', on: false },
  { kind: 'RX_ALLMULTI', on: true },
  { kind: 'RX_NOBCAST', on: true },
  { kind: 'VLAN_ADD', vid: 100 },
  { kind: 'VLAN_ADD', vid: 4095 },
  { kind: 'GUEST_OFFLOADS_SET', offloads: F.GUEST_CSUM },
  { kind: 'MQ_RSS_CONFIG', hashTypes: 0x3f, indirectionTable: [0, 1, 2, 3, 3, 2, 1, 0], unclassifiedQueue: 1, maxTxVq: 4, key: new Uint8Array(40).fill(7) },
  { kind: 'NOTF_COAL_TX_SET', maxPackets: 32, maxUsecs: 64 },
];

describe.each(['split', 'packed'] as const)('full profile CVQ over a %s ring', (layout) => {
  it('acks every valid command and holds exactly the state the reducers compute', async () => {
    const h = bringUp({ layout });
    const acks = await sendSerial(h, RICH.map(enc));
    expect(acks).toEqual(RICH.map(() => VIRTIO_NET_OK));
    const expected = right(applyAll(resetNetState('52:54:00:12:34:56', h.features), h.features, DEFAULT_LIMITS, RICH));
    expect(h.dev.netState()).toEqual(expected);
    // the new MAC shows in config space
    expect(Array.from(right(h.dev.getConfig(0, 6)))).toEqual([0x02, 0, 0, 0xaa, 0xbb, 0xcc]);
  });

  it('reads commands split across many descriptors, and answers used len 1 into the first writable byte', async () => {
    const h = bringUp({ layout });
    const bytes = enc(RICH[9]!);
    const sent = queueCommands(h, [bytes], (b) => [1, 2, 3, 7, 20, b.length - 1]);
    const r = await runCvq(h, sent);
    expect(r.acks).toEqual([VIRTIO_NET_OK]);
    expect(r.used).toEqual([{ token: 0, len: 1 }]);
    expect(h.dev.cvqLog[0]!.bytes).toEqual(bytes);
    expect(h.dev.netState().rss?.indirectionTable).toEqual([0, 1, 2, 3, 3, 2, 1, 0]);
  });

  it('takes commands through indirect descriptor tables (INDIRECT_DESC)', async () => {
    const h = bringUp({ layout, indirectArea: true });
    const bytes = RICH.map(enc);
    const sent = queueCommands(h, bytes, (b) => [2, 3, b.length - 1], true);
    // one ring descriptor per command: the segments live in the tables
    expect(h.queues.get(h.cvq)!.driver.numFree()).toBe(64 - RICH.length);
    const r = await runCvq(h, sent);
    expect(r.acks).toEqual(RICH.map(() => VIRTIO_NET_OK));
    expect(h.dev.cvqLog.every((e) => e.ack === VIRTIO_NET_OK)).toBe(true);
    expect(h.dev.netState().queuePairs).toBe(4);
  });

  it('writes the ack into the first writable byte, past an empty writable descriptor', async () => {
    const h = bringUp({ layout });
    const q = h.queues.get(h.cvq)!;
    const cmd = h.alloc(8);
    right(h.space.write(cmd, enc({ kind: 'VLAN_ADD', vid: 77 })));
    const empty = h.alloc(4);
    const ack = h.alloc(4);
    right(h.space.write(ack, new Uint8Array([0xff, 0xee, 0xdd, 0xcc])));
    const c = new Chain(4);
    c.push(cmd, 4, false);
    c.push(empty, 0, true);
    c.push(ack, 4, true);
    q.driver.add(c, 0);
    right(h.dev.kick(h.cvq));
    expect(right(await h.dev.waitCall(h.cvq, 1))).toBe(true);
    expect(Array.from(right(h.space.read(ack, 4)))).toEqual([VIRTIO_NET_OK, 0xee, 0xdd, 0xcc]);
  });

  it('acks ERR and keeps the state for refused, malformed and unknown commands', async () => {
    const h = bringUp({ layout });
    const before = h.dev.netState();
    const acks = await sendBatch(h, [
      enc({ kind: 'VLAN_ADD', vid: 4096 }), // vid out of range
      enc({ kind: 'MQ_VQ_PAIRS_SET', pairs: 9 }), // beyond max_virtqueue_pairs 8
      hdr(2, 0, 100), // VLAN_ADD with a 1-byte payload
      hdr(9, 0), // unknown class
      hdr(0, 0, 2), // RX_PROMISC with on = 2
    ]);
    expect(acks).toEqual([VIRTIO_NET_ERR, VIRTIO_NET_ERR, VIRTIO_NET_ERR, VIRTIO_NET_ERR, VIRTIO_NET_ERR]);
    expect(h.dev.netState()).toBe(before);
    expect(h.dev.stats.acksErr).toBe(5);
  });

  it('refuses a command longer than CVQ_MAX_COMMAND without copying it whole', async () => {
    const h = bringUp({ layout });
    const q = h.queues.get(h.cvq)!;
    const big = h.alloc(65536);
    right(h.space.write(big, new Uint8Array([2, 0, 1, 0])));
    const c = new Chain(32);
    for (let i = 0; i < 17; i++) c.push(big, 65536, false); // 1.06 MiB of "command"
    const ack = h.alloc(1);
    c.push(ack, 1, true);
    q.driver.add(c, 0, false);
    right(h.dev.kick(h.cvq));
    expect(right(await h.dev.waitCall(h.cvq, 1))).toBe(true);
    expect(right(h.space.readU8(ack))).toBe(VIRTIO_NET_ERR);
    expect(h.dev.cvqLog[0]!.reason).toContain('exceeds');
    expect(h.dev.cvqLog[0]!.bytes.length).toBe(CVQ_MAX_COMMAND);
  });

  it('refuses a command whose feature was not negotiated', async () => {
    const h = bringUp({ layout, features: SIM_FULL_FEATURES & ~F.CTRL_VLAN });
    expect(await sendSerial(h, [enc({ kind: 'VLAN_ADD', vid: 5 }), enc({ kind: 'MAC_ADDR_SET', mac: '02:00:00:00:00:09' })])).toEqual([VIRTIO_NET_ERR, VIRTIO_NET_OK]);
  });
});

describe('full profile: a restore plan sent in one batch reproduces the state (property)', () => {
  it('for any valid state and consistent negotiated features', async () => {
    const arbNeg = fc.subarray(Object.keys(F) as (keyof typeof F)[]).map((names) => consistent((maskOf(names) & SIM_FULL_FEATURES) | F.CTRL_VQ));
    await fc.assert(
      fc.asyncProperty(arbState(DEFAULT_LIMITS), arbNeg, fc.boolean(), async (state, negotiated, packed) => {
        const h = bringUp({ device: { mac: state.mac }, features: negotiated, layout: packed ? 'packed' : 'split', size: 256 });
        const plan = planRestore(state, negotiated);
        const acks = await sendBatch(h, plan.map((c) => encodeCommand(c.cmd)));
        expect(acks.every((a) => a === VIRTIO_NET_OK)).toBe(true);
        // one kick, one call: a single round trip
        expect(h.dev.clock.roundTrips).toBe(plan.length === 0 ? 0 : 1);
        expect(viewThrough(h.dev.netState(), negotiated)).toEqual(viewThrough(state, negotiated));
      }),
      { numRuns: 25 },
    );
  });
});

describe('vdpa_sim_net profile CVQ (Linux 6.12 vdpasim_handle_cvq)', () => {
  it('acks only MAC_ADDR_SET, which lands in config space and survives a reset', async () => {
    const h = bringUp({ device: { profile: 'vdpa_sim_net' } });
    expect(h.features).toBe(VDPA_SIM_NET_FEATURES);
    expect(h.cvq).toBe(2);
    const acks = await sendSerial(h, [
      enc({ kind: 'MAC_ADDR_SET', mac: '02:11:22:33:44:55' }),
      enc({ kind: 'MQ_VQ_PAIRS_SET', pairs: 1 }),
      enc({ kind: 'MAC_TABLE_SET', unicast: [], multicast: [] }),
      enc({ kind: 'RX_PROMISC', on: true }),
      enc({ kind: 'VLAN_ADD', vid: 1 }),
    ]);
    expect(acks).toEqual([VIRTIO_NET_OK, VIRTIO_NET_ERR, VIRTIO_NET_ERR, VIRTIO_NET_ERR, VIRTIO_NET_ERR]);
    expect(h.dev.netState().mac).toBe('02:11:22:33:44:55');
    right(h.dev.setStatus(0));
    expect(Array.from(right(h.dev.getConfig(0, 6)))).toEqual([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    expect(h.dev.netState().mac).toBe('02:11:22:33:44:55');
  });

  it('a short MAC_ADDR_SET acks ERR but has already overwritten the bytes it had (the kernel pulls into config)', async () => {
    const h = bringUp({ device: { profile: 'vdpa_sim_net', mac: '52:54:00:00:00:01' } });
    expect(await sendSerial(h, [hdr(1, 1, 0xaa, 0xbb)])).toEqual([VIRTIO_NET_ERR]);
    expect(Array.from(right(h.dev.getConfig(0, 6)))).toEqual([0xaa, 0xbb, 0, 0, 0, 1]);
  });

  it('pins the stale-ack bug: with staleAck, an unsupported command batched behind an OK one is acked OK (and not applied)', async () => {
    const batch = [enc({ kind: 'MAC_ADDR_SET', mac: '02:00:00:00:00:07' }), enc({ kind: 'VLAN_ADD', vid: 7 }), enc({ kind: 'MQ_VQ_PAIRS_SET', pairs: 1 }), enc({ kind: 'MAC_TABLE_SET', unicast: [], multicast: [] }), enc({ kind: 'RX_PROMISC', on: false })];
    const buggy = bringUp({ device: { profile: 'vdpa_sim_net', staleAck: true } });
    // VLAN and MQ inherit MAC_ADDR_SET's OK; MAC_TABLE_SET (class MAC) gets a fresh ERR, which RX then inherits
    expect(await sendBatch(buggy, batch)).toEqual([VIRTIO_NET_OK, VIRTIO_NET_OK, VIRTIO_NET_OK, VIRTIO_NET_ERR, VIRTIO_NET_ERR]);
    expect(vlanList(buggy.dev.netState().vlanFilter)).toEqual([]);
    // one command per kick: every pass starts from ERR, so the bug does not show
    const serial = bringUp({ device: { profile: 'vdpa_sim_net', staleAck: true } });
    expect(await sendSerial(serial, batch)).toEqual([VIRTIO_NET_OK, VIRTIO_NET_ERR, VIRTIO_NET_ERR, VIRTIO_NET_ERR, VIRTIO_NET_ERR]);
    // without the opt-in the batch is answered as a fixed kernel would
    const fixed = bringUp({ device: { profile: 'vdpa_sim_net' } });
    expect(await sendBatch(fixed, batch)).toEqual([VIRTIO_NET_OK, VIRTIO_NET_ERR, VIRTIO_NET_ERR, VIRTIO_NET_ERR, VIRTIO_NET_ERR]);
  });

  it('serves the CVQ from its own address space when group 1 is bound to ASID 1', async () => {
    const h = bringUp({ device: { profile: 'vdpa_sim_net' }, cvqAsid1: true });
    expect(h.dev.queueAsid(2)).toBe(1);
    expect(h.dev.queueAsid(0)).toBe(0);
    expect(await sendSerial(h, [enc({ kind: 'MAC_ADDR_SET', mac: '02:00:00:00:00:01' })])).toEqual([VIRTIO_NET_OK]);
  });
});

describe('latency model on the virtual clock', () => {
  it('serial commands cost a round trip each, a batch one round trip', async () => {
    const cmds = Array.from({ length: 20 }, (_, i) => enc({ kind: 'VLAN_ADD', vid: i + 1 }));
    const serial = bringUp({ device: { latency: { kickToCallUs: 50, perChainUs: 1 } } });
    await sendSerial(serial, cmds);
    expect(serial.dev.clock.roundTrips).toBe(20);
    expect(serial.dev.clock.now).toBe(20 * 51);
    const batch = bringUp({ device: { latency: { kickToCallUs: 50, perChainUs: 1 } } });
    await sendBatch(batch, cmds);
    expect(batch.dev.clock.roundTrips).toBe(1);
    expect(batch.dev.clock.now).toBe(50 + 20);
    expect(vlanList(batch.dev.netState().vlanFilter)).toEqual(vlanList(serial.dev.netState().vlanFilter));
  });

  it('processes a kick deferred, without anyone waiting', async () => {
    const h = bringUp();
    const sent = queueCommands(h, [enc({ kind: 'VLAN_ADD', vid: 3 })]);
    right(h.dev.kick(h.cvq));
    expect(h.dev.cvqLog).toHaveLength(0); // not synchronously
    await new Promise((r) => setImmediate(r));
    expect(h.dev.cvqLog).toHaveLength(1);
    expect(right(h.cvqSpace.readU8(sent[0]!.ackAddr))).toBe(VIRTIO_NET_OK);
    expect(right(await h.dev.waitCall(h.cvq, 0))).toBe(true);
  });

  it('honours the driver asking for no interrupts (no call, waitCall times out in virtual time)', async () => {
    const h = bringUp({ features: SIM_FULL_FEATURES & ~F.EVENT_IDX });
    h.queues.get(h.cvq)!.driver.disableCalls();
    const sent = queueCommands(h, [enc({ kind: 'VLAN_ADD', vid: 3 })]);
    right(h.dev.kick(h.cvq));
    const t0 = Date.now();
    expect(right(await h.dev.waitCall(h.cvq, 5000))).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(h.dev.clock.now).toBe(5_000_000);
    expect(right(h.cvqSpace.readU8(sent[0]!.ackAddr))).toBe(VIRTIO_NET_OK);
  });
});

describe('guest announce (virtio 1.2 §5.1.6.5.4)', () => {
  it('sets VIRTIO_NET_S_ANNOUNCE until ANNOUNCE_ACK, which is refused when nothing is pending', async () => {
    const h = bringUp();
    const ack = enc({ kind: 'ANNOUNCE_ACK' });
    expect(await sendSerial(h, [ack])).toEqual([VIRTIO_NET_ERR]);
    expect(h.dev.announce()).toBe(true);
    expect(right(h.dev.getConfig(6, 2))[0]).toBe(3); // LINK_UP | ANNOUNCE
    expect(await sendSerial(h, [ack])).toEqual([VIRTIO_NET_OK]);
    expect(right(h.dev.getConfig(6, 2))[0]).toBe(1);
    const k = bringUp({ device: { profile: 'vdpa_sim_net' } });
    expect(k.dev.announce()).toBe(false); // no GUEST_ANNOUNCE
  });
});

describe('CVQ state across reset and FEATURES_OK', () => {
  it('starts from the reset state with guest offloads = the negotiated ones', () => {
    const h = bringUp();
    expect(h.dev.netState()).toEqual(resetNetState('52:54:00:12:34:56', h.features));
    right(h.dev.setStatus(0));
    expect(right(h.dev.getStatus())).toBe(0);
    expect(E.isRight(h.dev.setFeatures(h.features))).toBe(true);
    right(h.dev.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK));
    expect(h.dev.netState().queuePairs).toBe(1);
  });
});
