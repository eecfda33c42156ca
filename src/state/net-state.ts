/**
 * The virtio-net device state a CVQ restore reproduces (virtio 1.2 §5.1.6.5), immutable (immer).
 *
 * Mirrors what QEMU's VirtIONet keeps for migration: mac, current queue pairs, RX modes, the MAC
 * filter table with its overflow flags, the 4096-bit VLAN filter, current guest offloads, the RSS /
 * hash-report configuration, and (beyond QEMU) notification coalescing.
 */
import { freeze, type Immutable } from 'immer';
import { GUEST_OFFLOAD_FEATURES } from '../virtio/features.js';
import { MAX_VLAN, QEMU_MAC_TABLE_ENTRIES, VIRTIO_NET_RSS_HASH_TYPE_ALL, VIRTIO_NET_RSS_KEY_SIZE, type MacString } from '../virtio/net.js';

export interface RxMode {
  promisc: boolean;
  allmulti: boolean;
  alluni: boolean;
  nomulti: boolean;
  nouni: boolean;
  nobcast: boolean;
}

export interface MacTable {
  unicast: MacString[];
  multicast: MacString[];
  /** A MAC_TABLE_SET had more unicast entries than the table holds: receive every unicast (QEMU). */
  unicastOverflow: boolean;
  /** Likewise for multicast: receive every multicast. */
  multicastOverflow: boolean;
}

export interface RssState {
  /** VIRTIO_NET_RSS_HASH_TYPE_* mask; never 0 in a reduced state (0 disables RSS → `rss: null`). */
  hashTypes: number;
  /** Receive-queue index per hash bucket; length a power of two. */
  indirectionTable: number[];
  unclassifiedQueue: number;
  /** Toeplitz key, lower-case hex. */
  key: string;
}

export interface HashReportState {
  hashTypes: number;
  key: string;
}

export interface Coalescing {
  maxPackets: number;
  maxUsecs: number;
}

/** Words of the VLAN filter: bit `vid & 31` of word `vid >> 5` (as QEMU's `uint32_t vlans[MAX_VLAN >> 5]`). */
export const VLAN_WORDS = MAX_VLAN >> 5;

export interface NetDeviceStateDraft {
  mac: MacString;
  queuePairs: number;
  rxMode: RxMode;
  macTable: MacTable;
  /** The 4096-bit VLAN filter as 128 u32 words; see `vlanIsSet` / `vlanList`. */
  vlanFilter: number[];
  /** Current guest offloads (feature-bit positions), le64 of GUEST_OFFLOADS_SET. */
  guestOffloads: bigint;
  rss: RssState | null;
  hashReport: HashReportState | null;
  coalescing: { tx: Coalescing; rx: Coalescing } | null;
}

export type NetDeviceState = Immutable<NetDeviceStateDraft>;

/** What a device can hold; `applyCommand` refuses what exceeds it (config space §5.1.4 and QEMU). */
export interface DeviceLimits {
  /** max_virtqueue_pairs (§5.1.4), 1..0x8000. */
  readonly maxQueuePairs: number;
  /** rss_max_indirection_table_length (§5.1.4). */
  readonly rssMaxIndirectionTableLength: number;
  /** rss_max_key_size (§5.1.4). */
  readonly rssMaxKeySize: number;
  /** supported_hash_types (§5.1.4). */
  readonly supportedHashTypes: number;
  /** MAC filter table entries shared by unicast and multicast (QEMU: 64). */
  readonly macTableEntries: number;
}

/** QEMU virtio-net's limits with the spec's RSS maxima (128-entry table, 40-byte key, every hash type). */
export const DEFAULT_LIMITS: DeviceLimits = {
  maxQueuePairs: 8,
  rssMaxIndirectionTableLength: 128,
  rssMaxKeySize: VIRTIO_NET_RSS_KEY_SIZE,
  supportedHashTypes: VIRTIO_NET_RSS_HASH_TYPE_ALL,
  macTableEntries: QEMU_MAC_TABLE_ENTRIES,
};

export const RX_MODE_RESET: Readonly<RxMode> = Object.freeze({
  promisc: true, // QEMU virtio_net_reset: promiscuous on at reset, for drivers without CTRL_RX
  allmulti: false,
  alluni: false,
  nomulti: false,
  nouni: false,
  nobcast: false,
});

const EMPTY_VLAN_FILTER: readonly number[] = Object.freeze(new Array<number>(VLAN_WORDS).fill(0));

/**
 * The state of a device just reset and feature-negotiated: `mac` from config space, one queue pair,
 * promiscuous on and the other RX modes off, empty MAC table and VLAN filter, no RSS / hash report /
 * coalescing, and the guest offloads equal to the negotiated guest-offload features
 * (§5.1.6.5.6.1: "upon feature negotiation corresponding offload gets enabled").
 */
export function resetNetState(mac: MacString, negotiated = 0n): NetDeviceState {
  return freeze({
    mac,
    queuePairs: 1,
    rxMode: RX_MODE_RESET,
    macTable: { unicast: [], multicast: [], unicastOverflow: false, multicastOverflow: false },
    vlanFilter: EMPTY_VLAN_FILTER,
    guestOffloads: negotiated & GUEST_OFFLOAD_FEATURES,
    rss: null,
    hashReport: null,
    coalescing: null,
  }, true);
}

export const vlanIsSet = (filter: readonly number[], vid: number): boolean => ((filter[vid >> 5]! >>> (vid & 31)) & 1) === 1;

/** The set VLAN ids, ascending. */
export function vlanList(filter: readonly number[]): number[] {
  const out: number[] = [];
  for (let w = 0; w < VLAN_WORDS; w++) {
    let word = filter[w]!;
    while (word !== 0) {
      const bit = 31 - Math.clz32(word & -word);
      out.push((w << 5) | bit);
      word &= word - 1;
    }
  }
  return out;
}

/** A VLAN filter with exactly `vids` set (each < 4096). */
export function vlanFilterOf(vids: Iterable<number>): number[] {
  const f = new Array<number>(VLAN_WORDS).fill(0);
  for (const v of vids) f[v >> 5] = (f[v >> 5]! | (1 << (v & 31))) >>> 0;
  return f;
}

/**
 * The state's fields in their one order (the reset state's): the state file lists its keys in it
 * and the decoders build states in it.
 */
export const NET_STATE_FIELDS: readonly (keyof NetDeviceState)[] = Object.keys(resetNetState('00:00:00:00:00:00')) as (keyof NetDeviceState)[];
