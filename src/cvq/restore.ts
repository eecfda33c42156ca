/**
 * Restore a virtio-net device state through the shadow CVQ (QEMU `vhost_vdpa_net_cvq_load`): plan,
 * send with the chosen strategy, apply to the destination's model exactly the commands the device
 * acked OK, and read back what config space shows (the MAC), so a device that acks OK without applying
 * — vdpa_sim_net's stale ack behind a batched success — is caught where it can be.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { DeviceError, VdpaDevice } from '../device/types.js';
import { applyCommand, type CommandRefused } from '../state/apply.js';
import type { DeviceLimits, NetDeviceState } from '../state/net-state.js';
import { planRestore, type RestoreCommand } from '../state/plan.js';
import { hasFeature } from '../virtio/features.js';
import { ETH_ALEN, NET_CONFIG, formatMac } from '../virtio/net.js';
import { CvqEngine, type CvqError, type CvqReport, type CvqStrategy } from './engine.js';

export interface RestoreOptions {
  readonly strategy: CvqStrategy;
  readonly timeoutMs?: number;
  /** Read the MAC back from config space after an acked MAC_ADDR_SET (default true). */
  readonly verifyMac?: boolean;
}

export interface RestoreResult {
  readonly plan: readonly RestoreCommand[];
  readonly report: CvqReport;
  /** The destination's model after the acked commands. */
  readonly model: NetDeviceState;
}

export type RestoreError =
  | (CvqError & { readonly plan: readonly RestoreCommand[]; readonly report: CvqReport; readonly model: NetDeviceState })
  | {
      readonly _tag: 'RestoreModelError';
      /** The device acked a command the model refuses: device and model disagree on semantics. */
      readonly refused: CommandRefused;
      readonly message: string;
    }
  | {
      readonly _tag: 'RestoreVerifyError';
      readonly message: string;
      readonly cause?: DeviceError;
      readonly model: NetDeviceState;
    };

/**
 * Send the plan of `state` for `negotiated` through `engine`, and apply the acked commands to `model`
 * (the destination's state before the load, normally `resetNetState(provisionedMac, negotiated)`).
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
  const run = await engine.run(plan, { strategy: opts.strategy, negotiated, ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) });
  const report = E.isLeft(run) ? run.left.report : run.right;

  // Only commands acked OK reach the model (QEMU applies a guest command only on VIRTIO_NET_OK).
  let m = model;
  for (const i of report.acked) {
    const r = applyCommand(m, negotiated, limits, plan[i]!.cmd);
    if (E.isLeft(r)) return E.left({ _tag: 'RestoreModelError', refused: r.left, message: `device acked ${plan[i]!.name} but the model refuses it: ${r.left.message}` });
    m = r.right;
  }
  if (E.isLeft(run)) return E.left({ ...run.left, plan, report, model: m });

  const macIdx = plan.findIndex((c) => c.name === 'MAC_ADDR_SET');
  if ((opts.verifyMac ?? true) && macIdx >= 0 && hasFeature(negotiated, 'MAC')) {
    const cfg = device.getConfig(NET_CONFIG.mac, ETH_ALEN);
    if (E.isLeft(cfg)) return E.left({ _tag: 'RestoreVerifyError', message: `reading the MAC back: ${cfg.left.message}`, cause: cfg.left, model: m });
    const seen = formatMac(cfg.right);
    if (seen !== m.mac) {
      return E.left({ _tag: 'RestoreVerifyError', message: `device acked MAC_ADDR_SET ${m.mac} but its config space shows ${seen}`, model: m });
    }
  }
  return E.right({ plan, report, model: m });
}
