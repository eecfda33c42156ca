/**
 * Restore a virtio-net device state through the shadow CVQ (QEMU `vhost_vdpa_net_cvq_load`): plan,
 * send through machines/cvq-command with the chosen strategy, apply to the destination's model exactly
 * the commands the device acked OK (`applyAll`), and read back what config space shows (the MAC), so a
 * device that acks OK without applying — vdpa_sim_net's stale ack behind a batched success — is caught
 * where it can be.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { InspectionEvent } from 'xstate';
import type { DeviceError, VdpaDevice } from '../device/types.js';
import { runCvqCommands, toCvqCommand } from '../effects/cvq.js';
import { applyAll, type CommandRefused } from '../state/apply.js';
import type { DeviceLimits, NetDeviceState } from '../state/net-state.js';
import { planRestore, type RestoreCommand } from '../state/plan.js';
import { hasFeature } from '../virtio/features.js';
import { ETH_ALEN, NET_CONFIG, formatMac } from '../virtio/net.js';
import type { CvqCommandOutput, CvqFailure, CvqStrategy } from '../../machines/cvq-command.js';
import type { CvqEngine } from './engine.js';

export interface RestoreOptions {
  readonly strategy: CvqStrategy;
  /** How long one kicked batch may wait for its acks (default 1000 ms). */
  readonly timeoutMs?: number;
  /** Read the MAC back from config space after an acked MAC_ADDR_SET (default true). */
  readonly verifyMac?: boolean;
  /** Sees every transition of the cvq-command actor. */
  readonly inspect?: (e: InspectionEvent) => void;
}

export interface RestoreResult {
  readonly plan: readonly RestoreCommand[];
  /** machines/cvq-command's output: `applied` commands acked OK, `roundTrips` kick-to-call round trips. */
  readonly output: CvqCommandOutput;
  /** The destination's model after the acked commands. */
  readonly model: NetDeviceState;
}

export type RestoreError =
  /** The machine stopped on a failure (its vocabulary: ack-err, wrong-length, timeout, needs-reset, device). */
  | (CvqFailure & {
      readonly _tag: 'RestoreCvqError';
      readonly plan: readonly RestoreCommand[];
      readonly output: CvqCommandOutput;
      /** The model after the commands acked OK before the failure (`output.applied`). */
      readonly model: NetDeviceState;
    })
  | {
      readonly _tag: 'RestoreModelError';
      /** The device acked a command the model refuses: device and model disagree on semantics. */
      readonly refused: CommandRefused & { readonly index: number };
      readonly message: string;
    }
  | {
      readonly _tag: 'RestoreVerifyError';
      readonly message: string;
      readonly cause?: DeviceError;
      readonly model: NetDeviceState;
    };

/**
 * Send the plan of `state` for `negotiated` through machines/cvq-command bound to `engine`, and apply
 * the acked commands to `model` (the destination's state before the load, normally
 * `resetNetState(provisionedMac, negotiated)`). The plan holds only commands `negotiated` allows.
 */
export async function restoreState(
  device: VdpaDevice,
  engine: CvqEngine,
  state: NetDeviceState,
  negotiated: bigint,
  limits: DeviceLimits,
  model: NetDeviceState,
  opts: RestoreOptions,
): Promise<E.Either<RestoreError, RestoreResult>> {
  const plan = planRestore(state, negotiated);
  const output = await runCvqCommands(engine, plan.map(toCvqCommand), {
    strategy: opts.strategy,
    ackTimeoutMs: opts.timeoutMs ?? 1000,
    ...(opts.inspect === undefined ? {} : { inspect: opts.inspect }),
  });

  // Only commands acked OK reach the model (QEMU applies a guest command only on VIRTIO_NET_OK).
  const applied = applyAll(model, negotiated, limits, plan.slice(0, output.applied).map((c) => c.cmd));
  if (E.isLeft(applied)) {
    const name = plan[applied.left.index]?.name ?? `command #${applied.left.index}`;
    return E.left({ _tag: 'RestoreModelError', refused: applied.left, message: `device acked ${name} but the model refuses it: ${applied.left.message}` });
  }
  const m = applied.right;
  if (output.failure !== null) return E.left({ _tag: 'RestoreCvqError', ...output.failure, plan, output, model: m });

  const macIdx = plan.findIndex((c) => c.name === 'MAC_ADDR_SET');
  if ((opts.verifyMac ?? true) && macIdx >= 0 && hasFeature(negotiated, 'MAC')) {
    const cfg = device.getConfig(NET_CONFIG.mac, ETH_ALEN);
    if (E.isLeft(cfg)) return E.left({ _tag: 'RestoreVerifyError', message: `reading the MAC back: ${cfg.left.message}`, cause: cfg.left, model: m });
    const seen = formatMac(cfg.right);
    if (seen !== m.mac) {
      return E.left({ _tag: 'RestoreVerifyError', message: `device acked MAC_ADDR_SET ${m.mac} but its config space shows ${seen}`, model: m });
    }
  }
  return E.right({ plan, output, model: m });
}
