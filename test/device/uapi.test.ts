import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { SimVdpaDevice } from '../../src/device/sim/device.js';
import { PROFILES, SIM_FULL_FEATURES, VDPA_SIM_NET_FEATURES } from '../../src/device/sim/profiles.js';
import { VHOST_ACCESS_RO, VHOST_ACCESS_RW } from '../../src/device/types.js';
import { encodeBase, placeRing, ringFactory } from '../../src/ring/index.js';
import { encodeCommand } from '../../src/virtio/cvq.js';
import { vlanList } from '../../src/state/net-state.js';
import { Chain, Used, isRingError } from '../../src/ring/types.js';
import { F } from '../../src/virtio/features.js';
import { bringUp, left, queueCommands, right, S, sendSerial } from './helpers.js';

const owned = (profile: 'full' | 'vdpa_sim_net' = 'full'): SimVdpaDevice => {
  const d = new SimVdpaDevice({ profile });
  right(d.setOwner());
  return d;
};

describe('vdpa_sim_net profile identity (as observed on Linux 6.12)', () => {
  it('reports the kernel simulator’s numbers', () => {
    const d = owned('vdpa_sim_net');
    expect(right(d.getDeviceId())).toBe(1);
    expect(right(d.getFeatures())).toBe(0x308830028n);
    expect(VDPA_SIM_NET_FEATURES).toBe(0x308830028n);
    expect(right(d.getBackendFeatures())).toBe(0x17en);
    expect(right(d.getVqsCount())).toBe(3);
    expect(right(d.getGroupNum())).toBe(2);
    expect(right(d.getAsNum())).toBe(2);
    expect(right(d.getVringNum())).toBe(256);
    expect(right(d.getConfigSize())).toBe(24);
    expect([0, 1, 2].map((q) => right(d.getVringGroup(q)))).toEqual([0, 0, 1]);
    expect(left(d.getVringGroup(3)).errnoName).toBe('ENOBUFS');
    expect(right(d.getIovaRange())).toEqual({ first: 0, last: Number.MAX_SAFE_INTEGER });
  });

  it('masks features at SET_FEATURES instead of refusing FEATURES_OK (vdpasim_set_driver_features)', () => {
    const d = owned('vdpa_sim_net');
    right(d.setStatus(S.ACKNOWLEDGE | S.DRIVER));
    right(d.setFeatures(VDPA_SIM_NET_FEATURES | F.MQ | F.CTRL_RX));
    expect(d.negotiatedFeatures()).toBe(VDPA_SIM_NET_FEATURES);
    right(d.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK));
    expect(right(d.getStatus())).toBe(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
  });
});

describe('full profile identity and config space', () => {
  it('offers every modelled feature, 8 queue pairs and QEMU’s RSS limits in struct virtio_net_config', () => {
    const d = owned();
    expect(right(d.getFeatures())).toBe(SIM_FULL_FEATURES);
    expect(right(d.getVqsCount())).toBe(17);
    const c = right(d.getConfig(0, 24));
    const v = new DataView(c.buffer, c.byteOffset);
    expect(Array.from(c.subarray(0, 6))).toEqual([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    expect(v.getUint16(6, true)).toBe(1); // VIRTIO_NET_S_LINK_UP
    expect(v.getUint16(8, true)).toBe(8); // max_virtqueue_pairs
    expect(v.getUint16(10, true)).toBe(1500); // mtu
    expect(v.getUint32(12, true)).toBe(100000); // speed
    expect(c[16]).toBe(1); // duplex
    expect(c[17]).toBe(40); // rss_max_key_size
    expect(v.getUint16(18, true)).toBe(128); // rss_max_indirection_table_length
    expect(v.getUint32(20, true)).toBe(0x1ff); // supported_hash_types
    expect(Array.from(right(d.getConfig(8, 2)))).toEqual([8, 0]);
    expect(left(d.getConfig(0, 0)).errnoName).toBe('EINVAL');
    expect(left(d.getConfig(25, 1)).errnoName).toBe('EINVAL');
    expect(left(d.getConfig(20, 8)).errnoName).toBe('E2BIG');
  });

  it('puts the CVQ at 2 × max pairs with MQ, at 2 without, alone in group 1', () => {
    const d = owned();
    right(d.setFeatures(SIM_FULL_FEATURES));
    expect(d.cvqIndex()).toBe(16);
    expect(right(d.getVringGroup(16))).toBe(1);
    expect(right(d.getVringGroup(2))).toBe(0);
    right(d.setFeatures(SIM_FULL_FEATURES & ~F.MQ & ~F.RSS));
    expect(d.cvqIndex()).toBe(2);
    expect(right(d.getVringGroup(2))).toBe(1);
  });
});

describe('status and feature negotiation (virtio 1.2 §2.1, §3.1.1; vhost-vdpa)', () => {
  it('refuses FEATURES_OK (bit not kept) for features not offered or an inconsistent set', () => {
    for (const bad of [SIM_FULL_FEATURES | F.RSC_EXT, (SIM_FULL_FEATURES & ~F.CTRL_VQ) | F.CTRL_RX, SIM_FULL_FEATURES & ~F.VERSION_1]) {
      const d = owned();
      right(d.setStatus(S.ACKNOWLEDGE | S.DRIVER));
      right(d.setFeatures(bad));
      expect(d.featuresRefused()).toBeDefined();
      right(d.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK));
      expect(right(d.getStatus()) & S.FEATURES_OK).toBe(0);
    }
  });

  it('needs ACCESS_PLATFORM, and refuses new features once FEATURES_OK is set', () => {
    const d = owned();
    expect(left(d.setFeatures(SIM_FULL_FEATURES & ~F.ACCESS_PLATFORM)).errnoName).toBe('EINVAL');
    right(d.setFeatures(SIM_FULL_FEATURES));
    right(d.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK));
    expect(left(d.setFeatures(SIM_FULL_FEATURES)).errnoName).toBe('EBUSY');
  });

  it('only a reset clears status bits; reset clears features and status', () => {
    const d = owned();
    right(d.setFeatures(SIM_FULL_FEATURES));
    right(d.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK));
    expect(left(d.setStatus(S.ACKNOWLEDGE | S.DRIVER)).errnoName).toBe('EINVAL');
    expect(left(d.setStatus(0x100)).errnoName).toBe('EINVAL');
    right(d.setStatus(0));
    expect(right(d.getStatus())).toBe(0);
    expect(d.negotiatedFeatures()).toBe(0n);
  });

  it('refuses backend features it does not offer', () => {
    const d = owned();
    expect(left(d.setBackendFeatures(1n << 7n)).errnoName).toBe('EOPNOTSUPP'); // DESC_ASID
    right(d.setBackendFeatures(0x17en));
    expect(d.ackedBackendFeatures()).toBe(0x17en);
    expect(left(d.setOwner()).errnoName).toBe('EBUSY');
  });
});

describe('IOTLB per ASID', () => {
  it('maps IOVA onto host memory: the device sees the driver’s bytes', () => {
    const d = owned();
    right(d.setBackendFeatures(0x17en));
    const m = right(d.allocHost(8192));
    expect(m.base % 4096).toBe(0);
    m.bytes[4100] = 0xab;
    right(d.iotlbUpdate(1, 0x40000, 8192, m.base, VHOST_ACCESS_RW));
    expect(right(d.iovaSpace(1)!.readU8(0x40000 + 4100))).toBe(0xab);
    expect(E.isLeft(d.iovaSpace(0)!.readU8(0x40000))).toBe(true);
    right(d.iovaSpace(1)!.writeU8(0x40001, 0xcd));
    expect(m.bytes[1]).toBe(0xcd);
  });

  it('returns the kernel’s errors: EPERM, EINVAL, EEXIST, EFAULT', () => {
    const d = new SimVdpaDevice();
    const m = right(d.allocHost(4096));
    expect(left(d.iotlbUpdate(0, 0, 4096, m.base, VHOST_ACCESS_RW)).errnoName).toBe('EPERM');
    right(d.setOwner());
    expect(left(d.iotlbInvalidate(0, 0, 4096)).errnoName).toBe('EINVAL'); // no address space yet
    expect(left(d.iotlbBatchEnd(0)).errnoName).toBe('EINVAL');
    expect(left(d.iotlbUpdate(1, 0, 4096, m.base, VHOST_ACCESS_RW)).errnoName).toBe('EINVAL'); // ASID 1 without IOTLB_ASID
    right(d.setBackendFeatures(0x17en));
    expect(left(d.iotlbUpdate(2, 0, 4096, m.base, VHOST_ACCESS_RW)).errnoName).toBe('EINVAL'); // only 2 ASIDs
    expect(left(d.iotlbUpdate(0, 0, 0, m.base, VHOST_ACCESS_RW)).errnoName).toBe('EINVAL');
    expect(left(d.iotlbUpdate(0, 0, 4096, m.base, 0)).errnoName).toBe('EINVAL');
    right(d.iotlbUpdate(0, 0x1000, 4096, m.base, VHOST_ACCESS_RO));
    expect(left(d.iotlbUpdate(0, 0x1800, 16, m.base, VHOST_ACCESS_RW)).errnoName).toBe('EEXIST');
    expect(left(d.iotlbUpdate(0, 0x9000, 4096, m.base + 4096, VHOST_ACCESS_RW)).errnoName).toBe('EFAULT'); // the guard page after the allocation
    expect(left(d.iotlbUpdate(0, 0x9000, 8192, m.base, VHOST_ACCESS_RW)).errnoName).toBe('EFAULT'); // runs past it
    expect(d.iotlbEntries(0)).toHaveLength(1);
  });

  it('maps one IOVA range over several host regions, and invalidates whole mappings', () => {
    const d = owned();
    const a = right(d.allocHost(4096));
    const b = right(d.allocHost(4096));
    // host regions are not contiguous (guard page), so map them separately back to back in IOVA
    right(d.iotlbBatchBegin(0));
    right(d.iotlbUpdate(0, 0x10000, 4096, a.base, VHOST_ACCESS_RW));
    right(d.iotlbUpdate(0, 0x11000, 4096, b.base, VHOST_ACCESS_RW));
    right(d.iotlbBatchEnd(0));
    expect(d.stats.iotlbBatches).toBe(1);
    b.bytes[0] = 9;
    expect(right(d.iovaSpace(0)!.readU8(0x11000))).toBe(9);
    right(d.iotlbInvalidate(0, 0x10ff0, 0x20)); // touches both: both go, whole
    expect(d.iotlbEntries(0)).toHaveLength(0);
    expect(E.isLeft(d.iovaSpace(0)!.readU8(0x10000))).toBe(true);
    right(d.iotlbInvalidate(0, 0x10000, 4096)); // nothing there: not an error
  });

  it('drops the maps at reset unless IOTLB_PERSIST was acked', () => {
    for (const [backend, kept] of [[0x7en, 0], [0x17en, 1]] as const) {
      const d = owned();
      right(d.setBackendFeatures(backend));
      const m = right(d.allocHost(4096));
      right(d.iotlbUpdate(0, 0, 4096, m.base, VHOST_ACCESS_RW));
      right(d.setStatus(S.ACKNOWLEDGE));
      right(d.setStatus(0));
      expect(d.iotlbEntries(0)).toHaveLength(kept);
    }
  });

  it('binds groups to ASIDs with the kernel’s checks (and vdpa_sim’s off-by-one), back to ASID 0 at reset', () => {
    const h = bringUp({ device: { profile: 'vdpa_sim_net' } });
    expect(left(h.dev.setGroupAsid(3, 0)).errnoName).toBe('ENOBUFS'); // not a vring index
    expect(left(h.dev.setGroupAsid(1, 2)).errnoName).toBe('EINVAL');
    right(h.dev.setGroupAsid(2, 1)); // Linux 6.12 vdpasim: `group > ngroups` lets group 2 through, binding nothing
    expect([0, 1, 2].map((q) => h.dev.queueAsid(q))).toEqual([0, 0, 0]);
    const f = bringUp();
    expect(left(f.dev.setGroupAsid(2, 1)).errnoName).toBe('EINVAL'); // the fixed check on the full profile
    right(h.dev.setStatus(0));
    right(h.dev.setGroupAsid(1, 1));
    expect(h.dev.queueAsid(2)).toBe(1);
    right(h.dev.setStatus(0));
    expect(h.dev.queueAsid(2)).toBe(0);
  });

  it('moves a running group to another address space at once, keeping the queue position', async () => {
    const h = bringUp({ layout: 'split' });
    expect(await sendSerial(h, [encodeCommand({ kind: 'VLAN_ADD', vid: 1 })])).toEqual([0]);
    // ASID 1 maps the same host memory at the same IOVAs: the CVQ carries on from where it was
    const m = h.dev.iotlbEntries(0)[0]!;
    right(h.dev.iotlbUpdate(1, m.iova, m.size, m.hva, VHOST_ACCESS_RW));
    right(h.dev.setGroupAsid(1, 1));
    expect(h.dev.queueAsid(h.cvq)).toBe(1);
    expect(await sendSerial(h, [encodeCommand({ kind: 'VLAN_ADD', vid: 2 })])).toEqual([0]);
    expect(right(h.dev.getVringBase(h.cvq))).toBe(2);
    // an address space without the ring: the queue cannot run there (a device error)
    right(h.dev.iotlbInvalidate(1, m.iova, m.size));
    right(h.dev.setGroupAsid(1, 0));
    right(h.dev.setGroupAsid(1, 1));
    expect(h.dev.errors.at(-1)?.ring?.rule).toBe('ring-unmapped');
  });
});

describe('virtqueue configuration', () => {
  it('checks queue size, index, alignment and base like vhost', () => {
    const d = owned('vdpa_sim_net');
    expect(left(d.setVringNum(0, 100)).errnoName).toBe('EINVAL');
    expect(left(d.setVringNum(0, 512)).errnoName).toBe('EINVAL'); // > 256
    expect(left(d.setVringNum(3, 64)).errnoName).toBe('ENOBUFS');
    right(d.setVringNum(0, 256));
    expect(left(d.setVringAddr(0, { desc: 0, driver: 1, device: 0x1000 })).errnoName).toBe('EINVAL');
    expect(left(d.setVringAddr(0, { desc: 0, driver: 0x800, device: 0x1002 })).errnoName).toBe('EINVAL');
    right(d.setVringAddr(0, { desc: 0, driver: 0x1000, device: 0x2000 }));
    expect(left(d.setVringBase(0, 0x10000)).errnoName).toBe('EINVAL'); // split: ≤ 0xffff
    right(d.setVringBase(0, 0x1234));
    expect(right(d.getVringBase(0))).toBe(0x1234);
  });

  it('encodes a packed base as vhost does (avail | wrap << 15 | used << 16 | used wrap << 31)', () => {
    const d = owned();
    right(d.setFeatures(SIM_FULL_FEATURES));
    const v = encodeBase('packed', { availIdx: 5, availWrap: false, usedIdx: 3, usedWrap: true });
    expect(v).toBe(0x80030005);
    right(d.setVringBase(0, v));
    expect(right(d.getVringBase(0))).toBe(0x80030005);
    // a packed index is a descriptor position (§2.8.1): one beyond the ring is refused, the base kept
    right(d.setVringNum(0, 64));
    expect(left(d.setVringBase(0, encodeBase('packed', { availIdx: 64, availWrap: true, usedIdx: 0, usedWrap: true }))).errnoName).toBe('EINVAL');
    expect(left(d.setVringBase(0, encodeBase('packed', { availIdx: 0, availWrap: true, usedIdx: 100, usedWrap: true }))).errnoName).toBe('EINVAL');
    expect(right(d.getVringBase(0))).toBe(0x80030005);
  });

  it('reports GET_VRING_BASE from the running ring after SUSPEND, and moves rings only while suspended', async () => {
    const h = bringUp({ device: { profile: 'vdpa_sim_net' } });
    const tx = h.queues.get(1)!.driver;
    for (let i = 0; i < 3; i++) {
      const c = new Chain(4);
      c.push(h.alloc(64), 64, false);
      expect(isRingError(tx.add(c, i))).toBe(false);
    }
    right(h.dev.kick(1));
    // vhost-vdpa: after DRIVER_OK, address and base move only while suspended
    expect(left(h.dev.setVringBase(1, 0)).errnoName).toBe('EINVAL');
    expect(left(h.dev.setVringAddr(1, { desc: 0, driver: 0x1000, device: 0x2000 })).errnoName).toBe('EINVAL');
    right(h.dev.suspend());
    h.dev.flush();
    expect(right(h.dev.getVringBase(1))).toBe(0); // suspended before the deferred processing ran
    right(h.dev.resume());
    h.dev.flush();
    right(h.dev.suspend());
    expect(right(h.dev.getVringBase(1))).toBe(3); // three TX chains consumed
    expect(h.dev.stats.rxDrops).toBe(3); // all-zero frames: unicast, not to our MAC (vdpasim's receive_filter)
    right(h.dev.setVringBase(1, 3)); // allowed while suspended
  });

  it('suspend/resume are no-ops before DRIVER_OK; kicks while suspended are replayed on resume', async () => {
    const d = owned();
    right(d.suspend());
    expect(d.isSuspended()).toBe(false);
    const h = bringUp();
    right(h.dev.suspend());
    expect(h.dev.isSuspended()).toBe(true);
    const tx = h.queues.get(1)!.driver;
    const rx = h.queues.get(0)!.driver;
    const c = new Chain(4);
    c.push(h.alloc(64), 64, true);
    rx.add(c, 0);
    const t = new Chain(4);
    t.push(h.alloc(64), 64, false);
    tx.add(t, 0);
    right(h.dev.kick(1));
    expect(right(await h.dev.waitCall(0, 1))).toBe(false);
    expect(h.dev.stats.txPackets).toBe(0);
    right(h.dev.resume());
    expect(right(await h.dev.waitCall(0, 1))).toBe(true);
    expect(h.dev.stats.txPackets).toBe(1);
  });

  it('starts a queue enabled after DRIVER_OK (ENABLE_AFTER_DRIVER_OK) and keeps its base across disable/enable', async () => {
    const h = bringUp({ layout: 'split', enableLater: [16] }); // the CVQ: 2 × 8 pairs with MQ
    const cvq = h.cvq;
    queueCommands(h, [encodeCommand({ kind: 'VLAN_ADD', vid: 8 })]);
    right(h.dev.kick(cvq)); // not enabled yet: the kick is ignored
    h.dev.flush();
    expect(h.dev.cvqLog).toHaveLength(0);
    right(h.dev.setVringEnable(cvq, true)); // after DRIVER_OK, as QEMU does
    right(h.dev.kick(cvq));
    h.dev.flush();
    expect(h.dev.cvqLog).toHaveLength(1);
    expect(right(await h.dev.waitCall(cvq, 1))).toBe(true);
    h.queues.get(cvq)!.driver.reap(new Used());
    expect(await sendSerial(h, [encodeCommand({ kind: 'VLAN_ADD', vid: 9 }), encodeCommand({ kind: 'VLAN_ADD', vid: 10 })])).toEqual([0, 0]);
    right(h.dev.setVringEnable(cvq, false));
    expect(right(h.dev.getVringBase(cvq))).toBe(3);
    right(h.dev.setVringEnable(cvq, true));
    expect(await sendSerial(h, [encodeCommand({ kind: 'VLAN_DEL', vid: 9 })])).toEqual([0]);
    expect(right(h.dev.getVringBase(cvq))).toBe(4);
    expect(vlanList(h.dev.netState().vlanFilter)).toEqual([8, 10]);
  });

  it('re-addresses a queue while suspended: disable, SET_VRING_ADDR/BASE, enable, resume', async () => {
    const h = bringUp({ layout: 'split' });
    expect(await sendSerial(h, [encodeCommand({ kind: 'VLAN_ADD', vid: 1 })])).toEqual([0]);
    right(h.dev.suspend());
    const base = right(h.dev.getVringBase(h.cvq));
    expect(base).toBe(1);
    right(h.dev.setVringEnable(h.cvq, false));
    const { addrs } = placeRing('split', 16, h.alloc(4096));
    const driver = ringFactory('split').driver(h.space, { layout: 'split', size: 16, addrs, eventIdx: true, indirect: true });
    if (isRingError(driver)) throw new Error(driver.message);
    right(h.dev.setVringNum(h.cvq, 16));
    right(h.dev.setVringAddr(h.cvq, addrs));
    right(h.dev.setVringBase(h.cvq, 0));
    right(h.dev.setVringEnable(h.cvq, true));
    right(h.dev.resume());
    h.queues.set(h.cvq, { qi: h.cvq, driver });
    expect(await sendSerial(h, [encodeCommand({ kind: 'VLAN_ADD', vid: 2 })])).toEqual([0]);
    expect(vlanList(h.dev.netState().vlanFilter)).toEqual([1, 2]);
  });

  it('rejects every call after close', () => {
    const d = owned();
    d.close();
    expect(left(d.getFeatures()).kind).toBe('closed');
    expect(left(d.kick(0)).kind).toBe('closed');
  });

  it('profiles are consistent with their vq counts', () => {
    expect(PROFILES.vdpa_sim_net.maxQueuePairs * 2 + 1).toBe(3);
    expect(PROFILES.full.maxQueuePairs * 2 + 1).toBe(17);
  });
});

describe('IOTLB permissions (QEMU maps SVQ driver areas RO, device areas RW)', () => {
  const setup = (usedPerm: number, bufPerm: number) => {
    const d = owned('vdpa_sim_net');
    right(d.setBackendFeatures(0x17en));
    right(d.setFeatures(VDPA_SIM_NET_FEATURES));
    right(d.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK));
    const drv = right(d.allocHost(8192));
    const dev = right(d.allocHost(4096));
    const buf = right(d.allocHost(4096));
    right(d.iotlbUpdate(0, 0x10000, 8192, drv.base, VHOST_ACCESS_RO));
    right(d.iotlbUpdate(0, 0x20000, 4096, dev.base, usedPerm));
    right(d.iotlbUpdate(0, 0x30000, 4096, buf.base, bufPerm));
    const addrs = { desc: 0x10000, driver: 0x10000 + 16 * 16, device: 0x20000 };
    right(d.setVringNum(2, 16));
    right(d.setVringAddr(2, addrs));
    right(d.setVringEnable(2, true));
    right(d.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK));
    // the driver writes its areas through host memory (the device's view of them is read-only)
    const host = d.host;
    const driver = ringFactory('split').driver(host, { layout: 'split', size: 16, addrs: { desc: drv.base, driver: drv.base + 256, device: dev.base }, eventIdx: false, indirect: false });
    if (isRingError(driver)) throw new Error(driver.message);
    const c = new Chain(4);
    buf.bytes.set(encodeCommand({ kind: 'MAC_ADDR_SET', mac: '02:00:00:00:00:05' }), 0);
    buf.bytes[0x100] = 0xff; // the ack byte, until the device writes it
    c.push(0x30000, 8, false);
    c.push(0x30100, 1, true);
    driver.add(c, 0);
    right(d.kick(2));
    d.flush();
    return { d, buf };
  };

  it('works with the driver area read-only and the device area and buffers read-write', () => {
    const { d, buf } = setup(VHOST_ACCESS_RW, VHOST_ACCESS_RW);
    expect(d.errors).toEqual([]);
    expect(buf.bytes[0x100]).toBe(0);
    expect(d.netState().mac).toBe('02:00:00:00:00:05');
  });

  it('refuses to start a queue whose used ring is mapped read-only', () => {
    const { d, buf } = setup(VHOST_ACCESS_RO, VHOST_ACCESS_RW);
    expect(d.errors[0]?.message).toContain('device area at 0x20000 is mapped RO, the device needs WO');
    expect(d.cvqLog).toHaveLength(0);
    expect(buf.bytes[0x100]).toBe(0xff);
  });

  it('does not read a buffer mapped write-only', () => {
    const { d } = setup(VHOST_ACCESS_RW, 2 /* WO */);
    expect(d.errors[0]?.message).toContain('not readable');
    expect(d.netState().mac).toBe('52:54:00:12:34:56');
  });
});
