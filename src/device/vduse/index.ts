/**
 * shadowvq as a VDUSE device (the kernel's virtio driver drives its rings) and the bridge that forwards
 * them through the SVQ onto a vhost-vdpa device. See docs/vduse.md.
 */
export { createVduse, VduseDevice, VDUSE_CONTROL, type IotlbMapping, type VduseCreateOptions, type VduseHandlers } from './device.js';
export { VduseBridge, vduseFeaturesFor, NO_PASSTHROUGH, SHADOW_IOVA, type BridgeError, type BridgeMode, type BridgeQueue, type BridgeStats } from './bridge.js';
export { DeviceLink } from './link.js';
export { migrateBridge } from './migrate.js';
export { IOCTL as VDUSE_IOCTL, SIZEOF as VDUSE_SIZEOF, decodeRequest, decodeVqInfo, encodeDevConfig, encodeResponse, VIRTIO_ID_NET } from './uapi.js';
