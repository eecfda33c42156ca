/**
 * Feature bits (virtio 1.2 §6 reserved bits, §5.1.3 net bits; linux/virtio_config.h, virtio_ring.h,
 * virtio_net.h). Feature sets are 64-bit: `bigint` masks. Names are the header names without the
 * `VIRTIO_NET_F_` / `VIRTIO_F_` / `VIRTIO_RING_F_` prefix.
 */
import * as E from 'fp-ts/lib/Either.js';

export const FEATURE_BITS = {
  // virtio-net (§5.1.3)
  CSUM: 0,
  GUEST_CSUM: 1,
  CTRL_GUEST_OFFLOADS: 2,
  MTU: 3,
  MAC: 5,
  GSO: 6,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  GUEST_ECN: 9,
  GUEST_UFO: 10,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  HOST_UFO: 14,
  MRG_RXBUF: 15,
  STATUS: 16,
  CTRL_VQ: 17,
  CTRL_RX: 18,
  CTRL_VLAN: 19,
  CTRL_RX_EXTRA: 20,
  GUEST_ANNOUNCE: 21,
  MQ: 22,
  CTRL_MAC_ADDR: 23,
  VQ_NOTF_COAL: 52,
  NOTF_COAL: 53,
  GUEST_USO4: 54,
  GUEST_USO6: 55,
  HOST_USO: 56,
  HASH_REPORT: 57,
  GUEST_HDRLEN: 59,
  RSS: 60,
  RSC_EXT: 61,
  STANDBY: 62,
  SPEED_DUPLEX: 63,
  // reserved / transport bits (§6)
  NOTIFY_ON_EMPTY: 24,
  ANY_LAYOUT: 27,
  INDIRECT_DESC: 28, // VIRTIO_RING_F_INDIRECT_DESC
  EVENT_IDX: 29, // VIRTIO_RING_F_EVENT_IDX
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
  ORDER_PLATFORM: 36,
  SR_IOV: 37,
  NOTIFICATION_DATA: 38,
  NOTIF_CONFIG_DATA: 39,
  RING_RESET: 40,
  ADMIN_VQ: 41,
} as const;

export type FeatureName = keyof typeof FEATURE_BITS;

/** The mask of one feature. */
export const F = Object.fromEntries(Object.entries(FEATURE_BITS).map(([k, b]) => [k, 1n << BigInt(b)])) as Record<FeatureName, bigint>;

const NAME_BY_BIT = new Map<number, FeatureName>(Object.entries(FEATURE_BITS).map(([k, b]) => [b, k as FeatureName]));

export const hasFeature = (features: bigint, name: FeatureName): boolean => (features & F[name]) !== 0n;

export const maskOf = (names: readonly FeatureName[]): bigint => names.reduce((m, n) => m | F[n], 0n);

/** Names of the set bits; unknown bits as `bit<N>`. */
export function featureNames(features: bigint): string[] {
  const out: string[] = [];
  for (let b = 0; b < 64; b++) {
    if ((features >> BigInt(b)) & 1n) out.push(NAME_BY_BIT.get(b) ?? `bit${b}`);
  }
  return out;
}

export const formatFeatures = (features: bigint): string => `0x${features.toString(16)} (${featureNames(features).join(',')})`;

export interface FeatureParseError {
  readonly _tag: 'FeatureParseError';
  readonly input: string;
  readonly message: string;
}

/**
 * Parse a feature LIST: comma-separated names (with or without the `VIRTIO_NET_F_` / `VIRTIO_F_` /
 * `VIRTIO_RING_F_` prefix, case-insensitive) or one hex mask (`0x…`).
 */
export function parseFeatureList(input: string): E.Either<FeatureParseError, bigint> {
  const s = input.trim();
  if (/^0x[0-9a-f]{1,16}$/i.test(s)) return E.right(BigInt(s));
  if (s === '') return E.left({ _tag: 'FeatureParseError', input, message: 'empty feature list' });
  let mask = 0n;
  for (const raw of s.split(',')) {
    const name = raw.trim().toUpperCase().replace(/^VIRTIO_(NET_|RING_)?F_/, '');
    if (!(name in FEATURE_BITS)) {
      return E.left({ _tag: 'FeatureParseError', input, message: `unknown feature name "${raw.trim()}"` });
    }
    mask |= F[name as FeatureName];
  }
  return E.right(mask);
}

/**
 * The guest-offload feature bits whose runtime state VIRTIO_NET_CTRL_GUEST_OFFLOADS controls
 * (virtio 1.2 §5.1.6.5.6.1: "GUEST_CSUM … GUEST_USO6"; bit i of the le64 offloads = feature bit i).
 */
export const GUEST_OFFLOAD_FEATURES: bigint = maskOf(['GUEST_CSUM', 'GUEST_TSO4', 'GUEST_TSO6', 'GUEST_ECN', 'GUEST_UFO', 'GUEST_USO4', 'GUEST_USO6']);

/**
 * Every virtio-net feature this project models, plus the transport bits a vhost-vdpa device offers:
 * the `full` device profile, and the default feature set of `shadowvq plan`.
 */
export const FULL_PROFILE_FEATURES: bigint = maskOf([
  'CSUM', 'GUEST_CSUM', 'CTRL_GUEST_OFFLOADS', 'MTU', 'MAC', 'GUEST_TSO4', 'GUEST_TSO6', 'GUEST_ECN', 'GUEST_UFO',
  'GUEST_USO4', 'GUEST_USO6', 'HOST_TSO4', 'HOST_TSO6', 'HOST_ECN', 'HOST_UFO', 'HOST_USO', 'MRG_RXBUF', 'STATUS',
  'CTRL_VQ', 'CTRL_RX', 'CTRL_VLAN', 'CTRL_RX_EXTRA', 'GUEST_ANNOUNCE', 'MQ', 'CTRL_MAC_ADDR', 'NOTF_COAL',
  'HASH_REPORT', 'RSS', 'ANY_LAYOUT', 'INDIRECT_DESC', 'EVENT_IDX', 'VERSION_1', 'ACCESS_PLATFORM', 'RING_PACKED',
]);

/**
 * Feature dependencies (virtio 1.2 §5.1.3.1 "Feature bit requirements"): each feature needs at least one
 * of the listed features. CTRL_RX_EXTRA → CTRL_RX and HASH_REPORT → CTRL_VQ as Linux's
 * `virtnet_validate_features` enforces them.
 */
export const FEATURE_REQUIREMENTS: ReadonlyArray<readonly [FeatureName, readonly FeatureName[]]> = [
  ['GUEST_TSO4', ['GUEST_CSUM']],
  ['GUEST_TSO6', ['GUEST_CSUM']],
  ['GUEST_ECN', ['GUEST_TSO4', 'GUEST_TSO6']],
  ['GUEST_UFO', ['GUEST_CSUM']],
  ['GUEST_USO4', ['GUEST_CSUM']],
  ['GUEST_USO6', ['GUEST_CSUM']],
  ['HOST_TSO4', ['CSUM']],
  ['HOST_TSO6', ['CSUM']],
  ['HOST_ECN', ['HOST_TSO4', 'HOST_TSO6']],
  ['HOST_UFO', ['CSUM']],
  ['HOST_USO', ['CSUM']],
  ['CTRL_RX', ['CTRL_VQ']],
  ['CTRL_VLAN', ['CTRL_VQ']],
  ['CTRL_RX_EXTRA', ['CTRL_RX']],
  ['GUEST_ANNOUNCE', ['CTRL_VQ']],
  ['MQ', ['CTRL_VQ']],
  ['CTRL_MAC_ADDR', ['CTRL_VQ']],
  ['NOTF_COAL', ['CTRL_VQ']],
  ['VQ_NOTF_COAL', ['CTRL_VQ']],
  ['RSC_EXT', ['HOST_TSO4', 'HOST_TSO6']],
  ['RSS', ['CTRL_VQ']],
  ['HASH_REPORT', ['CTRL_VQ']],
];

export interface FeatureDependencyError {
  readonly _tag: 'FeatureDependencyError';
  readonly feature: FeatureName;
  readonly requires: readonly FeatureName[];
  readonly message: string;
}

/** Check a feature set against `FEATURE_REQUIREMENTS`; the first violated rule is the error. */
export function checkFeatureDependencies(features: bigint): E.Either<FeatureDependencyError, bigint> {
  for (const [feature, requires] of FEATURE_REQUIREMENTS) {
    if (hasFeature(features, feature) && !requires.some((r) => hasFeature(features, r))) {
      return E.left({
        _tag: 'FeatureDependencyError',
        feature,
        requires,
        message: `${feature} requires ${requires.join(' or ')} (virtio 1.2 §5.1.3.1)`,
      });
    }
  }
  return E.right(features);
}
