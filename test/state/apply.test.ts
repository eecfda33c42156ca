import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { isDraftable } from 'immer';
import { applyCommand, commandAllowed, REQUIRED_FEATURE } from '../../src/state/apply.js';
import { DEFAULT_LIMITS, resetNetState, vlanIsSet, vlanList, type DeviceLimits, type NetDeviceState } from '../../src/state/net-state.js';
import type { NetCtrlCommand } from '../../src/virtio/cvq.js';
import { FULL_PROFILE_FEATURES, maskOf } from '../../src/virtio/features.js';
import { arbCommand, arbLimits, arbNegotiated } from '../../testkit/fuzz/arbitraries.js';

const full = FULL_PROFILE_FEATURES;
const s0 = resetNetState('52:54:00:12:34:56', full);
const apply = (cmd: NetCtrlCommand, state: NetDeviceState = s0, negotiated = full, limits: DeviceLimits = DEFAULT_LIMITS) =>
  applyCommand(state, negotiated, limits, cmd);
const reason = (r: ReturnType<typeof apply>): string => (E.isLeft(r) ? r.left.reason : 'ok');
const ok = (r: ReturnType<typeof apply>): NetDeviceState => {
  if (E.isLeft(r)) throw new Error(r.left.message);
  return r.right;
};
const macs = (n: number, first: number): string[] => Array.from({ length: n }, (_, i) => `02:00:00:00:${((first + i) >> 8).toString(16).padStart(2, '0')}:${((first + i) & 0xff).toString(16).padStart(2, '0')}`);

describe('resetNetState', () => {
  it('is promiscuous with everything else off and the negotiated guest offloads on', () => {
    expect(s0.rxMode).toEqual({ promisc: true, allmulti: false, alluni: false, nomulti: false, nouni: false, nobcast: false });
    expect(s0.queuePairs).toBe(1);
    expect(vlanList(s0.vlanFilter)).toEqual([]);
    expect(s0.guestOffloads).toBe(maskOf(['GUEST_CSUM', 'GUEST_TSO4', 'GUEST_TSO6', 'GUEST_ECN', 'GUEST_UFO', 'GUEST_USO4', 'GUEST_USO6']));
    expect([s0.rss, s0.hashReport, s0.coalescing]).toEqual([null, null, null]);
  });
});

describe('applyCommand: a virtio-net device\'s CVQ semantics', () => {
  it('refuses every command whose feature (or CTRL_VQ) is not negotiated, leaving the state', () => {
    fc.assert(
      fc.property(arbCommand, arbNegotiated, (cmd, negotiated) => {
        const r = apply(cmd, s0, negotiated);
        if (!commandAllowed(cmd.kind, negotiated)) expect(r).toMatchObject(E.left({ reason: 'not-negotiated', kind: cmd.kind }));
        else expect(reason(r)).not.toBe('not-negotiated');
      }),
      { numRuns: 1000 },
    );
    expect(apply({ kind: 'VLAN_ADD', vid: 1 }, s0, full & ~maskOf(['CTRL_VQ']))).toMatchObject(E.left({ message: 'VLAN_ADD: CTRL_VQ not negotiated' }));
    expect(REQUIRED_FEATURE.RX_NOBCAST).toBe('CTRL_RX_EXTRA');
  });

  it('never mutates its input and returns frozen states', () => {
    fc.assert(
      fc.property(arbCommand, arbLimits, (cmd, limits) => {
        const before = structuredClone(s0);
        const r = apply(cmd, s0, full, limits);
        expect(s0).toEqual(before);
        if (E.isRight(r)) expect(Object.isFrozen(r.right) || !isDraftable(r.right)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('queue pairs within 1..max_virtqueue_pairs', () => {
    expect(ok(apply({ kind: 'MQ_VQ_PAIRS_SET', pairs: 8 })).queuePairs).toBe(8);
    expect(reason(apply({ kind: 'MQ_VQ_PAIRS_SET', pairs: 0 }))).toBe('queue-pairs');
    expect(reason(apply({ kind: 'MQ_VQ_PAIRS_SET', pairs: 9 }))).toBe('queue-pairs');
  });

  const rss = (over: Partial<Extract<NetCtrlCommand, { kind: 'MQ_RSS_CONFIG' }>> = {}): NetCtrlCommand => ({
    kind: 'MQ_RSS_CONFIG',
    hashTypes: 0x3f,
    indirectionTable: [0, 1, 2, 3],
    unclassifiedQueue: 0,
    maxTxVq: 4,
    key: new Uint8Array(40).fill(7),
    ...over,
  });

  it('RSS: table a power of two within the maximum, queues below max_tx_vq, key and hash types within the device', () => {
    const s = ok(apply(rss()));
    expect(s.queuePairs).toBe(4);
    expect(s.rss).toEqual({ hashTypes: 0x3f, indirectionTable: [0, 1, 2, 3], unclassifiedQueue: 0, key: '07'.repeat(40) });
    expect(s.hashReport).toEqual({ hashTypes: 0x3f, key: '07'.repeat(40) }); // HASH_REPORT negotiated
    expect(ok(apply(rss(), s0, full & ~maskOf(['HASH_REPORT']))).hashReport).toBeNull();
    expect(reason(apply(rss({ indirectionTable: [0, 1, 2] })))).toBe('rss-table');
    expect(reason(apply(rss({ indirectionTable: new Array(256).fill(0) })))).toBe('rss-table');
    expect(reason(apply(rss({ indirectionTable: [0, 1, 2, 4] })))).toBe('rss-queue');
    expect(reason(apply(rss({ unclassifiedQueue: 4 })))).toBe('rss-queue');
    expect(reason(apply(rss({ maxTxVq: 0 })))).toBe('queue-pairs');
    expect(reason(apply(rss({ maxTxVq: 9 })))).toBe('queue-pairs');
    expect(reason(apply(rss({ key: new Uint8Array(41) })))).toBe('key-size');
    expect(reason(apply(rss({ hashTypes: 0x200 })))).toBe('hash-types');
    expect(reason(apply(rss(), s0, full, { ...DEFAULT_LIMITS, supportedHashTypes: 0x3 }))).toBe('hash-types');
    // hash_types 0 disables RSS
    expect(ok(apply(rss({ hashTypes: 0 }), s)).rss).toBeNull();
  });

  it('HASH_CONFIG sets the reported hash and turns RSS steering off', () => {
    const s = ok(apply(rss()));
    const h = ok(apply({ kind: 'MQ_HASH_CONFIG', hashTypes: 0x12, key: Uint8Array.of(1, 2) }, s));
    expect(h.rss).toBeNull();
    expect(h.hashReport).toEqual({ hashTypes: 0x12, key: '0102' });
    expect(reason(apply({ kind: 'MQ_HASH_CONFIG', hashTypes: 0x12, key: new Uint8Array(41) }))).toBe('key-size');
  });

  it('VLAN ids below 4096; ADD and DEL toggle one bit', () => {
    let s = ok(apply({ kind: 'VLAN_ADD', vid: 4095 }));
    s = ok(apply({ kind: 'VLAN_ADD', vid: 0 }, s));
    s = ok(apply({ kind: 'VLAN_ADD', vid: 31 }, s));
    expect(vlanList(s.vlanFilter)).toEqual([0, 31, 4095]);
    expect(vlanIsSet(s.vlanFilter, 4095)).toBe(true);
    s = ok(apply({ kind: 'VLAN_DEL', vid: 31 }, s));
    expect(vlanList(s.vlanFilter)).toEqual([0, 4095]);
    expect(reason(apply({ kind: 'VLAN_ADD', vid: 4096 }))).toBe('vlan-id');
    expect(reason(apply({ kind: 'VLAN_DEL', vid: 0xffff }))).toBe('vlan-id');
  });

  it('guest offloads must be a subset of the negotiated guest offloads', () => {
    expect(ok(apply({ kind: 'GUEST_OFFLOADS_SET', offloads: 0x2n })).guestOffloads).toBe(0x2n);
    expect(reason(apply({ kind: 'GUEST_OFFLOADS_SET', offloads: 0x4n }))).toBe('offloads'); // bit 2 is CTRL_GUEST_OFFLOADS
    expect(reason(apply({ kind: 'GUEST_OFFLOADS_SET', offloads: 0x80n }, s0, full & ~maskOf(['GUEST_TSO4'])))).toBe('offloads');
  });

  it('an oversized MAC table sets the overflow flag as QEMU does (64 entries shared)', () => {
    const fit = ok(apply({ kind: 'MAC_TABLE_SET', unicast: macs(40, 0), multicast: macs(24, 100) }));
    expect(fit.macTable).toMatchObject({ unicastOverflow: false, multicastOverflow: false });
    expect(fit.macTable.unicast).toHaveLength(40);
    const multi = ok(apply({ kind: 'MAC_TABLE_SET', unicast: macs(40, 0), multicast: macs(25, 100) }));
    expect(multi.macTable).toEqual({ unicast: macs(40, 0), multicast: [], unicastOverflow: false, multicastOverflow: true });
    const uni = ok(apply({ kind: 'MAC_TABLE_SET', unicast: macs(65, 0), multicast: macs(64, 100) }));
    expect(uni.macTable).toEqual({ unicast: [], multicast: macs(64, 100), unicastOverflow: true, multicastOverflow: false });
    // a later table that fits clears the flags
    expect(ok(apply({ kind: 'MAC_TABLE_SET', unicast: [], multicast: [] }, uni)).macTable.unicastOverflow).toBe(false);
  });

  it('RX modes, MAC, coalescing and ANNOUNCE_ACK', () => {
    let s = ok(apply({ kind: 'RX_PROMISC', on: false }));
    s = ok(apply({ kind: 'RX_NOBCAST', on: true }, s));
    expect(s.rxMode).toMatchObject({ promisc: false, nobcast: true });
    expect(ok(apply({ kind: 'MAC_ADDR_SET', mac: '02:00:00:00:00:01' })).mac).toBe('02:00:00:00:00:01');
    const c = ok(apply({ kind: 'NOTF_COAL_RX_SET', maxPackets: 5, maxUsecs: 6 }));
    expect(c.coalescing).toEqual({ tx: { maxPackets: 0, maxUsecs: 0 }, rx: { maxPackets: 5, maxUsecs: 6 } });
    expect(ok(apply({ kind: 'ANNOUNCE_ACK' }))).toBe(s0);
    expect(reason(apply({ kind: 'ANNOUNCE_ACK' }, s0, full & ~maskOf(['GUEST_ANNOUNCE'])))).toBe('not-negotiated');
  });
});
