/**
 * The SVQ feature filter: which transport features a shadowed queue can carry, which it must hide from
 * the guest (so SVQ can be switched on at any time, e.g. when migration starts), and what SVQ's own
 * driver acks to the device while it shadows.
 *
 * QEMU (`vhost_svq_valid_features`): only ANY_LAYOUT and EVENT_IDX pass through among the transport bits,
 * VERSION_1 and ACCESS_PLATFORM are required, RING_PACKED and INDIRECT_DESC are refused. shadowvq's engine
 * implements both layouts on both sides and indirect chains both ways, so those pass too; every other
 * transport bit is hidden, each for the reason given in `HIDDEN`. Device-class (virtio-net) bits pass
 * through untouched: the device does the network work, SVQ only moves buffers.
 *
 * Refused combinations (typed errors, never a silently reduced set):
 *  - device without VERSION_1: legacy rings are native-endian with legacy layout rules; SVQ speaks modern
 *    little-endian virtio only (virtio 1.2 §1.4, §7.4);
 *  - device without ACCESS_PLATFORM: the device would use guest-physical addresses directly, while SVQ
 *    must hand it IOVAs of its own shadow rings (virtio 1.2 §6: "device can be used on a platform where
 *    device access to data in memory is limited and/or translated");
 *  - a guest that negotiated a hidden feature (it ran without the filter): SVQ cannot honour it;
 *  - a shadow ring layout or option the device does not offer (packed shadow without RING_PACKED).
 * Guest and shadow layouts are independent: any pair (split/split, packed/packed, split→packed,
 * packed→split) is accepted once the device offers the shadow layout.
 */
import * as E from 'fp-ts/lib/Either.js';
import { F, featureNames, type FeatureName } from '../virtio/features.js';
import type { RingLayout } from '../ring/types.js';

/** Transport feature bits: VIRTIO_TRANSPORT_F_START (28) .. VIRTIO_TRANSPORT_F_END (41), plus 24 and 27. */
const TRANSPORT_MASK = ((1n << 42n) - (1n << 28n)) | F.NOTIFY_ON_EMPTY | F.ANY_LAYOUT;

/** Transport bits a shadowed queue carries unchanged (whatever the layouts on both sides). */
export const SVQ_PASS: readonly FeatureName[] = ['ANY_LAYOUT', 'EVENT_IDX', 'INDIRECT_DESC', 'RING_PACKED', 'VERSION_1', 'ACCESS_PLATFORM', 'ORDER_PLATFORM'];
/** Required of the device. */
export const SVQ_REQUIRED: readonly FeatureName[] = ['VERSION_1', 'ACCESS_PLATFORM'];

/** Transport bits SVQ hides from the guest, and why. */
export const HIDDEN: Readonly<Partial<Record<FeatureName, string>>> = {
  NOTIFY_ON_EMPTY: 'legacy-only (virtio 1.2 §6.3); SVQ requires VERSION_1',
  IN_ORDER: 'the guest could then skip used ids and batch them (§2.7.9); SVQ returns each chain with its own used entry',
  NOTIFICATION_DATA: 'guest kicks would carry avail position data; SVQ relays kicks as plain events (eventfd)',
  NOTIF_CONFIG_DATA: 'notification data is not relayed',
  RING_RESET: 'a per-queue reset would have to reset the shadow ring too; SVQ does not relay it',
  SR_IOV: 'a device-level capability, not part of a queue SVQ can shadow',
  ADMIN_VQ: 'the admin virtqueue is not shadowed',
};

export type SvqFeatureErrorKind = 'missing-required' | 'unshadowable' | 'not-offered' | 'shadow-layout-unsupported';

export interface SvqFeatureError {
  readonly _tag: 'SvqFeatureError';
  readonly kind: SvqFeatureErrorKind;
  readonly features: readonly string[];
  readonly message: string;
}

const err = (kind: SvqFeatureErrorKind, bits: bigint, message: string): SvqFeatureError => ({
  _tag: 'SvqFeatureError',
  kind,
  features: featureNames(bits),
  message: `${message}: ${featureNames(bits).join(',')}`,
});

const passMask = SVQ_PASS.reduce((m, n) => m | F[n], 0n);
const requiredMask = SVQ_REQUIRED.reduce((m, n) => m | F[n], 0n);

export interface GuestOffer {
  /** Features the guest may be offered so SVQ can shadow its queues at any time. */
  readonly offer: bigint;
  /** Device features withheld from the guest, each with its reason. */
  readonly hidden: readonly { readonly feature: string; readonly reason: string }[];
}

/** Filter the device's features for the guest (QEMU applies this to what vhost-vdpa offers). */
export function guestOffer(deviceFeatures: bigint): E.Either<SvqFeatureError, GuestOffer> {
  const missing = requiredMask & ~deviceFeatures;
  if (missing !== 0n) return E.left(err('missing-required', missing, 'SVQ needs the device to offer'));
  const transport = deviceFeatures & TRANSPORT_MASK;
  const drop = transport & ~passMask;
  const hidden = featureNames(drop).map((feature) => ({ feature, reason: HIDDEN[feature as FeatureName] ?? 'unknown transport bit: not shadowed' }));
  return E.right({ offer: deviceFeatures & ~drop, hidden });
}

/** Can a queue whose guest acked `guestAcked` be shadowed now (QEMU's check before switching SVQ on)? */
export function checkShadowable(guestAcked: bigint, deviceFeatures: bigint): E.Either<SvqFeatureError, bigint> {
  const notOffered = guestAcked & ~deviceFeatures;
  if (notOffered !== 0n) return E.left(err('not-offered', notOffered, 'guest acked features the device does not offer'));
  return E.chain((g: GuestOffer) => {
    const bad = guestAcked & TRANSPORT_MASK & ~passMask;
    if (bad !== 0n) return E.left(err('unshadowable', bad, 'guest negotiated features SVQ cannot shadow'));
    const missing = requiredMask & ~guestAcked;
    return missing !== 0n ? E.left(err('missing-required', missing, 'guest did not negotiate')) : E.right(g.offer & guestAcked);
  })(guestOffer(deviceFeatures));
}

export interface ShadowRingChoice {
  readonly layout: RingLayout;
  /** Use EVENT_IDX on the shadow ring when the device offers it (default true). */
  readonly eventIdx?: boolean;
  /** Use indirect tables on the shadow ring when the device offers it (default true). */
  readonly indirect?: boolean;
}

export interface ShadowFeatures {
  /** What SVQ's driver acks to the device (VHOST_SET_FEATURES) while shadowing. */
  readonly device: bigint;
  /** Guest-side ring options, from the guest's ack. */
  readonly guest: { readonly layout: RingLayout; readonly eventIdx: boolean; readonly indirect: boolean };
  /** Shadow-side ring options. */
  readonly shadow: { readonly layout: RingLayout; readonly eventIdx: boolean; readonly indirect: boolean };
}

/**
 * Features SVQ acks to the device for the guest's `guestAcked` set, with the shadow ring's layout and
 * options chosen independently of the guest's: device-class bits as the guest acked them, VERSION_1 and
 * ACCESS_PLATFORM, and the transport bits of the shadow ring.
 */
export function shadowFeatures(guestAcked: bigint, deviceFeatures: bigint, choice: ShadowRingChoice): E.Either<SvqFeatureError, ShadowFeatures> {
  return E.chain((acked: bigint): E.Either<SvqFeatureError, ShadowFeatures> => {
    if (choice.layout === 'packed' && (deviceFeatures & F.RING_PACKED) === 0n) {
      return E.left(err('shadow-layout-unsupported', F.RING_PACKED, 'packed shadow ring needs the device to offer'));
    }
    const eventIdx = choice.eventIdx !== false && (deviceFeatures & F.EVENT_IDX) !== 0n;
    const indirect = choice.indirect !== false && (deviceFeatures & F.INDIRECT_DESC) !== 0n;
    let dev = (acked & ~TRANSPORT_MASK) | requiredMask | (deviceFeatures & (F.ANY_LAYOUT | F.ORDER_PLATFORM));
    if (choice.layout === 'packed') dev |= F.RING_PACKED;
    if (eventIdx) dev |= F.EVENT_IDX;
    if (indirect) dev |= F.INDIRECT_DESC;
    return E.right({
      device: dev,
      guest: {
        layout: (acked & F.RING_PACKED) !== 0n ? 'packed' : 'split',
        eventIdx: (acked & F.EVENT_IDX) !== 0n,
        indirect: (acked & F.INDIRECT_DESC) !== 0n,
      },
      shadow: { layout: choice.layout, eventIdx, indirect },
    });
  })(checkShadowable(guestAcked, deviceFeatures));
}
