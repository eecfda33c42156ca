/**
 * Which frames the loopback delivers to RX.
 *
 * - 'vdpa_sim_net' (vdpasim's receive_filter): a frame shorter than header + 6 is dropped; broadcast
 *   and multicast pass; unicast passes only when addressed to the MAC in config space.
 * - 'model' (QEMU's virtio-net receive_filter over the CVQ state, virtio 1.2 §5.1.6.5.1-3): promiscuous
 *   passes everything; an 802.1Q frame whose VID is not in the filter is dropped (CTRL_VLAN only);
 *   broadcast passes unless NOBCAST; multicast: NOMULTI drops, ALLMULTI / table overflow pass, else the
 *   multicast table; unicast: NOUNI drops, ALLUNI / overflow pass, else our MAC or the unicast table.
 */
import type { NetDeviceState } from '../../state/net-state.js';
import { hasFeature } from '../../virtio/features.js';
import { formatMac, type MacString } from '../../virtio/net.js';

/**
 * Length of the virtio-net header in front of every frame (§5.1.6): virtio_net_hdr_v1 (12) with
 * VERSION_1 or MRG_RXBUF, virtio_net_hdr_v1_hash (20) with HASH_REPORT, else the legacy 10 bytes.
 */
export function hdrLenOf(features: bigint): number {
  if (hasFeature(features, 'HASH_REPORT')) return 20;
  return hasFeature(features, 'VERSION_1') || hasFeature(features, 'MRG_RXBUF') ? 12 : 10;
}

let cachedTable: NetDeviceState['macTable'] | undefined;
let cachedUni = new Set<MacString>();
let cachedMulti = new Set<MacString>();

function tables(state: NetDeviceState): { uni: Set<MacString>; multi: Set<MacString> } {
  if (state.macTable !== cachedTable) {
    cachedTable = state.macTable;
    cachedUni = new Set(state.macTable.unicast);
    cachedMulti = new Set(state.macTable.multicast);
  }
  return { uni: cachedUni, multi: cachedMulti };
}

const isBroadcast = (f: Uint8Array, o: number): boolean =>
  (f[o]! & f[o + 1]! & f[o + 2]! & f[o + 3]! & f[o + 4]! & f[o + 5]!) === 0xff;

const sameMac = (f: Uint8Array, o: number, mac: Uint8Array): boolean =>
  f[o] === mac[0] && f[o + 1] === mac[1] && f[o + 2] === mac[2] && f[o + 3] === mac[3] && f[o + 4] === mac[4] && f[o + 5] === mac[5];

export function acceptFrame(
  mode: 'vdpa_sim_net' | 'model',
  frame: Uint8Array,
  len: number,
  hdrLen: number,
  mac: Uint8Array,
  state: NetDeviceState,
  /** CTRL_VLAN negotiated: the VLAN filter applies. */
  vlanFilter: boolean,
): boolean {
  const d = hdrLen; // destination MAC offset
  if (len < d + 6) return false;
  if (mode === 'vdpa_sim_net') {
    if ((frame[d]! & 1) !== 0) return true; // broadcast or multicast
    return sameMac(frame, d, mac);
  }
  const rx = state.rxMode;
  if (rx.promisc) return true;
  // 802.1Q tag: TPID 0x8100 right after the two MACs
  if (vlanFilter && len >= d + 16 && frame[d + 12] === 0x81 && frame[d + 13] === 0x00) {
    const vid = ((frame[d + 14]! << 8) | frame[d + 15]!) & 0xfff;
    if (((state.vlanFilter[vid >> 5]! >>> (vid & 31)) & 1) === 0) return false;
  }
  if ((frame[d]! & 1) !== 0) {
    if (isBroadcast(frame, d)) return !rx.nobcast;
    if (rx.nomulti) return false;
    if (rx.allmulti || state.macTable.multicastOverflow) return true;
    return tables(state).multi.has(formatMac(frame, d));
  }
  if (rx.nouni) return false;
  if (rx.alluni || state.macTable.unicastOverflow) return true;
  if (sameMac(frame, d, mac)) return true;
  return tables(state).uni.has(formatMac(frame, d));
}
