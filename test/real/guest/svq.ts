/**
 * The data queues shadowed by the SVQ engine (src/svq/shadow-virtqueue.ts) on the real device, as QEMU
 * runs them during migration: the guest's rx/tx rings and buffers live in guest memory (here MAP_SHARED
 * pages seen at guest-physical addresses), SVQ is their device and the driver of shadow rings the
 * kernel device reads by IOVA; guest RAM enters the device through the IOVA tree (GPA → IOVA → HVA),
 * the shadow rings likewise (HVA → IOVA). vdpa_sim_net loops every TX frame into the next RX buffer;
 * every byte the guest gets back is checked, and the dirty log must hold exactly the RX pages written.
 */
import * as E from 'fp-ts/lib/Either.js';
import { VHOST_ACCESS_RW, type VdpaDevice } from '../../../src/device/types.js';
import { AddressSpace, PAGE_SIZE } from '../../../src/memory/address-space.js';
import { Chain, isRingError, placeRing, ringFactory, Used, type RingConfig, type RingDriver } from '../../../src/ring/index.js';
import { DirtyLog } from '../../../src/svq/dirty-log.js';
import { IovaTree, isIovaTreeError } from '../../../src/svq/iova-tree.js';
import { isSvqError, ShadowVirtqueue } from '../../../src/svq/shadow-virtqueue.js';
import { maskOf } from '../../../src/virtio/features.js';
import { eq, ok, right, Suite } from '../framework.js';
import { backendMask, bringUp } from './bringup.js';
import type { GuestContext } from './context.js';

export const svq = new Suite<GuestContext>('svq');

const NET_HDR_LEN = 12; // struct virtio_net_hdr_v1 (VERSION_1)
const BUF = 2048;
const RX = 0;
const TX = 1;
const QSIZE = 256;
/** Guest-physical base of guest RAM (any page-aligned value: the IOVA tree translates it). */
const GPA_BASE = 0x4000_0000;

interface Queue {
  readonly qi: number;
  readonly guest: RingDriver;
  readonly svq: ShadowVirtqueue;
  /** Calls SVQ sent to the guest (its irqfd). */
  readonly guestCalls: { n: number };
}

interface Plane {
  readonly rx: Queue;
  readonly tx: Queue;
  readonly gpa: AddressSpace;
  readonly dirty: DirtyLog;
  /** Guest RAM bytes (host view) and the GPA of the first buffer. */
  readonly ram: Uint8Array;
  readonly bufGpa: number;
}

/** The device up through machines/device-lifecycle; step 7 maps guest RAM and the shadow rings and points the queues. */
async function setup(dev: VdpaDevice, nbufs: number): Promise<Plane> {
  const up = await bringUp(dev, maskOf(['VERSION_1', 'ACCESS_PLATFORM', 'MAC', 'STATUS', 'MTU']), backendMask(['IOTLB_MSG_V2', 'IOTLB_BATCH']), () => queuesUp(dev, nbufs));
  up.actor.stop();
  return up.setup;
}

function queuesUp(dev: VdpaDevice, nbufs: number): Plane {
  const guestLay = placeRing('split', QSIZE, 0);
  const guestRingBytes = Math.ceil(guestLay.end / PAGE_SIZE) * PAGE_SIZE;
  const ramBytes = 2 * guestRingBytes + 2 * nbufs * BUF;
  // guest RAM: shared pages (the device writes RX frames into them), seen by the guest at GPA_BASE
  const ram = right(dev.allocHost(ramBytes, 'guest-ram'), 'allocHost guest RAM');
  const gpa = new AddressSpace('gpa');
  right(gpa.addRegion(GPA_BASE, ram.buffer, { offset: ram.offset, size: ram.size, name: 'guest-ram' }), 'GPA view');
  const dirty = DirtyLog.forSpace(gpa);
  dirty.attach(gpa);

  // shadow rings in host memory
  const shLay = placeRing('split', QSIZE, 0, { deviceAlign: PAGE_SIZE });
  const shRingBytes = Math.ceil(shLay.end / PAGE_SIZE) * PAGE_SIZE;
  const shadow = right(dev.allocHost(2 * shRingBytes, 'shadow-rings'), 'allocHost shadow rings');

  // IOVA tree: guest RAM by GPA, shadow rings by HVA; the device's IOTLB gets IOVA → HVA for both
  const tree = new IovaTree(right(dev.getIovaRange(), 'GET_IOVA_RANGE'));
  const ramMap = tree.mapAlloc('gpa', { translatedAddr: GPA_BASE, size: ram.size - 1, perm: VHOST_ACCESS_RW });
  const shMap = tree.mapAlloc('hva', { translatedAddr: shadow.base, size: shadow.size - 1, perm: VHOST_ACCESS_RW });
  if (isIovaTreeError(ramMap) || isIovaTreeError(shMap)) throw new Error('IOVA tree allocation failed');
  const iovaView = new AddressSpace('iova:asid0');
  right(iovaView.addRegion(ramMap.iova, ram.buffer, { offset: ram.offset, size: ram.size, name: 'guest-ram@iova' }), 'IOVA view RAM');
  right(iovaView.addRegion(shMap.iova, shadow.buffer, { offset: shadow.offset, size: shadow.size, name: 'shadow@iova' }), 'IOVA view shadow');
  right(dev.iotlbBatchBegin(0), 'BATCH_BEGIN');
  right(dev.iotlbUpdate(0, ramMap.iova, ram.size, ram.base, VHOST_ACCESS_RW), 'map guest RAM');
  right(dev.iotlbUpdate(0, shMap.iova, shadow.size, shadow.base, VHOST_ACCESS_RW), 'map shadow rings');
  right(dev.iotlbBatchEnd(0), 'BATCH_END');

  const queues = [RX, TX].map((qi): Queue => {
    const g = placeRing('split', QSIZE, GPA_BASE + qi * guestRingBytes);
    const guestConfig: RingConfig = { layout: 'split', size: QSIZE, addrs: g.addrs, eventIdx: false, indirect: false };
    const guest = ringFactory('split').driver(gpa, guestConfig);
    if (isRingError(guest)) throw new Error(guest.message);
    const s = placeRing('split', QSIZE, shMap.iova + qi * shRingBytes, { deviceAlign: PAGE_SIZE });
    const shadowConfig: RingConfig = { layout: 'split', size: QSIZE, addrs: s.addrs, eventIdx: false, indirect: false };
    const guestCalls = { n: 0 };
    const created = ShadowVirtqueue.create({
      name: qi === RX ? 'rx' : 'tx',
      guest: { space: gpa, config: guestConfig },
      shadow: { space: iovaView, config: shadowConfig },
      iova: tree,
      bufferMap: 'gpa',
      dirty,
      kickDevice: () => {
        right(dev.kick(qi), `kick ${qi}`);
      },
      callGuest: () => {
        guestCalls.n++;
      },
    });
    if (isSvqError(created)) throw new Error(created.message);
    right(dev.setVringNum(qi, QSIZE), 'SET_VRING_NUM');
    right(dev.setVringBase(qi, 0), 'SET_VRING_BASE');
    right(dev.setVringAddr(qi, s.addrs), 'SET_VRING_ADDR');
    right(dev.setVringEnable(qi, true), 'SET_VRING_ENABLE');
    return { qi, guest, svq: created, guestCalls };
  });
  return { rx: queues[0]!, tx: queues[1]!, gpa, dirty, ram: ram.bytes, bufGpa: GPA_BASE + 2 * guestRingBytes };
}

svq.test('data queues through SVQ: 128 frames TX → vdpa_sim_net → RX, every byte checked at the guest, RX pages dirty', (ctx) =>
  ctx.withDevice(async (dev) => {
    const N = 128;
    const p = await setup(dev, N);
    const mac = right(dev.getConfig(0, 6), 'GET_CONFIG mac');
    const chain = new Chain(4);
    const used = new Used();
    const ramOff = (gpaAddr: number): number => gpaAddr - GPA_BASE;
    // guest: post N rx buffers, kick (SVQ handles the guest's kick: pops, translates, forwards)
    for (let i = 0; i < N; i++) {
      chain.reset();
      chain.push(p.bufGpa + i * BUF, BUF, true);
      ok(!isRingError(p.rx.guest.add(chain, i)), `guest rx add ${i}`);
    }
    p.rx.svq.handleGuestKick();
    // guest: N frames on tx, mixed lengths, broadcast or our MAC
    const lens: number[] = [];
    let x = 0x9e3779b9;
    for (let i = 0; i < N; i++) {
      const len = NET_HDR_LEN + 60 + ((i * 211) % (1514 - 60 + 1));
      const o = ramOff(p.bufGpa + (N + i) * BUF);
      p.ram.fill(0, o, o + NET_HDR_LEN);
      p.ram.set(i % 2 === 0 ? mac : [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], o + NET_HDR_LEN);
      p.ram.set([0x02, 0, 0, 0, 0, 0x09, 0x88, 0xb5], o + NET_HDR_LEN + 6);
      for (let k = NET_HDR_LEN + 14; k < len; k++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        p.ram[o + k] = x & 0xff;
      }
      lens.push(len);
      chain.reset();
      chain.push(p.bufGpa + (N + i) * BUF, len, false);
      ok(!isRingError(p.tx.guest.add(chain, N + i)), `guest tx add ${i}`);
    }
    p.dirty.collect(); // forget the guest's own writes: from here only the device (through SVQ) writes
    const t0 = performance.now();
    p.tx.svq.handleGuestKick();
    const rxGot: { token: number; len: number }[] = [];
    let txDone = 0;
    const deadline = performance.now() + 30_000;
    while (rxGot.length < N || txDone < N) {
      // device calls → SVQ returns used chains to the guest rings; the guest reaps them
      p.rx.svq.handleDeviceCall();
      p.tx.svq.handleDeviceCall();
      for (let r = p.tx.guest.reap(used); r === true; r = p.tx.guest.reap(used)) txDone++;
      for (let r = p.rx.guest.reap(used); r === true; r = p.rx.guest.reap(used)) rxGot.push({ token: used.token, len: used.len });
      if (rxGot.length >= N && txDone >= N) break;
      ok(p.rx.svq.state === 'running' && p.tx.svq.state === 'running', `SVQ failed: ${p.rx.svq.failure?.message ?? p.tx.svq.failure?.message}`);
      ok(performance.now() < deadline, `timeout: ${txDone}/${N} tx, ${rxGot.length}/${N} rx at the guest`);
      const w = await dev.waitCall(rxGot.length < N ? RX : TX, 20);
      ok(E.isRight(w), 'waitCall');
    }
    const ms = performance.now() - t0;
    let bytes = 0;
    for (let j = 0; j < N; j++) {
      const g = rxGot[j]!;
      eq(g.token, j, `guest rx used ${j} is buffer ${j}`);
      eq(g.len, lens[j]!, `rx ${j} length`);
      const a = ramOff(p.bufGpa + j * BUF);
      const b = ramOff(p.bufGpa + (N + j) * BUF);
      for (let k = 0; k < g.len; k++) {
        if (p.ram[a + k] !== p.ram[b + k]) throw new Error(`rx ${j} byte ${k}: 0x${p.ram[a + k]!.toString(16)} != tx 0x${p.ram[b + k]!.toString(16)}`);
      }
      bytes += g.len;
    }
    const rs = p.rx.svq.stats();
    const ts = p.tx.svq.stats();
    eq(rs.forwarded, N, 'rx chains forwarded by SVQ');
    eq(rs.returned, N, 'rx chains returned to the guest');
    eq(ts.returned, N, 'tx chains returned to the guest');
    eq(rs.usedBytes, bytes, 'SVQ counted the bytes the device wrote');
    ok(p.rx.guestCalls.n > 0 && p.tx.guestCalls.n > 0, 'SVQ signalled the guest on both queues');
    // dirty log: every page of every RX buffer up to its used length, and the guest used rings
    for (let j = 0; j < N; j++) {
      const start = p.bufGpa + j * BUF;
      for (let a = start; a < start + rxGot[j]!.len; a += PAGE_SIZE) ok(p.dirty.isDirty(a), `rx ${j} page 0x${a.toString(16)} dirty`);
    }
    for (let i = 0; i < N; i++) ok(!p.dirty.isDirty(p.bufGpa + (N + i) * BUF), `tx buffer ${i} not dirtied by the device`);
    ctx.metric({ name: 'SVQ dataplane loop (TCG)', value: Math.round((N / ms) * 1000), unit: 'frames/s', note: `${N} frames, ${bytes} bytes checked, ${ts.kicksSent} tx kicks, ${rs.callsSent} rx calls to the guest` });
  }),
);
