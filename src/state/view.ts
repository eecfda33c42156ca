/**
 * A state seen through a negotiated feature set: exactly what a CVQ restore (`planRestore`) can
 * reproduce on a freshly reset destination with those features. Everything a feature does not
 * cover reads as the reset value; what the restore folds (overflow flags become the RX mode that
 * emulates them, a disabled RSS becomes `null`) is folded the same way here. Each class module
 * (src/cvq/classes) gives the fields its plan step restores.
 */
import { CLASSES } from '../cvq/classes/index.js';
import { hasFeature, type FeatureName } from '../virtio/features.js';
import { resetNetState, type NetDeviceState } from './net-state.js';

export function viewThrough(state: NetDeviceState, negotiated: bigint): NetDeviceState {
  const reset = resetNetState(state.mac, negotiated);
  if (!hasFeature(negotiated, 'CTRL_VQ')) return reset;
  const ctx = { has: (f: FeatureName): boolean => hasFeature(negotiated, f), negotiated, reset };
  const view = { ...reset };
  for (const c of CLASSES) Object.assign(view, c.view(state, ctx));
  return view;
}
