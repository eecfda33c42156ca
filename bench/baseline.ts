/**
 * The plain-JS baseline: a single-threaded virtqueue round trip with no abstraction — everything a
 * ring implementation does per chain written inline, private state copied into locals per phase.
 * Same work as bench/ring.ts measures through the ring layer: a 256-entry ring, batches of 128
 * one-descriptor chains (one 4 KiB device-writable buffer each); the driver adds, the device pops
 * (checking indices, flags and the buffer bounds) and marks used, the driver reaps (checking the
 * used id) and frees. Split layout: desc @0, avail @4096, used @8192 of one ArrayBuffer; packed:
 * desc ring @0. Buffer addresses start at 2^32, so both halves of every le64 address are live.
 *
 * Variants: DataView little-endian accessors, or Uint16Array/Uint32Array views (host order; the
 * caller checks the host is little-endian). Errors throw: the baseline is a yardstick, not a library.
 */

export const QSZ = 256;
export const BATCH = 128;
export const BUF_BASE = 2 ** 32;
export const BUF_LEN = 0x1000;
const QMASK = QSZ - 1;
const MEM_END = BUF_BASE + QSZ * BUF_LEN;
const TWO32 = 4294967296;
const F_NEXT = 1;
const F_WRITE = 2;
const F_INDIRECT = 4;
const P_AVAIL = 1 << 7;
const P_USED = 1 << 15;
const AVAIL = 4096;
const USED = 8192;

export type BaselineVariant = 'split-dv' | 'split-ta' | 'packed-dv' | 'packed-ta';

/** One round trip of BATCH chains; `total()` is the sum of used lengths both sides saw (must agree). */
export interface Baseline {
  step(): void;
  reapedLen(): number;
  deviceLen(): number;
}

const bad = (what: string): never => {
  throw new Error(`baseline: ${what}`);
};

function splitDV(): Baseline {
  const dv = new DataView(new ArrayBuffer(16384));
  const freeNext = new Uint16Array(QSZ);
  for (let i = 0; i < QSZ; i++) freeNext[i] = (i + 1) & QMASK;
  const live = new Uint8Array(QSZ);
  const st = { freeHead: 0, numFree: QSZ, availIdx: 0, lastUsed: 0, reaped: 0, lastAvail: 0, usedIdx: 0, seen: 0 };
  return {
    step() {
      // driver: add
      let freeHead = st.freeHead, numFree = st.numFree, availIdx = st.availIdx;
      for (let k = 0; k < BATCH; k++) {
        if (numFree === 0) bad('no space');
        const id = freeHead;
        freeHead = freeNext[id]!;
        numFree--;
        const o = id * 16;
        const addr = BUF_BASE + id * BUF_LEN;
        dv.setUint32(o, addr >>> 0, true);
        dv.setUint32(o + 4, (addr / TWO32) >>> 0, true);
        dv.setUint32(o + 8, BUF_LEN, true);
        dv.setUint16(o + 12, F_WRITE, true);
        dv.setUint16(o + 14, freeHead, true);
        live[id] = 1;
        dv.setUint16(AVAIL + 4 + (availIdx & QMASK) * 2, id, true);
        availIdx = (availIdx + 1) & 0xffff;
        dv.setUint16(AVAIL + 2, availIdx, true);
      }
      st.freeHead = freeHead; st.numFree = numFree; st.availIdx = availIdx;
      // device: pop and mark used
      let lastAvail = st.lastAvail, usedIdx = st.usedIdx, seen = st.seen;
      const idx = dv.getUint16(AVAIL + 2, true);
      if (((idx - lastAvail) & 0xffff) > QSZ) bad('avail idx ahead');
      while (lastAvail !== idx) {
        const head = dv.getUint16(AVAIL + 4 + (lastAvail & QMASK) * 2, true);
        lastAvail = (lastAvail + 1) & 0xffff;
        if (head >= QSZ) bad('head');
        let i = head, total = 0, n = 0;
        for (;;) {
          const o = i * 16;
          const addr = dv.getUint32(o + 4, true) * TWO32 + dv.getUint32(o, true);
          const len = dv.getUint32(o + 8, true);
          const fl = dv.getUint16(o + 12, true);
          if (fl & F_INDIRECT) bad('indirect');
          if (addr < BUF_BASE || addr + len > MEM_END) bad('buffer');
          total += len;
          if (!(fl & F_NEXT)) break;
          i = dv.getUint16(o + 14, true);
          if (i >= QSZ || ++n >= QSZ) bad('chain');
        }
        const u = USED + 4 + (usedIdx & QMASK) * 8;
        dv.setUint32(u, head, true);
        dv.setUint32(u + 4, total, true);
        usedIdx = (usedIdx + 1) & 0xffff;
        dv.setUint16(USED + 2, usedIdx, true);
        seen += total;
      }
      st.lastAvail = lastAvail; st.usedIdx = usedIdx; st.seen = seen;
      // driver: reap
      let lastUsed = st.lastUsed, reaped = st.reaped;
      freeHead = st.freeHead; numFree = st.numFree;
      const uidx = dv.getUint16(USED + 2, true);
      while (lastUsed !== uidx) {
        const u = USED + 4 + (lastUsed & QMASK) * 8;
        const id = dv.getUint32(u, true);
        const len = dv.getUint32(u + 4, true);
        lastUsed = (lastUsed + 1) & 0xffff;
        if (id >= QSZ || live[id] === 0 || len > BUF_LEN) bad('used id');
        live[id] = 0;
        freeNext[id] = freeHead;
        freeHead = id;
        numFree++;
        reaped += len;
      }
      st.lastUsed = lastUsed; st.reaped = reaped; st.freeHead = freeHead; st.numFree = numFree;
    },
    reapedLen: () => st.reaped,
    deviceLen: () => st.seen,
  };
}

function splitTA(): Baseline {
  const buf = new ArrayBuffer(16384);
  const u16 = new Uint16Array(buf);
  const u32 = new Uint32Array(buf);
  const A16 = AVAIL >> 1, U16 = USED >> 1, U32 = USED >> 2;
  const freeNext = new Uint16Array(QSZ);
  for (let i = 0; i < QSZ; i++) freeNext[i] = (i + 1) & QMASK;
  const live = new Uint8Array(QSZ);
  const st = { freeHead: 0, numFree: QSZ, availIdx: 0, lastUsed: 0, reaped: 0, lastAvail: 0, usedIdx: 0, seen: 0 };
  return {
    step() {
      let freeHead = st.freeHead, numFree = st.numFree, availIdx = st.availIdx;
      for (let k = 0; k < BATCH; k++) {
        if (numFree === 0) bad('no space');
        const id = freeHead;
        freeHead = freeNext[id]!;
        numFree--;
        const addr = BUF_BASE + id * BUF_LEN;
        u32[id * 4] = addr >>> 0;
        u32[id * 4 + 1] = (addr / TWO32) >>> 0;
        u32[id * 4 + 2] = BUF_LEN;
        u16[id * 8 + 6] = F_WRITE;
        u16[id * 8 + 7] = freeHead;
        live[id] = 1;
        u16[A16 + 2 + (availIdx & QMASK)] = id;
        availIdx = (availIdx + 1) & 0xffff;
        u16[A16 + 1] = availIdx;
      }
      st.freeHead = freeHead; st.numFree = numFree; st.availIdx = availIdx;
      let lastAvail = st.lastAvail, usedIdx = st.usedIdx, seen = st.seen;
      const idx = u16[A16 + 1]!;
      if (((idx - lastAvail) & 0xffff) > QSZ) bad('avail idx ahead');
      while (lastAvail !== idx) {
        const head = u16[A16 + 2 + (lastAvail & QMASK)]!;
        lastAvail = (lastAvail + 1) & 0xffff;
        if (head >= QSZ) bad('head');
        let i = head, total = 0, n = 0;
        for (;;) {
          const addr = u32[i * 4 + 1]! * TWO32 + u32[i * 4]!;
          const len = u32[i * 4 + 2]!;
          const fl = u16[i * 8 + 6]!;
          if (fl & F_INDIRECT) bad('indirect');
          if (addr < BUF_BASE || addr + len > MEM_END) bad('buffer');
          total += len;
          if (!(fl & F_NEXT)) break;
          i = u16[i * 8 + 7]!;
          if (i >= QSZ || ++n >= QSZ) bad('chain');
        }
        const e = U32 + 1 + (usedIdx & QMASK) * 2;
        u32[e] = head;
        u32[e + 1] = total;
        usedIdx = (usedIdx + 1) & 0xffff;
        u16[U16 + 1] = usedIdx;
        seen += total;
      }
      st.lastAvail = lastAvail; st.usedIdx = usedIdx; st.seen = seen;
      let lastUsed = st.lastUsed, reaped = st.reaped;
      freeHead = st.freeHead; numFree = st.numFree;
      const uidx = u16[U16 + 1]!;
      while (lastUsed !== uidx) {
        const e = U32 + 1 + (lastUsed & QMASK) * 2;
        const id = u32[e]!;
        const len = u32[e + 1]!;
        lastUsed = (lastUsed + 1) & 0xffff;
        if (id >= QSZ || live[id] === 0 || len > BUF_LEN) bad('used id');
        live[id] = 0;
        freeNext[id] = freeHead;
        freeHead = id;
        numFree++;
        reaped += len;
      }
      st.lastUsed = lastUsed; st.reaped = reaped; st.freeHead = freeHead; st.numFree = numFree;
    },
    reapedLen: () => st.reaped,
    deviceLen: () => st.seen,
  };
}

function packedDV(): Baseline {
  const dv = new DataView(new ArrayBuffer(QSZ * 16));
  const freeNext = new Uint16Array(QSZ);
  for (let i = 0; i < QSZ; i++) freeNext[i] = (i + 1) & QMASK;
  const ndesc = new Uint16Array(QSZ);
  const st = { freeId: 0, numFree: QSZ, nextAvail: 0, availWrap: 1, nextUsed: 0, usedWrap: 1, reaped: 0, dAvail: 0, dAvailWrap: 1, dUsed: 0, dUsedWrap: 1, seen: 0 };
  return {
    step() {
      let freeId = st.freeId, numFree = st.numFree, nextAvail = st.nextAvail, availWrap = st.availWrap;
      for (let k = 0; k < BATCH; k++) {
        if (numFree === 0) bad('no space');
        const id = freeId;
        freeId = freeNext[id]!;
        numFree--;
        ndesc[id] = 1;
        const o = nextAvail * 16;
        const addr = BUF_BASE + id * BUF_LEN;
        dv.setUint32(o, addr >>> 0, true);
        dv.setUint32(o + 4, (addr / TWO32) >>> 0, true);
        dv.setUint32(o + 8, BUF_LEN, true);
        dv.setUint16(o + 12, id, true);
        dv.setUint16(o + 14, F_WRITE | (availWrap ? P_AVAIL : P_USED), true);
        if (++nextAvail === QSZ) { nextAvail = 0; availWrap ^= 1; }
      }
      st.freeId = freeId; st.numFree = numFree; st.nextAvail = nextAvail; st.availWrap = availWrap;
      let dAvail = st.dAvail, dAvailWrap = st.dAvailWrap, dUsed = st.dUsed, dUsedWrap = st.dUsedWrap, seen = st.seen;
      for (;;) {
        let o = dAvail * 16;
        let fl = dv.getUint16(o + 14, true);
        if (((fl & P_AVAIL) !== 0 ? 1 : 0) !== dAvailWrap || ((fl & P_USED) !== 0 ? 1 : 0) === dAvailWrap) break;
        let id = 0, total = 0, cnt = 0;
        for (;;) {
          const addr = dv.getUint32(o + 4, true) * TWO32 + dv.getUint32(o, true);
          const len = dv.getUint32(o + 8, true);
          id = dv.getUint16(o + 12, true);
          if (fl & F_INDIRECT) bad('indirect');
          if (addr < BUF_BASE || addr + len > MEM_END) bad('buffer');
          total += len;
          cnt++;
          if (++dAvail === QSZ) { dAvail = 0; dAvailWrap ^= 1; }
          if (!(fl & F_NEXT)) break;
          if (cnt >= QSZ) bad('chain');
          o = dAvail * 16;
          fl = dv.getUint16(o + 14, true);
        }
        if (id >= QSZ) bad('id');
        const w = dUsed * 16;
        dv.setUint32(w + 8, total, true);
        dv.setUint16(w + 12, id, true);
        dv.setUint16(w + 14, dUsedWrap ? P_AVAIL | P_USED : 0, true);
        dUsed += cnt;
        if (dUsed >= QSZ) { dUsed -= QSZ; dUsedWrap ^= 1; }
        seen += total;
      }
      st.dAvail = dAvail; st.dAvailWrap = dAvailWrap; st.dUsed = dUsed; st.dUsedWrap = dUsedWrap; st.seen = seen;
      let nextUsed = st.nextUsed, usedWrap = st.usedWrap, reaped = st.reaped;
      freeId = st.freeId; numFree = st.numFree;
      for (;;) {
        const o = nextUsed * 16;
        const fl = dv.getUint16(o + 14, true);
        const u = (fl & P_USED) !== 0 ? 1 : 0;
        if (((fl & P_AVAIL) !== 0 ? 1 : 0) !== u || u !== usedWrap) break;
        const id = dv.getUint16(o + 12, true);
        const len = dv.getUint32(o + 8, true);
        if (id >= QSZ || ndesc[id] === 0 || len > BUF_LEN) bad('used id');
        const nd = ndesc[id]!;
        ndesc[id] = 0;
        nextUsed += nd;
        if (nextUsed >= QSZ) { nextUsed -= QSZ; usedWrap ^= 1; }
        numFree += nd;
        freeNext[id] = freeId;
        freeId = id;
        reaped += len;
      }
      st.nextUsed = nextUsed; st.usedWrap = usedWrap; st.reaped = reaped; st.freeId = freeId; st.numFree = numFree;
    },
    reapedLen: () => st.reaped,
    deviceLen: () => st.seen,
  };
}

function packedTA(): Baseline {
  const buf = new ArrayBuffer(QSZ * 16);
  const u16 = new Uint16Array(buf);
  const u32 = new Uint32Array(buf);
  const freeNext = new Uint16Array(QSZ);
  for (let i = 0; i < QSZ; i++) freeNext[i] = (i + 1) & QMASK;
  const ndesc = new Uint16Array(QSZ);
  const st = { freeId: 0, numFree: QSZ, nextAvail: 0, availWrap: 1, nextUsed: 0, usedWrap: 1, reaped: 0, dAvail: 0, dAvailWrap: 1, dUsed: 0, dUsedWrap: 1, seen: 0 };
  return {
    step() {
      let freeId = st.freeId, numFree = st.numFree, nextAvail = st.nextAvail, availWrap = st.availWrap;
      for (let k = 0; k < BATCH; k++) {
        if (numFree === 0) bad('no space');
        const id = freeId;
        freeId = freeNext[id]!;
        numFree--;
        ndesc[id] = 1;
        const s = nextAvail;
        const addr = BUF_BASE + id * BUF_LEN;
        u32[s * 4] = addr >>> 0;
        u32[s * 4 + 1] = (addr / TWO32) >>> 0;
        u32[s * 4 + 2] = BUF_LEN;
        u16[s * 8 + 6] = id;
        u16[s * 8 + 7] = F_WRITE | (availWrap ? P_AVAIL : P_USED);
        if (++nextAvail === QSZ) { nextAvail = 0; availWrap ^= 1; }
      }
      st.freeId = freeId; st.numFree = numFree; st.nextAvail = nextAvail; st.availWrap = availWrap;
      let dAvail = st.dAvail, dAvailWrap = st.dAvailWrap, dUsed = st.dUsed, dUsedWrap = st.dUsedWrap, seen = st.seen;
      for (;;) {
        let s = dAvail;
        let fl = u16[s * 8 + 7]!;
        if (((fl & P_AVAIL) !== 0 ? 1 : 0) !== dAvailWrap || ((fl & P_USED) !== 0 ? 1 : 0) === dAvailWrap) break;
        let id = 0, total = 0, cnt = 0;
        for (;;) {
          const addr = u32[s * 4 + 1]! * TWO32 + u32[s * 4]!;
          const len = u32[s * 4 + 2]!;
          id = u16[s * 8 + 6]!;
          if (fl & F_INDIRECT) bad('indirect');
          if (addr < BUF_BASE || addr + len > MEM_END) bad('buffer');
          total += len;
          cnt++;
          if (++dAvail === QSZ) { dAvail = 0; dAvailWrap ^= 1; }
          if (!(fl & F_NEXT)) break;
          if (cnt >= QSZ) bad('chain');
          s = dAvail;
          fl = u16[s * 8 + 7]!;
        }
        if (id >= QSZ) bad('id');
        u32[dUsed * 4 + 2] = total;
        u16[dUsed * 8 + 6] = id;
        u16[dUsed * 8 + 7] = dUsedWrap ? P_AVAIL | P_USED : 0;
        dUsed += cnt;
        if (dUsed >= QSZ) { dUsed -= QSZ; dUsedWrap ^= 1; }
        seen += total;
      }
      st.dAvail = dAvail; st.dAvailWrap = dAvailWrap; st.dUsed = dUsed; st.dUsedWrap = dUsedWrap; st.seen = seen;
      let nextUsed = st.nextUsed, usedWrap = st.usedWrap, reaped = st.reaped;
      freeId = st.freeId; numFree = st.numFree;
      for (;;) {
        const fl = u16[nextUsed * 8 + 7]!;
        const u = (fl & P_USED) !== 0 ? 1 : 0;
        if (((fl & P_AVAIL) !== 0 ? 1 : 0) !== u || u !== usedWrap) break;
        const id = u16[nextUsed * 8 + 6]!;
        const len = u32[nextUsed * 4 + 2]!;
        if (id >= QSZ || ndesc[id] === 0 || len > BUF_LEN) bad('used id');
        const nd = ndesc[id]!;
        ndesc[id] = 0;
        nextUsed += nd;
        if (nextUsed >= QSZ) { nextUsed -= QSZ; usedWrap ^= 1; }
        numFree += nd;
        freeNext[id] = freeId;
        freeId = id;
        reaped += len;
      }
      st.nextUsed = nextUsed; st.usedWrap = usedWrap; st.reaped = reaped; st.freeId = freeId; st.numFree = numFree;
    },
    reapedLen: () => st.reaped,
    deviceLen: () => st.seen,
  };
}

export function makeBaseline(v: BaselineVariant): Baseline {
  switch (v) {
    case 'split-dv': return splitDV();
    case 'split-ta': return splitTA();
    case 'packed-dv': return packedDV();
    case 'packed-ta': return packedTA();
  }
}
