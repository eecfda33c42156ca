/**
 * The device state `shadowvq migrate --demo` carries across: what a busy multi-queue guest leaves in
 * its virtio-net device (virtio 1.2 §5.1.6.5) — a MAC of its own, 4 queue pairs with RSS spreading
 * flows over them through a 128-entry indirection table, RX modes off their reset defaults, a MAC
 * filter table, a few hundred VLANs, a reduced set of guest offloads and notification coalescing.
 * The same document is examples/state.json (a test keeps the two equal).
 */
import type { StateJson } from '../state/json.js';
import { VIRTIO_NET_RSS_HASH_TYPE as H } from '../virtio/net.js';
import { F } from '../virtio/features.js';

/** VLAN ids of the demo: 300 of them, spread over the 12-bit space (1 + 13·i mod 4093, all distinct). */
export function demoVlans(count = 300): number[] {
  const vids = new Set<number>();
  for (let i = 0; vids.size < count; i++) vids.add(1 + ((13 * i) % 4093));
  return [...vids].sort((a, b) => a - b);
}

/** A 40-byte Toeplitz key (the spec's maximum, §5.1.4), deterministic. */
const RSS_KEY = Array.from({ length: 40 }, (_, i) => ((i * 0x9e + 0x6d) & 0xff).toString(16).padStart(2, '0')).join('');

export function demoStateJson(): StateJson {
  return {
    mac: '52:54:00:5e:c4:01',
    queuePairs: 4,
    rxMode: { promisc: false, allmulti: true, alluni: false, nomulti: false, nouni: false, nobcast: false },
    macTable: {
      unicast: ['52:54:00:5e:c4:02', '52:54:00:5e:c4:03', '02:00:00:00:10:01'],
      multicast: ['01:00:5e:00:00:01', '01:00:5e:00:00:fb', '33:33:00:00:00:01', '33:33:ff:5e:c4:01'],
      unicastOverflow: false,
      multicastOverflow: false,
    },
    vlans: demoVlans(),
    guestOffloads: `0x${(F.GUEST_CSUM | F.GUEST_TSO4 | F.GUEST_TSO6).toString(16)}`,
    rss: {
      hashTypes: H.IPv4 | H.TCPv4 | H.UDPv4 | H.IPv6 | H.TCPv6 | H.UDPv6,
      // queue i & 3, with a skew every 16 entries (an rebalanced table, not the driver's default)
      indirectionTable: Array.from({ length: 128 }, (_, i) => (i + (i >> 4)) & 3),
      unclassifiedQueue: 0,
      key: RSS_KEY,
    },
    hashReport: null,
    coalescing: { tx: { maxPackets: 32, maxUsecs: 64 }, rx: { maxPackets: 16, maxUsecs: 24 } },
  };
}
