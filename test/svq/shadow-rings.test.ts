import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { SimVdpaDevice } from '../../src/device/sim/device.js';
import { VHOST_ACCESS_RO, VHOST_ACCESS_RW, type VdpaDevice } from '../../src/device/types.js';
import { faultyDevice } from '../../src/mbt/sim/device.js';
import { IovaTree } from '../../src/svq/iova-tree.js';
import { ringMappings, ShadowRings, type ShadowRingSpec } from '../../src/svq/shadow-rings.js';
import { right } from '../device/helpers.js';

// The SVQ back end's memory on the simulated device: what the IOTLB, the IOVA tree, SVQ's view and the
// device's host memory hold after each step.

function rig(dev = new SimVdpaDevice({})) {
  right(dev.setOwner());
  const rings = new ShadowRings(dev, new IovaTree(right(dev.getIovaRange())), new AddressSpace('iova:test'));
  return { dev, rings };
}

const hvaMaps = (rings: ShadowRings) => rings.tree.maps().filter((m) => m.kind === 'hva');

describe('ShadowRings: shadow ring memory as QEMU maps it', () => {
  const cases: [string, ShadowRingSpec, number[]][] = [
    ['split', { layout: 'split', size: 256, indirect: false, cvq: false }, [VHOST_ACCESS_RO, VHOST_ACCESS_RW]],
    ['packed', { layout: 'packed', size: 256, indirect: false, cvq: false }, [VHOST_ACCESS_RW, VHOST_ACCESS_RW]],
    ['split + indirect', { layout: 'split', size: 64, indirect: true, cvq: false }, [VHOST_ACCESS_RO, VHOST_ACCESS_RW, VHOST_ACCESS_RO]],
    ['split CVQ', { layout: 'split', size: 64, indirect: false, cvq: true }, [VHOST_ACCESS_RO, VHOST_ACCESS_RW, VHOST_ACCESS_RO, VHOST_ACCESS_RW]],
  ];
  for (const [name, spec, perms] of cases) {
    it(`${name}: one IOTLB entry, tree entry and alias per part, with the part's permission; unmap leaves nothing`, () => {
      const { dev, rings } = rig();
      const regions0 = dev.host.regions().length;
      const mem = right(rings.map(3, spec));
      const entries = [...dev.iotlbEntries(0)].sort((a, b) => a.iova - b.iova);
      expect(entries).toHaveLength(ringMappings(spec));
      expect(entries.map((e) => e.perm)).toEqual(perms);
      expect(hvaMaps(rings)).toHaveLength(ringMappings(spec));
      // the device area starts a page of its own, after the descriptor + driver part
      expect(mem.addrs.device % 4096).toBe(0);
      expect(entries[1]!.iova).toBe(mem.addrs.device);
      expect(mem.addrs.desc).toBe(entries[0]!.iova);
      expect(mem.indirectArea !== undefined).toBe(spec.indirect);
      expect(mem.cvq !== undefined).toBe(spec.cvq);
      // SVQ's view and the device's IOTLB reach the same bytes
      right(rings.view.writeU16(mem.addrs.driver + 2, 0xbeef));
      expect(right(dev.iovaSpace(0)!.readU16(mem.addrs.driver + 2))).toBe(0xbeef);
      expect(dev.host.regions()).toHaveLength(regions0 + 1);
      expect(E.isLeft(rings.map(3, spec))).toBe(true); // one ring per queue
      right(rings.unmap(3));
      expect(dev.iotlbEntries(0)).toEqual([]);
      expect(hvaMaps(rings)).toEqual([]);
      expect(rings.view.regions()).toEqual([]);
      expect(dev.host.regions()).toHaveLength(regions0);
      expect(rings.queues()).toEqual([]);
      right(rings.unmap(3)); // nothing mapped: nothing to do
    });
  }

  it('a map refused midway (second IOTLB update) leaves no IOTLB entry, tree entry, alias or host memory', () => {
    const { dev, rings } = rig(new SimVdpaDevice({ faults: [{ kind: 'iotlb-map-fails', after: 1 }] }));
    const r = rings.map(0, { layout: 'split', size: 64, indirect: true, cvq: false });
    expect(r).toMatchObject(E.left({ _tag: 'DeviceError', op: 'VHOST_IOTLB_UPDATE' }));
    expect(dev.iotlbEntries(0)).toEqual([]);
    expect(hvaMaps(rings)).toEqual([]);
    expect(rings.view.regions()).toEqual([]);
    expect(dev.host.regions()).toEqual([]);
    expect(rings.queues()).toEqual([]);
  });

  it('an unmap whose invalidate is refused keeps exactly the parts still mapped; a retry finishes it', () => {
    const sim = new SimVdpaDevice({});
    const faulty = faultyDevice(sim);
    const { rings } = rig(faulty.device as SimVdpaDevice);
    right(rings.map(1, { layout: 'split', size: 64, indirect: true, cvq: false }));
    expect(sim.iotlbEntries(0)).toHaveLength(3);
    faulty.failNext('iotlbInvalidate');
    expect(E.isLeft(rings.unmap(1))).toBe(true);
    expect(sim.iotlbEntries(0)).toHaveLength(3);
    expect(hvaMaps(rings)).toHaveLength(3);
    expect(rings.queues()).toEqual([1]);
    right(rings.unmap(1));
    expect(sim.iotlbEntries(0)).toEqual([]);
    expect(hvaMaps(rings)).toEqual([]);
    expect(sim.host.regions()).toEqual([]);
  });

  it('relays calls with waitCall, queue by queue, on a device without call eventfds, and stops when told', async () => {
    const sim = new SimVdpaDevice({});
    // the device signals queue 1 on every third wait for it (a device call), queue 0 never
    const waits: number[] = [];
    const dev = new Proxy(sim, {
      get: (t, p) =>
        p === 'waitCall'
          ? async (qi: number) => {
              waits.push(qi);
              return E.right(qi === 1 && waits.filter((q) => q === 1).length % 3 === 0);
            }
          : (Reflect.get(t, p) as unknown),
    });
    const { rings } = rig(dev);
    expect((dev as VdpaDevice).watchCalls).toBeUndefined();
    const calls: number[] = [];
    rings.relayCalls([0, 1], (qi) => calls.push(qi), 1);
    expect(rings.relaying).toBe(true);
    for (let i = 0; i < 200 && calls.length < 2; i++) await new Promise((r) => setImmediate(r));
    rings.stopRelay();
    expect(rings.relaying).toBe(false);
    expect(calls).toEqual([1, 1]);
    expect(waits.slice(0, 6)).toEqual([0, 1, 0, 1, 0, 1]);
    const n = waits.length;
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(waits.length).toBeLessThanOrEqual(n + 1); // stopped: at most the wait in progress
  });
});
