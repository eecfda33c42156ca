/**
 * A virtio-net device's CVQ semantics as a pure reducer: `applyCommand` gives the next state, or the
 * refusal the device answers with VIRTIO_NET_ERR (state unchanged). Rules are the spec's device
 * requirements (virtio 1.2 §5.1.6.5) with QEMU's choices where the spec leaves room (hw/net/virtio-net.c).
 */
import * as E from 'fp-ts/lib/Either.js';
import { produce } from 'immer';
import type { CommandKind, NetCtrlCommand } from '../virtio/cvq.js';
import { GUEST_OFFLOAD_FEATURES, hasFeature, type FeatureName } from '../virtio/features.js';
import { MAX_VLAN, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN, toHex } from '../virtio/net.js';
import type { DeviceLimits, NetDeviceState } from './net-state.js';

/** The feature that enables each command (§5.1.6.5); every command also needs CTRL_VQ. */
export const REQUIRED_FEATURE: { readonly [K in CommandKind]: FeatureName } = {
  RX_PROMISC: 'CTRL_RX',
  RX_ALLMULTI: 'CTRL_RX',
  RX_ALLUNI: 'CTRL_RX_EXTRA',
  RX_NOMULTI: 'CTRL_RX_EXTRA',
  RX_NOUNI: 'CTRL_RX_EXTRA',
  RX_NOBCAST: 'CTRL_RX_EXTRA',
  MAC_TABLE_SET: 'CTRL_RX',
  MAC_ADDR_SET: 'CTRL_MAC_ADDR',
  VLAN_ADD: 'CTRL_VLAN',
  VLAN_DEL: 'CTRL_VLAN',
  ANNOUNCE_ACK: 'GUEST_ANNOUNCE',
  MQ_VQ_PAIRS_SET: 'MQ',
  MQ_RSS_CONFIG: 'RSS',
  MQ_HASH_CONFIG: 'HASH_REPORT',
  GUEST_OFFLOADS_SET: 'CTRL_GUEST_OFFLOADS',
  NOTF_COAL_TX_SET: 'NOTF_COAL',
  NOTF_COAL_RX_SET: 'NOTF_COAL',
};

/** Whether the negotiated features let a driver send `kind` at all. */
export const commandAllowed = (kind: CommandKind, negotiated: bigint): boolean =>
  hasFeature(negotiated, 'CTRL_VQ') && hasFeature(negotiated, REQUIRED_FEATURE[kind]);

export type RefusalReason =
  | 'not-negotiated' // the command's feature (or CTRL_VQ) is not negotiated
  | 'queue-pairs' // virtqueue pairs / max_tx_vq outside 1..max_virtqueue_pairs
  | 'rss-table' // indirection table length not a power of two within the maximum
  | 'rss-queue' // a table entry or the unclassified queue ≥ the queue pairs
  | 'key-size' // hash key longer than rss_max_key_size
  | 'hash-types' // hash types outside supported_hash_types
  | 'vlan-id' // vid ≥ 4096
  | 'offloads'; // an offload whose feature is not negotiated

export interface CommandRefused {
  readonly _tag: 'CommandRefused';
  readonly kind: CommandKind;
  readonly reason: RefusalReason;
  readonly message: string;
}

const refuse = (kind: CommandKind, reason: RefusalReason, message: string): E.Either<CommandRefused, NetDeviceState> =>
  E.left({ _tag: 'CommandRefused', kind, reason, message: `${kind}: ${message}` });

const isPowerOfTwo = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

/** Check hash types and key of an RSS / hash config against the device (§5.1.6.5.7). */
function checkHash(kind: CommandKind, limits: DeviceLimits, hashTypes: number, keyLen: number): E.Either<CommandRefused, NetDeviceState> | undefined {
  if ((hashTypes & ~limits.supportedHashTypes) !== 0) {
    return refuse(kind, 'hash-types', `hash types 0x${hashTypes.toString(16)} outside supported 0x${limits.supportedHashTypes.toString(16)}`);
  }
  if (keyLen > limits.rssMaxKeySize) return refuse(kind, 'key-size', `${keyLen}-byte key exceeds rss_max_key_size ${limits.rssMaxKeySize}`);
  return undefined;
}

/**
 * Apply one CVQ command as a virtio-net device with features `negotiated` and `limits` does.
 * Left: the device acks VIRTIO_NET_ERR and keeps its state.
 */
export function applyCommand(state: NetDeviceState, negotiated: bigint, limits: DeviceLimits, cmd: NetCtrlCommand): E.Either<CommandRefused, NetDeviceState> {
  const kind = cmd.kind;
  if (!commandAllowed(kind, negotiated)) {
    const need = hasFeature(negotiated, 'CTRL_VQ') ? REQUIRED_FEATURE[kind] : 'CTRL_VQ';
    return refuse(kind, 'not-negotiated', `${need} not negotiated`);
  }
  switch (cmd.kind) {
    case 'MAC_TABLE_SET': {
      // QEMU virtio_net_handle_mac: one table of `macTableEntries` shared by both blocks; a block that
      // does not fit is dropped and its overflow flag set (the filter then accepts that whole class).
      const max = limits.macTableEntries;
      const uniFits = cmd.unicast.length <= max;
      const inUse = uniFits ? cmd.unicast.length : 0;
      const multiFits = inUse + cmd.multicast.length <= max;
      return E.right(
        produce(state, (d) => {
          d.macTable = {
            unicast: uniFits ? [...cmd.unicast] : [],
            multicast: multiFits ? [...cmd.multicast] : [],
            unicastOverflow: !uniFits,
            multicastOverflow: !multiFits,
          };
        }),
      );
    }
    case 'MAC_ADDR_SET':
      return E.right(produce(state, (d) => void (d.mac = cmd.mac)));
    case 'VLAN_ADD':
    case 'VLAN_DEL': {
      const vid = cmd.vid;
      if (vid >= MAX_VLAN) return refuse(kind, 'vlan-id', `vid ${vid} ≥ ${MAX_VLAN}`);
      const w = vid >> 5;
      const bit = 1 << (vid & 31);
      const word = state.vlanFilter[w]!;
      const next = (cmd.kind === 'VLAN_ADD' ? word | bit : word & ~bit) >>> 0;
      if (next === word) return E.right(state);
      // The restore's bulk (one VLAN_ADD per vid): structural sharing by hand, as immer would produce
      // it (a new frozen filter and top-level object, every other field shared) at a fraction of the cost.
      // (Spread, not slice: V8 copies a frozen array far faster this way.)
      const filter = [...state.vlanFilter];
      filter[w] = next;
      return E.right(Object.freeze({ ...state, vlanFilter: Object.freeze(filter) }));
    }
    case 'ANNOUNCE_ACK':
      // Clears VIRTIO_NET_S_ANNOUNCE in config space (§5.1.6.5.4), which this state does not hold.
      return E.right(state);
    case 'MQ_VQ_PAIRS_SET': {
      const p = cmd.pairs;
      if (p < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || p > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX || p > limits.maxQueuePairs) {
        return refuse(kind, 'queue-pairs', `${p} queue pairs outside 1..${limits.maxQueuePairs}`);
      }
      return p === state.queuePairs ? E.right(state) : E.right(produce(state, (d) => void (d.queuePairs = p)));
    }
    case 'MQ_RSS_CONFIG': {
      const len = cmd.indirectionTable.length;
      if (!isPowerOfTwo(len) || len > limits.rssMaxIndirectionTableLength) {
        return refuse(kind, 'rss-table', `indirection table of ${len} entries: not a power of two ≤ ${limits.rssMaxIndirectionTableLength}`);
      }
      const pairs = cmd.maxTxVq;
      if (pairs < 1 || pairs > limits.maxQueuePairs) {
        return refuse(kind, 'queue-pairs', `max_tx_vq ${pairs} outside 1..${limits.maxQueuePairs}`);
      }
      if (cmd.unclassifiedQueue >= pairs) return refuse(kind, 'rss-queue', `unclassified_queue ${cmd.unclassifiedQueue} ≥ ${pairs} queue pairs`);
      for (let i = 0; i < len; i++) {
        if (cmd.indirectionTable[i]! >= pairs) {
          return refuse(kind, 'rss-queue', `indirection_table[${i}] = ${cmd.indirectionTable[i]} ≥ ${pairs} queue pairs`);
        }
      }
      const bad = checkHash(kind, limits, cmd.hashTypes, cmd.key.length);
      if (bad !== undefined) return bad;
      const key = toHex(cmd.key);
      const on = cmd.hashTypes !== 0;
      // RSS_CONFIG also sets the hash the device reports when HASH_REPORT is negotiated (QEMU rss_data).
      const report = on && hasFeature(negotiated, 'HASH_REPORT');
      return E.right(
        produce(state, (d) => {
          d.queuePairs = pairs;
          d.rss = on ? { hashTypes: cmd.hashTypes, indirectionTable: [...cmd.indirectionTable], unclassifiedQueue: cmd.unclassifiedQueue, key } : null;
          d.hashReport = report ? { hashTypes: cmd.hashTypes, key } : null;
        }),
      );
    }
    case 'MQ_HASH_CONFIG': {
      const bad = checkHash(kind, limits, cmd.hashTypes, cmd.key.length);
      if (bad !== undefined) return bad;
      // Hash reporting without steering: RSS steering is off after it (QEMU: redirect = false).
      return E.right(
        produce(state, (d) => {
          d.rss = null;
          d.hashReport = cmd.hashTypes !== 0 ? { hashTypes: cmd.hashTypes, key: toHex(cmd.key) } : null;
        }),
      );
    }
    case 'GUEST_OFFLOADS_SET': {
      const allowed = negotiated & GUEST_OFFLOAD_FEATURES;
      const extra = cmd.offloads & ~allowed;
      if (extra !== 0n) {
        return refuse(kind, 'offloads', `offloads 0x${extra.toString(16)} not among the negotiated guest offloads 0x${allowed.toString(16)} (§5.1.6.5.6.1)`);
      }
      return E.right(produce(state, (d) => void (d.guestOffloads = cmd.offloads)));
    }
    case 'NOTF_COAL_TX_SET':
    case 'NOTF_COAL_RX_SET': {
      const v = { maxPackets: cmd.maxPackets, maxUsecs: cmd.maxUsecs };
      const tx = cmd.kind === 'NOTF_COAL_TX_SET';
      return E.right(
        produce(state, (d) => {
          const c = d.coalescing ?? { tx: { maxPackets: 0, maxUsecs: 0 }, rx: { maxPackets: 0, maxUsecs: 0 } };
          if (tx) c.tx = v;
          else c.rx = v;
          d.coalescing = c;
        }),
      );
    }
    default: {
      const on = cmd.on;
      const field = RX_FIELD[cmd.kind];
      return state.rxMode[field] === on ? E.right(state) : E.right(produce(state, (d) => void (d.rxMode[field] = on)));
    }
  }
}

const RX_FIELD = {
  RX_PROMISC: 'promisc',
  RX_ALLMULTI: 'allmulti',
  RX_ALLUNI: 'alluni',
  RX_NOMULTI: 'nomulti',
  RX_NOUNI: 'nouni',
  RX_NOBCAST: 'nobcast',
} as const;

/** Apply commands in order, stopping at the first refusal (with its index). */
export function applyAll(
  state: NetDeviceState,
  negotiated: bigint,
  limits: DeviceLimits,
  cmds: Iterable<NetCtrlCommand>,
): E.Either<CommandRefused & { readonly index: number }, NetDeviceState> {
  let s = state;
  let i = 0;
  for (const c of cmds) {
    const r = applyCommand(s, negotiated, limits, c);
    if (E.isLeft(r)) return E.left({ ...r.left, index: i });
    s = r.right;
    i++;
  }
  return E.right(s);
}
