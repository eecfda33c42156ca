import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { placeRing, ringFactory } from '../../src/ring/index.js';
import { Chain, Used, isRingError, type RingBase, type RingConfig, type RingDriver, type RingLayout } from '../../src/ring/types.js';
import { SimVdpaDevice } from '../../src/device/sim/device.js';
import { SIM_FULL_FEATURES, VDPA_SIM_NET_FEATURES } from '../../src/device/sim/profiles.js';
import { resetNetState } from '../../src/state/net-state.js';
import { encodeCommand } from '../../src/virtio/cvq.js';
import { F } from '../../src/virtio/features.js';
import { VIRTIO_NET_ERR, VIRTIO_NET_OK } from '../../src/virtio/net.js';
import { DirtyLog } from '../../src/svq/dirty-log.js';
import { SvqDevice, type SvqScope } from '../../src/svq/svq-device.js';
import type { SvqHandover } from '../../src/svq/shadow-virtqueue.js';
import { right } from '../device/helpers.js';

const HDR = 12;
const OURS = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const MAC = '52:54:00:12:34:56';

/** A guest: RAM in the device's host memory (as QEMU's guest RAM is), its rings and a bump allocator. */
class Guest {
  readonly gpa = new AddressSpace('gpa');
  readonly ram;
  readonly drivers = new Map<number, RingDriver>();
  readonly configs = new Map<number, RingConfig>();
  private next = 0x40000;
  readonly dirty: DirtyLog;
  calls = 0;

  constructor(readonly dev: SimVdpaDevice, readonly layout: RingLayout, readonly features: bigint, qis: number[]) {
    this.ram = right(dev.allocHost(1 << 20, 'guest-ram'));
    right(this.gpa.addRegion(0, this.ram.buffer, { offset: this.ram.offset, size: this.ram.size, name: 'ram' }));
    let at = 0x1000;
    for (const qi of qis) {
      const p = placeRing(layout, 64, at);
      const config: RingConfig = { layout, size: 64, addrs: p.addrs, eventIdx: (features & F.EVENT_IDX) !== 0n, indirect: (features & F.INDIRECT_DESC) !== 0n };
      const d = ringFactory(layout).driver(this.gpa, config);
      if (isRingError(d)) throw new Error(d.message);
      this.drivers.set(qi, d);
      this.configs.set(qi, config);
      at = Math.ceil(p.end / 4096) * 4096 + 4096;
    }
    this.dirty = DirtyLog.forSpace(this.gpa);
    this.dirty.attach(this.gpa);
  }

  alloc(n: number): number {
    const a = this.next;
    this.next += Math.ceil(n / 64) * 64;
    return a;
  }

  private owned = false;

  async start(mode: SvqScope, cvq: number | undefined, shadow?: { layout?: RingLayout; eventIdx?: boolean }, resume?: Map<number, { base?: RingBase; handover?: SvqHandover }>): Promise<SvqDevice> {
    if (!this.owned) right(this.dev.setOwner());
    this.owned = true;
    return right(
      await SvqDevice.start({
        device: this.dev,
        mode,
        guest: {
          space: this.gpa,
          sections: [{ gpa: 0, hva: this.ram.base, size: this.ram.size }],
          features: this.features,
          queues: [...this.configs].map(([qi, config]) => ({ qi, config, ...(resume?.get(qi) ?? {}) })),
          ...(cvq === undefined ? {} : { cvq }),
        },
        ...(shadow === undefined ? {} : { shadow }),
        callGuest: () => this.calls++,
        dirty: this.dirty,
        state: resetNetState(MAC, this.features),
      }),
    );
  }

  postRx(qi: number, len: number): number {
    const a = this.alloc(len);
    const c = new Chain(4);
    c.push(a, len, true);
    const r = this.drivers.get(qi)!.add(c, a);
    if (isRingError(r)) throw new Error(r.message);
    return a;
  }

  postTx(qi: number, bytes: Uint8Array): void {
    const a = this.alloc(bytes.length);
    right(this.gpa.write(a, bytes));
    const c = new Chain(4);
    c.push(a, HDR, false);
    c.push(a + HDR, bytes.length - HDR, false);
    const r = this.drivers.get(qi)!.add(c, a);
    if (isRingError(r)) throw new Error(r.message);
  }

  /** Send a CVQ command: header+payload readable, 1 ack byte (preset 0xff) writable. Returns the ack address. */
  command(qi: number, bytes: Uint8Array): { out: number; ack: number } {
    const out = this.alloc(bytes.length);
    right(this.gpa.write(out, bytes));
    const ack = this.alloc(1);
    right(this.gpa.writeU8(ack, 0xff));
    const c = new Chain(4);
    c.push(out, 2, false);
    if (bytes.length > 2) c.push(out + 2, bytes.length - 2, false);
    c.push(ack, 1, true);
    const r = this.drivers.get(qi)!.add(c, ack);
    if (isRingError(r)) throw new Error(r.message);
    return { out, ack };
  }

  reap(qi: number): { token: number; len: number }[] {
    const u = new Used();
    const out: { token: number; len: number }[] = [];
    for (;;) {
      const r = this.drivers.get(qi)!.reap(u);
      if (isRingError(r)) throw new Error(r.message);
      if (!r) return out;
      out.push({ token: u.token, len: u.len });
    }
  }
}

function frame(payload: number, seed: number): Uint8Array {
  const f = new Uint8Array(HDR + 14 + payload);
  f.set([...OURS, 0x02, 0, 0, 0, 0, 0x99, 0x08, 0x00], HDR);
  for (let i = 0; i < payload; i++) f[HDR + 14 + i] = (i * 13 + seed) & 0xff;
  return f;
}

describe('SvqDevice on the simulated vdpa_sim_net', () => {
  for (const mode of ['all', 'cvq'] as const) {
    it(`loops TX to RX through ${mode === 'all' ? 'shadowed' : 'pass-through'} data queues (mode '${mode}')`, async () => {
      const dev = new SimVdpaDevice({});
      const g = new Guest(dev, 'split', VDPA_SIM_NET_FEATURES, [0, 1, 2]);
      const sd = await g.start(mode, 2);
      expect(sd.svqAsid).toBe(mode === 'all' ? 0 : 1);
      expect(dev.queueAsid(2)).toBe(mode === 'all' ? 0 : 1);
      const rx = [g.postRx(0, 2048), g.postRx(0, 2048)];
      const frames = [frame(100, 1), frame(300, 2)];
      for (const f of frames) g.postTx(1, f);
      g.dirty.collect();
      sd.guestKick(0);
      sd.guestKick(1);
      dev.flush();
      sd.poll();
      const used = g.reap(0);
      expect(used.map((u) => u.len)).toEqual(frames.map((f) => f.length));
      // the frame arrives whole; the device fills num_buffers (le16 at 10) of virtio_net_hdr_v1
      used.forEach((u, i) => {
        const got = right(g.gpa.read(rx[i]!, u.len));
        expect(got.subarray(HDR)).toEqual(frames[i]!.subarray(HDR));
        expect(got.subarray(0, 10)).toEqual(frames[i]!.subarray(0, 10));
      });
      expect(g.reap(1).map((u) => u.len)).toEqual([0, 0]);
      if (mode === 'all') {
        expect(sd.data.get(0)!.stats().returned).toBe(2);
        // SVQ wrote the RX buffers' pages and the used rings into guest memory: all logged
        const dirty = g.dirty.collect();
        expect(dirty).toContain(Math.floor(rx[0]! / 4096) * 4096);
        expect(dirty).toContain(Math.floor((rx[1]! + frames[1]!.length - 1) / 4096) * 4096);
        expect(dirty).toContain(Math.floor(g.configs.get(0)!.addrs.device / 4096) * 4096);
      } else expect(sd.data.size).toBe(0);
    });

    it(`forwards guest CVQ commands copied before checking, applies them only on OK (mode '${mode}')`, async () => {
      const dev = new SimVdpaDevice({});
      const g = new Guest(dev, 'split', VDPA_SIM_NET_FEATURES, [0, 1, 2]);
      const sd = await g.start(mode, 2);
      const newMac = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
      const set = g.command(2, encodeCommand({ kind: 'MAC_ADDR_SET', mac: '02:aa:bb:cc:dd:ee' }));
      const promisc = g.command(2, encodeCommand({ kind: 'RX_PROMISC', on: false })); // CTRL_RX not negotiated
      const junk = g.command(2, new Uint8Array([0xee, 0x01, 0x00]));
      sd.guestKick(2);
      // the guest rewrites its command after the kick: SVQ already holds its own copy
      right(g.gpa.write(set.out + 2, new Uint8Array([0x02, 0x11, 0x11, 0x11, 0x11, 0x11])));
      dev.flush();
      sd.poll();
      expect(right(g.gpa.readU8(set.ack))).toBe(VIRTIO_NET_OK);
      expect(right(g.gpa.readU8(promisc.ack))).toBe(VIRTIO_NET_ERR);
      expect(right(g.gpa.readU8(junk.ack))).toBe(VIRTIO_NET_ERR);
      expect(g.reap(2).map((u) => u.len)).toEqual([1, 1, 1].slice(0, 3));
      const cvq = sd.cvq!;
      expect(cvq.state.mac).toBe('02:aa:bb:cc:dd:ee');
      expect([...right(dev.getConfig(0, 6))]).toEqual(newMac);
      const st = cvq.stats();
      expect(st.forwarded).toBe(1);
      expect(st.deviceOk).toBe(1);
      expect(st.refusedLocally).toBe(2);
      expect(g.calls).toBeGreaterThan(0);
    });
  }

  it('refuses a CVQ-only set-up without a CVQ and features SVQ cannot shadow, with typed errors', async () => {
    const dev = new SimVdpaDevice({});
    const g = new Guest(dev, 'split', VDPA_SIM_NET_FEATURES, [0, 1, 2]);
    right(dev.setOwner());
    const r = await SvqDevice.start({
      device: dev,
      mode: 'cvq',
      guest: { space: g.gpa, sections: [{ gpa: 0, hva: g.ram.base, size: g.ram.size }], features: VDPA_SIM_NET_FEATURES, queues: [{ qi: 0, config: g.configs.get(0)! }, { qi: 1, config: g.configs.get(1)! }] },
      callGuest: () => {},
      state: resetNetState(MAC),
    });
    expect(r).toMatchObject(E.left({ _tag: 'SvqDeviceError', kind: 'invalid' }));
    const bad = await SvqDevice.start({
      device: dev,
      mode: 'all',
      guest: { space: g.gpa, sections: [], features: VDPA_SIM_NET_FEATURES & ~F.VERSION_1, queues: [{ qi: 0, config: g.configs.get(0)! }] },
      callGuest: () => {},
      state: resetNetState(MAC),
    });
    expect(bad).toMatchObject(E.left({ kind: 'features', cause: { kind: 'missing-required', features: ['VERSION_1'] } }));
  });

  for (const [gl, sl] of [['split', 'packed'], ['packed', 'split']] as const) {
    it(`shadows a ${gl} guest on a ${sl} EVENT_IDX device ring (full profile), and hands over on stop`, async () => {
      const dev = new SimVdpaDevice({ profile: 'full' });
      const feats = (SIM_FULL_FEATURES & ~F.RING_PACKED & ~F.MQ & ~F.MRG_RXBUF) | (gl === 'packed' ? F.RING_PACKED : 0n);
      const g = new Guest(dev, gl, feats, [0, 1, 2]);
      const sd = await g.start('all', 2, { layout: sl, eventIdx: true });
      const rx = [g.postRx(0, 2048), g.postRx(0, 2048), g.postRx(0, 2048)];
      const f = frame(64, 9);
      g.postTx(1, f);
      sd.guestKick(0);
      sd.guestKick(1);
      dev.flush();
      sd.poll();
      const used = g.reap(0);
      expect(used.length).toBe(1);
      expect(right(g.gpa.read(rx[0]!, f.length)).subarray(HDR)).toEqual(f.subarray(HDR));
      // a CVQ command on the same layouts
      const set = g.command(2, encodeCommand({ kind: 'MAC_ADDR_SET', mac: '02:aa:bb:cc:dd:ee' }));
      sd.guestKick(2);
      dev.flush();
      sd.poll();
      expect(right(g.gpa.readU8(set.ack))).toBe(VIRTIO_NET_OK);
      expect(sd.cvq!.state.mac).toBe('02:aa:bb:cc:dd:ee');
      // two RX buffers still with the device: reported by the hand-over, in order
      const ho = right(sd.stop());
      const h0 = ho.shadowed.get(0)!;
      expect(h0.inFlight.map((e) => e.addr[0])).toEqual([rx[1], rx[2]]);
      // one descriptor per RX chain: both layouts un-pop two positions
      expect(h0.passthroughBase?.availIdx).toBe(h0.guestBase.availIdx - 2);
      expect(ho.cvq?.unanswered).toEqual([]);
      expect(E.isRight(sd.teardown())).toBe(true);
      expect(sd.tree.maps()).toEqual([]);
    });
  }

  it('keeps the model unchanged when the device nacks or answers with a wrong length; engine commands share the CVQ', async () => {
    const dev = new SimVdpaDevice({ faults: [{ kind: 'nack', times: 1 }] });
    const g = new Guest(dev, 'split', VDPA_SIM_NET_FEATURES, [0, 1, 2]);
    const sd = await g.start('cvq', 2);
    const a = g.command(2, encodeCommand({ kind: 'MAC_ADDR_SET', mac: '02:00:00:00:00:01' }));
    sd.guestKick(2);
    dev.flush();
    sd.poll();
    dev.setFaults([{ kind: 'wrong-used-len', len: 0, times: 1 }]);
    const b = g.command(2, encodeCommand({ kind: 'MAC_ADDR_SET', mac: '02:00:00:00:00:02' }));
    sd.guestKick(2);
    dev.flush();
    sd.poll();
    expect(right(g.gpa.readU8(a.ack))).toBe(VIRTIO_NET_ERR);
    expect(right(g.gpa.readU8(b.ack))).toBe(VIRTIO_NET_ERR);
    const cvq = sd.cvq!;
    expect(cvq.state.mac).toBe(MAC);
    expect(cvq.stats().deviceErr).toBe(2);
    expect(cvq.events.map((e) => e.note)).toEqual([undefined, 'device wrote 0 bytes, not 1']);
    // the engine's own command (a restore step) goes through the same shadow CVQ
    const acks: number[] = [];
    cvq.submit({ kind: 'MAC_ADDR_SET', mac: '02:00:00:00:00:03' }, (ack) => acks.push(ack));
    dev.flush();
    sd.poll();
    expect(acks).toEqual([VIRTIO_NET_OK]);
    expect(cvq.state.mac).toBe('02:00:00:00:00:03');
    expect(cvq.stats().ownCompleted).toBe(1);
    expect(g.reap(2).length).toBe(2);
  });

  it('fails a data queue whose device returns an unknown used id, keeping the guest buffers accounted for', async () => {
    const dev = new SimVdpaDevice({ faults: [{ kind: 'bad-used-id', queue: 0, id: 40, times: 1 }] });
    const g = new Guest(dev, 'split', VDPA_SIM_NET_FEATURES, [0, 1, 2]);
    const sd = await g.start('all', 2);
    g.postRx(0, 2048);
    g.postRx(0, 2048);
    g.postTx(1, frame(64, 3));
    sd.guestKick(0);
    sd.guestKick(1);
    dev.flush();
    sd.poll();
    const q = sd.data.get(0)!;
    expect(q.state).toBe('failed');
    expect(q.failure).toMatchObject({ kind: 'device-ring', cause: { rule: 'used-id-not-in-flight', index: 40 } });
    expect(q.inFlight()).toBe(2);
    expect(g.reap(0)).toEqual([]);
    const ho = right(sd.stop());
    expect(ho.shadowed.get(0)!.inFlight.length).toBe(2);
    // the TX queue was not affected
    expect(sd.data.get(1)!.state).toBe('stopped');
  });

  it('stashes guest CVQ commands beyond its command slots and answers every one, in order', async () => {
    const dev = new SimVdpaDevice({});
    const g = new Guest(dev, 'split', VDPA_SIM_NET_FEATURES, [0, 1, 2]);
    const sd = await g.start('cvq', 2);
    const macs = Array.from({ length: 20 }, (_, i) => `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`);
    const sent = macs.map((mac) => g.command(2, encodeCommand({ kind: 'MAC_ADDR_SET', mac })));
    sd.guestKick(2);
    expect(sd.cvq!.stats().forwarded).toBe(16);
    expect(sd.cvq!.stats().stashes).toBe(1);
    for (let i = 0; i < 10 && sd.cvq!.stats().deviceOk < 20; i++) {
      dev.flush();
      sd.poll();
    }
    expect(g.reap(2).length).toBe(20);
    for (const c of sent) expect(right(g.gpa.readU8(c.ack))).toBe(VIRTIO_NET_OK);
    expect(sd.cvq!.events.map((e) => (e.command?.kind === 'MAC_ADDR_SET' ? e.command.mac : ''))).toEqual(macs);
    expect(sd.cvq!.state.mac).toBe(macs[19]);
    const ho = right(sd.stop());
    expect(ho.cvq?.unanswered).toEqual([]);
    // a stopped CVQ refuses engine commands at once instead of queueing them forever
    const acks: number[] = [];
    sd.cvq!.submit({ kind: 'MAC_ADDR_SET', mac: MAC }, (a) => acks.push(a));
    expect(acks).toEqual([VIRTIO_NET_ERR]);
  });

  it('resumes after a device reset with the in-flight RX buffers forwarded again (SVQ restart / destination)', async () => {
    const dev = new SimVdpaDevice({});
    const g = new Guest(dev, 'split', VDPA_SIM_NET_FEATURES, [0, 1, 2]);
    let sd = await g.start('all', 2);
    const rx = [g.postRx(0, 2048), g.postRx(0, 2048)];
    sd.guestKick(0);
    dev.flush();
    sd.poll();
    const ho = right(sd.stop());
    expect(ho.shadowed.get(0)!.inFlight.length).toBe(2);
    expect(E.isRight(sd.teardown())).toBe(true);
    // a new SVQ on the reset device: the two RX buffers go to the new shadow ring first
    const resume = new Map<number, { handover: SvqHandover }>([...ho.shadowed].map(([qi, h]) => [qi, { handover: h }]));
    sd = await g.start('all', 2, undefined, resume);
    const frames = [frame(200, 4), frame(100, 5)];
    for (const f of frames) g.postTx(1, f);
    sd.guestKick(1);
    dev.flush();
    sd.poll();
    const used = g.reap(0);
    expect(used.map((u) => u.token)).toEqual(rx);
    used.forEach((u, i) => expect(right(g.gpa.read(rx[i]!, u.len)).subarray(HDR)).toEqual(frames[i]!.subarray(HDR)));
    expect(g.reap(1).length).toBe(2);
  });

  it('switches SVQ off: the device takes the guest rings over at the hand-over position (pass-through)', async () => {
    const dev = new SimVdpaDevice({});
    const g = new Guest(dev, 'split', VDPA_SIM_NET_FEATURES, [0, 1, 2]);
    let sd = await g.start('all', 2);
    // some traffic under SVQ, then two RX buffers left in flight
    g.postRx(0, 2048);
    g.postTx(1, frame(60, 1));
    sd.guestKick(0);
    sd.guestKick(1);
    dev.flush();
    sd.poll();
    expect(g.reap(0).length).toBe(1);
    expect(g.reap(1).length).toBe(1);
    const rx = [g.postRx(0, 2048), g.postRx(0, 2048)];
    sd.guestKick(0);
    dev.flush();
    sd.poll();
    const ho = right(sd.stop());
    expect(E.isRight(sd.teardown())).toBe(true);
    const bases = new Map<number, { base: RingBase }>();
    for (const [qi, h] of ho.shadowed) bases.set(qi, { base: h.passthroughBase! });
    // CVQ-only shadowing: data queues pass through from the un-popped positions
    sd = await g.start('cvq', 2, undefined, bases);
    expect(sd.data.size).toBe(0);
    const frames = [frame(300, 7), frame(40, 8)];
    for (const f of frames) g.postTx(1, f);
    sd.guestKick(1);
    dev.flush();
    const used = g.reap(0);
    expect(used.map((u) => u.token)).toEqual(rx);
    used.forEach((u, i) => expect(right(g.gpa.read(rx[i]!, u.len)).subarray(HDR)).toEqual(frames[i]!.subarray(HDR)));
  });

  it('relays device calls through the uAPI wait (waitCall) on a device without call eventfds, without poking the simulator', async () => {
    const dev = new SimVdpaDevice({});
    const g = new Guest(dev, 'split', VDPA_SIM_NET_FEATURES, [0, 1, 2]);
    const sd = await g.start('all', 2);
    const rx = g.postRx(0, 2048);
    const f = frame(80, 6);
    g.postTx(1, f);
    const set = g.command(2, encodeCommand({ kind: 'MAC_ADDR_SET', mac: '02:12:34:56:78:9a' }));
    sd.guestKick(0);
    sd.guestKick(1);
    sd.guestKick(2);
    sd.relayCalls();
    expect(sd.rings.relaying).toBe(true);
    for (let i = 0; i < 100 && right(g.gpa.readU8(set.ack)) !== VIRTIO_NET_OK; i++) await new Promise((r) => setImmediate(r));
    sd.stopRelay();
    expect(sd.rings.relaying).toBe(false);
    expect(right(g.gpa.readU8(set.ack))).toBe(VIRTIO_NET_OK);
    const used = g.reap(0);
    expect(used.map((u) => u.token)).toEqual([rx]);
    expect(right(g.gpa.read(rx, f.length)).subarray(HDR)).toEqual(f.subarray(HDR));
    expect(sd.kickErrors).toEqual([]);
  });

  it('undoes a half-done set-up (IOTLB update refused midway): no mappings or host memory left behind', async () => {
    const dev = new SimVdpaDevice({ faults: [{ kind: 'iotlb-map-fails', after: 3 }] });
    const g = new Guest(dev, 'split', VDPA_SIM_NET_FEATURES, [0, 1, 2]);
    right(dev.setOwner());
    const r = await SvqDevice.start({
      device: dev,
      mode: 'all',
      guest: { space: g.gpa, sections: [{ gpa: 0, hva: g.ram.base, size: g.ram.size }], features: VDPA_SIM_NET_FEATURES, queues: [...g.configs].map(([qi, config]) => ({ qi, config })), cvq: 2 },
      callGuest: () => {},
      state: resetNetState(MAC),
    });
    expect(r).toMatchObject(E.left({ _tag: 'SvqDeviceError', kind: 'device', cause: { _tag: 'DeviceError', op: 'VHOST_IOTLB_UPDATE' } }));
    expect(dev.iotlbEntries(0)).toEqual([]);
    expect(dev.host.regions().map((x) => x.name)).toEqual(['guest-ram']);
    expect(right(dev.getStatus())).toBe(0);
  });
});
