/**
 * A real guest driver: the Linux kernel's virtio-net (virtio_vdpa, an ethX in this guest) drives the rings
 * of shadowvq's VDUSE device (src/device/vduse), and the SVQ forwards them onto /dev/vhost-vdpa-0
 * (vdpa_sim_net), which loops every frame back; the kernel receives it again.
 *
 *   AF_PACKET send ─▶ ethX ─▶ virtio_net ─▶ VDUSE ring (split | packed) ─SVQ─▶ split shadow ring ─▶ vdpa_sim_net
 *   AF_PACKET recv ◀─ ethX ◀─ virtio_net ◀─ VDUSE ring ◀──────────────SVQ◀── split shadow ring ◀──┘
 *
 * Every frame carries its sequence number and bytes derived from it: each one must come back exactly
 * once, byte for byte, and the kernel's interface counters must show exactly what was sent and received.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { NO_PASSTHROUGH, VduseBridge, vduseFeaturesFor } from '../../../src/device/vduse/bridge.js';
import { VduseDevice } from '../../../src/device/vduse/device.js';
import { VIRTIO_ID_NET } from '../../../src/device/vduse/uapi.js';
import { VhostVdpaDevice } from '../../../src/device/vhost-vdpa/device.js';
import { F, formatFeatures, hasFeature } from '../../../src/virtio/features.js';
import { AssertionFailed, eq, ok, right, Suite } from '../framework.js';
import type { GuestContext } from './context.js';
import { counters, diff, ENOBUFS, EAGAIN, ETH_P_TEST, netdevOf, PacketSocket, run, sysfsRead, sysfsWrite, unlimitMemlock, until, type Counters } from './kernel-driver-net.js';

export const kernelDriver = new Suite<GuestContext>('kernel-driver');

const NAME = 'svq-vduse0';
const QSIZE = 256;
/** VDUSE bounce area (sysfs bounce_size; VDUSE's minimum is 1 MiB, its default 64 MiB). */
const BOUNCE_SIZE = 16 << 20;

interface Env {
  readonly bridge: VduseBridge;
  readonly ifname: string;
  readonly mac: Uint8Array;
  readonly sock: PacketSocket;
  readonly vduse: VduseDevice;
  /** /dev/vhost-vdpa-0 (vdpa0 on vdpa_sim_net), where the bridge starts. */
  readonly dev0: VhostVdpaDevice;
}

/**
 * Create the VDUSE device with vdpa_sim_net's features (minus CTRL_VQ; RING_PACKED when `packed`) and
 * config space, bridge it onto /dev/vhost-vdpa-0, add it to the vdpa bus, bind it to virtio_vdpa, bring
 * the kernel's interface up and open a packet socket on it; run `fn`; tear everything down.
 */
async function withKernelNet<T>(ctx: GuestContext, packed: boolean, fn: (env: Env) => Promise<T>): Promise<T> {
  const autoprobe = sysfsRead('/sys/bus/vdpa/drivers_autoprobe');
  await sysfsWrite('/sys/bus/vdpa/drivers_autoprobe', '0'); // else vhost_vdpa grabs the new device
  const dev = ctx.openSync();
  if (!(dev instanceof VhostVdpaDevice)) throw new AssertionFailed('the bridge needs the real vhost-vdpa device');
  let bridge: VduseBridge | undefined;
  let vduse: VduseDevice | undefined;
  let added = false;
  let sock: PacketSocket | undefined;
  try {
    const vdpaFeatures = right(dev.getFeatures(), 'vhost-vdpa GET_FEATURES');
    const config = right(dev.getConfig(0, right(dev.getConfigSize(), 'GET_CONFIG_SIZE')), 'GET_CONFIG');
    const features = vduseFeaturesFor(vdpaFeatures, packed);
    vduse = right(VduseDevice.create({ name: NAME, vendorId: 0, deviceId: VIRTIO_ID_NET, features, vqNum: 2, vqAlign: 4096, config, vqMaxSize: QSIZE }), `VDUSE_CREATE_DEV ${formatFeatures(features)}`);
    bridge = right(VduseBridge.create(vduse, dev), 'bridge');
    bridge.start();
    // the bounce area is backed by this process's pages (VDUSE_IOTLB_REG_UMEM, pinned): keep it small
    unlimitMemlock();
    await sysfsWrite(`/sys/class/vduse/${NAME}/bounce_size`, String(BOUNCE_SIZE));
    const add = await run('vdpa', ['dev', 'add', 'name', NAME, 'mgmtdev', 'vduse']);
    eq(add.code, 0, `vdpa dev add: ${add.out}`);
    added = true;
    await sysfsWrite(`/sys/bus/vdpa/devices/${NAME}/driver_override`, 'virtio_vdpa');
    await sysfsWrite('/sys/bus/vdpa/drivers_probe', NAME);
    const b = bridge;
    await until('DRIVER_OK from the kernel driver', 10_000, () => (b.error !== undefined ? true : b.isDriverOk ? true : undefined));
    ok(b.error === undefined, `bridge: ${b.error?.message}`);
    const ifname = await until('virtio_net interface', 10_000, () => netdevOf(NAME));
    eq(hasFeature(b.features, 'RING_PACKED'), packed, `kernel negotiated ${formatFeatures(b.features)}`);
    // no IPv6 chatter (router solicitations, MLD): the interface carries only the test's frames
    await sysfsWrite(`/proc/sys/net/ipv6/conf/${ifname}/disable_ipv6`, '1').catch(() => undefined);
    const up = await run('ip', ['link', 'set', ifname, 'up']);
    eq(up.code, 0, `ip link set ${ifname} up: ${up.out}`);
    await until(`${ifname} carrier`, 10_000, () => (sysfsRead(`/sys/class/net/${ifname}/carrier`) === '1' ? true : undefined));
    const mac = Uint8Array.from(sysfsRead(`/sys/class/net/${ifname}/address`).split(':'), (x) => parseInt(x, 16));
    sock = new PacketSocket(Number(sysfsRead(`/sys/class/net/${ifname}/ifindex`)));
    return await fn({ bridge: b, ifname, mac, sock, vduse, dev0: dev });
  } finally {
    sock?.close();
    // `vdpa dev del` resets the device through the bridge: the pump must still run
    const del = added ? await run('vdpa', ['dev', 'del', NAME]) : { code: 0, out: '' };
    const closed = bridge !== undefined ? await bridge.close() : vduse !== undefined ? vduse.destroy() : E.right(undefined);
    dev.close();
    await sysfsWrite('/sys/bus/vdpa/drivers_autoprobe', autoprobe);
    if (del.code !== 0) throw new AssertionFailed(`vdpa dev del: ${del.out}`);
    if (E.isLeft(closed)) throw new AssertionFailed(`teardown: ${closed.left.message}`);
  }
}

/** Frame `seq`: dst, src 02:53:56:51:00:01, EtherType ETH_P_TEST, le32 seq, then bytes derived from seq. */
function frame(out: Uint8Array, seq: number, dst: Uint8Array): number {
  const len = 60 + ((seq * 211) % (1514 - 60 + 1));
  out.set(dst, 0);
  out.set([0x02, 0x53, 0x56, 0x51, 0x00, 0x01], 6);
  out[12] = ETH_P_TEST >> 8;
  out[13] = ETH_P_TEST & 0xff;
  out[14] = seq & 0xff;
  out[15] = (seq >>> 8) & 0xff;
  out[16] = (seq >>> 16) & 0xff;
  out[17] = seq >>> 24;
  let x = (seq * 0x9e3779b1) ^ 0x5bd1e995 | 1;
  for (let k = 18; k < len; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[k] = x & 0xff;
  }
  return len;
}

interface TrafficResult {
  readonly frames: number;
  readonly bytes: number;
  readonly ms: number;
  readonly before: Counters;
  readonly after: Counters;
  readonly retried: number;
}

/**
 * Send `n` frames (at most `window` unanswered) and receive each back: every byte compared with what was
 * sent, no frame twice, none missing. `tick(received)` runs between rounds (live switches).
 */
async function traffic(env: Env, n: number, window: number, tick?: (received: number) => void | Promise<void>): Promise<TrafficResult> {
  const { sock, bridge } = env;
  const before = counters(env.ifname);
  const tx = new Uint8Array(1514);
  const exp = new Uint8Array(1514);
  const rx = new Uint8Array(2048);
  const got = new Uint8Array(n);
  const bcast = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
  let sent = 0;
  let received = 0;
  let bytes = 0;
  let retried = 0;
  let idleRounds = 0;
  const t0 = performance.now();
  const deadline = t0 + 60_000; // 2000 frames take 4–16 s under TCG on a loaded host
  while (received < n) {
    let progress = false;
    while (sent < n && sent - received < window) {
      const len = frame(tx, sent, sent % 3 === 0 ? bcast : env.mac);
      const r = sock.send(tx.subarray(0, len));
      if (r === -EAGAIN || r === -ENOBUFS) {
        retried++;
        break;
      }
      if (r !== len) throw new AssertionFailed(`send frame ${sent}: ${r < 0 ? `errno ${-r}` : `${r}/${len} bytes`}`);
      sent++;
      progress = true;
    }
    for (;;) {
      const r = sock.recv(rx);
      if (r === 0) break;
      if (r < 0) throw new AssertionFailed(`recv: errno ${-r}`);
      const seq = rx[14]! | (rx[15]! << 8) | (rx[16]! << 16) | (rx[17]! << 24);
      if (seq < 0 || seq >= sent) throw new AssertionFailed(`received frame with seq ${seq}, only ${sent} sent`);
      if (got[seq] !== 0) throw new AssertionFailed(`frame ${seq} received twice`);
      const len = frame(exp, seq, seq % 3 === 0 ? bcast : env.mac);
      if (r !== len) throw new AssertionFailed(`frame ${seq}: ${r} bytes back, ${len} sent`);
      for (let k = 0; k < len; k++) if (rx[k] !== exp[k]) throw new AssertionFailed(`frame ${seq} byte ${k}: 0x${rx[k]!.toString(16)} back, 0x${exp[k]!.toString(16)} sent`);
      got[seq] = 1;
      received++;
      bytes += len;
      progress = true;
    }
    if (bridge.error !== undefined) throw new AssertionFailed(`bridge failed after ${received}/${n} frames: ${bridge.error.message}`);
    if (tick !== undefined) await tick(received);
    if (performance.now() > deadline) {
      const missing: number[] = [];
      for (let i = 0; i < sent && missing.length < 10; i++) if (got[i] === 0) missing.push(i);
      const q = [0, 1].map((qi) => bridge.svq(qi)?.stats());
      throw new AssertionFailed(
        `timeout: ${received}/${n} received, ${sent} sent; first missing ${missing.join(',')}; bridge ${JSON.stringify(bridge.stats)} shadow set ${bridge.shadowRingSet} (${bridge.shadowSize} entries); ` +
          `svq rx ${JSON.stringify(q[0])} tx ${JSON.stringify(q[1])}; kernel counters delta ${JSON.stringify(diff(before, counters(env.ifname)))}; ` +
          `vdpa_sim vstats: ${vstats(0)} | ${vstats(1)}; ${netDiag(env.ifname)}; vduse ${JSON.stringify(env.vduse.messages)} maps ${env.vduse.mappings().map((m) => `[0x${m.start.toString(16)},0x${m.last.toString(16)}]`).join(' ')}`,
      );
    }
    idleRounds = progress ? 0 : idleRounds + 1;
    // let the bridge pump run (it lives on this event loop); back off a little when nothing moves
    await new Promise<void>((r) => (idleRounds > 50 ? setTimeout(r, 1) : setImmediate(r)));
  }
  const ms = performance.now() - t0;
  // the kernel counts a TX completion after our last receive can overtake it: settle the counters
  await new Promise((r) => setTimeout(r, 50));
  checkAccounted(env);
  return { frames: n, bytes, ms, before, after: counters(env.ifname), retried };
}

/**
 * Every buffer the kernel made available is accounted for: on each queue, the chains between the SVQ's
 * popped position and its used position on the kernel's ring are exactly the chains the SVQ holds (on the
 * shadow ring or stashed). A chain lost in a hand-over would be popped and never used nor held. virtio_net
 * puts one descriptor per chain here (RX small buffers; TX linear frames with the header pushed in front),
 * so packed descriptor positions count chains.
 */
function checkAccounted(env: Env): void {
  for (const qi of [0, 1]) {
    const svq = env.bridge.svq(qi);
    if (svq === undefined) throw new AssertionFailed(`queue ${qi} has no SVQ`);
    const b = svq.guestRing.base();
    const num = svq.guestRing.config.size;
    const outstanding = env.bridge.guestLayout === 'split' ? (b.availIdx - b.usedIdx) & 0xffff : b.availWrap === b.usedWrap ? b.availIdx - b.usedIdx : b.availIdx + num - b.usedIdx;
    eq(svq.inFlight(), outstanding, `queue ${qi}: chains the SVQ holds = chains popped from the kernel's ring and not used`);
  }
}

/** vdpa_sim_net's own queue counters (`vdpa dev vstats show vdpa0 qidx N`), for failure reports. */
function vstats(qi: number): string {
  try {
    return execFileSync('vdpa', ['dev', 'vstats', 'show', 'vdpa0', 'qidx', String(qi)], { encoding: 'utf8' }).replace(/\s+/g, ' ').trim();
  } catch (e) {
    return `vstats ${qi}: ${(e as Error).message}`;
  }
}

/** Every non-zero interface statistic and the TX queue's byte-queue-limit state, for failure reports. */
function netDiag(ifname: string): string {
  const base = `/sys/class/net/${ifname}`;
  const nz = readdirSync(`${base}/statistics`).map((f) => [f, sysfsRead(`${base}/statistics/${f}`)] as const).filter(([, v]) => v !== '0').map(([f, v]) => `${f}=${v}`);
  let bql = '';
  try {
    bql = `bql inflight ${sysfsRead(`${base}/queues/tx-0/byte_queue_limits/inflight`)} limit ${sysfsRead(`${base}/queues/tx-0/byte_queue_limits/limit`)}`;
  } catch {
    bql = 'no bql';
  }
  return `${ifname} stats ${nz.join(' ')}; ${bql}; operstate ${sysfsRead(`${base}/operstate`)}`;
}

/** The kernel's counters agree with the frames: each sent once, each received once, no error, no drop. */
function checkCounters(r: TrafficResult): void {
  const d = diff(r.before, r.after);
  eq(d.tx_packets, r.frames, 'kernel tx_packets delta = frames sent');
  eq(d.rx_packets, r.frames, 'kernel rx_packets delta = frames received');
  eq(d.tx_bytes, r.bytes, 'kernel tx_bytes delta');
  eq(d.rx_bytes, r.bytes, 'kernel rx_bytes delta');
  for (const k of ['tx_errors', 'rx_errors', 'tx_dropped', 'rx_dropped'] as const) eq(d[k], 0, `kernel ${k} delta`);
}

const FRAMES = 2000;

for (const packed of [false, true]) {
  const layout = packed ? 'packed' : 'split';
  kernelDriver.test(
    `${layout}: the kernel's virtio-net drives shadowvq's VDUSE rings (${layout}); SVQ forwards ${FRAMES} frames onto vdpa_sim_net and back, every byte and the kernel's counters checked`,
    (ctx) =>
      withKernelNet(ctx, packed, async (env) => {
        eq(env.bridge.guestLayout, layout, 'guest ring layout');
        ok((env.bridge.features & F.CTRL_VQ) === 0n, 'no CTRL_VQ offered');
        const r = await traffic(env, FRAMES, 64);
        checkCounters(r);
        const rx = env.bridge.svq(0)!.stats();
        const tx = env.bridge.svq(1)!.stats();
        ok(tx.forwarded >= FRAMES && tx.returned >= FRAMES, `SVQ tx forwarded ${tx.forwarded}, returned ${tx.returned}`);
        eq(rx.usedBytes - 12 * rx.returned, r.bytes, 'SVQ rx: bytes the device wrote (virtio_net_hdr_v1 + frame) = frames received');
        ok(env.vduse.messages.failed === 0, `VDUSE messages refused: ${JSON.stringify(env.vduse.messages)}`);
        // the checks can fail: a frame to a foreign unicast MAC leaves the kernel (tx counted) and is dropped
        // by vdpa_sim_net's receive filter — no rx, nothing on the socket, the counter check would not hold
        const before = counters(env.ifname);
        const drops0 = simCounter('vdpa0', 0, 'rx drops');
        const f = new Uint8Array(1514);
        const len = frame(f, FRAMES, Uint8Array.of(0x02, 0, 0, 0, 0, 0x99));
        eq(env.sock.send(f.subarray(0, len)), len, 'send to a foreign MAC');
        await until('vdpa_sim_net rx drop', 5_000, () => (simCounter('vdpa0', 0, 'rx drops') > drops0 ? true : undefined));
        await new Promise((res) => setTimeout(res, 100));
        const d = diff(before, counters(env.ifname));
        ok(d.tx_packets === 1 && d.rx_packets === 0, `foreign frame: kernel tx +${d.tx_packets}, rx +${d.rx_packets}`);
        eq(env.sock.recv(new Uint8Array(2048)), 0, 'nothing received');
        ctx.metric({ name: `kernel-driver ${layout}: frames through the bridge`, value: Math.round((r.frames / r.ms) * 1000), unit: 'frames/s', note: `${r.frames} frames, ${r.bytes} bytes checked, ${env.bridge.stats.irqsInjected} irqs injected, ${env.bridge.stats.guestKicks} kicks` });
      }),
    { timeoutMs: 150_000 },
  );
}

const SWITCHES = 20;

for (const packed of [false, true]) {
  const layout = packed ? 'packed' : 'split';
  kernelDriver.test(
    `${layout}: live under load — ${SWITCHES} SVQ switches between two shadow-ring layouts (256 and 128 entries) while the kernel sends; nothing lost or duplicated (passthrough refused with the reason)`,
    (ctx) =>
      withKernelNet(ctx, packed, async (env) => {
        // passthrough: the kernel's rings cannot be given to vhost-vdpa (VM_IO VDUSE mapping), said exactly
        const p = await env.bridge.switchTo('passthrough');
        ok(E.isLeft(p) && p.left.message === NO_PASSTHROUGH && p.left.kind === 'unsupported', 'passthrough refused with the reason');
        const every = Math.floor(FRAMES / (SWITCHES + 1));
        let next = every;
        let done = 0;
        let stashes = 0;
        const r = await traffic(env, FRAMES, 64, async (received) => {
          if (received < next || done >= SWITCHES) return;
          for (const qi of [0, 1]) stashes += env.bridge.svq(qi)?.stats().stashes ?? 0;
          const s = await env.bridge.switchTo('shadow');
          if (E.isLeft(s)) throw new AssertionFailed(`switch ${done + 1} at ${received} frames: ${s.left.message}`);
          done++;
          next += every;
        });
        eq(done, SWITCHES, 'switches done');
        eq(env.bridge.stats.switches, SWITCHES, 'bridge switches');
        checkCounters(r);
        ok(stashes > 0, 'the 128-entry shadow ring was full at least once (the kernel posts 256 RX buffers): stash path taken');
        ctx.metric({ name: `kernel-driver ${layout}: switches survived under load`, value: done, unit: 'switches', note: `${r.frames} frames, ${r.bytes} bytes checked, ${Math.round((r.frames / r.ms) * 1000)} frames/s, ${stashes} shadow-ring-full stashes` });
      }),
    { timeoutMs: 150_000 },
  );
}

/** A vdpa_sim_net queue counter from vstats (`rx packets N`, `rx drops N`, `tx packets N` …). */
function simCounter(dev: string, qi: number, name: string): number {
  const out = execFileSync('vdpa', ['dev', 'vstats', 'show', dev, 'qidx', String(qi)], { encoding: 'utf8' });
  const m = new RegExp(`${name} (\\d+)`).exec(out.replace(/\s+/g, ' '));
  if (m === null) throw new AssertionFailed(`no "${name}" in vstats of ${dev} queue ${qi}: ${out}`);
  return Number(m[1]);
}

const simPackets = (dev: string, qi: number): number => simCounter(dev, qi, qi === 0 ? 'rx packets' : 'tx packets');

/**
 * A second vdpa_sim_net device (vdpa1, the interface's MAC), bound to vhost_vdpa by hand (autoprobe is off), opened;
 * the bridge is moved back to vdpa0 before vdpa1 goes away.
 */
async function withSecondSim<T>(env: Env, fn: (dev1: VhostVdpaDevice) => Promise<T>): Promise<T> {
  // vdpa1 gets the MAC the kernel's interface has (vdpa0's config MAC, which earlier suites may have
  // changed with MAC_ADDR_SET — it survives resets), so its receive filter passes the unicast frames too
  const mac = Array.from(env.mac, (x) => x.toString(16).padStart(2, '0')).join(':');
  const add = await run('vdpa', ['dev', 'add', 'name', 'vdpa1', 'mgmtdev', 'vdpasim_net', 'mac', mac]);
  eq(add.code, 0, `vdpa dev add vdpa1: ${add.out}`);
  let dev1: VhostVdpaDevice | undefined;
  try {
    await sysfsWrite('/sys/bus/vdpa/devices/vdpa1/driver_override', 'vhost_vdpa');
    await sysfsWrite('/sys/bus/vdpa/drivers_probe', 'vdpa1');
    const node = await until('/dev/vhost-vdpa-N of vdpa1', 5_000, () => readdirSync('/sys/bus/vdpa/devices/vdpa1').find((f) => f.startsWith('vhost-vdpa-')));
    dev1 = right(VhostVdpaDevice.open(`/dev/${node}`), `open /dev/${node}`);
    return await fn(dev1);
  } finally {
    if (dev1 !== undefined && env.bridge.vdpa === dev1) await env.bridge.migrateTo(env.dev0);
    dev1?.close();
    await run('vdpa', ['dev', 'del', 'vdpa1']);
  }
}

for (const packed of [false, true]) {
  const layout = packed ? 'packed' : 'split';
  kernelDriver.test(
    `${layout}: migration under load — the bridge's state (SVQ hand-over, VDUSE memory, shadow rings) moves onto a second vdpa_sim_net device and back while the kernel sends; nothing lost or duplicated`,
    (ctx) =>
      withKernelNet(ctx, packed, (env) =>
        withSecondSim(env, async (dev1) => {
          const third = Math.floor(FRAMES / 3);
          let step = 0;
          const at: number[] = [];
          let sim1After = 0;
          const r = await traffic(env, FRAMES, 64, async (received) => {
            if (step === 0 && received >= third) {
              const m = await env.bridge.migrateTo(dev1);
              if (E.isLeft(m)) throw new AssertionFailed(`migrate onto vdpa1 at ${received} frames: ${m.left.message}`);
              // the hand-over ran through machines/migration: source drained while suspended, destination enabled and verified
              for (const p of ['source:source.active.stopAndCopy.draining', 'source:source.completed', 'destination:destination.active.enablingQueues', 'destination:destination.active.verifying', 'destination:destination.running']) {
                ok(env.bridge.migrationPhases.includes(p), `machines/migration phase ${p} (saw ${env.bridge.migrationPhases.join(' → ')})`);
              }
              at.push(received);
              step = 1;
            } else if (step === 1 && received >= 2 * third) {
              // vdpa1's counter while it still runs (vstats needs a negotiated device; vdpa1 started at 0)
              sim1After = simPackets('vdpa1', 0);
              const m = await env.bridge.migrateTo(env.dev0);
              if (E.isLeft(m)) throw new AssertionFailed(`migrate back onto vdpa0 at ${received} frames: ${m.left.message}`);
              at.push(received);
              step = 2;
            }
          });
          eq(step, 2, 'both migrations done');
          eq(env.bridge.stats.migrations, 2, 'bridge migrations');
          checkCounters(r);
          const onSim1 = sim1After;
          ok(onSim1 >= at[1]! - at[0]! - 64 && onSim1 <= at[1]! - at[0]! + 64, `vdpa1 looped the frames between the migrations: ${onSim1} (received ${at[0]} → ${at[1]})`);
          ctx.metric({ name: `kernel-driver ${layout}: migrations under load`, value: 2, unit: 'migrations', note: `vdpa0 → vdpa1 at ${at[0]} frames, back at ${at[1]}; ${onSim1} frames looped by vdpa1; ${r.frames} frames, ${r.bytes} bytes checked, ${Math.round((r.frames / r.ms) * 1000)} frames/s` });
        }),
      ),
    { timeoutMs: 150_000 },
  );
}
