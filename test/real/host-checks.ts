/**
 * Host-side checks of the vhost-vdpa backend that need no vDPA device: the uAPI numbers and struct
 * sizes against the kernel headers (compiled with the host C compiler when one is present), and the
 * backend's typed errors on files that are not vhost-vdpa devices. Run by test/real/run.ts before the
 * guest boots, counted in the same result line.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { VHOST_ACCESS_RW } from '../../src/device/types.js';
import { vduseFeaturesFor } from '../../src/device/vduse/bridge.js';
import { VduseDevice } from '../../src/device/vduse/device.js';
import {
  decodeRequest,
  decodeVqInfo,
  encodeDevConfig,
  encodeResponse,
  IOCTL as VDUSE_IOCTL,
  SIZEOF as VDUSE_SIZEOF,
  VDUSE_ACCESS_RW,
  VDUSE_API_VERSION,
  VDUSE_GET_VQ_STATE,
  VDUSE_IOVA_CAP_UMEM,
  VDUSE_NAME_MAX,
  VDUSE_REQ_RESULT_FAILED,
  VDUSE_REQ_RESULT_OK,
  VDUSE_SET_STATUS,
  VDUSE_UPDATE_IOTLB,
} from '../../src/device/vduse/uapi.js';
import { checkFeatureDependencies, F } from '../../src/virtio/features.js';
import { openVdpaSpec, openVhostVdpa } from '../../src/device/vhost-vdpa/index.js';
import { encodeIotlbMsgV2, IOCTL, SIZEOF } from '../../src/device/vhost-vdpa/uapi.js';
import { bytesEq, eq, left, ok, right, SkipTest, Suite } from './framework.js';

export const host = new Suite<null>('host');

/** The host's C compiler, or a skip. */
function cc(): string {
  const found = ['gcc', 'gcc-12', 'cc'].find((c) => {
    try {
      execFileSync(c, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  if (found === undefined) throw new SkipTest('no C compiler on this host');
  return found;
}

/**
 * Compile and run a probe that includes `header` and prints `name value` for every expression given
 * (each one guarded by `#ifdef guard` when a guard is named); returns the printed map.
 */
function probeHeader(header: string, exprs: readonly { name: string; expr: string; guard?: string }[]): Map<string, string> {
  const compiler = cc();
  const src = [
    '#include <stdio.h>',
    '#include <stddef.h>',
    '#include <linux/ioctl.h>', // linux/vduse.h uses _IOR … without including it
    `#include <${header}>`,
    'int main(void) {',
    ...exprs.map((e) => {
      const line = `  printf("${e.name} %lu\\n", (unsigned long)(${e.expr}));`;
      return e.guard === undefined ? line : `#ifdef ${e.guard}\n${line}\n#endif`;
    }),
    '  return 0;',
    '}',
  ].join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'svq-uapi-'));
  try {
    writeFileSync(join(dir, 'u.c'), src);
    execFileSync(compiler, ['-o', join(dir, 'u'), join(dir, 'u.c')], { stdio: 'pipe' });
    const out = execFileSync(join(dir, 'u'), { encoding: 'utf8' });
    return new Map(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

host.test('ioctl numbers and struct sizes match linux/vhost.h (C compiler)', () => {
  const names = Object.keys(IOCTL);
  const structs = ['vhost_vring_state', 'vhost_vring_file', 'vhost_vring_addr', 'vhost_vdpa_config', 'vhost_vdpa_iova_range', 'vhost_iotlb_msg', 'vhost_msg_v2'] as const;
  const got = probeHeader('linux/vhost.h', [
    ...names.map((n) => ({ name: n, expr: n, guard: n })),
    ...structs.map((s) => ({ name: `sizeof_${s}`, expr: `sizeof(struct ${s})` })),
  ]);
  let checked = 0;
  for (const n of names) {
    const v = got.get(n);
    if (v === undefined) continue; // older host headers (e.g. no VHOST_VDPA_RESUME): the guest tests cover it
    eq(IOCTL[n as keyof typeof IOCTL], Number(v), n);
    checked++;
  }
  ok(checked >= 20, `checked ${checked} ioctl numbers against the headers`);
  for (const s of structs) eq(SIZEOF[s], Number(got.get(`sizeof_${s}`)), `sizeof(struct ${s})`);
});

host.test('VDUSE ioctl numbers, struct sizes and message field offsets match linux/vduse.h (C compiler)', () => {
  const names = Object.keys(VDUSE_IOCTL) as (keyof typeof VDUSE_IOCTL)[];
  const structs = ['vduse_dev_config', 'vduse_iotlb_entry', 'vduse_vq_config', 'vduse_vq_info', 'vduse_vq_eventfd', 'vduse_iova_umem', 'vduse_iova_info', 'vduse_config_data', 'vduse_dev_request', 'vduse_dev_response'] as const;
  // the offsets the codecs in src/device/vduse/uapi.ts read and write
  const offsets: readonly [string, string, number][] = [
    ['vduse_dev_config', 'vendor_id', 256], ['vduse_dev_config', 'device_id', 260], ['vduse_dev_config', 'features', 264],
    ['vduse_dev_config', 'vq_num', 272], ['vduse_dev_config', 'vq_align', 276], ['vduse_dev_config', 'config_size', 332], ['vduse_dev_config', 'config', 336],
    ['vduse_iotlb_entry', 'offset', 0], ['vduse_iotlb_entry', 'start', 8], ['vduse_iotlb_entry', 'last', 16], ['vduse_iotlb_entry', 'perm', 24],
    ['vduse_vq_config', 'max_size', 4],
    ['vduse_vq_info', 'num', 4], ['vduse_vq_info', 'desc_addr', 8], ['vduse_vq_info', 'driver_addr', 16], ['vduse_vq_info', 'device_addr', 24],
    ['vduse_vq_info', 'split.avail_index', 32], ['vduse_vq_info', 'packed.last_avail_counter', 32], ['vduse_vq_info', 'packed.last_avail_idx', 34],
    ['vduse_vq_info', 'packed.last_used_counter', 36], ['vduse_vq_info', 'packed.last_used_idx', 38], ['vduse_vq_info', 'ready', 40],
    ['vduse_vq_eventfd', 'fd', 4],
    ['vduse_iova_umem', 'iova', 8], ['vduse_iova_umem', 'size', 16], ['vduse_iova_info', 'capability', 16],
    ['vduse_dev_request', 'request_id', 4], ['vduse_dev_request', 'vq_state.index', 24], ['vduse_dev_request', 's.status', 24],
    ['vduse_dev_request', 'iova.start', 24], ['vduse_dev_request', 'iova.last', 32],
    ['vduse_dev_response', 'result', 4], ['vduse_dev_response', 'vq_state.index', 24], ['vduse_dev_response', 'vq_state.split.avail_index', 28],
    ['vduse_dev_response', 'vq_state.packed.last_avail_counter', 28], ['vduse_dev_response', 'vq_state.packed.last_avail_idx', 30],
    ['vduse_dev_response', 'vq_state.packed.last_used_counter', 32], ['vduse_dev_response', 'vq_state.packed.last_used_idx', 34],
  ];
  const consts: readonly [string, number][] = [
    ['VDUSE_API_VERSION', VDUSE_API_VERSION], ['VDUSE_NAME_MAX', VDUSE_NAME_MAX], ['VDUSE_GET_VQ_STATE', VDUSE_GET_VQ_STATE], ['VDUSE_SET_STATUS', VDUSE_SET_STATUS],
    ['VDUSE_UPDATE_IOTLB', VDUSE_UPDATE_IOTLB], ['VDUSE_REQ_RESULT_OK', VDUSE_REQ_RESULT_OK], ['VDUSE_REQ_RESULT_FAILED', VDUSE_REQ_RESULT_FAILED],
    ['VDUSE_IOVA_CAP_UMEM', VDUSE_IOVA_CAP_UMEM], ['VDUSE_ACCESS_RW', VDUSE_ACCESS_RW],
  ];
  const got = probeHeader('linux/vduse.h', [
    ...names.map((n) => ({ name: n, expr: n })),
    ...structs.map((s) => ({ name: `sizeof_${s}`, expr: `sizeof(struct ${s})` })),
    ...offsets.map(([s, f]) => ({ name: `off_${s}.${f}`, expr: `offsetof(struct ${s}, ${f})` })),
    ...consts.map(([n]) => ({ name: n, expr: n })),
  ]);
  for (const n of names) eq(VDUSE_IOCTL[n], Number(got.get(n)), n);
  for (const s of structs) eq(VDUSE_SIZEOF[s], Number(got.get(`sizeof_${s}`)), `sizeof(struct ${s})`);
  for (const [s, f, o] of offsets) eq(o, Number(got.get(`off_${s}.${f}`)), `offsetof(struct ${s}, ${f})`);
  for (const [n, v] of consts) eq(v, Number(got.get(n)), n);
  // the 6.12 numbers observed in the guest (/work/shared/reference §5)
  eq(VDUSE_IOCTL.VDUSE_CREATE_DEV, 0x41508102, 'CREATE_DEV');
  eq(VDUSE_IOCTL.VDUSE_VQ_GET_INFO, 0xc0308115, 'VQ_GET_INFO');
  eq(VDUSE_IOCTL.VDUSE_IOTLB_GET_FD, 0xc0208110, 'IOTLB_GET_FD');
});

host.test('VDUSE messages: requests decoded and responses encoded at the header offsets, split and packed state', () => {
  const req = new DataView(new ArrayBuffer(VDUSE_SIZEOF.vduse_dev_request));
  req.setUint32(0, VDUSE_UPDATE_IOTLB, true);
  req.setUint32(4, 77, true);
  req.setUint32(24, 0x1000, true);
  req.setUint32(32, 0xffffffff, true);
  req.setUint32(36, 0xffffffff, true);
  const u = decodeRequest(req);
  ok(u.type === VDUSE_UPDATE_IOTLB && u.requestId === 77 && u.start === 0x1000 && u.last === Number.MAX_SAFE_INTEGER, `UPDATE_IOTLB to U64_MAX: ${JSON.stringify(u)}`);
  req.setUint32(0, VDUSE_SET_STATUS, true);
  req.setUint8(24, 0x0f);
  const st = decodeRequest(req);
  ok(st.type === VDUSE_SET_STATUS && st.status === 0x0f, 'SET_STATUS 0x0f');
  req.setUint32(0, 9, true);
  eq(decodeRequest(req).type, 'unknown', 'an unknown type is decoded as such (answered FAILED)');
  const resp = new DataView(new ArrayBuffer(VDUSE_SIZEOF.vduse_dev_response));
  new Uint8Array(resp.buffer).fill(0xee);
  encodeResponse(resp, 5, true, { index: 1, packed: true, state: { availIdx: 0x1234, availWrap: true, usedIdx: 0x0567, usedWrap: false } });
  const b = new Uint8Array(resp.buffer);
  bytesEq(b.subarray(0, 8), [5, 0, 0, 0, 0, 0, 0, 0], 'request_id, result OK');
  ok(b.subarray(8, 24).every((x) => x === 0), 'reserved zeroed');
  bytesEq(b.subarray(24, 36), [1, 0, 0, 0, 1, 0, 0x34, 0x12, 0, 0, 0x67, 0x05], 'vq_state: index, packed counters and indexes');
  ok(b.subarray(36).every((x) => x === 0), 'padding zeroed');
  encodeResponse(resp, 6, false, { index: 0, packed: false, state: { availIdx: 0xfffe, availWrap: false, usedIdx: 0, usedWrap: false } });
  bytesEq(b.subarray(0, 32), [6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xff, 0, 0], 'FAILED, split avail_index');
  const info = new DataView(new ArrayBuffer(VDUSE_SIZEOF.vduse_vq_info));
  info.setUint32(4, 256, true);
  info.setUint32(8, 0x47ffc000, true);
  info.setUint32(20, 1, true);
  info.setUint16(32, 1, true);
  info.setUint16(34, 7, true);
  info.setUint8(40, 1);
  const vi = decodeVqInfo(info);
  ok(vi.num === 256 && vi.desc === 0x47ffc000 && vi.driver === 0x1_0000_0000 && vi.ready && vi.packed.availWrap && vi.packed.availIdx === 7 && vi.split.availIdx === 1, `vq_info ${JSON.stringify(vi)}`);
  const cfg = encodeDevConfig({ name: 'svq0', vendorId: 0, deviceId: 1, features: 0x700000020n, vqNum: 2, vqAlign: 4096, config: Uint8Array.of(9, 8, 7) });
  eq(cfg.length, 339, 'config header + 3 bytes');
  const cv = new DataView(cfg.buffer);
  ok(cfg[0] === 0x73 && cfg[4] === 0 && cv.getUint32(260, true) === 1 && cv.getBigUint64(264, true) === 0x700000020n && cv.getUint32(332, true) === 3 && cfg[336] === 9, 'dev_config fields');
});

host.test('VDUSE errors are typed: bad names and sizes refused before any syscall; no control device is ENOENT', () => {
  const base = { vendorId: 0, deviceId: 1, features: 0x300000020n, vqNum: 2, vqAlign: 4096, config: new Uint8Array(8), vqMaxSize: 256 };
  eq(left(VduseDevice.create({ ...base, name: 'a/b' }), 'name with /').kind, 'invalid', 'name with /');
  eq(left(VduseDevice.create({ ...base, name: 'x'.repeat(256) }), 'long name').kind, 'invalid', 'name of 256 bytes');
  eq(left(VduseDevice.create({ ...base, name: 'ok', vqMaxSize: 0 }), 'max size 0').op, 'VDUSE_VQ_SETUP', 'max_size 0');
  eq(left(VduseDevice.create({ ...base, name: 'ok', config: new Uint8Array(5000) }), 'config').kind, 'invalid', 'config larger than a page');
  if (existsSync('/dev/vduse/control')) throw new SkipTest('this host has /dev/vduse/control: the open error is covered in the guest');
  const e = left(VduseDevice.create({ ...base, name: 'svq-host-check' }), 'no /dev/vduse/control');
  eq(e.errnoName, 'ENOENT', e.message);
});

host.test('vduseFeaturesFor: CTRL_VQ and what needs it dropped, VERSION_1 + ACCESS_PLATFORM added, RING_PACKED on request', () => {
  // vdpa_sim_net's features (reference §2): MTU MAC STATUS CTRL_VQ CTRL_MAC_ADDR ANY_LAYOUT VERSION_1 ACCESS_PLATFORM
  const sim = 0x308830028n;
  const split = vduseFeaturesFor(sim, false);
  eq(split, sim & ~(F.CTRL_VQ | F.CTRL_MAC_ADDR), 'split: CTRL_VQ and CTRL_MAC_ADDR gone');
  eq(vduseFeaturesFor(sim, true), split | F.RING_PACKED, 'packed adds RING_PACKED');
  eq(vduseFeaturesFor(F.MAC | F.MQ | F.RSS | F.CTRL_RX | F.CTRL_RX_EXTRA, false), F.MAC | F.VERSION_1 | F.ACCESS_PLATFORM, 'the whole CTRL_VQ family goes, transitively');
  ok(E.isRight(checkFeatureDependencies(split)), 'dependencies hold');
});

host.test('VHOST_VDPA_RESUME and SUSPEND numbers (6.12 uAPI: _IO(0xAF, 0x7E / 0x7D))', () => {
  eq(IOCTL.VHOST_VDPA_RESUME, 0xaf7e, 'RESUME');
  eq(IOCTL.VHOST_VDPA_SUSPEND, 0xaf7d, 'SUSPEND');
  eq(IOCTL.VHOST_VDPA_GET_VRING_GROUP, 0xc008af7b, 'GET_VRING_GROUP');
});

host.test('vhost_msg_v2 encoding: 72 bytes, le fields at the header offsets', () => {
  const v = new DataView(new ArrayBuffer(72));
  new Uint8Array(v.buffer).fill(0xff);
  encodeIotlbMsgV2(v, 1, 2, 0x1_2345_6000, 0x3000, 0x7f00_1234_5000, VHOST_ACCESS_RW);
  const b = new Uint8Array(v.buffer);
  bytesEq(b.subarray(0, 8), [2, 0, 0, 0, 1, 0, 0, 0], 'type=MSG_V2, asid=1');
  bytesEq(b.subarray(8, 16), [0x00, 0x60, 0x45, 0x23, 0x01, 0, 0, 0], 'iova');
  bytesEq(b.subarray(16, 24), [0x00, 0x30, 0, 0, 0, 0, 0, 0], 'size');
  bytesEq(b.subarray(24, 32), [0x00, 0x50, 0x34, 0x12, 0x00, 0x7f, 0, 0], 'uaddr');
  bytesEq(b.subarray(32, 34), [3, 2], 'perm RW, type UPDATE');
  ok(b.subarray(34).every((x) => x === 0), 'padding zeroed');
});

host.test('open errors are typed: ENOENT, and a bad spec is invalid', () => {
  const e = left(openVhostVdpa('/nonexistent/vhost-vdpa-9'), 'open missing');
  eq(e.errnoName, 'ENOENT', e.message);
  eq(e.errno, 2, 'errno');
  eq(left(openVdpaSpec('sim'), 'spec').kind, 'invalid', 'spec kind');
});

host.test('ioctl on a non-vhost fd: ENOTTY as unsupported, with op and errno', () => {
  const dev = right(openVhostVdpa('/dev/null'), 'open /dev/null');
  try {
    const e = left(dev.getFeatures(), 'GET_FEATURES on /dev/null');
    eq(e.errnoName, 'ENOTTY', e.message);
    eq(e.kind, 'unsupported', 'kind');
    eq(e.op, 'VHOST_GET_FEATURES', 'op');
    eq(left(dev.kick(0), 'kick without setVringAddr').kind, 'state', 'kick state');
  } finally {
    dev.close();
  }
  eq(left(dev.getStatus(), 'after close').kind, 'closed', 'closed');
});

host.test('allocHost: MAP_SHARED pages at their user address, freed safely', async () => {
  const dev = right(openVhostVdpa('/dev/null'), 'open /dev/null');
  try {
    const r = right(dev.allocHost(10_000, 'shm'), 'allocHost');
    eq(r.size, 12_288, 'rounded to pages');
    ok(r.base % 4096 === 0 && r.base > 0, `base 0x${r.base.toString(16)}`);
    ok(right(dev.host.resolve(r.base + 100, 8), 'resolve') === r, 'host space resolves the user address');
    right(dev.host.writeU64(r.base + 8, 0x1_0000_0001), 'write');
    eq(r.view.getUint32(12, true), 1, 'same bytes through the region view');
    eq(left(dev.iotlbUpdate(0, 0x1000, 4096, r.base, VHOST_ACCESS_RW), 'iotlb without MSG_V2').kind, 'unsupported', 'MSG_V2 not acked');
    eq(left(await dev.waitCall(0, 1), 'waitCall without queue').kind, 'state', 'waitCall state');
    right(dev.freeHost(r), 'freeHost');
    eq(r.bytes[8], 0, 'a stale view reads zeros (private replacement mapping), no fault');
    ok(E.isLeft(dev.allocHost(0)), 'zero size refused');
  } finally {
    dev.close();
  }
});
