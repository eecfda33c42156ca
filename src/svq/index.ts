/**
 * The shadow virtqueue engine: IOVA tree, dirty-page log, feature filter, one shadowed queue (split or
 * packed on either side), the shadow CVQ, and a vDPA net device under SVQ in QEMU's two modes.
 */
export * from './iova-tree.js';
export * from './dirty-log.js';
export * from './features.js';
export * from './shadow-virtqueue.js';
export * from './shadow-cvq.js';
export * from './svq-device.js';
export { Testbed, LoopbackDevice, GUEST_RING_GPA } from './loopback.js';
export type { RingSide, TestbedOptions } from './loopback.js';
