/**
 * The guest-side plumbing of the kernel-driver tests: an AF_PACKET socket (libc through koffi), sysfs
 * and child processes that never block the event loop (the VDUSE bridge pump answers the kernel's
 * control messages from it while `vdpa dev add`, a bind or `vdpa dev del` runs), and the kernel's own
 * interface counters.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { AssertionFailed } from '../framework.js';

/** A local experimental EtherType (IEEE 802 "Local Experimental Ethertype 1"): only our frames match. */
export const ETH_P_TEST = 0x88b5;
const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOL_PACKET = 263;
const PACKET_QDISC_BYPASS = 20;
const PACKET_IGNORE_OUTGOING = 23;
const MSG_DONTWAIT = 0x40;
export const EAGAIN = 11;
export const ENOBUFS = 105;

interface SockLib {
  socket(d: number, t: number, p: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number;
  setsockopt(fd: number, level: number, name: number, val: Int32Array, len: number): number;
  close(fd: number): number;
  setrlimit(resource: number, rlim: BigUint64Array): number;
  errno(): number;
}

let lib: SockLib | undefined;
function sockLib(): SockLib {
  if (lib !== undefined) return lib;
  const require = createRequire(import.meta.url);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const koffi = require('koffi') as typeof import('koffi');
  const c = koffi.load('libc.so.6');
  const socket = c.func('int socket(int domain, int type, int protocol)');
  const bind = c.func('int bind(int fd, void *addr, uint32_t len)');
  const send = c.func('long send(int fd, void *buf, size_t len, int flags)');
  const recv = c.func('long recv(int fd, void *buf, size_t len, int flags)');
  const setsockopt = c.func('int setsockopt(int fd, int level, int name, void *val, uint32_t len)');
  const close = c.func('int close(int fd)');
  const setrlimit = c.func('int setrlimit(int resource, void *rlim)');
  lib = {
    setrlimit: (r, l) => setrlimit(r, l) as number,
    socket: (d, t, p) => socket(d, t, p) as number,
    bind: (fd, a, l) => bind(fd, a, l) as number,
    send: (fd, b, l, f) => Number(send(fd, b, l, f)),
    recv: (fd, b, l, f) => Number(recv(fd, b, l, f)),
    setsockopt: (fd, lv, n, v, l) => setsockopt(fd, lv, n, v, l) as number,
    close: (fd) => close(fd) as number,
    errno: () => koffi.errno(),
  };
  return lib;
}

/** A raw packet socket on one interface for ETH_P_TEST frames, the kernel's own sends not looped back to it. */
export class PacketSocket {
  private fd: number;
  private readonly l: SockLib;

  constructor(ifindex: number) {
    this.l = sockLib();
    const proto = ((ETH_P_TEST & 0xff) << 8) | (ETH_P_TEST >> 8); // htons
    const fd = this.l.socket(AF_PACKET, SOCK_RAW, proto);
    if (fd < 0) throw new AssertionFailed(`socket(AF_PACKET): errno ${this.l.errno()}`);
    this.fd = fd;
    // struct sockaddr_ll { u16 family; be16 protocol; int ifindex; u16 hatype; u8 pkttype, halen; u8 addr[8]; }
    const sa = new Uint8Array(20);
    const v = new DataView(sa.buffer);
    v.setUint16(0, AF_PACKET, true);
    v.setUint16(2, ETH_P_TEST, false);
    v.setInt32(4, ifindex, true);
    if (this.l.bind(fd, sa, 20) < 0) {
      const e = this.l.errno();
      this.close();
      throw new AssertionFailed(`bind(AF_PACKET, ifindex ${ifindex}): errno ${e}`);
    }
    // straight to the driver: no qdisc in between whose AQM (Debian's default fq_codel drops on sojourn
    // time, slow under TCG) could drop a frame after send() returned success; a busy driver is ENOBUFS
    for (const [opt, name] of [[PACKET_IGNORE_OUTGOING, 'PACKET_IGNORE_OUTGOING'], [PACKET_QDISC_BYPASS, 'PACKET_QDISC_BYPASS']] as const) {
      if (this.l.setsockopt(fd, SOL_PACKET, opt, Int32Array.of(1), 4) < 0) {
        const e = this.l.errno();
        this.close();
        throw new AssertionFailed(`setsockopt(${name}): errno ${e}`);
      }
    }
  }

  /** Non-blocking send: bytes sent, or −errno (EAGAIN / ENOBUFS when the queue is full). */
  send(frame: Uint8Array): number {
    const n = this.l.send(this.fd, frame, frame.length, MSG_DONTWAIT);
    return n < 0 ? -this.l.errno() : n;
  }

  /** Non-blocking receive into `buf`: bytes received, 0 when nothing is waiting (−errno on an error). */
  recv(buf: Uint8Array): number {
    const n = this.l.recv(this.fd, buf, buf.length, MSG_DONTWAIT);
    if (n >= 0) return n;
    const e = this.l.errno();
    return e === EAGAIN ? 0 : -e;
  }

  close(): void {
    if (this.fd >= 0) this.l.close(this.fd);
    this.fd = -1;
  }
}

const RLIMIT_MEMLOCK = 8;

/**
 * Lift RLIMIT_MEMLOCK (root may): VDUSE_IOTLB_REG_UMEM pins the whole bounce area against it, and the
 * default limit (8 MiB) is below VDUSE's default bounce size (64 MiB).
 */
export function unlimitMemlock(): void {
  const l = sockLib();
  if (l.setrlimit(RLIMIT_MEMLOCK, BigUint64Array.of(0xffffffffffffffffn, 0xffffffffffffffffn)) < 0) {
    throw new AssertionFailed(`setrlimit(RLIMIT_MEMLOCK, infinity): errno ${l.errno()}`);
  }
}

/** Run a command without blocking the event loop; resolves with its exit code and output. */
export function run(cmd: string, args: readonly string[], timeoutMs = 20_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(t);
      resolve({ code: -1, out: `${out}${e.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, out: out.trim() });
    });
  });
}

/** A sysfs write from the thread pool: the kernel work it triggers may wait for this process's answers. */
export const sysfsWrite = (path: string, value: string): Promise<void> => writeFile(path, value);

export const sysfsRead = (path: string): string => readFileSync(path, 'utf8').trim();

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `probe` every 10 ms until it returns a value, at most `ms`. */
export async function until<T>(what: string, ms: number, probe: () => T | undefined): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new AssertionFailed(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** The net interface the kernel's virtio_net made for vdpa device `name` (virtio_vdpa → virtioN → net/ethX). */
export function netdevOf(name: string): string | undefined {
  const dir = `/sys/bus/vdpa/devices/${name}`;
  try {
    for (const v of readdirSync(dir)) {
      if (!v.startsWith('virtio')) continue;
      const nets = readdirSync(`${dir}/${v}/net`);
      if (nets.length > 0) return nets[0];
    }
  } catch {
    return undefined;
  }
  return undefined;
}

export const COUNTERS = ['tx_packets', 'rx_packets', 'tx_bytes', 'rx_bytes', 'tx_errors', 'rx_errors', 'tx_dropped', 'rx_dropped'] as const;
export type Counters = Record<(typeof COUNTERS)[number], number>;

/** /sys/class/net/IF/statistics/*: the kernel's own view of what the interface sent and received. */
export function counters(ifname: string): Counters {
  const c = {} as Counters;
  for (const k of COUNTERS) c[k] = Number(sysfsRead(`/sys/class/net/${ifname}/statistics/${k}`));
  return c;
}

export const diff = (a: Counters, b: Counters): Counters => {
  const d = {} as Counters;
  for (const k of COUNTERS) d[k] = b[k] - a[k];
  return d;
};
