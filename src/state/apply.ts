/**
 * A virtio-net device's CVQ semantics as a pure reducer: `applyCommand` gives the next state, or the
 * refusal the device answers with VIRTIO_NET_ERR (state unchanged). Rules are the spec's device
 * requirements (virtio 1.2 §5.1.6.5) with QEMU's choices where the spec leaves room
 * (hw/net/virtio-net.c); each class's rule is in its module (src/cvq/classes/<class>.ts).
 */
import * as E from 'fp-ts/lib/Either.js';
import { CLASS_OF_KIND, KINDS, type CommandKind, type NetCtrlCommand } from '../cvq/classes/index.js';
import { refuse, type CommandRefused as ClassRefused } from '../cvq/classes/types.js';
import { hasFeature, type FeatureName } from '../virtio/features.js';
import type { DeviceLimits, NetDeviceState } from './net-state.js';

export type { RefusalReason } from '../cvq/classes/types.js';
export type CommandRefused = ClassRefused<CommandKind>;

/** The feature that enables each command (§5.1.6.5); every command also needs CTRL_VQ. */
export const REQUIRED_FEATURE = Object.fromEntries(KINDS.map((k) => [k.kind, k.feature])) as { readonly [K in CommandKind]: FeatureName };

/** Whether the negotiated features let a driver send `kind` at all. */
export const commandAllowed = (kind: CommandKind, negotiated: bigint): boolean =>
  hasFeature(negotiated, 'CTRL_VQ') && hasFeature(negotiated, REQUIRED_FEATURE[kind]);

/**
 * Apply one CVQ command as a virtio-net device with features `negotiated` and `limits` does.
 * Left: the device acks VIRTIO_NET_ERR and keeps its state.
 */
export function applyCommand(state: NetDeviceState, negotiated: bigint, limits: DeviceLimits, cmd: NetCtrlCommand): E.Either<CommandRefused, NetDeviceState> {
  const kind = cmd.kind;
  if (!commandAllowed(kind, negotiated)) {
    const need = hasFeature(negotiated, 'CTRL_VQ') ? REQUIRED_FEATURE[kind] : 'CTRL_VQ';
    return refuse(kind, 'not-negotiated', `${need} not negotiated`) as E.Either<CommandRefused, NetDeviceState>;
  }
  return CLASS_OF_KIND[kind].apply(state, cmd, negotiated, limits) as E.Either<CommandRefused, NetDeviceState>;
}

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
