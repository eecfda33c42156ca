/**
 * The maximal device state of the CVQ parallel-load benchmark (QEMU "vdpa: parallel CVQ state load",
 * ≈4099 commands): 8 queue pairs, a 64-entry MAC table (32 unicast + 32 multicast), every VLAN id but
 * 0 and 4095 (4094 VLAN_ADDs), a 128-entry RSS table with a 40-byte key, guest offloads and coalescing
 * both ways. The restore tests and the CVQ, device, machine and migration benches all load this state;
 * each names the receive modes it wants on top of promisc off, allmulti and nobcast on.
 */
import { resetNetState, vlanFilterOf, type NetDeviceState, type RxMode } from './net-state.js';

/** The Toeplitz key of the RSS test vectors (Microsoft's default, 40 bytes). */
const KEY = '6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa';

const mac = (i: number, multicast: boolean): string =>
  `${multicast ? '01' : '02'}:00:5e:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

export function maximalState(rxMode: Partial<RxMode> = {}): NetDeviceState {
  return {
    ...resetNetState('52:54:00:12:34:56'),
    queuePairs: 8,
    rxMode: { promisc: false, allmulti: true, alluni: false, nomulti: false, nouni: false, nobcast: true, ...rxMode },
    macTable: {
      unicast: Array.from({ length: 32 }, (_, i) => mac(i, false)),
      multicast: Array.from({ length: 32 }, (_, i) => mac(i, true)),
      unicastOverflow: false,
      multicastOverflow: false,
    },
    vlanFilter: vlanFilterOf(Array.from({ length: 4094 }, (_, i) => i + 1)),
    guestOffloads: 0x182n,
    rss: { hashTypes: 0x3f, indirectionTable: Array.from({ length: 128 }, (_, i) => i % 8), unclassifiedQueue: 0, key: KEY },
    hashReport: null,
    coalescing: { tx: { maxPackets: 64, maxUsecs: 32 }, rx: { maxPackets: 16, maxUsecs: 8 } },
  };
}
