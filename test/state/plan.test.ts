import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { applyAll, applyCommand } from '../../src/state/apply.js';
import { DEFAULT_LIMITS, resetNetState, vlanFilterOf, type NetDeviceState } from '../../src/state/net-state.js';
import { planCommands, planRestore } from '../../src/state/plan.js';
import { viewThrough } from '../../src/state/view.js';
import { decodeCommand, encodeCommand, type NetCtrlCommand } from '../../src/virtio/cvq.js';
import { FULL_PROFILE_FEATURES, GUEST_OFFLOAD_FEATURES, hasFeature, maskOf } from '../../src/virtio/features.js';
import { toHex } from '../../src/virtio/net.js';
import { arbCommand, arbLimits, arbNegotiated, arbState } from '../../testkit/fuzz/arbitraries.js';

const DEST_MAC = '02:00:00:00:00:99';

/** The destination after reset: its MAC comes from config space unless the CVQ can set it. */
const freshDestination = (state: NetDeviceState, negotiated: bigint): NetDeviceState =>
  resetNetState(hasFeature(negotiated, 'CTRL_VQ') && hasFeature(negotiated, 'CTRL_MAC_ADDR') ? DEST_MAC : state.mac, negotiated);

/** Send the plan as bytes: encode, decode as the device does, apply. */
function restore(state: NetDeviceState, negotiated: bigint, limits = DEFAULT_LIMITS) {
  const decoded: NetCtrlCommand[] = planRestore(state, negotiated).map((c) => {
    const d = decodeCommand([Uint8Array.of(c.class, c.command), c.payload]);
    if (E.isLeft(d)) throw new Error(d.left.message);
    return d.right;
  });
  return applyAll(freshDestination(state, negotiated), negotiated, limits, decoded);
}

describe('planRestore: the core property', () => {
  it('applying the plan to a freshly reset device yields the state seen through the negotiated features', () => {
    fc.assert(
      fc.property(
        arbLimits.chain((limits) => fc.tuple(fc.constant(limits), arbState(limits), arbNegotiated)),
        ([limits, state, negotiated]) => {
          expect(restore(state, negotiated, limits)).toEqual(E.right(viewThrough(state, negotiated)));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('holds for states reached by any command sequence on a device (refused commands skipped)', () => {
    fc.assert(
      fc.property(arbLimits, arbNegotiated, arbMac0(), fc.array(arbCommand, { maxLength: 25 }), (limits, negotiated, mac, cmds) => {
        let s = resetNetState(mac, negotiated);
        for (const c of cmds) s = E.getOrElse(() => s)(applyCommand(s, negotiated, limits, c));
        expect(restore(s, negotiated, limits)).toEqual(E.right(viewThrough(s, negotiated)));
      }),
      { numRuns: 1500 },
    );
  });

  it('viewThrough is idempotent and the plan of the view is the plan of the state', () => {
    fc.assert(
      fc.property(arbState(DEFAULT_LIMITS), arbNegotiated, (state, negotiated) => {
        const v = viewThrough(state, negotiated);
        expect(viewThrough(v, negotiated)).toEqual(v);
        expect(planCommands(v, negotiated)).toEqual(planCommands(state, negotiated));
      }),
      { numRuns: 500 },
    );
  });

  it('a reset device needs no commands beyond the MAC and queue pairs', () => {
    const f = FULL_PROFILE_FEATURES;
    expect(planCommands(resetNetState('52:54:00:12:34:56', f), f)).toEqual([
      { kind: 'MAC_ADDR_SET', mac: '52:54:00:12:34:56' },
      { kind: 'MQ_VQ_PAIRS_SET', pairs: 1 },
    ]);
  });
});

function arbMac0() {
  return fc.constantFrom('52:54:00:12:34:56', '02:00:00:00:00:01');
}

describe('planRestore: order and rules (QEMU vhost_vdpa_net_cvq_load, spec-exact)', () => {
  const full = FULL_PROFILE_FEATURES;
  const key = '6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa';
  const state: NetDeviceState = {
    ...resetNetState('52:54:00:12:34:56'),
    queuePairs: 4,
    rxMode: { promisc: false, allmulti: true, alluni: true, nomulti: true, nouni: true, nobcast: true },
    macTable: { unicast: ['52:54:00:00:00:01'], multicast: ['01:00:5e:00:00:01'], unicastOverflow: false, multicastOverflow: false },
    vlanFilter: vlanFilterOf([100, 1]),
    guestOffloads: 0x182n,
    rss: { hashTypes: 63, indirectionTable: [0, 1, 2, 3], unclassifiedQueue: 0, key },
    hashReport: { hashTypes: 63, key },
    coalescing: { tx: { maxPackets: 32, maxUsecs: 64 }, rx: { maxPackets: 0, maxUsecs: 0 } },
  };

  it('orders mac, mac table, mq, rss, offloads, rx, rx extra, vlan, coalescing with exact payloads', () => {
    expect(planRestore(state, full).map((c) => [c.class, c.command, c.name, toHex(c.payload)])).toEqual([
      [1, 1, 'MAC_ADDR_SET', '525400123456'],
      [1, 0, 'MAC_TABLE_SET', '01000000525400000001' + '0100000001005e000001'],
      [4, 0, 'MQ_VQ_PAIRS_SET', '0400'],
      [4, 1, 'MQ_RSS_CONFIG', '3f000000' + '0300' + '0000' + '0000010002000300' + '0400' + '28' + key],
      [5, 0, 'GUEST_OFFLOADS_SET', '8201000000000000'],
      [0, 0, 'RX_PROMISC', '00'],
      [0, 1, 'RX_ALLMULTI', '01'],
      [0, 2, 'RX_ALLUNI', '01'],
      [0, 3, 'RX_NOMULTI', '01'],
      [0, 4, 'RX_NOUNI', '01'],
      [0, 5, 'RX_NOBCAST', '01'],
      [2, 0, 'VLAN_ADD', '0100'],
      [2, 0, 'VLAN_ADD', '6400'],
      [6, 0, 'NOTF_COAL_TX_SET', '2000000040000000'],
    ]);
  });

  it('sends HASH_CONFIG (reserved zero) only when RSS is off or not negotiated', () => {
    const noRss = full & ~maskOf(['RSS']);
    const p = planRestore(state, noRss).find((c) => c.name === 'MQ_HASH_CONFIG')!;
    expect(toHex(p.payload)).toBe('3f000000' + '0000000000000000' + '28' + key);
    expect(planRestore({ ...state, rss: { ...state.rss!, hashTypes: 0 } }, full).map((c) => c.name)).toContain('MQ_HASH_CONFIG');
    expect(planRestore(state, full).map((c) => c.name)).not.toContain('MQ_HASH_CONFIG');
  });

  it('keeps PROMISC on under unicast overflow and turns ALLMULTI on under multicast overflow', () => {
    const over = { ...state, rxMode: { ...state.rxMode, allmulti: false }, macTable: { unicast: [], multicast: [], unicastOverflow: true, multicastOverflow: true } };
    const names = planRestore(over, full).map((c) => c.name);
    expect(names).not.toContain('RX_PROMISC');
    expect(names).not.toContain('MAC_TABLE_SET');
    expect(names).toContain('RX_ALLMULTI');
  });

  it('skips offloads equal to the negotiated ones and masks offloads the destination lacks', () => {
    const negotiatedOffloads = full & GUEST_OFFLOAD_FEATURES;
    expect(planRestore({ ...state, guestOffloads: negotiatedOffloads }, full).map((c) => c.name)).not.toContain('GUEST_OFFLOADS_SET');
    const f = full & ~maskOf(['GUEST_USO4', 'GUEST_USO6']);
    const cmd = planCommands({ ...state, guestOffloads: 0x182n | (1n << 54n) }, f).find((c) => c.kind === 'GUEST_OFFLOADS_SET');
    expect(cmd).toEqual({ kind: 'GUEST_OFFLOADS_SET', offloads: 0x182n });
  });

  it('gates every step on CTRL_VQ and its own feature', () => {
    expect(planRestore(state, full & ~maskOf(['CTRL_VQ']))).toEqual([]);
    const only = maskOf(['CTRL_VQ', 'CTRL_MAC_ADDR']);
    expect(planRestore(state, only).map((c) => c.name)).toEqual(['MAC_ADDR_SET']);
    const noExtra = full & ~maskOf(['CTRL_RX_EXTRA', 'CTRL_VLAN', 'NOTF_COAL', 'MQ']);
    expect(planRestore(state, noExtra).map((c) => c.name)).toEqual(['MAC_ADDR_SET', 'MAC_TABLE_SET', 'MQ_RSS_CONFIG', 'GUEST_OFFLOADS_SET', 'RX_PROMISC', 'RX_ALLMULTI']);
  });

  it('restores 4094 VLANs as 4094 ascending VLAN_ADDs', () => {
    const vids = Array.from({ length: 4094 }, (_, i) => i + 1);
    const big = { ...resetNetState('52:54:00:12:34:56', full), vlanFilter: vlanFilterOf(vids) };
    const plan = planCommands(big, full).filter((c) => c.kind === 'VLAN_ADD');
    expect(plan.map((c) => (c.kind === 'VLAN_ADD' ? c.vid : -1))).toEqual(vids);
    expect(restore(big, full)).toEqual(E.right(viewThrough(big, full)));
  });

  it('encodes every planned command byte-for-byte as encodeCommand does', () => {
    for (const c of planRestore(state, full)) {
      expect(Uint8Array.of(c.class, c.command, ...c.payload)).toEqual(encodeCommand(c.cmd));
    }
  });
});
