/** The embedded simulated virtio-net vDPA device. */
export { SimVdpaDevice, VIRTIO_CONFIG_S, VIRTIO_ID_NET, CVQ_MAX_COMMAND, checkSimOptions } from './device.js';
export type { SimDeviceOptions, SimLatency, SimStats, CvqLogEntry, SimDeviceFault } from './device.js';
export { PROFILES, PROFILE_NAMES, VDPA_SIM_NET_FEATURES, VDPA_SIM_BACKEND_FEATURES, SIM_FULL_FEATURES } from './profiles.js';
export type { ProfileName, SimProfile } from './profiles.js';
export { parseFault, cvqCommandName, cvqCommandByName, FaultState } from './faults.js';
export type { Fault, FaultKind, FaultPlan, CommandMatch, FaultParseError } from './faults.js';
export { VirtualClock } from './clock.js';
export { ERRNO } from './errno.js';
