import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { CVQ_STRATEGIES, CvqEngine, cvqOut, type CvqStrategy } from '../../src/cvq/engine.js';
import { restoreState } from '../../src/cvq/restore.js';
import { createShadowCvq, destroyShadowCvq, programShadowCvq } from '../../src/cvq/shadow.js';
import { runCvqCommands } from '../../src/effects/cvq.js';
import { applyAll } from '../../src/state/apply.js';
import { maximalState } from '../../src/state/maximal.js';
import { DEFAULT_LIMITS, resetNetState } from '../../src/state/net-state.js';
import { planRestore } from '../../src/state/plan.js';
import { viewThrough } from '../../src/state/view.js';
import { describeCommand, type NetCtrlCommand } from '../../src/virtio/cvq.js';
import { FULL_PROFILE_FEATURES, hasFeature, maskOf } from '../../src/virtio/features.js';
import { toHex } from '../../src/virtio/net.js';
import { arbNegotiated, arbState } from '../../testkit/fuzz/arbitraries.js';
import type { CvqCommand } from '../../machines/cvq-command.js';
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

/** A command in the machine's JSON form, named as a report names it (e.g. "VLAN_ADD vid=5"). */
const command = (cmd: NetCtrlCommand): CvqCommand => {
  const o = cvqOut(cmd);
  return { name: describeCommand(cmd), class: o.class, cmd: o.command, payload: toHex(o.payload) };
};
const vlans = (n: number): CvqCommand[] => Array.from({ length: n }, (_, i) => command({ kind: 'VLAN_ADD', vid: i }));
const run = (engine: CvqEngine, commands: readonly CvqCommand[], strategy: CvqStrategy, ackTimeoutMs = 1000) =>
  runCvqCommands(engine, commands, { strategy, ackTimeoutMs });

describe('CVQ restore through machines/cvq-command against a ring-device loop', () => {
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
    const { plan, output, model } = r.right;
    expect(plan.length).toBe(1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 4094 + 2);
    expect(device.state).toEqual(viewThrough(state, negotiated));
    expect(model).toEqual(device.state);
    expect(output).toMatchObject({ ok: true, applied: plan.length, failure: null });
    expect(device.log.map((l) => l.name)).toEqual(plan.map((c) => c.name));
    // round trips per strategy: one per command; 2 descriptors per command in a 256 ring; one slot each
    const expected = { serial: plan.length, parallel: Math.ceil(plan.length / 128), 'parallel-indirect': Math.ceil(plan.length / 256) }[strategy];
    expect(output.roundTrips).toBe(expected);
    expect(engine.stats.flushes).toBe(expected);
    expect(device.kicks).toBeLessThanOrEqual(expected);
  });

  it('flushes when the out buffer is full before the ring is', async () => {
    const { device, engine } = setup(SPLIT);
    // 300-byte commands: 13 fit a page, far fewer than the ring's 128 two-descriptor slots
    const big: NetCtrlCommand = { kind: 'MAC_TABLE_SET', unicast: Array.from({ length: 49 }, () => '02:00:00:00:00:01'), multicast: [] };
    expect(cvqOut(big).payload.length + 2).toBe(304);
    const out = await run(engine, Array.from({ length: 40 }, () => command(big)), 'parallel');
    expect(out).toMatchObject({ ok: true, applied: 40, roundTrips: Math.ceil(40 / 13) });
    expect(device.log).toHaveLength(40);
  });

  it('a NACK is EIO naming the command; acks OK around it are seen, only the prefix before it is applied, later batches never sent', async () => {
    const { device, engine } = setup(SPLIT, { nack: new Set([5]) });
    const out = await run(engine, vlans(300), 'parallel');
    expect(out.ok).toBe(false);
    expect(out.failure).toEqual({ kind: 'ack-err', errno: 'EIO', index: 5, command: 'VLAN_ADD vid=5', message: 'EIO: device acked VLAN_ADD vid=5 with VIRTIO_NET_ERR (1)' });
    expect([out.applied, out.roundTrips]).toEqual([5, 1]);
    // the batch's acks, in command order: every one OK but the refused one
    const acks = engine.acks();
    expect(acks).toHaveLength(128);
    expect(acks.map((a, i) => [i, a.len, a.ack]).filter(([, len, ack]) => len !== 1 || ack !== 0)).toEqual([[5, 1, 1]]);
    expect(device.log).toHaveLength(128);
  });

  it('serial stops at the refused command', async () => {
    const { device, engine } = setup(SPLIT, { nack: new Set([2]) });
    const out = await run(engine, vlans(10), 'serial');
    expect([out.failure?.kind, out.failure?.index, out.applied, out.roundTrips]).toEqual(['ack-err', 2, 2, 3]);
    expect(device.log).toHaveLength(3);
  });

  it('a used length of 0 is EIO (wrong length) naming the command', async () => {
    const len = 0;
    const { engine } = setup(SPLIT, { usedLen: new Map([[3, len]]) });
    const out = await run(engine, vlans(8), 'parallel');
    expect(out.failure).toMatchObject({ kind: 'wrong-length', errno: 'EIO', index: 3, command: 'VLAN_ADD vid=3' });
    expect(out.failure?.message).toBe(`EIO: device wrote ${len} bytes for the ack of VLAN_ADD vid=3, expected 1`);
    expect(out.applied).toBe(3);
  });

  it.each([2, 4096])('a used length of %i (more than the ack byte) is EIO naming the command; the commands before it are applied', async (len) => {
    const { engine } = setup(SPLIT, { usedLen: new Map([[3, len]]) });
    const out = await run(engine, vlans(8), 'parallel');
    // the ring refuses the element (used-len-too-large): the engine's awaitAcks fails, the machine stops
    expect(out.ok).toBe(false);
    expect(out.failure).toMatchObject({ errno: 'EIO' });
    expect(out.failure?.message).toMatch(/ack/);
    // the engine attributes the oversized used entry to its command (#3): the three before it acked OK
    expect(out.failure?.index).toBe(3);
    expect(out.applied).toBe(3);
    expect(engine.broken).toBeDefined();
  });

  it('no answer within the timeout is ETIMEDOUT; the CVQ is then broken', async () => {
    const { engine } = setup(SPLIT, { silentFrom: 4 });
    const out = await run(engine, vlans(8), 'parallel', 30);
    expect(out.failure).toMatchObject({ kind: 'timeout', errno: 'ETIMEDOUT' });
    expect(out.failure!.index).toBeLessThanOrEqual(4);
    expect(out.applied).toBeLessThanOrEqual(4);
    const again = await run(engine, vlans(8), 'parallel');
    expect(again.failure).toMatchObject({ kind: 'device', errno: 'EIO', index: 0 });
    // the engine's own bound fired (the port's backstop is twice as long): the ring
    // holds unanswered chains, so nothing more is written (EBUSY while the wait runs, broken after it)
    expect(again.failure?.message).toMatch(/EBUSY|shadow CVQ unusable/);
  });

  it('a used id that is not in flight is a ring error, not an ack', async () => {
    const { engine } = setup(SPLIT, { badId: new Map([[1, 200]]) });
    const out = await run(engine, vlans(4), 'parallel');
    expect(out.failure).toMatchObject({ kind: 'device', errno: 'EIO' });
    expect(out.failure?.message).toMatch(/ring/);
    expect(out.applied).toBe(0);
  });

  it('completions in any order are matched to their commands', async () => {
    const { device, engine } = setup(SPLIT, { reverse: true, nack: new Set([1]) });
    const out = await run(engine, vlans(6), 'parallel');
    expect([out.failure?.kind, out.failure?.index, out.applied]).toEqual(['ack-err', 1, 1]);
    expect(engine.acks().map((a) => a.ack)).toEqual([0, 1, 0, 0, 0, 0]);
    expect(device.log.map((l) => l.ack)).toEqual([0, 1, 0, 0, 0, 0]);
  });

  it('refuses before sending: commands larger than the buffer, a payload that is not hex, indirect without INDIRECT_DESC', async () => {
    const { device, engine } = setup(SPLIT);
    const big = command({ kind: 'MAC_TABLE_SET', unicast: Array.from({ length: 700 }, () => '02:00:00:00:00:01'), multicast: [] });
    const tl = await run(engine, [big], 'parallel');
    expect(tl.failure).toMatchObject({ kind: 'device', errno: 'EIO', index: 0 });
    expect(tl.failure?.message).toMatch(/ENOSPC/);
    const notHex = await run(engine, [{ ...command({ kind: 'VLAN_ADD', vid: 1 }), payload: 'zz' }], 'parallel');
    expect(notHex.failure).toMatchObject({ kind: 'device', index: 0 });
    expect(notHex.failure?.message).toMatch(/not hex/);
    expect(device.log).toHaveLength(0);
    const plain = setup(NO_INDIRECT);
    const ni = await run(plain.engine, vlans(1), 'parallel-indirect');
    expect(ni.failure?.message).toMatch(/EOPNOTSUPP/);
    expect(plain.device.log).toHaveLength(0);
  });

  it('the plan holds only commands the negotiated features allow: nothing else reaches the device', async () => {
    const negotiated = SPLIT & ~maskOf(['CTRL_VLAN', 'CTRL_RX', 'CTRL_RX_EXTRA']);
    const { device, engine } = setup(negotiated);
    const r = await restoreState(device, engine, maximalState(), negotiated, DEFAULT_LIMITS, resetNetState('52:54:00:00:00:01', negotiated), { strategy: 'parallel' });
    if (E.isLeft(r)) throw new Error(r.left.message);
    expect(device.log.some((l) => l.name.startsWith('VLAN') || l.name.startsWith('RX_'))).toBe(false);
    expect(device.log).toHaveLength(r.right.plan.length);
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
            expect(r.right.model).toEqual(device.state);
          } else {
            expect(r.left).toMatchObject({ _tag: 'RestoreCvqError', kind: 'ack-err', errno: 'EIO' });
            if (r.left._tag !== 'RestoreCvqError') return;
            // the first refused command is the one named; exactly the commands before it are applied
            const first = Math.min(...nacked);
            expect([r.left.index, r.left.output.applied]).toEqual([first, first]);
            expect(r.left.model).toEqual(E.getOrElse(() => before)(applyAll(before, negotiated, DEFAULT_LIMITS, plan.slice(0, first).map((c) => c.cmd))));
            // one command per round trip: the device saw nothing after the refusal, so model = device
            if (strategy === 'serial') expect(r.left.model).toEqual(device.state);
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
