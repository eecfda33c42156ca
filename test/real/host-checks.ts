/**
 * Host-side checks of the vhost-vdpa backend that need no vDPA device: the uAPI numbers and struct
 * sizes against the kernel headers (compiled with the host C compiler when one is present), and the
 * backend's typed errors on files that are not vhost-vdpa devices. Run by test/real/run.ts before the
 * guest boots, counted in the same result line.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { VHOST_ACCESS_RW } from '../../src/device/types.js';
import { openVdpaSpec, openVhostVdpa } from '../../src/device/vhost-vdpa/index.js';
import { encodeIotlbMsgV2, IOCTL, SIZEOF } from '../../src/device/vhost-vdpa/uapi.js';
import { bytesEq, eq, left, ok, right, SkipTest, Suite } from './framework.js';

export const host = new Suite<null>('host');

host.test('ioctl numbers and struct sizes match linux/vhost.h (C compiler)', () => {
  const cc = ['gcc', 'gcc-12', 'cc'].find((c) => {
    try {
      execFileSync(c, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  if (cc === undefined) throw new SkipTest('no C compiler on this host');
  const names = Object.keys(IOCTL);
  const structs = ['vhost_vring_state', 'vhost_vring_file', 'vhost_vring_addr', 'vhost_vdpa_config', 'vhost_vdpa_iova_range', 'vhost_iotlb_msg', 'vhost_msg_v2'] as const;
  const src = [
    '#include <stdio.h>',
    '#include <linux/vhost.h>',
    'int main(void) {',
    ...names.map((n) => `#ifdef ${n}\n  printf("${n} %lu\\n", (unsigned long)(${n}));\n#endif`),
    ...structs.map((s) => `  printf("sizeof_${s} %zu\\n", sizeof(struct ${s}));`),
    '  return 0;',
    '}',
  ].join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'svq-uapi-'));
  try {
    writeFileSync(join(dir, 'u.c'), src);
    execFileSync(cc, ['-o', join(dir, 'u'), join(dir, 'u.c')], { stdio: 'pipe' });
    const out = execFileSync(join(dir, 'u'), { encoding: 'utf8' });
    const got = new Map(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
    let checked = 0;
    for (const n of names) {
      const v = got.get(n);
      if (v === undefined) continue; // older host headers (e.g. no VHOST_VDPA_RESUME): the guest tests cover it
      eq(IOCTL[n as keyof typeof IOCTL], Number(v), n);
      checked++;
    }
    ok(checked >= 20, `checked ${checked} ioctl numbers against the headers`);
    for (const s of structs) eq(SIZEOF[s], Number(got.get(`sizeof_${s}`)), `sizeof(struct ${s})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
