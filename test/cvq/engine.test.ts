import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { CVQ_STRATEGIES, CvqEngine, cvqOut, type CvqStrategy } from '../../src/cvq/engine.js';
import { restoreState } from '../../src/cvq/restore.js';
import { createShadowCvq, destroyShadowCvq, programShadowCvq } from '../../src/cvq/shadow.js';
import { applyCommand } from '../../src/state/apply.js';
import { maximalState } from '../../src/state/maximal.js';
import { DEFAULT_LIMITS, resetNetState } from '../../src/state/net-state.js';
import { planRestore } from '../../src/state/plan.js';
import { viewThrough } from '../../src/state/view.js';
import { FULL_PROFILE_FEATURES, hasFeature, maskOf } from '../../src/virtio/features.js';
import { arbNegotiated, arbState } from '../../src/fuzz/arbitraries.js';
import { LoopDevice, type LoopFaults } from './loop-device.js';

const SPLIT = FULL_PROFILE_FEATURES & ~maskOf(['RING_PACKED']);
const PACKED = FULL_PROFILE_FEATURES;
const NO_INDIRECT = SPLIT & ~maskOf(['INDIRECT_DESC']);

function setup(negotiated: bigint, faults: LoopFaults = {}, size = 256, mac = '52:54:00:00:00:01') {
  const device = new LoopDevice(negotiated, DEFAULT_LIMITS, faults, mac);
  const cvq = createShadowCvq(device, { qi: 16, negotiated, size });
  if (E.isLeft(cvq)) throw new Error(cvq.left.message);
  const p = programShadowCvq(device, cvq.right);
  if (E.isLeft(p)) throw new Error(p.left.message);
  return { device, engine: new CvqEngine(device, cvq.right) };
}

describe('CVQ restore engine against a ring-device loop', () => {
  const cases: Array<[CvqStrategy, string, bigint]> = [
    ['serial', 'split', SPLIT],
    ['parallel', 'split', SPLIT],
    ['parallel-indirect', 'split', SPLIT],
    ['serial', 'packed', PACKED],
    ['parallel', 'packed', PACKED],
    ['parallel-indirect', 'packed', PACKED],
    ['parallel', 'split, no EVENT_IDX', SPLIT & ~maskOf(['EVENT_IDX'])],
  ];
  it.each(cases)('%s on a %s ring restores the maximal state (4099 commands)', async (strategy, _layout, negotiated) => {
    const { device, engine } = setup(negotiated);
    const state = maximalState();
    const before = resetNetState('52:54:00:00:00:01', negotiated);
    const r = await restoreState(device, engine, state, negotiated, DEFAULT_LIMITS, before, { strategy });
    if (E.isLeft(r)) throw new Error(r.left.message);
    const { plan, report, model } = r.right;
    expect(plan.length).toBe(1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 4094 + 2);
    expect(device.state).toEqual(viewThrough(state, negotiated));
    expect(model).toEqual(device.state);
    expect(report.acked.length).toBe(plan.length);
    expect(device.log.map((l) => l.name)).toEqual(plan.map((c) => c.name));
    // kicks per strategy: one per command; 2 descriptors per command in a 256 ring; one slot each
    const expected = { serial: plan.length, parallel: Math.ceil(plan.length / 128), 'parallel-indirect': Math.ceil(plan.length / 256) }[strategy];
    expect(report.stats.flushes).toBe(expected);
    expect(device.kicks).toBeLessThanOrEqual(expected);
  });

  it('flushes when the out buffer is full before the ring is', async () => {
    const { device, engine } = setup(SPLIT);
    // 300-byte commands: 13 fit a page, far fewer than the ring's 128 two-descriptor slots
    const cmds = Array.from({ length: 40 }, () => cvqOut({ kind: 'MAC_TABLE_SET', unicast: Array.from({ length: 49 }, () => '02:00:00:00:00:01'), multicast: [] }));
    expect(cmds[0]!.payload.length + 2).toBe(304);
    const r = await engine.run(cmds, { strategy: 'parallel' });
    expect(E.isRight(r) && r.right.stats.flushes).toBe(Math.ceil(40 / 13));
    expect(device.log).toHaveLength(40);
  });

  it('a NACK is EIO naming the command; acks OK around it are reported, later batches never sent', async () => {
    const { device, engine } = setup(SPLIT, { nack: new Set([5]) });
    const cmds = Array.from({ length: 300 }, (_, i) => cvqOut({ kind: 'VLAN_ADD', vid: i }));
    const r = await engine.run(cmds, { strategy: 'parallel' });
    expect(E.isLeft(r)).toBe(true);
    if (E.isRight(r)) return;
    expect(r.left).toMatchObject({ kind: 'nack', errno: 'EIO', index: 5, command: 'VLAN_ADD vid=5' });
    expect(r.left.message).toBe('EIO: device acked VLAN_ADD vid=5 with VIRTIO_NET_ERR');
    const o = r.left.report.outcomes;
    expect(o.slice(0, 5).every((x) => x === 'ok') && o[5] === 'nack' && o.slice(6, 128).every((x) => x === 'ok')).toBe(true);
    expect(o.slice(128).every((x) => x === 'not-sent')).toBe(true);
    expect(r.left.report.acked).toEqual([...Array(128).keys()].filter((i) => i !== 5));
    expect(r.left.report.okPrefix).toBe(5);
    expect(device.log).toHaveLength(128);
  });

  it('serial stops at the refused command', async () => {
    const { device, engine } = setup(SPLIT, { nack: new Set([2]) });
    const r = await engine.run(Array.from({ length: 10 }, (_, i) => cvqOut({ kind: 'VLAN_ADD', vid: i })), { strategy: 'serial' });
    expect(E.isLeft(r) && [r.left.index, r.left.report.acked]).toEqual([2, [0, 1]]);
    expect(device.log).toHaveLength(3);
  });

  it.each([0, 2, 4096])('a used length of %i is EIO (wrong length)', async (len) => {
    const { engine } = setup(SPLIT, { usedLen: new Map([[3, len]]) });
    const r = await engine.run(Array.from({ length: 8 }, (_, i) => cvqOut({ kind: 'VLAN_ADD', vid: i })), { strategy: 'parallel' });
    expect(E.isLeft(r) && r.left).toMatchObject({ kind: 'wrong-length', errno: 'EIO', index: 3, command: 'VLAN_ADD vid=3' });
    if (E.isLeft(r)) expect(r.left.report.outcomes[3]).toBe('wrong-length');
  });

  it('no answer within the timeout is ETIMEDOUT; the CVQ is then broken', async () => {
    const { engine } = setup(SPLIT, { silentFrom: 4 });
    const cmds = Array.from({ length: 8 }, (_, i) => cvqOut({ kind: 'VLAN_ADD', vid: i }));
    const r = await engine.run(cmds, { strategy: 'parallel', timeoutMs: 30 });
    expect(E.isLeft(r) && r.left).toMatchObject({ kind: 'timeout', errno: 'ETIMEDOUT', index: 4 });
    if (E.isLeft(r)) expect(r.left.report.outcomes).toEqual(['ok', 'ok', 'ok', 'ok', 'timeout', 'timeout', 'timeout', 'timeout']);
    const again = await engine.run(cmds, { strategy: 'parallel' });
    expect(E.isLeft(again) && again.left.kind).toBe('broken');
  });

  it('a used id that is not in flight is a ring error, not an ack', async () => {
    const { engine } = setup(SPLIT, { badId: new Map([[1, 200]]) });
    const r = await engine.run(Array.from({ length: 4 }, (_, i) => cvqOut({ kind: 'VLAN_ADD', vid: i })), { strategy: 'parallel' });
    expect(E.isLeft(r) && r.left).toMatchObject({ kind: 'ring', errno: 'EIO' });
  });

  it('completions in any order are matched to their commands', async () => {
    const { device, engine } = setup(SPLIT, { reverse: true, nack: new Set([1]) });
    const r = await engine.run(Array.from({ length: 6 }, (_, i) => cvqOut({ kind: 'VLAN_ADD', vid: i })), { strategy: 'parallel' });
    expect(E.isLeft(r) && r.left.report.outcomes).toEqual(['ok', 'nack', 'ok', 'ok', 'ok', 'ok']);
    expect(device.log.map((l) => l.ack)).toEqual([0, 1, 0, 0, 0, 0]);
  });

  it('refuses before sending: features not negotiated, commands larger than the buffer, indirect without INDIRECT_DESC', async () => {
    const { device, engine } = setup(SPLIT);
    const nf = await engine.run([cvqOut({ kind: 'VLAN_ADD', vid: 1 })], { strategy: 'parallel', negotiated: SPLIT & ~maskOf(['CTRL_VLAN']) });
    expect(E.isLeft(nf) && nf.left).toMatchObject({ kind: 'not-negotiated', errno: 'EOPNOTSUPP', index: 0 });
    const big = cvqOut({ kind: 'MAC_TABLE_SET', unicast: Array.from({ length: 700 }, () => '02:00:00:00:00:01'), multicast: [] });
    const tl = await engine.run([big], { strategy: 'parallel' });
    expect(E.isLeft(tl) && tl.left).toMatchObject({ kind: 'too-large', errno: 'ENOSPC' });
    expect(device.log).toHaveLength(0);
    const plain = setup(NO_INDIRECT);
    const ni = await plain.engine.run([cvqOut({ kind: 'VLAN_ADD', vid: 1 })], { strategy: 'parallel-indirect' });
    expect(E.isLeft(ni) && ni.left.kind).toBe('no-indirect');
  });

  it('catches a device that acks MAC_ADDR_SET without applying it (the stale-ack quirk) by reading config space', async () => {
    const { device, engine } = setup(SPLIT, { fakeOk: new Set([0]) });
    const r = await restoreState(device, engine, maximalState(), SPLIT, DEFAULT_LIMITS, resetNetState('52:54:00:00:00:01', SPLIT), { strategy: 'parallel' });
    expect(E.isLeft(r) && r.left).toMatchObject({ _tag: 'RestoreVerifyError', message: 'device acked MAC_ADDR_SET 52:54:00:12:34:56 but its config space shows 52:54:00:00:00:01' });
  });

  it('never applies a command to the model unless the device acked it OK (any state, features, strategy, NACKs)', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbState(DEFAULT_LIMITS),
        arbNegotiated,
        fc.constantFrom(...CVQ_STRATEGIES),
        fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 3 }),
        async (state, negotiated0, strategy, nacks) => {
          const negotiated = strategy === 'parallel-indirect' ? negotiated0 | maskOf(['INDIRECT_DESC']) : negotiated0;
          // without CTRL_MAC_ADDR the destination's MAC is provisioned in config space, as the source's
          const mac = hasFeature(negotiated, 'CTRL_VQ') && hasFeature(negotiated, 'CTRL_MAC_ADDR') ? '52:54:00:00:00:01' : state.mac;
          const { device, engine } = setup(negotiated, { nack: new Set(nacks) }, 16, mac);
          const before = resetNetState(mac, negotiated);
          const r = await restoreState(device, engine, state, negotiated, DEFAULT_LIMITS, before, { strategy, verifyMac: false });
          const plan = planRestore(state, negotiated);
          const nacked = nacks.filter((i) => i < plan.length);
          if (E.isRight(r)) {
            expect(nacked).toEqual([]);
            expect(r.right.model).toEqual(viewThrough(state, negotiated));
          } else {
            expect(r.left).toMatchObject({ _tag: 'CvqError', kind: 'nack' });
            if (r.left._tag !== 'CvqError') return;
            // the model is the device: the same commands, applied in the same order
            expect(r.left.model).toEqual(device.state);
            let m = before;
            for (const i of r.left.report.acked) m = E.getOrElse(() => m)(applyCommand(m, negotiated, DEFAULT_LIMITS, plan[i]!.cmd));
            expect(r.left.model).toEqual(m);
            expect(r.left.report.acked.some((i) => nacked.includes(i))).toBe(false);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('lays the shadow CVQ out page by page with the permissions QEMU maps, and unmaps it', () => {
    const device = new LoopDevice(SPLIT);
    const cvq = createShadowCvq(device, { qi: 16, negotiated: SPLIT, size: 256, iova: 0x10000 });
    if (E.isLeft(cvq)) throw new Error(cvq.left.message);
    const c = cvq.right;
    expect([c.layout, c.size, c.indirect, c.iova]).toEqual(['split', 256, true, 0x10000]);
    // desc 4096 + avail 518 on one page; used ring on its own page; 8 KiB of indirect tables; out; in
    expect(c.addrs).toEqual({ desc: 0x10000, driver: 0x11000, device: 0x12000 });
    expect([c.outIova, c.out.length, c.inIova, c.in.length]).toEqual([0x15000, 4096, 0x16000, 4096]);
    expect(device.iova.regions().map((r) => [r.base, r.size])).toEqual([
      [0x10000, 0x2000], [0x12000, 0x1000], [0x13000, 0x2000], [0x15000, 0x1000], [0x16000, 0x1000],
    ]);
    expect(E.isRight(destroyShadowCvq(device, c))).toBe(true);
    expect(device.iova.regions()).toHaveLength(0);
    expect(device.host.regions()).toHaveLength(0);
  });

  it('refuses a ring larger than the device allows and IOVAs outside its range', () => {
    const device = new LoopDevice(SPLIT);
    expect(createShadowCvq(device, { qi: 16, negotiated: SPLIT, size: 2048 })).toMatchObject(E.left({ _tag: 'ShadowCvqSetupError' }));
    expect(createShadowCvq(device, { qi: 16, negotiated: SPLIT, iova: 0x10001 })).toMatchObject(E.left({ message: 'IOVA 0x10001 is not page-aligned' }));
    expect(E.isLeft(createShadowCvq(device, { qi: 16, negotiated: SPLIT, iova: 2 ** 48 - 0x1000 }))).toBe(true);
    expect(device.host.regions()).toHaveLength(0);
  });
});
