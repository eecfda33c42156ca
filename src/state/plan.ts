/**
 * The restore planner: the ordered CVQ commands a migration destination sends so that a freshly
 * reset device ends in `viewThrough(state, negotiated)`. The order is the class registry's
 * (src/cvq/classes/index.ts): QEMU's `vhost_vdpa_net_cvq_load` (mac, mq → rss, offloads, rx + rx extra,
 * vlan), made spec-exact, plus notification coalescing, which QEMU does not restore. Every step is
 * gated on CTRL_VQ and its feature; the steps themselves are the class modules'.
 */
import { CLASSES } from '../cvq/classes/index.js';
import { encodePayload, commandClass, commandCode, type CommandKind, type NetCtrlCommand } from '../virtio/cvq.js';
import { hasFeature, type FeatureName } from '../virtio/features.js';
import { toHex } from '../virtio/net.js';
import type { NetDeviceState } from './net-state.js';

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

/** The commands alone, in order (no encoding). */
export function planCommands(state: NetDeviceState, negotiated: bigint): NetCtrlCommand[] {
  const out: NetCtrlCommand[] = [];
  if (!hasFeature(negotiated, 'CTRL_VQ')) return out;
  const ctx = { has: (f: FeatureName): boolean => hasFeature(negotiated, f), negotiated };
  for (const c of CLASSES) c.plan(state, ctx, out);
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
