/**
 * The shadow virtqueue engine: IOVA tree, dirty-page log, feature filter, one shadowed queue (split or
 * packed on either side), the shadow CVQ, and a vDPA net device under SVQ in QEMU's two modes; SVQ workers (one core per queue pair).
 */
export * from './iova-tree.js';
export * from './dirty-log.js';
export * from './features.js';
export * from './shadow-virtqueue.js';
export * from './shadow-cvq.js';
export * from './svq-device.js';
export { Testbed, LoopbackDevice, GUEST_RING_GPA } from './loopback.js';
export type { RingSide, TestbedOptions } from './loopback.js';
export { SvqWorker, chooseThreading, workersSupported, isSvqWorkerError, type SvqWorkerError, type SvqThreading, type SvqWorkerOptions, type SvqWorkerQueue } from './worker.js';
export { startShadowQueues, type ShadowQueues, type ShadowQueuesOptions, type ShadowQueueSpec, type QueueStop } from './worker-queues.js';
