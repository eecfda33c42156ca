/**
 * The VDUSE uAPI (linux/vduse.h, Linux 6.12): ioctl request numbers, struct sizes and the byte layouts
 * of the control messages read from / written to `/dev/vduse/$NAME`. Numbers are built with `_IOC` as
 * asm-generic/ioctl.h does; sizes are the x86-64 ones, checked against the header with the C compiler by
 * test/real/host-checks.ts. Everything little-endian (x86-64 and the virtio config space alike).
 */
import { getU64, setU64 } from '../../memory/address-space.js';
import { _IO, _IOR, _IOW, _IOWR } from '../vhost-vdpa/uapi.js';

/** #define VDUSE_BASE 0x81 */
export const VDUSE_BASE = 0x81;
/** The only API version (VDUSE_API_VERSION). */
export const VDUSE_API_VERSION = 0;
/** VDUSE_NAME_MAX: the device name buffer, NUL included. */
export const VDUSE_NAME_MAX = 256;

export const SIZEOF = {
  u32: 4,
  u64: 8,
  /** struct vduse_dev_config (header; config bytes follow): name[256], u32 vendor, device, u64 features, u32 vq_num, vq_align, reserved[13], config_size */
  vduse_dev_config: 336,
  /** struct vduse_iotlb_entry { u64 offset, start, last; u8 perm; } padded to 8 */
  vduse_iotlb_entry: 32,
  /** struct vduse_vq_config { u32 index; u16 max_size; u16 reserved[13]; } */
  vduse_vq_config: 32,
  /** struct vduse_vq_info { u32 index, num; u64 desc, driver, device; union { split | packed } (8); u8 ready; } padded */
  vduse_vq_info: 48,
  /** struct vduse_vq_eventfd { u32 index; int fd; } */
  vduse_vq_eventfd: 8,
  /** struct vduse_iova_umem { u64 uaddr, iova, size, reserved[3]; } */
  vduse_iova_umem: 48,
  /** struct vduse_iova_info { u64 start, last, capability, reserved[3]; } */
  vduse_iova_info: 48,
  /** struct vduse_config_data { u32 offset, length; u8 buffer[]; } (header) */
  vduse_config_data: 8,
  /** struct vduse_dev_request: u32 type, request_id, reserved[4], union (128 bytes) */
  vduse_dev_request: 152,
  /** struct vduse_dev_response: u32 request_id, result, reserved[4], union (128 bytes) */
  vduse_dev_response: 152,
} as const;

const B = VDUSE_BASE;
const S = SIZEOF;

/** Every request, by its header name (the control device's first, then the device's). */
export const IOCTL = {
  VDUSE_GET_API_VERSION: _IOR(B, 0x00, S.u64),
  VDUSE_SET_API_VERSION: _IOW(B, 0x01, S.u64),
  VDUSE_CREATE_DEV: _IOW(B, 0x02, S.vduse_dev_config),
  VDUSE_DESTROY_DEV: _IOW(B, 0x03, VDUSE_NAME_MAX),
  VDUSE_IOTLB_GET_FD: _IOWR(B, 0x10, S.vduse_iotlb_entry),
  VDUSE_DEV_GET_FEATURES: _IOR(B, 0x11, S.u64),
  VDUSE_DEV_SET_CONFIG: _IOW(B, 0x12, S.vduse_config_data),
  VDUSE_DEV_INJECT_CONFIG_IRQ: _IO(B, 0x13),
  VDUSE_VQ_SETUP: _IOW(B, 0x14, S.vduse_vq_config),
  VDUSE_VQ_GET_INFO: _IOWR(B, 0x15, S.vduse_vq_info),
  VDUSE_VQ_SETUP_KICKFD: _IOW(B, 0x16, S.vduse_vq_eventfd),
  VDUSE_VQ_INJECT_IRQ: _IOW(B, 0x17, S.u32),
  VDUSE_IOTLB_REG_UMEM: _IOW(B, 0x18, S.vduse_iova_umem),
  VDUSE_IOTLB_DEREG_UMEM: _IOW(B, 0x19, S.vduse_iova_umem),
  VDUSE_IOTLB_GET_INFO: _IOWR(B, 0x1a, S.vduse_iova_info),
} as const;

export type VduseIoctlName = keyof typeof IOCTL;

/** enum vduse_req_type */
export const VDUSE_GET_VQ_STATE = 0;
export const VDUSE_SET_STATUS = 1;
export const VDUSE_UPDATE_IOTLB = 2;
export const VDUSE_REQ_RESULT_OK = 0;
export const VDUSE_REQ_RESULT_FAILED = 1;
/** VDUSE_ACCESS_* (the same values as VHOST_ACCESS_*). */
export const VDUSE_ACCESS_RO = 1;
export const VDUSE_ACCESS_WO = 2;
export const VDUSE_ACCESS_RW = 3;
/** struct vduse_iova_info.capability: the region can be backed by user memory (VDUSE_IOTLB_REG_UMEM). */
export const VDUSE_IOVA_CAP_UMEM = 1;
/** virtio device id of a network device (virtio 1.2 §5). */
export const VIRTIO_ID_NET = 1;

// le64 fields as numbers (−1 when ≥ 2^53, never an address of ours), no BigInt: the address space's helpers
export { getU64, setU64 };

export interface DevConfig {
  /** Device name (/dev/vduse/$name and the vdpa device name); ASCII, < VDUSE_NAME_MAX bytes. */
  readonly name: string;
  readonly vendorId: number;
  readonly deviceId: number;
  readonly features: bigint;
  readonly vqNum: number;
  readonly vqAlign: number;
  /** The device's config space (struct virtio_net_config for a net device). */
  readonly config: Uint8Array;
}

/**
 * struct vduse_dev_config followed by the config bytes:
 *   0 name[256]   256 u32 vendor_id   260 u32 device_id   264 u64 features   272 u32 vq_num
 *   276 u32 vq_align   280 u32 reserved[13] (zero)   332 u32 config_size   336 u8 config[]
 */
export function encodeDevConfig(c: DevConfig): Uint8Array {
  const buf = new Uint8Array(SIZEOF.vduse_dev_config + c.config.length);
  const v = new DataView(buf.buffer);
  for (let i = 0; i < c.name.length; i++) buf[i] = c.name.charCodeAt(i);
  v.setUint32(256, c.vendorId >>> 0, true);
  v.setUint32(260, c.deviceId >>> 0, true);
  v.setBigUint64(264, c.features, true);
  v.setUint32(272, c.vqNum >>> 0, true);
  v.setUint32(276, c.vqAlign >>> 0, true);
  v.setUint32(332, c.config.length, true);
  buf.set(c.config, SIZEOF.vduse_dev_config);
  return buf;
}

/** A name VDUSE accepts: printable ASCII without '/', NUL-terminated within VDUSE_NAME_MAX. */
export const validName = (name: string): boolean => name.length > 0 && name.length < VDUSE_NAME_MAX && /^[\x21-\x7e]+$/.test(name) && !name.includes('/');

/** The NUL-terminated name buffer VDUSE_DESTROY_DEV takes (char[VDUSE_NAME_MAX]). */
export function encodeName(name: string): Uint8Array {
  const buf = new Uint8Array(VDUSE_NAME_MAX);
  for (let i = 0; i < name.length; i++) buf[i] = name.charCodeAt(i);
  return buf;
}

/** Split state: avail_index. Packed: counters (wrap bits) and indexes. */
export interface VqState {
  readonly availIdx: number;
  readonly availWrap: boolean;
  readonly usedIdx: number;
  readonly usedWrap: boolean;
}

export interface VqInfo {
  readonly index: number;
  readonly num: number;
  readonly desc: number;
  readonly driver: number;
  readonly device: number;
  /** Split: `split.avail_index` in availIdx. Packed: the four packed fields. Both decodings are given. */
  readonly split: { readonly availIdx: number };
  readonly packed: VqState;
  readonly ready: boolean;
}

/**
 * struct vduse_vq_info: 0 u32 index, 4 u32 num, 8 u64 desc_addr, 16 u64 driver_addr, 24 u64 device_addr,
 * 32 union { split { u16 avail_index } | packed { u16 last_avail_counter, last_avail_idx,
 * last_used_counter, last_used_idx } }, 40 u8 ready.
 */
export function decodeVqInfo(v: DataView): VqInfo {
  return {
    index: v.getUint32(0, true),
    num: v.getUint32(4, true),
    desc: getU64(v, 8),
    driver: getU64(v, 16),
    device: getU64(v, 24),
    split: { availIdx: v.getUint16(32, true) },
    packed: { availWrap: v.getUint16(32, true) !== 0, availIdx: v.getUint16(34, true), usedWrap: v.getUint16(36, true) !== 0, usedIdx: v.getUint16(38, true) },
    ready: v.getUint8(40) !== 0,
  };
}

/** A control message (struct vduse_dev_request), decoded by type. */
export type VduseRequest =
  | { readonly type: typeof VDUSE_GET_VQ_STATE; readonly requestId: number; readonly index: number }
  | { readonly type: typeof VDUSE_SET_STATUS; readonly requestId: number; readonly status: number }
  | { readonly type: typeof VDUSE_UPDATE_IOTLB; readonly requestId: number; readonly start: number; readonly last: number }
  | { readonly type: 'unknown'; readonly requestId: number; readonly rawType: number };

/**
 * struct vduse_dev_request: 0 u32 type, 4 u32 request_id, 8 u32 reserved[4], 24 union:
 * vq_state { u32 index; … } | s { u8 status } | iova { u64 start, last } | u32 padding[32].
 */
export function decodeRequest(v: DataView): VduseRequest {
  const type = v.getUint32(0, true);
  const requestId = v.getUint32(4, true);
  switch (type) {
    case VDUSE_GET_VQ_STATE:
      return { type, requestId, index: v.getUint32(24, true) };
    case VDUSE_SET_STATUS:
      return { type, requestId, status: v.getUint8(24) };
    case VDUSE_UPDATE_IOTLB: {
      // last may be U64_MAX ("everything"): clamp to 2^53-1
      const last = getU64(v, 32);
      return { type, requestId, start: Math.max(0, getU64(v, 24)), last: last < 0 ? Number.MAX_SAFE_INTEGER : last };
    }
    default:
      return { type: 'unknown', requestId, rawType: type };
  }
}

/**
 * struct vduse_dev_response: 0 u32 request_id, 4 u32 result, 8 u32 reserved[4] (zero), 24 union
 * vq_state { u32 index; split { u16 avail_index } | packed { u16 last_avail_counter, last_avail_idx,
 * last_used_counter, last_used_idx } } | padding. `out` is zeroed first.
 */
export function encodeResponse(out: DataView, requestId: number, ok: boolean, vq?: { index: number; packed: boolean; state: VqState }): void {
  for (let i = 0; i < SIZEOF.vduse_dev_response; i += 4) out.setUint32(i, 0, true);
  out.setUint32(0, requestId >>> 0, true);
  out.setUint32(4, ok ? VDUSE_REQ_RESULT_OK : VDUSE_REQ_RESULT_FAILED, true);
  if (vq === undefined) return;
  out.setUint32(24, vq.index >>> 0, true);
  if (!vq.packed) {
    out.setUint16(28, vq.state.availIdx & 0xffff, true);
  } else {
    out.setUint16(28, vq.state.availWrap ? 1 : 0, true);
    out.setUint16(30, vq.state.availIdx & 0x7fff, true);
    out.setUint16(32, vq.state.usedWrap ? 1 : 0, true);
    out.setUint16(34, vq.state.usedIdx & 0x7fff, true);
  }
}
