/**
 * The real vhost-vdpa device (`--device vdpa:/dev/vhost-vdpa-0`).
 */
import * as E from 'fp-ts/lib/Either.js';
import { deviceError, type DeviceError, type VdpaDevice } from '../types.js';
import { openVhostVdpa } from './device.js';

export { openVhostVdpa, VhostVdpaDevice, WAIT_SLICE_MS } from './device.js';
export { NotifyStats, type NotifyCounts } from './call-watch.js';
export { ERRNO_NAMES, errnoName } from './libc.js';
export { IOCTL, SIZEOF, encodeIotlbMsgV2, _IOC, _IO, _IOR, _IOW, _IOWR } from './uapi.js';

/** The device spec prefix the CLI and the tests accept: `vdpa:<path>`. */
export const VDPA_SPEC_PREFIX = 'vdpa:';

/** Parse `vdpa:/dev/vhost-vdpa-N` and open it. */
export function openVdpaSpec(spec: string): E.Either<DeviceError, VdpaDevice> {
  if (!spec.startsWith(VDPA_SPEC_PREFIX) || spec.length === VDPA_SPEC_PREFIX.length) {
    return E.left(deviceError('invalid', 'open', `device spec "${spec}" is not vdpa:<path>`));
  }
  return openVhostVdpa(spec.slice(VDPA_SPEC_PREFIX.length));
}
