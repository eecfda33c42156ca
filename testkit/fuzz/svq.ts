/**
 * SVQ under hostile rings: a guest that scribbles on its own ring and a device that scribbles on the
 * shadow used ring, interleaved with honest traffic, SVQ switched off and on, and hand-overs through a
 * serialized record. SVQ must never throw, must fail only with a typed `SvqError`, must never return a
 * guest chain twice, and must account for every chain: returned, held by SVQ (its hand-over lists it),
 * or still unpopped on the guest ring. With no corruption at all, every chain comes back, byte-checked.
 */
import fc from 'fast-check';
import type { RingLayout } from '../../src/ring/types.js';
import type { RingSide } from '../../src/svq/loopback.js';
import { isSvqError, type SvqHandover } from '../../src/svq/shadow-virtqueue.js';
import { SvqRig, type ChainSpec } from './svq-rig.js';
import { Violations, type FuzzTarget, type Verdict } from './target.js';

export type SvqOp =
  | { readonly op: 'add'; readonly spec: ChainSpec }
  | { readonly op: 'kick' }
  | { readonly op: 'device'; readonly n: number }
  | { readonly op: 'reap' }
  | { readonly op: 'guest-scribble'; readonly area: 'desc' | 'driver'; readonly off: number; readonly value: number }
  | { readonly op: 'device-scribble'; readonly off: number; readonly value: number; readonly width: 2 | 4 }
  | { readonly op: 'switch' }
  | { readonly op: 'handover' };

export interface SvqCase {
  readonly guest: RingSide;
  readonly shadow: RingSide;
  readonly ops: readonly SvqOp[];
}

const side = (sizes: number[]): fc.Arbitrary<RingSide> =>
  fc.record({
    layout: fc.constantFrom<RingLayout>('split', 'packed'),
    size: fc.constantFrom(...sizes),
    eventIdx: fc.boolean(),
    indirect: fc.boolean(),
  });

const specArb: fc.Arbitrary<ChainSpec> = fc.record({
  // at most 4 segments: every chain fits the smallest shadow ring, so an honest run never hits chain-too-long
  out: fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 2 }),
  in: fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 2 }),
  indirect: fc.boolean(),
});

const value = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 0x80, 0x8080, 0x8000, 0xffff, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));

export function svqCaseArb(opts: { guestScribble: boolean; deviceScribble: boolean }): fc.Arbitrary<SvqCase> {
  const ops: fc.Arbitrary<SvqOp>[] = [
    specArb.map((spec) => ({ op: 'add' as const, spec })),
    fc.constant({ op: 'kick' as const }),
    fc.integer({ min: 0, max: 8 }).map((n) => ({ op: 'device' as const, n })),
    fc.constant({ op: 'reap' as const }),
    fc.constant({ op: 'switch' as const }),
    fc.constant({ op: 'handover' as const }),
  ];
  if (opts.guestScribble) {
    ops.push(fc.record({ op: fc.constant('guest-scribble' as const), area: fc.constantFrom('desc' as const, 'driver' as const), off: fc.nat(), value }));
  }
  if (opts.deviceScribble) {
    ops.push(fc.record({ op: fc.constant('device-scribble' as const), off: fc.nat(), value, width: fc.constantFrom(2 as const, 4 as const) }));
  }
  return fc.record({
    guest: side([4, 8, 16]),
    shadow: side([4, 8, 16]),
    ops: fc.array(fc.oneof(...ops), { minLength: 1, maxLength: 60 }),
  });
}

/** Chains still on the guest ring that SVQ has not popped (split: avail idx distance). */
function unpopped(rig: SvqRig, h: SvqHandover): number | undefined {
  if (rig.tb.guestConfig.layout !== 'split') return undefined;
  return (rig.tb.guestDriver.base().availIdx - h.guestBase.availIdx) & 0xffff;
}

export function checkSvqCase(c: SvqCase): Verdict {
  const rig = SvqRig.create({ guest: c.guest, shadow: c.shadow, guestMem: 1 << 19 });
  if (isSvqError(rig)) return `rig set-up failed: ${rig.message}`;
  const v = new Violations();
  const hostile = c.ops.some((o) => o.op === 'guest-scribble' || o.op === 'device-scribble');
  const guestHostile = c.ops.some((o) => o.op === 'guest-scribble');
  let deviceBroke = false;
  for (const o of c.ops) {
    switch (o.op) {
      case 'add':
        rig.add(o.spec);
        break;
      case 'kick':
        rig.kick();
        break;
      case 'device': {
        // the loopback device validates the shadow ring too: a ring it rejects stops it (device error)
        if (!deviceBroke && rig.runDevice(o.n) !== undefined) deviceBroke = true;
        break;
      }
      case 'reap': {
        const r = rig.reap();
        if (typeof r !== 'number' && !guestHostile) v.fail(`the guest driver rejected what SVQ returned: ${r.message}`);
        break;
      }
      case 'guest-scribble': {
        const g = rig.tb.guestConfig;
        const l = g.layout === 'split' ? { desc: 16 * g.size, driver: 6 + 2 * g.size } : { desc: 16 * g.size, driver: 4 };
        const base = o.area === 'desc' ? g.addrs.desc : g.addrs.driver;
        rig.tb.gpa.writeU16(base + 2 * (o.off % (l[o.area] / 2)), o.value & 0xffff);
        break;
      }
      case 'device-scribble': {
        if (rig.svq === undefined) break;
        const s = rig.svq.shadowRing.config;
        const [base, size] = s.layout === 'split' ? [s.addrs.device, 6 + 8 * s.size] : [s.addrs.desc, 16 * s.size];
        const at = base + o.width * (o.off % Math.floor(size / o.width));
        if (o.width === 2) rig.tb.iovaView.writeU16(at, o.value & 0xffff);
        else rig.tb.iovaView.writeU32(at, o.value);
        break;
      }
      case 'switch': {
        if (rig.mode === 'shadow' && rig.svq!.state !== 'running') break;
        if (guestHostile || deviceBroke) break; // a switch needs a queue that still works
        const e = rig.mode === 'shadow' ? rig.switchOff() : rig.switchOn();
        if (e !== undefined && !hostile) v.fail(`SVQ switch failed on an honest queue: ${e}`);
        break;
      }
      case 'handover': {
        if (rig.mode !== 'shadow' || rig.svq!.state !== 'running' || guestHostile) break;
        const e = rig.handOverThroughRecord();
        if (e !== undefined) v.fail(`hand-over through a record failed: ${e}`);
        break;
      }
    }
    if (rig.mode === 'shadow') {
      const q = rig.svq!;
      v.expect(q.state === 'running' || (q.state === 'failed' && isSvqError(q.failure)), () => `SVQ state ${q.state} with failure ${JSON.stringify(q.failure)}`);
      if (q.state === 'failed' && !hostile) v.fail(`SVQ failed on honest rings: ${q.failure?.message}`);
    }
    v.expect(rig.duplicates === 0 || guestHostile, () => `a guest chain came back twice: ${rig.violation}`);
    if (v.failed) return v.verdict;
  }
  if (!hostile) {
    if (rig.mode === 'passthrough') {
      const e = rig.switchOn();
      if (e !== undefined) return `switching SVQ back on failed: ${e}`;
    }
    rig.drain();
    v.expect(rig.inFlight() === 0, () => `${rig.inFlight()} chains never came back (added ${rig.added}, returned ${rig.returned})`);
    v.expect(rig.violation === undefined, () => `accounting: ${rig.violation}`);
    return v.verdict;
  }
  // hostile: every chain is returned, held by SVQ, or unpopped on the guest ring
  if (rig.mode === 'shadow') {
    const q = rig.svq!;
    const h = q.stop();
    // what SVQ returned (including stop's last flush) is on the guest's used ring: the guest takes it
    if (!guestHostile) {
      const r = rig.reap();
      if (typeof r !== 'number') v.fail(`the guest driver rejected what SVQ returned: ${r.message}`);
    }
    v.expect(h.inFlight.length === q.inFlight(), () => `hand-over lists ${h.inFlight.length} chains, SVQ holds ${q.inFlight()}`);
    for (const e of h.inFlight) {
      for (let k = 0; k < e.addr.length; k++) {
        v.expect(rig.tb.gpa.contains(e.addr[k]!, e.len[k]!), () => `hand-over chain ${e.id} segment ${k} [0x${e.addr[k]!.toString(16)}, +${e.len[k]}) outside guest memory`);
      }
    }
    if (!guestHostile) {
      const u = unpopped(rig, h);
      if (u !== undefined) {
        v.expect(rig.added === rig.returned + h.inFlight.length + u, () => `accounting: added ${rig.added} ≠ returned ${rig.returned} + held ${h.inFlight.length} + unpopped ${u}`);
      } else {
        v.expect(rig.inFlight() >= h.inFlight.length, () => `SVQ holds ${h.inFlight.length} chains, the guest has only ${rig.inFlight()} out`);
      }
    }
  }
  return v.verdict;
}

export const svqTargets = (): FuzzTarget<SvqCase>[] => [
  { kind: 'svq honest (switch, hand-over)', arbitrary: svqCaseArb({ guestScribble: false, deviceScribble: false }), check: checkSvqCase, weight: 0.5 },
  { kind: 'svq hostile device', arbitrary: svqCaseArb({ guestScribble: false, deviceScribble: true }), check: checkSvqCase, weight: 0.5 },
  { kind: 'svq hostile guest', arbitrary: svqCaseArb({ guestScribble: true, deviceScribble: false }), check: checkSvqCase, weight: 0.5 },
];
