/**
 * A state seen through a negotiated feature set: exactly what a CVQ restore (`planRestore`) can
 * reproduce on a freshly reset destination with those features. Everything a feature does not
 * cover reads as the reset value; what the restore folds (overflow flags become the RX mode that
 * emulates them, a disabled RSS becomes `null`) is folded the same way here.
 *
 * The MAC is kept whatever the features: without CTRL_MAC_ADDR the destination's MAC comes from its
 * config space (VIRTIO_NET_F_MAC), which management provisions identical to the source's.
 */
import { GUEST_OFFLOAD_FEATURES, hasFeature } from '../virtio/features.js';
import { resetNetState, type NetDeviceState } from './net-state.js';

export function viewThrough(state: NetDeviceState, negotiated: bigint): NetDeviceState {
  const reset = resetNetState(state.mac, negotiated);
  if (!hasFeature(negotiated, 'CTRL_VQ')) return reset;
  const has = (f: Parameters<typeof hasFeature>[1]): boolean => hasFeature(negotiated, f);

  const ctrlRx = has('CTRL_RX');
  const extra = has('CTRL_RX_EXTRA');
  const t = state.macTable;
  const r = state.rxMode;
  // Overflow is restored as the mode it implies: PROMISC stays on (unicast), ALLMULTI on (multicast).
  const rxMode = {
    promisc: ctrlRx ? r.promisc || t.unicastOverflow : true,
    allmulti: ctrlRx ? r.allmulti || t.multicastOverflow : false,
    alluni: extra && r.alluni,
    nomulti: extra && r.nomulti,
    nouni: extra && r.nouni,
    nobcast: extra && r.nobcast,
  };
  const macTable = ctrlRx && (t.unicast.length > 0 || t.multicast.length > 0)
    ? { unicast: t.unicast, multicast: t.multicast, unicastOverflow: false, multicastOverflow: false }
    : reset.macTable;

  const rss = has('RSS') && state.rss !== null && state.rss.hashTypes !== 0 ? state.rss : null;
  // RSS_CONFIG carries the reported hash too; otherwise HASH_CONFIG restores the hash report alone.
  const hashReport = !has('HASH_REPORT')
    ? null
    : rss !== null
      ? { hashTypes: rss.hashTypes, key: rss.key }
      : state.hashReport !== null && state.hashReport.hashTypes !== 0
        ? state.hashReport
        : null;
  // Queue pairs reach the device through MQ_VQ_PAIRS_SET (MQ) or RSS's max_tx_vq.
  const queuePairs = has('MQ') || rss !== null ? state.queuePairs : 1;

  const guestOffloads = has('CTRL_GUEST_OFFLOADS') ? state.guestOffloads & negotiated & GUEST_OFFLOAD_FEATURES : reset.guestOffloads;

  const c = state.coalescing;
  const coalescing = has('NOTF_COAL') && c !== null && (c.tx.maxPackets | c.tx.maxUsecs | c.rx.maxPackets | c.rx.maxUsecs) !== 0 ? c : null;

  return {
    mac: state.mac,
    queuePairs,
    rxMode,
    macTable,
    vlanFilter: has('CTRL_VLAN') ? state.vlanFilter : reset.vlanFilter,
    guestOffloads,
    rss,
    hashReport,
    coalescing,
  };
}
