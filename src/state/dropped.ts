/**
 * What a restore with a feature set leaves out of a state, named as the state file names its fields
 * (`vlans`, not the model's `vlanFilter`). A field counts as dropped when the file gives it a value
 * other than the reset one and the state seen through the features (`viewThrough`) does not keep it;
 * a field the restore only derives (with HASH_REPORT, MQ_RSS_CONFIG also sets the hash report the file
 * left null) is not a loss.
 */
import { resetNetState, type NetDeviceState } from './net-state.js';
import { encodeStateJson } from './json.js';
import { viewThrough } from './view.js';

export function droppedFields(state: NetDeviceState, negotiated: bigint): string[] {
  const file: Readonly<Record<string, unknown>> = { ...encodeStateJson(state) };
  const view: Readonly<Record<string, unknown>> = { ...encodeStateJson(viewThrough(state, negotiated)) };
  const reset: Readonly<Record<string, unknown>> = { ...encodeStateJson(resetNetState(state.mac, negotiated)) };
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  return Object.keys(file).filter((k) => !same(file[k], view[k]) && !same(file[k], reset[k]));
}
