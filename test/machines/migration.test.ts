/**
 * machines/migration end to end on two simulated devices: the source migrates under guest traffic
 * (SVQ on, precopy rounds until the dirty log converges, stop-and-copy), its record goes through JSON
 * to the destination, which restores it through the CVQ and ends with the source's state.
 */
import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { createActor, waitFor } from 'xstate';
import { migrationMachine } from '../../machines/migration.js';
import { bind } from '../../machines/contract.js';
import { destinationEffects, restoredModel, sourceEffects } from '../../src/effects/migration.js';
import { ownDevice } from '../../src/effects/vdpa-net.js';
import { bringUpSource, drainTraffic, migrationSides, SOURCE_STATE } from '../../src/mbt/sim.js';
import { SimVdpaDevice } from '../../src/device/sim/device.js';
import { parseMigrationRecord, encodeMigrationRecord } from '../../src/state/migration-record.js';
import { decodeStateJson } from '../../src/state/json.js';
import { viewThrough } from '../../src/state/view.js';
import { CVQ_STRATEGIES } from '../../machines/cvq-command.js';

const hex = (v: bigint) => `0x${v.toString(16)}`;
/** The source machine's input: the running device as its driver negotiated it. */
const sourceInput = (src: Awaited<ReturnType<typeof bringUpSource>>, o: { dirtyThresholdPages: number; maxRounds: number }) => ({
  ...o,
  source: { offered: hex(src.negotiated), negotiated: hex(src.negotiated), queues: [0, 1] },
});
const j = (x: unknown) => JSON.stringify(x, (_, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));

describe('live migration between two simulated devices', () => {
  it.each(CVQ_STRATEGIES)('source → record → destination (%s restore): the destination ends with the source state', async (strategy) => {
    const src = await bringUpSource();
    const dst = new SimVdpaDevice({ profile: 'full', maxQueuePairs: 1, mac: '52:54:00:00:00:99' });
    expect(E.isRight(ownDevice(dst))).toBe(true);
    const traffic = [12, 6, 0];
    const sides = migrationSides(src, dst, {
      workload: async (round) => {
        const n = traffic[round] ?? 0;
        if (n === 0) return 0;
        src.nic.postRx(0, n);
        src.nic.sendTx(1, n);
        await drainTraffic(src);
        return n;
      },
    });
    const source = sourceEffects(sides.source);
    const a = createActor(bind(migrationMachine, source), { input: sourceInput(src, { dirtyThresholdPages: 1, maxRounds: 10 }) });
    a.start();
    a.send({ type: 'MIGRATE' });
    const done = await waitFor(a, (s) => s.matches({ source: 'completed' }) || s.matches({ source: 'cancelled' }) || s.matches('failed'));
    expect(done.value).toEqual({ source: 'completed' });
    // rounds ran until nothing was dirtied: traffic in rounds 0 and 1, none in round 2
    expect(done.context.round).toBe(3);
    expect(done.context.pagesSent).toBeGreaterThan(0);
    expect(done.context.dirtyPages).toBe(0);
    expect(src.sim.isSuspended()).toBe(true);
    const text = encodeMigrationRecord(done.context.record!);
    // the stream's copy of guest RAM is the source's, byte for byte, at stop-and-copy
    expect(Buffer.from(sides.incoming.bytes).equals(Buffer.from(src.backend.path.ram.bytes))).toBe(true);
    a.stop();
    src.backend.stopPump();

    const destination = destinationEffects(sides.destination);
    const b = createActor(bind(migrationMachine, destination.effects), { input: { dirtyThresholdPages: 1, maxRounds: 10, strategy, ackTimeoutMs: 1000 } });
    b.start();
    b.send({ type: 'INCOMING', record: JSON.parse(text) });
    const end = await waitFor(b, (s) => s.matches({ destination: 'running' }) || s.matches({ destination: 'aborted' }) || s.matches({ destination: 'rejected' }) || s.matches('failed'));
    expect(end.context.error).toBeNull();
    expect(end.value).toEqual({ destination: 'running' });
    const record = parseMigrationRecord(text, decodeStateJson);
    expect(E.isRight(record)).toBe(true);
    const negotiated = src.negotiated;
    expect(j(dst.netState())).toBe(j(viewThrough(SOURCE_STATE, negotiated)));
    // the model of exactly the acked commands is the source's
    expect(E.isRight(record) && j(restoredModel(record.right, destination.state.provisioned!, end.context.cvq!.applied))).toBe(j(E.right(src.model)));
    for (const v of E.isRight(record) ? record.right.vrings : []) expect(dst.getVringBase(v.index)).toEqual(E.right(v.base));
    expect(end.context.cvq!.applied).toBeGreaterThan(4);
    b.stop();
    src.sim.close();
    dst.close();
  });

  it('a destination NACK rolls the destination back; the source cancels and resumes, SVQ off, traffic flowing', async () => {
    const src = await bringUpSource();
    const dst = new SimVdpaDevice({ profile: 'full', maxQueuePairs: 1, faults: [{ kind: 'nack', match: { commands: ['VLAN_ADD'] }, times: 1 }] });
    expect(E.isRight(ownDevice(dst))).toBe(true);
    const sides = migrationSides(src, dst);
    const source = sourceEffects(sides.source);
    const a = createActor(bind(migrationMachine, source), { input: sourceInput(src, { dirtyThresholdPages: 1000, maxRounds: 3 }) });
    a.start();
    a.send({ type: 'MIGRATE' });
    const done = await waitFor(a, (s) => s.matches({ source: 'completed' }) || s.matches('failed'));
    const record = done.context.record;

    const destination = destinationEffects(sides.destination);
    const b = createActor(bind(migrationMachine, destination.effects), { input: { dirtyThresholdPages: 1, maxRounds: 1, strategy: 'parallel', ackTimeoutMs: 1000 } });
    b.start();
    b.send({ type: 'INCOMING', record });
    const end = await waitFor(b, (s) => s.matches({ destination: 'aborted' }) || s.matches({ destination: 'running' }) || s.matches('failed'));
    expect(end.value).toEqual({ destination: 'aborted' });
    expect(end.context.error).toMatch(/EIO: device acked VLAN_ADD .*VIRTIO_NET_ERR/);
    expect(dst.getStatus()).toEqual(E.right(0));

    // the source hears of it and cancels its own migration: a fresh source, cancelled mid-precopy
    a.stop();
    src.backend.stopPump();
    src.sim.close();
    const src2 = await bringUpSource();
    const source2 = sourceEffects(migrationSides(src2, dst).source);
    const c = createActor(bind(migrationMachine, source2), { input: sourceInput(src2, { dirtyThresholdPages: 0, maxRounds: 50 }) });
    c.start();
    c.send({ type: 'MIGRATE' });
    await waitFor(c, (s) => s.matches({ source: { active: 'precopy' } }));
    expect(src2.backend.mode).toBe('shadow');
    c.send({ type: 'CANCEL', reason: 'destination failed' });
    const back = await waitFor(c, (s) => s.matches({ source: 'cancelled' }) || s.matches('failed'));
    expect(back.value).toEqual({ source: 'cancelled' });
    expect(back.context.error).toBe('cancelled: destination failed');
    // SVQ was switched on for this migration: it is off again; the device runs with its state
    expect(src2.backend.mode).toBe('passthrough');
    expect(src2.sim.isSuspended()).toBe(false);
    expect(j(src2.sim.netState())).toBe(j(src2.model));
    const rx0 = src2.nic.rxBytes;
    src2.nic.sendTx(1, 2);
    await drainTraffic(src2);
    expect(src2.nic.rxBytes - rx0).toBe(2 * 72);
    expect(src2.nic.posted - src2.nic.reaped).toBe(src2.nic.inFlight());
    c.stop();
    src2.backend.stopPump();
    src2.sim.close();
    dst.close();
  });
});
