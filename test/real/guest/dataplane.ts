/**
 * The data queues on the real device: vdpa_sim_net loops every TX frame back into the next RX buffer
 * (drivers/vdpa/vdpa_sim/vdpa_sim_net.c, after its receive filter: broadcast, multicast or the config
 * MAC). Here the project's split ring driver drives rx (vq 0) and tx (vq 1) directly on mmap'ed shared
 * memory mapped through the IOVA tree; every byte that comes back is checked. (SVQ in front of such
 * rings: the svq suite, which also times both loops side by side.)
 */
import { execFileSync } from 'node:child_process';
import * as E from 'fp-ts/lib/Either.js';
import { VHOST_ACCESS_RW, type VdpaDevice } from '../../../src/device/types.js';
import { AddressSpace, PAGE_SIZE, type Region } from '../../../src/memory/address-space.js';
import { Chain, isRingError, placeRing, splitRing, Used, type RingDriver } from '../../../src/ring/index.js';
import { IovaTree, isIovaTreeError } from '../../../src/svq/iova-tree.js';
import { maskOf } from '../../../src/virtio/features.js';
import { eq, ok, right, Suite } from '../framework.js';
import { backendMask, bringUp } from './bringup.js';
import type { GuestContext } from './context.js';

export const dataplane = new Suite<GuestContext>('dataplane');

/** struct virtio_net_hdr_v1 (virtio 1.2 §5.1.6): 12 bytes with VERSION_1. */
const NET_HDR_LEN = 12;
const BUF = 2048;
const RX = 0;
const TX = 1;

interface Queue {
  readonly qi: number;
  readonly driver: RingDriver;
}

interface Plane {
  readonly rx: Queue;
  readonly tx: Queue;
  /** Buffer memory: host region and its IOVA. */
  readonly bufs: Region;
  readonly bufIova: number;
}

/** The device up through machines/device-lifecycle; step 7 maps the rings and buffers and points the two queues. */
async function setup(dev: VdpaDevice, nbufs: number): Promise<Plane> {
  const up = await bringUp(dev, maskOf(['VERSION_1', 'ACCESS_PLATFORM', 'MAC', 'STATUS', 'MTU']), backendMask(['IOTLB_MSG_V2', 'IOTLB_BATCH']), () => queuesUp(dev, nbufs));
  up.actor.stop();
  return up.setup;
}

function queuesUp(dev: VdpaDevice, nbufs: number): Plane {
  const size = 256;
  const lay = placeRing('split', size, 0, { deviceAlign: PAGE_SIZE });
  const ringBytes = Math.ceil(lay.end / PAGE_SIZE) * PAGE_SIZE;
  const rings = right(dev.allocHost(2 * ringBytes, 'data-rings'), 'allocHost rings');
  const bufs = right(dev.allocHost(2 * nbufs * BUF, 'data-bufs'), 'allocHost buffers');
  const tree = new IovaTree(right(dev.getIovaRange(), 'GET_IOVA_RANGE'));
  const iova = new AddressSpace('iova:asid0');
  const mapped: number[] = [];
  for (const [r, perm] of [[rings, VHOST_ACCESS_RW], [bufs, VHOST_ACCESS_RW]] as const) {
    const m = tree.mapAlloc('hva', { translatedAddr: r.base, size: r.size - 1, perm });
    if (isIovaTreeError(m)) throw new Error(m.message);
    right(iova.addRegion(m.iova, r.buffer, { offset: r.offset, size: r.size }), 'iova alias');
    mapped.push(m.iova);
  }
  right(dev.iotlbBatchBegin(0), 'BATCH_BEGIN');
  right(dev.iotlbUpdate(0, mapped[0]!, rings.size, rings.base, VHOST_ACCESS_RW), 'map rings');
  right(dev.iotlbUpdate(0, mapped[1]!, bufs.size, bufs.base, VHOST_ACCESS_RW), 'map buffers');
  right(dev.iotlbBatchEnd(0), 'BATCH_END');
  const queues = [RX, TX].map((qi) => {
    const at = mapped[0]! + qi * ringBytes;
    const addrs = { desc: at + lay.addrs.desc, driver: at + lay.addrs.driver, device: at + lay.addrs.device };
    const driver = splitRing.driver(iova, { layout: 'split', size, addrs, eventIdx: false, indirect: false });
    if (isRingError(driver)) throw new Error(driver.message);
    right(dev.setVringNum(qi, size), 'SET_VRING_NUM');
    right(dev.setVringBase(qi, 0), 'SET_VRING_BASE');
    right(dev.setVringAddr(qi, addrs), 'SET_VRING_ADDR');
    right(dev.setVringEnable(qi, true), 'SET_VRING_ENABLE');
    return { qi, driver };
  });
  return { rx: queues[0]!, tx: queues[1]!, bufs, bufIova: mapped[1]! };
}

/** xorshift32: deterministic frame contents. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x & 0xff;
  };
}

function rxStats(): { pkts: number; drops: number } {
  const out = execFileSync('vdpa', ['dev', 'vstats', 'show', 'vdpa0', 'qidx', '0'], { encoding: 'utf8' });
  const get = (n: string): number => {
    const m = new RegExp(`rx ${n} (\\d+)`).exec(out);
    if (m === null) throw new Error(`no "rx ${n}" in vstats: ${out}`);
    return Number(m[1]);
  };
  return { pkts: get('packets'), drops: get('drops') };
}

dataplane.test('TX → RX loop through vdpa_sim_net on the project split rings: 64 frames, every byte checked; foreign unicast dropped', (ctx) =>
  ctx.withDevice(async (dev) => {
    const N = 64;
    const p = await setup(dev, N);
    const chain = new Chain(4);
    const used = new Used();
    // the device's current MAC (CVQ tests may have changed it: MAC_ADDR_SET survives a reset)
    const mac = right(dev.getConfig(0, 6), 'GET_CONFIG mac');
    // counters first: the rx kick below runs the device's work, which also serves any tx chain already
    // made available (vdpasim_net_work handles both queues on any kick)
    const before = rxStats();
    // rx buffers: [0, N) ; tx buffers: [N, 2N)
    for (let i = 0; i < N; i++) {
      chain.reset();
      chain.push(p.bufIova + i * BUF, BUF, true);
      const h = p.rx.driver.add(chain, i);
      ok(!isRingError(h), `rx add ${i}`);
    }
    right(dev.kick(RX), 'kick rx');
    const lens: number[] = [];
    const rnd = prng(0x5eed);
    const b = p.bufs.bytes;
    // frame N/2 goes to a foreign unicast MAC: the device's receive filter drops it
    const foreign = N / 2;
    for (let i = 0; i < N; i++) {
      const frame = 14 + 46 + ((i * 97) % (1500 - 46)); // 60..1514 bytes of Ethernet
      const len = NET_HDR_LEN + frame;
      const o = (N + i) * BUF;
      b.fill(0, o, o + NET_HDR_LEN); // virtio_net_hdr_v1: no offloads
      const dst = i === foreign ? [0x02, 0xde, 0xad, 0xbe, 0xef, 0x01] : i % 3 === 0 ? [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] : Array.from(mac);
      b.set(dst, o + NET_HDR_LEN);
      b.set([0x02, 0x00, 0x00, 0x00, 0x00, 0x07], o + NET_HDR_LEN + 6);
      b[o + NET_HDR_LEN + 12] = 0x88;
      b[o + NET_HDR_LEN + 13] = 0xb5; // local experimental ethertype
      for (let k = NET_HDR_LEN + 14; k < len; k++) b[o + k] = rnd();
      lens.push(len);
      chain.reset();
      chain.push(p.bufIova + o, len, false);
      const h = p.tx.driver.add(chain, i);
      ok(!isRingError(h), `tx add ${i}`);
    }
    const t0 = performance.now();
    right(dev.kick(TX), 'kick tx');
    const rxGot: { token: number; len: number }[] = [];
    let txDone = 0;
    const deadline = performance.now() + 20_000;
    while (rxGot.length < N - 1 || txDone < N) {
      for (let r = p.tx.driver.reap(used); r === true; r = p.tx.driver.reap(used)) txDone++;
      for (let r = p.rx.driver.reap(used); r === true; r = p.rx.driver.reap(used)) rxGot.push({ token: used.token, len: used.len });
      if (rxGot.length >= N - 1 && txDone >= N) break;
      ok(performance.now() < deadline, `timeout: ${txDone}/${N} tx used, ${rxGot.length}/${N - 1} rx used`);
      const w = await dev.waitCall(rxGot.length < N - 1 ? RX : TX, 50);
      ok(E.isRight(w), 'waitCall');
    }
    const ms = performance.now() - t0;
    eq(txDone, N, 'every tx chain used');
    eq(rxGot.length, N - 1, 'every frame but the foreign one received');
    // rx buffers are filled in avail order with the tx frames in order, skipping the dropped one
    let bytes = 0;
    for (let j = 0; j < rxGot.length; j++) {
      const i = j < foreign ? j : j + 1;
      const g = rxGot[j]!;
      eq(g.token, j, `rx used ${j} is rx buffer ${j}`);
      eq(g.len, lens[i]!, `rx ${j} length = tx ${i} length`);
      const rxo = j * BUF;
      const txo = (N + i) * BUF;
      for (let k = 0; k < g.len; k++) {
        if (b[rxo + k] !== b[txo + k]) throw new Error(`rx ${j} byte ${k}: 0x${b[rxo + k]!.toString(16)} != tx ${i} 0x${b[txo + k]!.toString(16)}`);
      }
      bytes += g.len;
    }
    // vdpasim_net_work adds to its counters after completing the chains: let the last run finish
    let after = rxStats();
    for (let t = 0; t < 100 && (after.pkts - before.pkts < N - 1 || after.drops - before.drops < 1); t++) {
      await new Promise((r) => setTimeout(r, 10));
      after = rxStats();
    }
    eq(after.pkts - before.pkts, N - 1, 'device rx packets');
    eq(after.drops - before.drops, 1, 'device rx drops (receive filter)');
    // one cold burst (JIT not warmed up, one timing of a few ms): the loops compared are the svq suite's
    ctx.metric({ name: 'dataplane first burst (no SVQ, cold)', value: Math.round(((N - 1) / ms) * 1000), unit: 'frames/s', note: `${N - 1} frames, ${bytes} bytes checked, TCG` });
  }),
);
