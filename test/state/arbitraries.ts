/** fast-check arbitraries shared by the virtio / state / cvq tests: commands, limits, features, states. */
import fc from 'fast-check';
import type { NetCtrlCommand } from '../../src/virtio/cvq.js';
import { FULL_PROFILE_FEATURES, GUEST_OFFLOAD_FEATURES, featureNames, maskOf, type FeatureName } from '../../src/virtio/features.js';
import { VIRTIO_NET_RSS_HASH_TYPE_ALL, formatMac, toHex } from '../../src/virtio/net.js';
import { DEFAULT_LIMITS, vlanFilterOf, type DeviceLimits, type NetDeviceState } from '../../src/state/net-state.js';

export const arbMac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => formatMac(b));
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const small = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 16 }), u32);
const key = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max });

/** Any command the codec can carry (values over their full encoding range). */
export const arbCommand: fc.Arbitrary<NetCtrlCommand> = fc.oneof(
  fc.record({ kind: fc.constantFrom('RX_PROMISC', 'RX_ALLMULTI', 'RX_ALLUNI', 'RX_NOMULTI', 'RX_NOUNI', 'RX_NOBCAST' as const), on: fc.boolean() }),
  fc.record({ kind: fc.constant('MAC_TABLE_SET' as const), unicast: fc.array(arbMac, { maxLength: 70 }), multicast: fc.array(arbMac, { maxLength: 70 }) }),
  fc.record({ kind: fc.constant('MAC_ADDR_SET' as const), mac: arbMac }),
  fc.record({ kind: fc.constantFrom('VLAN_ADD', 'VLAN_DEL' as const), vid: fc.oneof(fc.integer({ min: 0, max: 4095 }), u16) }),
  fc.constant({ kind: 'ANNOUNCE_ACK' as const }),
  fc.record({ kind: fc.constant('MQ_VQ_PAIRS_SET' as const), pairs: fc.oneof(fc.integer({ min: 0, max: 20 }), u16) }),
  fc.integer({ min: 0, max: 8 }).chain((lg) =>
    fc.record({
      kind: fc.constant('MQ_RSS_CONFIG' as const),
      hashTypes: fc.oneof(fc.integer({ min: 0, max: 0x1ff }), u32),
      indirectionTable: fc.array(fc.oneof(fc.integer({ min: 0, max: 9 }), u16), { minLength: 1 << lg, maxLength: 1 << lg }),
      unclassifiedQueue: fc.oneof(fc.integer({ min: 0, max: 9 }), u16),
      maxTxVq: fc.oneof(fc.integer({ min: 0, max: 10 }), u16),
      key: key(64),
    }),
  ),
  fc.record({ kind: fc.constant('MQ_HASH_CONFIG' as const), hashTypes: fc.oneof(fc.integer({ min: 0, max: 0x1ff }), u32), key: key(64) }),
  fc.record({ kind: fc.constant('GUEST_OFFLOADS_SET' as const), offloads: fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), subsetOf(GUEST_OFFLOAD_FEATURES)) }),
  fc.record({ kind: fc.constantFrom('NOTF_COAL_TX_SET', 'NOTF_COAL_RX_SET' as const), maxPackets: small, maxUsecs: small }),
);

/** A random subset of the bits of `mask`. */
export function subsetOf(mask: bigint): fc.Arbitrary<bigint> {
  const bits: bigint[] = [];
  for (let b = 0n; b < 64n; b++) if ((mask >> b) & 1n) bits.push(1n << b);
  return fc.subarray(bits).map((s) => s.reduce((a, b) => a | b, 0n));
}

/** A feature set drawn from the full profile, CTRL_VQ present most of the time. */
export const arbNegotiated: fc.Arbitrary<bigint> = fc
  .tuple(subsetOf(FULL_PROFILE_FEATURES), fc.integer({ min: 0, max: 9 }))
  .map(([f, r]) => (r === 0 ? f & ~maskOf(['CTRL_VQ']) : f | maskOf(['CTRL_VQ'])));

export const featureList = (f: bigint): FeatureName[] => featureNames(f) as FeatureName[];

export const arbLimits: fc.Arbitrary<DeviceLimits> = fc.oneof(
  fc.constant(DEFAULT_LIMITS),
  fc.record({
    maxQueuePairs: fc.integer({ min: 1, max: 16 }),
    rssMaxIndirectionTableLength: fc.integer({ min: 0, max: 8 }).map((lg) => 1 << lg),
    rssMaxKeySize: fc.integer({ min: 0, max: 64 }),
    supportedHashTypes: fc.integer({ min: 0, max: VIRTIO_NET_RSS_HASH_TYPE_ALL }),
    macTableEntries: fc.integer({ min: 0, max: 64 }),
  }),
);

const arbHashTypes = (limits: DeviceLimits) => fc.integer({ min: 0, max: VIRTIO_NET_RSS_HASH_TYPE_ALL }).map((h) => h & limits.supportedHashTypes);

/** Any state that fits `limits` (what a source device of those limits can be in, and more). */
export function arbState(limits: DeviceLimits): fc.Arbitrary<NetDeviceState> {
  return fc.integer({ min: 1, max: limits.maxQueuePairs }).chain((queuePairs) =>
    fc.integer({ min: 0, max: limits.macTableEntries }).chain((nUni) =>
      fc.record({
        mac: arbMac,
        queuePairs: fc.constant(queuePairs),
        rxMode: fc.record({ promisc: fc.boolean(), allmulti: fc.boolean(), alluni: fc.boolean(), nomulti: fc.boolean(), nouni: fc.boolean(), nobcast: fc.boolean() }),
        macTable: fc.record({
          unicast: fc.array(arbMac, { minLength: nUni, maxLength: nUni }),
          multicast: fc.array(arbMac, { maxLength: limits.macTableEntries - nUni }),
          unicastOverflow: fc.boolean(),
          multicastOverflow: fc.boolean(),
        }),
        vlanFilter: fc
          .oneof(fc.uniqueArray(fc.integer({ min: 0, max: 4095 }), { maxLength: 40 }), fc.constant([0, 4095]), fc.constant([]))
          .map((v) => vlanFilterOf(v)),
        guestOffloads: fc.oneof(subsetOf(GUEST_OFFLOAD_FEATURES), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
        rss: fc.option(
          fc.integer({ min: 0, max: 31 - Math.clz32(limits.rssMaxIndirectionTableLength) }).chain((lg) =>
            fc.record({
              hashTypes: arbHashTypes(limits),
              indirectionTable: fc.array(fc.integer({ min: 0, max: queuePairs - 1 }), { minLength: 1 << lg, maxLength: 1 << lg }),
              unclassifiedQueue: fc.integer({ min: 0, max: queuePairs - 1 }),
              key: key(limits.rssMaxKeySize).map(toHex),
            }),
          ),
          { nil: null },
        ),
        hashReport: fc.option(fc.record({ hashTypes: arbHashTypes(limits), key: key(limits.rssMaxKeySize).map(toHex) }), { nil: null }),
        coalescing: fc.option(
          fc.record({ tx: fc.record({ maxPackets: small, maxUsecs: small }), rx: fc.record({ maxPackets: small, maxUsecs: small }) }),
          { nil: null },
        ),
      }),
    ),
  );
}

/** Split `bytes` into pieces at random cut points (empty pieces included), as descriptors would. */
export function arbSplit(bytes: Uint8Array): fc.Arbitrary<Uint8Array[]> {
  return fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 6 }).map((cuts) => {
    const at = [0, ...cuts.sort((a, b) => a - b), bytes.length];
    const out: Uint8Array[] = [];
    for (let i = 1; i < at.length; i++) out.push(bytes.subarray(at[i - 1]!, at[i]!));
    return out;
  });
}
