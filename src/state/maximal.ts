/**
 * The maximal device state of the CVQ parallel-load benchmark (QEMU "vdpa: parallel CVQ state load",
 * ≈4099 commands): each class module's maximal values — 8 queue pairs, a 64-entry MAC table (32
 * unicast + 32 multicast), every VLAN id but 0 and 4095 (4094 VLAN_ADDs), a 128-entry RSS table with a
 * 40-byte key, guest offloads and coalescing both ways. The restore tests and the CVQ, device, machine
 * and migration benches all load this state; each names the receive modes it wants on top of promisc
 * off, allmulti and nobcast on.
 */
import { CLASSES } from '../cvq/classes/index.js';
import { resetNetState, type NetDeviceState, type RxMode } from './net-state.js';

export function maximalState(rxMode: Partial<RxMode> = {}): NetDeviceState {
  const s = { ...resetNetState('52:54:00:12:34:56') };
  for (const c of CLASSES) Object.assign(s, c.maximal());
  return { ...s, rxMode: { ...s.rxMode, ...rxMode } };
}
