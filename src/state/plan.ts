/**
 * The restore planner: the ordered CVQ commands a migration destination sends so that a freshly
 * reset device ends in `viewThrough(state, negotiated)`. Order and skip rules are QEMU's
 * `vhost_vdpa_net_cvq_load` (mac, mq → rss, offloads, rx, rx extra, vlan), made spec-exact, plus
 * notification coalescing, which QEMU does not restore. Every step is gated on CTRL_VQ and its feature.
 */
import { encodePayload, commandClass, commandCode, type CommandKind, type NetCtrlCommand } from '../virtio/cvq.js';
import { GUEST_OFFLOAD_FEATURES, hasFeature, type FeatureName } from '../virtio/features.js';
import { fromHex, toHex } from '../virtio/net.js';
import { vlanList, type NetDeviceState } from './net-state.js';

export interface RestoreCommand {
  readonly class: number;
  readonly command: number;
  readonly name: CommandKind;
  /** Command-specific data (without the 2-byte header). */
  readonly payload: Uint8Array;
  readonly cmd: NetCtrlCommand;
}

/** A planned command as the machines keep it in their (JSON) context: the payload as lower-case hex. */
export interface CvqCommandJson {
  /** Human name for reports, e.g. "VLAN_ADD vid=100". */
  readonly name: string;
  readonly class: number;
  readonly cmd: number;
  readonly payload: string;
}

/** The JSON form of a planned command. */
export const toCvqCommand = (c: RestoreCommand): CvqCommandJson => ({ name: c.name, class: c.class, cmd: c.command, payload: toHex(c.payload) });

const keyBytes = (hex: string): Uint8Array => fromHex(hex) ?? new Uint8Array(0);

/** The commands alone, in order (no encoding). */
export function planCommands(state: NetDeviceState, negotiated: bigint): NetCtrlCommand[] {
  const has = (f: FeatureName): boolean => hasFeature(negotiated, f);
  const out: NetCtrlCommand[] = [];
  if (!has('CTRL_VQ')) return out;

  // 1. MAC (§5.1.6.5.2.1)
  if (has('CTRL_MAC_ADDR')) out.push({ kind: 'MAC_ADDR_SET', mac: state.mac });

  // 2. MAC filter table: empty on reset, so only a non-empty one is sent
  const t = state.macTable;
  if (has('CTRL_RX') && (t.unicast.length > 0 || t.multicast.length > 0)) {
    out.push({ kind: 'MAC_TABLE_SET', unicast: t.unicast, multicast: t.multicast });
  }

  // 3. queue pairs (§5.1.6.5.5)
  if (has('MQ')) out.push({ kind: 'MQ_VQ_PAIRS_SET', pairs: state.queuePairs });

  // 4. RSS (max_tx_vq = queue pairs), else the hash report alone (§5.1.6.5.7)
  const rss = state.rss;
  const hr = state.hashReport;
  if (has('RSS') && rss !== null && rss.hashTypes !== 0) {
    out.push({
      kind: 'MQ_RSS_CONFIG',
      hashTypes: rss.hashTypes,
      indirectionTable: rss.indirectionTable,
      unclassifiedQueue: rss.unclassifiedQueue,
      maxTxVq: state.queuePairs,
      key: keyBytes(rss.key),
    });
  } else if (has('HASH_REPORT') && hr !== null && hr.hashTypes !== 0) {
    out.push({ kind: 'MQ_HASH_CONFIG', hashTypes: hr.hashTypes, key: keyBytes(hr.key) });
  }

  // 5. guest offloads: reset enables every negotiated one (§5.1.6.5.6.1); only a difference is sent,
  //    and only offloads the destination negotiated can be enabled.
  if (has('CTRL_GUEST_OFFLOADS')) {
    const negotiatedOffloads = negotiated & GUEST_OFFLOAD_FEATURES;
    const offloads = state.guestOffloads & negotiatedOffloads;
    if (offloads !== negotiatedOffloads) out.push({ kind: 'GUEST_OFFLOADS_SET', offloads });
  }

  // 6. RX modes against the reset defaults (promisc on, allmulti off); overflow keeps the class open
  const r = state.rxMode;
  if (has('CTRL_RX')) {
    if (!r.promisc && !t.unicastOverflow) out.push({ kind: 'RX_PROMISC', on: false });
    if (r.allmulti || t.multicastOverflow) out.push({ kind: 'RX_ALLMULTI', on: true });
  }
  // 7. RX extra modes, all off at reset
  if (has('CTRL_RX_EXTRA')) {
    if (r.alluni) out.push({ kind: 'RX_ALLUNI', on: true });
    if (r.nomulti) out.push({ kind: 'RX_NOMULTI', on: true });
    if (r.nouni) out.push({ kind: 'RX_NOUNI', on: true });
    if (r.nobcast) out.push({ kind: 'RX_NOBCAST', on: true });
  }

  // 8. VLAN filter, one VLAN_ADD per set bit, ascending
  if (has('CTRL_VLAN')) for (const vid of vlanList(state.vlanFilter)) out.push({ kind: 'VLAN_ADD', vid });

  // 9. notification coalescing (§5.1.6.5.9), each direction only when not all zero
  const c = state.coalescing;
  if (has('NOTF_COAL') && c !== null) {
    if (c.tx.maxPackets !== 0 || c.tx.maxUsecs !== 0) out.push({ kind: 'NOTF_COAL_TX_SET', ...c.tx });
    if (c.rx.maxPackets !== 0 || c.rx.maxUsecs !== 0) out.push({ kind: 'NOTF_COAL_RX_SET', ...c.rx });
  }
  return out;
}

/** The restore plan: each command with its class, command code, name and payload bytes. */
export function planRestore(state: NetDeviceState, negotiated: bigint): RestoreCommand[] {
  return planCommands(state, negotiated).map((cmd) => ({
    class: commandClass(cmd),
    command: commandCode(cmd),
    name: cmd.kind,
    payload: encodePayload(cmd),
    cmd,
  }));
}
