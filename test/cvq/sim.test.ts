/**
 * CVQ restore through machines/cvq-command against the embedded simulated device (src/device/sim): the
 * real uAPI path — machines/device-lifecycle's bring-up (features, FEATURES_OK, DRIVER_OK) with the
 * shadow CVQ in its own ASID as its step 7 — then the load.
 */
import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { SimVdpaDevice, type SimDeviceOptions } from '../../src/device/sim/index.js';
import { CVQ_STRATEGIES, CvqEngine, cvqOut, type CvqStrategy } from '../../src/cvq/engine.js';
import { restoreState } from '../../src/cvq/restore.js';
import { startShadowCvq } from '../../src/cvq/shadow.js';
import { runCvqCommands } from '../../src/effects/cvq.js';
import { DEFAULT_LIMITS, resetNetState, vlanFilterOf, type NetDeviceState } from '../../src/state/net-state.js';
import { viewThrough } from '../../src/state/view.js';
import { describeCommand, type NetCtrlCommand } from '../../src/virtio/cvq.js';
import { maskOf } from '../../src/virtio/features.js';
import { toHex } from '../../src/virtio/net.js';
import { STATUS } from '../../src/state/lifecycle.js';
import type { CvqCommand } from '../../machines/cvq-command.js';
import { right } from '../device/helpers.js';

/** Owner, then machines/device-lifecycle: features, the shadow CVQ alone in ASID 1 (as QEMU), DRIVER_OK. */
async function bringUp(opts: SimDeviceOptions, want?: bigint) {
  const dev = new SimVdpaDevice(opts);
  right(dev.setOwner());
  const started = right(await startShadowCvq(dev, want ?? right(dev.getFeatures())));
  started.actor.stop();
  return { dev, negotiated: started.negotiated, cvq: started.cvq, engine: new CvqEngine(dev, started.cvq) };
}

const command = (cmd: NetCtrlCommand): CvqCommand => {
  const o = cvqOut(cmd);
  return { name: describeCommand(cmd), class: o.class, cmd: o.command, payload: toHex(o.payload) };
};

const state: NetDeviceState = {
  ...resetNetState('52:54:00:12:34:56'),
  queuePairs: 4,
  rxMode: { promisc: false, allmulti: true, alluni: false, nomulti: false, nouni: false, nobcast: false },
  macTable: { unicast: ['02:00:00:00:00:01'], multicast: ['01:00:5e:00:00:01'], unicastOverflow: false, multicastOverflow: false },
  vlanFilter: vlanFilterOf(Array.from({ length: 300 }, (_, i) => i * 13 + 1)),
  guestOffloads: 0x182n,
  rss: { hashTypes: 0x3f, indirectionTable: [0, 1, 2, 3, 3, 2, 1, 0], unclassifiedQueue: 1, key: '6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa' },
  hashReport: null,
  coalescing: { tx: { maxPackets: 8, maxUsecs: 4 }, rx: { maxPackets: 0, maxUsecs: 0 } },
};

describe('CVQ restore through machines/cvq-command on the simulated device', () => {
  it('brings the device up through machines/device-lifecycle: DRIVER_OK, the CVQ alone in ASID 1, programmed and enabled', async () => {
    const { dev, cvq } = await bringUp({ profile: 'full' });
    expect(right(dev.getStatus())).toBe(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
    expect([cvq.qi, cvq.asid]).toEqual([2 * right(dev.getConfig(8, 2))[0]!, 1]);
  });

  const layouts: Array<[string, bigint]> = [['split', ~maskOf(['RING_PACKED'])], ['packed', ~0n]];
  for (const strategy of CVQ_STRATEGIES) {
    for (const [layout, mask] of layouts) {
      it(`${strategy} (${layout}) restores a state on the full profile`, async () => {
        const probe = new SimVdpaDevice({ profile: 'full' });
        const { dev, negotiated, engine } = await bringUp({ profile: 'full', mac: '52:54:00:00:00:01' }, right(probe.getFeatures()) & mask);
        const r = await restoreState(dev, engine, state, negotiated, DEFAULT_LIMITS, resetNetState('52:54:00:00:00:01', negotiated), { strategy });
        const res = right(E.mapLeft((e: { message: string }) => e)(r));
        expect(res.model).toEqual(viewThrough(state, negotiated));
        expect(dev.cvqLog.map((l) => l.name)).toEqual(res.plan.map((c) => c.name));
        expect(dev.cvqLog.every((l) => l.ack === 0)).toBe(true);
        // the device's own view of the MAC, read back through config space
        expect(res.model.mac).toBe('52:54:00:12:34:56');
        expect(res.output).toMatchObject({ ok: true, applied: res.plan.length });
        expect(res.output.roundTrips).toBe({ serial: res.plan.length, parallel: Math.ceil(res.plan.length / 128), 'parallel-indirect': Math.ceil(res.plan.length / 256) }[strategy as CvqStrategy]);
      });
    }
  }

  it('a NACK injected on a chosen command fails the load with EIO naming it, and the model skips it', async () => {
    const { dev, negotiated, engine } = await bringUp({ profile: 'full', faults: [{ kind: 'nack', match: { commands: ['MQ_RSS_CONFIG'] } }] }, undefined);
    const r = await restoreState(dev, engine, state, negotiated, DEFAULT_LIMITS, resetNetState('52:54:00:12:34:56', negotiated), { strategy: 'parallel' });
    expect(E.isLeft(r) && r.left).toMatchObject({ _tag: 'RestoreCvqError', kind: 'ack-err', errno: 'EIO', command: 'MQ_RSS_CONFIG' });
    if (E.isLeft(r) && r.left._tag === 'RestoreCvqError') {
      expect(r.left.model.rss).toBeNull();
      expect(r.left.index).toBe(r.left.plan.findIndex((c) => c.name === 'MQ_RSS_CONFIG'));
      expect(r.left.output.applied).toBe(r.left.index);
      expect(r.left.message).toBe('EIO: device acked MQ_RSS_CONFIG with VIRTIO_NET_ERR (1)');
    }
  });

  it('never answering is ETIMEDOUT; a wrong used length is EIO', async () => {
    const a = await bringUp({ profile: 'full', faults: [{ kind: 'no-answer', match: { commands: ['VLAN_ADD'] }, times: 1 }] });
    const t = await runCvqCommands(a.engine, [command({ kind: 'MAC_ADDR_SET', mac: '52:54:00:00:00:02' }), command({ kind: 'VLAN_ADD', vid: 5 })], { strategy: 'parallel', ackTimeoutMs: 100 });
    expect(t.failure).toMatchObject({ kind: 'timeout', errno: 'ETIMEDOUT' });
    expect(t.applied).toBeLessThanOrEqual(1);
    const b = await bringUp({ profile: 'full', faults: [{ kind: 'wrong-used-len', len: 0, match: { commands: ['VLAN_ADD'] } }] });
    const w = await runCvqCommands(b.engine, [command({ kind: 'VLAN_ADD', vid: 5 })], { strategy: 'serial', ackTimeoutMs: 1000 });
    expect(w.failure).toMatchObject({ kind: 'wrong-length', errno: 'EIO', index: 0, command: 'VLAN_ADD vid=5' });
    expect(w.applied).toBe(0);
  });

  it('a delayed ack within the timeout is waited for; beyond it, ETIMEDOUT', async () => {
    const cmds = [command({ kind: 'VLAN_ADD', vid: 1 }), command({ kind: 'VLAN_ADD', vid: 2 })];
    const slow = await bringUp({ profile: 'full', faults: [{ kind: 'delay-ack', us: 20_000, match: { commands: ['VLAN_ADD'] }, times: 1 }] });
    const ok = await runCvqCommands(slow.engine, cmds, { strategy: 'parallel', ackTimeoutMs: 50 });
    expect(ok).toMatchObject({ ok: true, applied: 2, roundTrips: 1 });
    expect(slow.engine.acks()).toMatchObject([{ len: 1, ack: 0, owner: 0 }, { len: 1, ack: 0, owner: 1 }]);
    const slower = await bringUp({ profile: 'full', faults: [{ kind: 'delay-ack', us: 80_000, match: { commands: ['VLAN_ADD'] }, times: 1 }] });
    const late = await runCvqCommands(slower.engine, cmds, { strategy: 'parallel', ackTimeoutMs: 50 });
    expect(late.failure).toMatchObject({ kind: 'timeout', errno: 'ETIMEDOUT', index: 0 });
    expect(late.applied).toBe(0);
  });

  it('vdpa_sim_net: MAC_ADDR_SET restores and reads back; everything else is refused', async () => {
    const { dev, negotiated, engine } = await bringUp({ profile: 'vdpa_sim_net' });
    const r = await restoreState(dev, engine, state, negotiated, DEFAULT_LIMITS, resetNetState('52:54:00:00:00:01', negotiated), { strategy: 'parallel' });
    const res = right(E.mapLeft((e: { message: string }) => e)(r));
    expect(res.plan.map((c) => c.name)).toEqual(['MAC_ADDR_SET']);
    expect(res.model.mac).toBe('52:54:00:12:34:56');
    const vlan = await runCvqCommands(engine, [command({ kind: 'VLAN_ADD', vid: 5 })], { strategy: 'serial', ackTimeoutMs: 1000 });
    expect(vlan.failure).toMatchObject({ kind: 'ack-err', index: 0, command: 'VLAN_ADD vid=5' });
  });

  it('pins vdpa_sim_net\'s stale ack: an unsupported command batched behind a success acks OK, sent alone ERR', async () => {
    const cmds = [command({ kind: 'MAC_ADDR_SET', mac: '52:54:00:00:00:07' }), command({ kind: 'VLAN_ADD', vid: 5 })];
    const batched = await bringUp({ profile: 'vdpa_sim_net', staleAck: true });
    const p = await runCvqCommands(batched.engine, cmds, { strategy: 'parallel', ackTimeoutMs: 1000 });
    expect(p).toMatchObject({ ok: true, applied: 2, roundTrips: 1 }); // the bug: VLAN_ADD "acked"
    const serial = await bringUp({ profile: 'vdpa_sim_net', staleAck: true });
    const s = await runCvqCommands(serial.engine, cmds, { strategy: 'serial', ackTimeoutMs: 1000 });
    expect([s.failure?.kind, s.failure?.index, s.applied]).toEqual(['ack-err', 1, 1]);
    // the planner keeps a restore from being fooled: without CTRL_VLAN it never sends VLAN_ADD
    const planned = await bringUp({ profile: 'vdpa_sim_net', staleAck: true });
    const withVlan = { ...state, vlanFilter: vlanFilterOf([5]) };
    const r = await restoreState(planned.dev, planned.engine, withVlan, planned.negotiated, DEFAULT_LIMITS, resetNetState('52:54:00:00:00:01', planned.negotiated), { strategy: 'parallel' });
    expect(E.isRight(r) && r.right.plan.map((c) => c.name)).toEqual(['MAC_ADDR_SET']);
    expect(planned.dev.cvqLog.map((l) => l.name)).toEqual(['MAC_ADDR_SET']);
  });
});
