/**
 * The vhost / vhost-vdpa uAPI: ioctl request numbers and struct layouts (linux/vhost.h,
 * linux/vhost_types.h, Linux 6.12). Numbers are computed with `_IOC` exactly as asm-generic/ioctl.h
 * does; struct sizes are the ones the headers give on x86-64 (checked by test/real/host/uapi.test.ts
 * against a C program compiled from /usr/include when a compiler is present).
 */

// asm-generic/ioctl.h: nr 8 bits, type 8 bits, size 14 bits, dir 2 bits.
const IOC_NRSHIFT = 0;
const IOC_TYPESHIFT = 8;
const IOC_SIZESHIFT = 16;
const IOC_DIRSHIFT = 30;
export const IOC_NONE = 0;
export const IOC_WRITE = 1;
export const IOC_READ = 2;

/** `_IOC(dir, type, nr, size)` as an unsigned 32-bit number. */
export const _IOC = (dir: number, type: number, nr: number, size: number): number =>
  ((dir << IOC_DIRSHIFT) | (type << IOC_TYPESHIFT) | (nr << IOC_NRSHIFT) | (size << IOC_SIZESHIFT)) >>> 0;
export const _IO = (type: number, nr: number): number => _IOC(IOC_NONE, type, nr, 0);
export const _IOR = (type: number, nr: number, size: number): number => _IOC(IOC_READ, type, nr, size);
export const _IOW = (type: number, nr: number, size: number): number => _IOC(IOC_WRITE, type, nr, size);
export const _IOWR = (type: number, nr: number, size: number): number => _IOC(IOC_READ | IOC_WRITE, type, nr, size);

/** #define VHOST_VIRTIO 0xAF */
export const VHOST_VIRTIO = 0xaf;

/** Struct sizes (x86-64). */
export const SIZEOF = {
  u8: 1,
  u16: 2,
  u32: 4,
  u64: 8,
  /** struct vhost_vring_state { unsigned int index, num; } */
  vhost_vring_state: 8,
  /** struct vhost_vring_file { unsigned int index; int fd; } */
  vhost_vring_file: 8,
  /** struct vhost_vring_addr { unsigned int index, flags; u64 desc, used, avail, log; } */
  vhost_vring_addr: 40,
  /** struct vhost_vdpa_config { u32 off, len; u8 buf[]; } (header only) */
  vhost_vdpa_config: 8,
  /** struct vhost_vdpa_iova_range { u64 first, last; } */
  vhost_vdpa_iova_range: 16,
  /** struct vhost_iotlb_msg { u64 iova, size, uaddr; u8 perm, type; } padded to 8 */
  vhost_iotlb_msg: 32,
  /** struct vhost_msg_v2 { u32 type; u32 asid; union { vhost_iotlb_msg iotlb; u8 padding[64]; }; } */
  vhost_msg_v2: 72,
} as const;

const V = VHOST_VIRTIO;
const S = SIZEOF;

/** Every request the backend issues, by its header name. */
export const IOCTL = {
  VHOST_GET_FEATURES: _IOR(V, 0x00, S.u64),
  VHOST_SET_FEATURES: _IOW(V, 0x00, S.u64),
  VHOST_SET_OWNER: _IO(V, 0x01),
  VHOST_SET_VRING_NUM: _IOW(V, 0x10, S.vhost_vring_state),
  VHOST_SET_VRING_ADDR: _IOW(V, 0x11, S.vhost_vring_addr),
  VHOST_SET_VRING_BASE: _IOW(V, 0x12, S.vhost_vring_state),
  VHOST_GET_VRING_BASE: _IOWR(V, 0x12, S.vhost_vring_state),
  VHOST_SET_VRING_KICK: _IOW(V, 0x20, S.vhost_vring_file),
  VHOST_SET_VRING_CALL: _IOW(V, 0x21, S.vhost_vring_file),
  VHOST_SET_BACKEND_FEATURES: _IOW(V, 0x25, S.u64),
  VHOST_GET_BACKEND_FEATURES: _IOR(V, 0x26, S.u64),
  VHOST_VDPA_GET_DEVICE_ID: _IOR(V, 0x70, S.u32),
  VHOST_VDPA_GET_STATUS: _IOR(V, 0x71, S.u8),
  VHOST_VDPA_SET_STATUS: _IOW(V, 0x72, S.u8),
  VHOST_VDPA_GET_CONFIG: _IOR(V, 0x73, S.vhost_vdpa_config),
  VHOST_VDPA_SET_CONFIG: _IOW(V, 0x74, S.vhost_vdpa_config),
  VHOST_VDPA_SET_VRING_ENABLE: _IOW(V, 0x75, S.vhost_vring_state),
  VHOST_VDPA_GET_VRING_NUM: _IOR(V, 0x76, S.u16),
  VHOST_VDPA_GET_IOVA_RANGE: _IOR(V, 0x78, S.vhost_vdpa_iova_range),
  VHOST_VDPA_GET_CONFIG_SIZE: _IOR(V, 0x79, S.u32),
  VHOST_VDPA_GET_AS_NUM: _IOR(V, 0x7a, S.u32),
  VHOST_VDPA_GET_VRING_GROUP: _IOWR(V, 0x7b, S.vhost_vring_state),
  VHOST_VDPA_SET_GROUP_ASID: _IOW(V, 0x7c, S.vhost_vring_state),
  VHOST_VDPA_SUSPEND: _IO(V, 0x7d),
  VHOST_VDPA_RESUME: _IO(V, 0x7e),
  VHOST_VDPA_GET_VQS_COUNT: _IOR(V, 0x80, S.u32),
  VHOST_VDPA_GET_GROUP_NUM: _IOR(V, 0x81, S.u32),
} as const;

export type IoctlName = keyof typeof IOCTL;

/** IOTLB message types (linux/vhost_types.h). */
export const VHOST_IOTLB_MISS = 1;
export const VHOST_IOTLB_UPDATE = 2;
export const VHOST_IOTLB_INVALIDATE = 3;
export const VHOST_IOTLB_ACCESS_FAIL = 4;
export const VHOST_IOTLB_BATCH_BEGIN = 5;
export const VHOST_IOTLB_BATCH_END = 6;
/** vhost_msg_v2.type */
export const VHOST_IOTLB_MSG_V2 = 0x2;

/**
 * Encode a `struct vhost_msg_v2` carrying an IOTLB message into `out` (72 bytes, zero padding):
 *   0  u32 type = VHOST_IOTLB_MSG_V2     4  u32 asid
 *   8  u64 iova   16 u64 size   24 u64 uaddr   32 u8 perm   33 u8 type   34..71 zero
 * Addresses are numbers < 2^53, written as two u32 halves.
 */
export function encodeIotlbMsgV2(out: DataView, asid: number, type: number, iova: number, size: number, uaddr: number, perm: number): void {
  for (let i = 0; i < SIZEOF.vhost_msg_v2; i += 4) out.setUint32(i, 0, true);
  out.setUint32(0, VHOST_IOTLB_MSG_V2, true);
  out.setUint32(4, asid >>> 0, true);
  setU64(out, 8, iova);
  setU64(out, 16, size);
  setU64(out, 24, uaddr);
  out.setUint8(32, perm);
  out.setUint8(33, type);
}

function setU64(v: DataView, o: number, x: number): void {
  v.setUint32(o, x >>> 0, true);
  v.setUint32(o + 4, Math.floor(x / 4294967296) >>> 0, true);
}
