/**
 * Device profiles of the simulated virtio-net vDPA device.
 *
 * - `vdpa_sim_net`: Linux 6.12's `vdpa_sim_net` exactly as observed on the real module (see
 *   shared/reference §2): features 0x308830028, backend features 0x17e, 3 vqs (CVQ = 2) in 2 groups
 *   (CVQ alone in group 1), 2 address spaces, vring num 256, config size 24, full IOVA range; its CVQ
 *   acks only MAC_ADDR_SET, the MAC survives a reset, features are masked (not refused) at
 *   SET_FEATURES, TX frames not addressed to the device are dropped, and — opt-in — the stale-ack bug
 *   of `vdpasim_handle_cvq`.
 * - `full`: every virtio-net feature the state reducers model, up to 8 queue pairs, RSS/hash limits as
 *   QEMU's virtio-net (40-byte key, 128-entry table, all 9 hash types), packed rings, EVENT_IDX and
 *   indirect descriptors; FEATURES_OK is refused for features not offered or an inconsistent set
 *   (virtio 1.2 §3.1.1 step 5, §5.1.3.1), a device error sets NEEDS_RESET (§2.1.2), and the loopback
 *   is lossless (a TX chain waits for an RX buffer).
 */
import { KINDS } from '../../cvq/classes/index.js';
import { MAX_SAFE_ADDR } from '../../memory/address-space.js';
import { maskOf } from '../../virtio/features.js';
import { NET_CONFIG, VIRTIO_NET_RSS_HASH_TYPE_ALL } from '../../virtio/net.js';
import { backendMask } from '../types.js';

export type ProfileName = 'full' | 'vdpa_sim_net';
export const PROFILE_NAMES: readonly ProfileName[] = ['full', 'vdpa_sim_net'];

export interface SimProfile {
  readonly name: ProfileName;
  /** Offered device features (VHOST_GET_FEATURES). */
  readonly deviceFeatures: bigint;
  /** Offered backend features (VHOST_GET_BACKEND_FEATURES). */
  readonly backendFeatures: bigint;
  /** max_virtqueue_pairs; the device has 2 × this + 1 virtqueues. */
  readonly maxQueuePairs: number;
  /** Largest queue size (VHOST_VDPA_GET_VRING_NUM). */
  readonly vringNum: number;
  /** VHOST_VDPA_GET_CONFIG_SIZE: bytes of struct virtio_net_config exposed. */
  readonly configSize: number;
  readonly mtu: number;
  /** Mb/s; 0xffffffff = unknown (§5.1.4). */
  readonly speed: number;
  /** 0 half, 1 full, 0xff unknown. */
  readonly duplex: number;
  readonly rssMaxKeySize: number;
  readonly rssMaxIndirectionTableLength: number;
  readonly supportedHashTypes: number;
  readonly groupNum: number;
  readonly asNum: number;
  /** First and last IOVA; addresses are JS numbers, so "all of u64" is clamped to 2^53 - 1. */
  readonly iovaFirst: number;
  readonly iovaLast: number;
  /** 'refuse': FEATURES_OK not kept on a bad set (§3.1.1). 'mask': vdpasim's `features & supported`. */
  readonly featureCheck: 'refuse' | 'mask';
  /** How the CVQ is served: the state reducers, or vdpasim_handle_cvq's MAC_ADDR_SET-only logic. */
  readonly cvq: 'model' | 'vdpa_sim_net';
  readonly macSurvivesReset: boolean;
  /** Set DEVICE_NEEDS_RESET on a ring error (vdpasim only counts the error and stops the pass). */
  readonly needsResetOnError: boolean;
  /** No RX buffer for a TX frame: 'drop' (vdpasim: complete TX with 0, count an overrun) or wait. */
  readonly rxOverrun: 'drop' | 'backpressure';
  /** Receive filter: vdpasim's (broadcast, multicast or our MAC) or the full RX-mode/MAC/VLAN model. */
  readonly rxFilter: 'vdpa_sim_net' | 'model';
  /** Largest TX frame (header included) the device reads; vdpasim pulls at most PAGE_SIZE. */
  readonly txMaxBytes: number;
  /** Set num_buffers = 1 in the RX header (§5.1.6.4); vdpasim copies the TX header verbatim. */
  readonly rxSetsNumBuffers: boolean;
  /** TX chains handled per processing pass before the device reschedules itself (vdpasim: 5). */
  readonly txBudget: number;
}

/** VHOST_BACKEND_F_* vdpa_sim offers on Linux 6.12 (0x17e). */
export const VDPA_SIM_BACKEND_FEATURES: bigint = backendMask(['IOTLB_MSG_V2', 'IOTLB_BATCH', 'IOTLB_ASID', 'SUSPEND', 'RESUME', 'ENABLE_AFTER_DRIVER_OK', 'IOTLB_PERSIST']);

/** vdpa_sim_net's device features (0x308830028). */
export const VDPA_SIM_NET_FEATURES: bigint = maskOf(['MTU', 'MAC', 'STATUS', 'CTRL_VQ', 'CTRL_MAC_ADDR', 'ANY_LAYOUT', 'VERSION_1', 'ACCESS_PLATFORM']);

/** CTRL_VQ and the feature of every command of every CVQ class module (src/cvq/classes). */
export const SIM_CVQ_FEATURES: bigint = maskOf(['CTRL_VQ', ...KINDS.map((k) => k.feature)]);

/** The `full` profile: every CVQ class the reducers handle, guest/host offloads and every ring feature. */
export const SIM_FULL_FEATURES: bigint =
  SIM_CVQ_FEATURES |
  maskOf([
    'CSUM', 'GUEST_CSUM', 'MTU', 'MAC', 'GUEST_TSO4', 'GUEST_TSO6', 'GUEST_ECN', 'GUEST_UFO', 'GUEST_USO4', 'GUEST_USO6',
    'HOST_TSO4', 'HOST_TSO6', 'HOST_ECN', 'HOST_UFO', 'HOST_USO', 'MRG_RXBUF', 'STATUS', 'ANY_LAYOUT', 'INDIRECT_DESC',
    'EVENT_IDX', 'VERSION_1', 'ACCESS_PLATFORM', 'RING_PACKED',
  ]);

export const PROFILES: Readonly<Record<ProfileName, SimProfile>> = {
  vdpa_sim_net: {
    name: 'vdpa_sim_net',
    deviceFeatures: VDPA_SIM_NET_FEATURES,
    backendFeatures: VDPA_SIM_BACKEND_FEATURES,
    maxQueuePairs: 1,
    vringNum: 256,
    configSize: NET_CONFIG.size,
    mtu: 1500,
    speed: 0,
    duplex: 0,
    rssMaxKeySize: 0,
    rssMaxIndirectionTableLength: 0,
    supportedHashTypes: 0,
    groupNum: 2,
    asNum: 2,
    iovaFirst: 0,
    iovaLast: MAX_SAFE_ADDR,
    featureCheck: 'mask',
    cvq: 'vdpa_sim_net',
    macSurvivesReset: true,
    needsResetOnError: false,
    rxOverrun: 'drop',
    rxFilter: 'vdpa_sim_net',
    txMaxBytes: 4096,
    rxSetsNumBuffers: false,
    txBudget: 5,
  },
  full: {
    name: 'full',
    deviceFeatures: SIM_FULL_FEATURES,
    backendFeatures: VDPA_SIM_BACKEND_FEATURES,
    maxQueuePairs: 8,
    vringNum: 1024,
    configSize: NET_CONFIG.size,
    mtu: 1500,
    speed: 100000,
    duplex: 1,
    rssMaxKeySize: 40,
    rssMaxIndirectionTableLength: 128,
    supportedHashTypes: VIRTIO_NET_RSS_HASH_TYPE_ALL,
    groupNum: 2,
    asNum: 2,
    iovaFirst: 0,
    iovaLast: MAX_SAFE_ADDR,
    featureCheck: 'refuse',
    cvq: 'model',
    macSurvivesReset: false,
    needsResetOnError: true,
    rxOverrun: 'backpressure',
    rxFilter: 'model',
    txMaxBytes: 65550 + 20,
    rxSetsNumBuffers: true,
    txBudget: 256,
  },
};
