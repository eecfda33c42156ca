/**
 * Backend basics on vdpa_sim_net (Linux 6.12): what the device offers, what the uAPI answers, and
 * that every refusal comes back as a typed DeviceError carrying errno and its name.
 */
import * as E from 'fp-ts/lib/Either.js';
import { waitFor } from 'xstate';
import { VHOST_ACCESS_RW } from '../../../src/device/types.js';
import { F, formatFeatures, maskOf } from '../../../src/virtio/features.js';
import { bytesEq, eq, left, ok, right, Suite } from '../framework.js';
import type { GuestContext } from './context.js';
import { backendMask, bringUp, VIRTIO_CONFIG_S } from './bringup.js';

export const basics = new Suite<GuestContext>('basics');

/** vdpa_sim_net's device features (drivers/vdpa/vdpa_sim/vdpa_sim_net.c, VDPASIM_NET_FEATURES). */
export const VDPASIM_NET_FEATURES = maskOf(['MTU', 'MAC', 'STATUS', 'CTRL_VQ', 'CTRL_MAC_ADDR', 'ANY_LAYOUT', 'VERSION_1', 'ACCESS_PLATFORM']);

basics.test('device features are vdpa_sim_net 0x308830028', (ctx) =>
  ctx.withDevice((dev) => {
    right(dev.setOwner(), 'VHOST_SET_OWNER');
    const f = right(dev.getFeatures(), 'VHOST_GET_FEATURES');
    eq(VDPASIM_NET_FEATURES, 0x308830028n, 'expected mask');
    eq(f, VDPASIM_NET_FEATURES, `features ${formatFeatures(f)}`);
  }),
);

basics.test('backend features offer MSG_V2, BATCH, ASID, SUSPEND, RESUME', (ctx) =>
  ctx.withDevice((dev) => {
    right(dev.setOwner(), 'VHOST_SET_OWNER');
    const b = right(dev.getBackendFeatures(), 'VHOST_GET_BACKEND_FEATURES');
    const want = backendMask(['IOTLB_MSG_V2', 'IOTLB_BATCH', 'IOTLB_ASID', 'SUSPEND', 'RESUME']);
    eq(b & want, want, `backend features 0x${b.toString(16)}`);
    // Linux 6.12 vdpa_sim: + ENABLE_AFTER_DRIVER_OK, IOTLB_PERSIST; no DESC_ASID.
    eq(b, 0x17en, 'backend feature word');
  }),
);

basics.test('device id, config size, MAC, queue geometry, groups, address spaces, IOVA range', (ctx) =>
  ctx.withDevice((dev) => {
    right(dev.setOwner(), 'VHOST_SET_OWNER');
    eq(right(dev.getDeviceId(), 'GET_DEVICE_ID'), 1, 'virtio device id (net)');
    eq(right(dev.getConfigSize(), 'GET_CONFIG_SIZE'), 24, 'config size');
    bytesEq(right(dev.getConfig(0, 6), 'GET_CONFIG mac'), ctx.mac, 'config mac');
    eq(right(dev.getVringNum(), 'GET_VRING_NUM'), 256, 'max queue size');
    eq(right(dev.getVqsCount(), 'GET_VQS_COUNT'), 3, 'vqs (rx, tx, cvq)');
    eq(right(dev.getGroupNum(), 'GET_GROUP_NUM'), 2, 'groups');
    eq(right(dev.getAsNum(), 'GET_AS_NUM'), 2, 'address spaces');
    eq(right(dev.getVringGroup(0), 'group of rx'), 0, 'rx group');
    eq(right(dev.getVringGroup(1), 'group of tx'), 0, 'tx group');
    eq(right(dev.getVringGroup(2), 'group of cvq'), 1, 'cvq group (alone)');
    const r = right(dev.getIovaRange(), 'GET_IOVA_RANGE');
    eq(r.first, 0, 'iova first');
    eq(r.last, Number.MAX_SAFE_INTEGER, 'iova last (2^64-1 clamped to 2^53-1)');
  }),
);

basics.test('feature negotiation (machines/device-lifecycle): FEATURES_OK sticks, features frozen after it (EBUSY)', (ctx) =>
  ctx.withDevice(async (dev) => {
    const want = maskOf(['VERSION_1', 'ACCESS_PLATFORM', 'CTRL_VQ', 'CTRL_MAC_ADDR', 'MAC', 'STATUS', 'MTU']);
    // §3.1.1 step 7 (after FEATURES_OK, before DRIVER_OK): what the kernel answers there
    const n = await bringUp(dev, want, backendMask(['IOTLB_MSG_V2', 'IOTLB_BATCH']), () => {
      const st = right(dev.getStatus(), 'GET_STATUS');
      eq(st, VIRTIO_CONFIG_S.ACKNOWLEDGE | VIRTIO_CONFIG_S.DRIVER | VIRTIO_CONFIG_S.FEATURES_OK, 'status re-read');
      const e = left(dev.setFeatures(want | F.MQ), 'SET_FEATURES after FEATURES_OK');
      eq(e.errnoName, 'EBUSY', `errno name (${e.message})`);
      eq(e.op, 'VHOST_SET_FEATURES', 'op');
    });
    eq(n.features, want, 'negotiated');
    n.actor.send({ type: 'RESET' });
    await waitFor(n.actor, (x) => x.matches('reset'), { timeout: 30_000 });
    n.actor.stop();
    eq(right(dev.getStatus(), 'GET_STATUS'), 0, 'status after reset');
  }),
);

basics.test('refusals are typed: EBUSY owner, EOPNOTSUPP / EINVAL backend bits, ENOBUFS queue, EINVAL asid', (ctx) =>
  ctx.withDevice((dev) => {
    right(dev.setOwner(), 'VHOST_SET_OWNER');
    const owner = left(dev.setOwner(), 'second SET_OWNER');
    eq(owner.errnoName, 'EBUSY', owner.message);
    const be = left(dev.setBackendFeatures(1n << 40n), 'unknown backend bit');
    eq(be.errnoName, 'EOPNOTSUPP', be.message);
    eq(be.kind, 'unsupported', 'kind');
    // vhost_vdpa_unlocked_ioctl: DESC_ASID without IOTLB_ASID is EINVAL, without a descriptor group EOPNOTSUPP
    const descNoAsid = left(dev.setBackendFeatures(backendMask(['IOTLB_MSG_V2', 'DESC_ASID'])), 'DESC_ASID without IOTLB_ASID');
    eq(descNoAsid.errnoName, 'EINVAL', descNoAsid.message);
    const desc = left(dev.setBackendFeatures(backendMask(['IOTLB_MSG_V2', 'IOTLB_ASID', 'DESC_ASID'])), 'DESC_ASID not offered');
    eq(desc.errnoName, 'EOPNOTSUPP', desc.message);
    // vhost_vdpa_vring_ioctl: a queue index ≥ nvqs is ENOBUFS
    const g = left(dev.getVringGroup(99), 'GET_VRING_GROUP 99');
    eq(g.errnoName, 'ENOBUFS', g.message);
    eq(g.errno, 105, 'errno');
    const ga = left(dev.setGroupAsid(0, 7), 'SET_GROUP_ASID asid 7');
    eq(ga.errnoName, 'EINVAL', ga.message);
    const bad = left(dev.setVringNum(-1, 16), 'negative queue index');
    eq(bad.kind, 'invalid', bad.message);
  }),
);

basics.test('IOTLB v2: batched updates in two ASIDs, invalidate, bad ASID refused', (ctx) =>
  ctx.withDevice(async (dev) => {
    // the kernel's raw IOTLB uAPI, at §3.1.1 step 7 of a bring-up through machines/device-lifecycle
    const up = await bringUp(dev, maskOf(['VERSION_1', 'ACCESS_PLATFORM', 'CTRL_VQ']), backendMask(['IOTLB_MSG_V2', 'IOTLB_BATCH', 'IOTLB_ASID']), () => {
    const a = right(dev.allocHost(3 * 4096, 'iotlb-test'), 'allocHost');
    ok(a.base % 4096 === 0 && a.size === 3 * 4096, 'page-aligned region');
    ok(dev.host.contains(a.base, a.size), 'region in host space at its user address');
    a.bytes[4095] = 0x5a;
    eq(a.bytes[4095], 0x5a, 'mmap memory writable through the view');
    right(dev.setGroupAsid(1, 1), 'cvq group → ASID 1');
    right(dev.iotlbBatchBegin(0), 'BATCH_BEGIN');
    right(dev.iotlbUpdate(0, 0x100000, 4096, a.base, VHOST_ACCESS_RW), 'update asid 0');
    right(dev.iotlbUpdate(0, 0x200000, 4096, a.base + 4096, VHOST_ACCESS_RW), 'update asid 0 #2');
    right(dev.iotlbBatchEnd(0), 'BATCH_END');
    right(dev.iotlbUpdate(1, 0x100000, 4096, a.base + 8192, VHOST_ACCESS_RW), 'same IOVA in asid 1');
    right(dev.iotlbInvalidate(0, 0x200000, 4096), 'invalidate');
    // vhost_chr_write_iter turns every failure of the IOTLB message handler into EFAULT
    const bad = left(dev.iotlbUpdate(5, 0x300000, 4096, a.base, VHOST_ACCESS_RW), 'asid 5 ≥ AS num');
    ok(bad.kind === 'iotlb' && bad.errnoName === 'EFAULT' && bad.op === 'VHOST_IOTLB_UPDATE', `asid 5: ${bad.message}`);
    const dup = left(dev.iotlbUpdate(0, 0x100000, 4096, a.base, VHOST_ACCESS_RW), 'IOVA already mapped (EEXIST inside)');
    eq(dup.errnoName, 'EFAULT', dup.message);
    const notHost = left(dev.iotlbUpdate(0, 0x400000, 4096, 0x1000, VHOST_ACCESS_RW), 'hva outside host memory');
    eq(notHost.kind, 'invalid', notHost.message);
    right(dev.freeHost(a), 'freeHost');
    ok(!dev.host.contains(a.base, 1), 'region gone from host space');
    ok(E.isLeft(dev.freeHost(a)), 'double free refused');
    });
    up.actor.stop();
  }),
);

basics.test('waitCall on a queue the device never signals: right(false) after the bound, event loop live meanwhile', (ctx) =>
  ctx.withDevice(async (dev) => {
    // the kernel's raw vring/eventfd uAPI, at §3.1.1 step 7 of a bring-up through machines/device-lifecycle
    const up = await bringUp(dev, maskOf(['VERSION_1', 'ACCESS_PLATFORM', 'CTRL_VQ']), backendMask(['IOTLB_MSG_V2']), async () => {
    const ring = right(dev.allocHost(3 * 4096, 'silent-ring'), 'allocHost');
    right(dev.iotlbUpdate(0, 0x10000, ring.size, ring.base, VHOST_ACCESS_RW), 'map');
    right(dev.setVringNum(2, 64), 'SET_VRING_NUM');
    right(dev.setVringAddr(2, { desc: 0x10000, driver: 0x10000 + 1024, device: 0x10000 + 4096 }), 'SET_VRING_ADDR (binds kick/call eventfds)');
    let ticks = 0;
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 5);
    const t0 = performance.now();
    const BOUND = 600;
    const r = await dev.waitCall(2, BOUND);
    const ms = performance.now() - t0;
    clearInterval(timer);
    eq(right(r, 'waitCall'), false, 'no call: right(false)');
    ok(ms >= BOUND && ms < BOUND + 2000, `returned after ${ms.toFixed(1)} ms for a ${BOUND} ms bound`);
    // A waitCall that blocked would stall the loop for the whole bound and let no timer run. The TCG
    // guest on a shared host has its own stalls (tens of ms, >100 ms under load): bound by half the wait.
    ok(ticks >= 10, `timers ran during the wait (${ticks} ticks of 5 ms)`);
    ok(maxGap < BOUND / 2, `longest event-loop stall ${maxGap.toFixed(1)} ms`);
    ctx.metric({ name: 'event-loop stall during waitCall (TCG)', value: Math.round(maxGap * 10) / 10, unit: 'ms', note: `${ticks} timer ticks in ${ms.toFixed(0)} ms` });
    const cvqKick = dev.kick(2);
    ok(E.isRight(cvqKick), 'kick writes the eventfd');
    });
    up.actor.stop();
  }),
);
