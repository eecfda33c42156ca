/**
 * The device factory: one spec string names either the embedded simulator or a real vhost-vdpa
 * device, and the caller gets a `VdpaDevice` either way.
 *
 *   sim                       the simulator, `full` profile
 *   sim:<profile>             `sim:full`, `sim:vdpa_sim_net`
 *   sim:vdpa_sim_net+stale    vdpa_sim_net with the kernel's stale-ack bug reproduced
 *   vdpa:/dev/vhost-vdpa-N    the kernel device
 */
import * as E from 'fp-ts/lib/Either.js';
import { SimVdpaDevice, type SimDeviceOptions } from './sim/device.js';
import { PROFILE_NAMES, type ProfileName } from './sim/profiles.js';
import { deviceError, type DeviceError, type VdpaDevice } from './types.js';
import { openVdpaSpec, VDPA_SPEC_PREFIX } from './vhost-vdpa/index.js';

export * from './types.js';
export { SimVdpaDevice } from './sim/device.js';

export type DeviceSpec = 'sim' | `sim:${string}` | `vdpa:${string}`;

const invalid = (spec: string, why: string): E.Either<DeviceError, never> => E.left(deviceError('invalid', 'open', `device spec "${spec}": ${why}`));

/** Parse `sim[:<profile>[+stale]]` into simulator options, or an error naming what is wrong. */
export function parseSimSpec(spec: string): E.Either<DeviceError, SimDeviceOptions> {
  if (spec === 'sim') return E.right({ profile: 'full' });
  if (!spec.startsWith('sim:')) return invalid(spec, 'not sim[:<profile>]');
  const [name, ...mods] = spec.slice(4).split('+');
  if (!PROFILE_NAMES.includes(name as ProfileName)) return invalid(spec, `unknown profile "${name}" (one of ${PROFILE_NAMES.join(', ')})`);
  let staleAck = false;
  for (const m of mods) {
    if (m === 'stale' && name === 'vdpa_sim_net') staleAck = true;
    else return invalid(spec, `unknown modifier "+${m}"${m === 'stale' ? ' (only vdpa_sim_net has the stale-ack bug)' : ''}`);
  }
  return E.right({ profile: name as ProfileName, ...(staleAck ? { staleAck } : {}) });
}

/** Open a device by spec; `simOptions` add to what the spec says for a simulator (faults, latency …). */
export function openDevice(spec: string, simOptions: SimDeviceOptions = {}): E.Either<DeviceError, VdpaDevice> {
  const s = spec.trim();
  if (s.startsWith(VDPA_SPEC_PREFIX)) return openVdpaSpec(s);
  if (s === 'sim' || s.startsWith('sim:')) {
    const o = parseSimSpec(s);
    return E.isLeft(o) ? o : SimVdpaDevice.create({ ...simOptions, ...o.right });
  }
  return invalid(spec, 'expected sim, sim:<profile> or vdpa:/dev/vhost-vdpa-N');
}
