/**
 * Device steps a migration end makes on a vhost-vdpa NIC outside the machines' own effects, shared by
 * the source's bring-up (src/migrate/world.ts) and the destination's restore (./migration.ts):
 * ownership, feature negotiation (§3.1.1 1-6, through `lifecycleEffects`), the shadow CVQ in its own
 * ASID as QEMU's `vhost_vdpa_net_cvq_start` puts it, and what config space says (MAC, RSS limits).
 * Every failure is a `MigrateError` value naming where it happened.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { VdpaDevice } from '../device/types.js';
import { CvqEngine } from '../cvq/engine.js';
import { setUpShadowCvq, type ShadowCvq } from '../cvq/shadow.js';
import { DEFAULT_LIMITS, type DeviceLimits } from '../state/net-state.js';
import { hasFeature } from '../virtio/features.js';
import { ETH_ALEN, NET_CONFIG, formatMac } from '../virtio/net.js';

export interface MigrateError {
  readonly _tag: 'MigrateError';
  /** Where it happened: "source bring-up", "stream", a phase name … */
  readonly where: string;
  readonly message: string;
}
export const migrateError = (where: string, message: string): MigrateError => ({ _tag: 'MigrateError', where, message });

/** How long a CVQ command may wait for its ack by default. */
export const ACK_TIMEOUT_MS = 1000;

/** Own the device and acknowledge every backend feature it offers (VHOST_SET_BACKEND_FEATURES). */
export function ownDevice(dev: VdpaDevice): E.Either<MigrateError, bigint> {
  const o = dev.setOwner();
  if (E.isLeft(o)) return E.left(migrateError('open', o.left.message));
  const b = dev.getBackendFeatures();
  if (E.isLeft(b)) return E.left(migrateError('open', b.left.message));
  const s = dev.setBackendFeatures(b.right);
  return E.isLeft(s) ? E.left(migrateError('open', s.left.message)) : E.right(b.right);
}

export interface Cvq {
  readonly qi: number;
  readonly shadow: ShadowCvq;
  readonly engine: CvqEngine;
}

/** Shadow CVQ on its own ASID when the device can isolate it (before DRIVER_OK), programmed on the device. */
export function setUpCvq(dev: VdpaDevice, negotiated: bigint): E.Either<MigrateError, Cvq> {
  const shadow = setUpShadowCvq(dev, negotiated, { size: Math.min(256, E.getOrElse(() => 256)(dev.getVringNum())), outBytes: 64 * 1024 });
  if (E.isLeft(shadow)) return E.left(migrateError('shadow CVQ', shadow.left.message));
  return E.right({ qi: shadow.right.qi, shadow: shadow.right, engine: new CvqEngine(dev, shadow.right) });
}

/** The device limits config space reports (RSS maxima, queue pairs), for applying acked commands. */
export function limitsOf(dev: VdpaDevice): E.Either<MigrateError, DeviceLimits> {
  const c = dev.getConfig(0, NET_CONFIG.size);
  if (E.isLeft(c)) return E.left(migrateError('config', `reading the device limits: ${c.left.message}`));
  if (c.right.length < NET_CONFIG.size) return E.left(migrateError('config', `config space is ${c.right.length} bytes, virtio-net's is ${NET_CONFIG.size}`));
  const b = c.right;
  const u16 = (o: number) => b[o]! | (b[o + 1]! << 8);
  return E.right({
    ...DEFAULT_LIMITS,
    maxQueuePairs: Math.max(1, u16(NET_CONFIG.maxVirtqueuePairs)),
    rssMaxKeySize: b[NET_CONFIG.rssMaxKeySize]!,
    rssMaxIndirectionTableLength: u16(NET_CONFIG.rssMaxIndirectionTableLength),
    supportedHashTypes: (b[NET_CONFIG.supportedHashTypes]! | (b[NET_CONFIG.supportedHashTypes + 1]! << 8) | (b[NET_CONFIG.supportedHashTypes + 2]! << 16) | (b[NET_CONFIG.supportedHashTypes + 3]! << 24)) >>> 0,
  });
}

/**
 * The MAC config space shows (virtio 1.2 §5.1.4: valid only with VIRTIO_NET_F_MAC), or `fallback`
 * when the feature is not negotiated.
 */
export function configMac(dev: VdpaDevice, negotiated: bigint, fallback: string): E.Either<MigrateError, string> {
  if (!hasFeature(negotiated, 'MAC')) return E.right(fallback);
  const c = dev.getConfig(NET_CONFIG.mac, ETH_ALEN);
  return E.isRight(c) ? E.right(formatMac(c.right)) : E.left(migrateError('config', `reading the MAC: ${c.left.message}`));
}
