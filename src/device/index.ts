/**
 * The device backends, registered by spec prefix (./registry.ts): one spec string names the embedded
 * simulator or a real vhost-vdpa device, and the caller gets a `VdpaDevice` either way.
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
import { openVdpaSpec } from './vhost-vdpa/index.js';
import { openDevice as openRegistered, registerBackend, type OpenOptions } from './registry.js';

export * from './types.js';
export { SimVdpaDevice } from './sim/device.js';
export { deviceBackends, hasCapability, registerBackend, validateSpec, type Capabilities, type Capability, type DeviceBackend, type OpenOptions } from './registry.js';

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

registerBackend({
  prefix: 'sim',
  forms: ['sim', 'sim:<profile>', 'sim:vdpa_sim_net+stale'],
  validate: (spec) => E.map(() => undefined)(parseSimSpec(spec)),
  // the simulator's options are checked by the simulator (SimVdpaDevice.create refuses bad ones)
  open: (spec, opts) => E.chain((o: SimDeviceOptions) => SimVdpaDevice.create({ ...(opts as SimDeviceOptions), ...o }))(parseSimSpec(spec)),
});

const VDPA_PATH = /^vdpa:\/dev\/vhost-vdpa-\d+$/;
registerBackend({
  prefix: 'vdpa',
  forms: ['vdpa:/dev/vhost-vdpa-N'],
  validate: (spec) => (VDPA_PATH.test(spec) ? E.right(undefined) : invalid(spec, 'expected vdpa:/dev/vhost-vdpa-N')),
  open: (spec, opts) => {
    const given = Object.keys(opts).filter((k) => opts[k] !== undefined && !(k === 'faults' && Array.isArray(opts[k]) && opts[k].length === 0));
    return given.length > 0 ? invalid(spec, `a kernel device takes no simulator options (${given.join(', ')})`) : openVdpaSpec(spec);
  },
});

/** Open a device by spec through its registered backend; `simOptions` add to a simulator spec (faults, latency …). */
export function openDevice(spec: string, simOptions: SimDeviceOptions = {}): E.Either<DeviceError, VdpaDevice> {
  const opts: OpenOptions = { ...simOptions };
  return openRegistered(spec, opts);
}
