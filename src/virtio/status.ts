/**
 * Device status bits (virtio 1.2 §2.1; linux/virtio_config.h VIRTIO_CONFIG_S_*): the one definition
 * the device, the lifecycle reducers, the engines and the tests share.
 */
export const VIRTIO_CONFIG_S = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;
export type StatusBit = keyof typeof VIRTIO_CONFIG_S;
