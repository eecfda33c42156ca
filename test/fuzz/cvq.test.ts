import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { checkCodec, checkDeviceCvq, cvqTargets, CvqOnlySim } from '../../testkit/fuzz/cvq.js';
import { encodeCommand } from '../../src/virtio/cvq.js';
import { VIRTIO_NET_ERR, VIRTIO_NET_OK } from '../../src/virtio/net.js';
import { vlanList } from '../../src/state/net-state.js';
import { assertTarget } from './helpers.js';

describe('fuzz: CVQ payloads', () => {
  for (const t of cvqTargets()) {
    it(`${t.kind}`, async () => {
      await assertTarget(t, t.weight === undefined ? 300 : 60);
    });
  }

  it('the codec check rejects a decoder that accepts bytes it cannot reproduce (not vacuous)', () => {
    // a valid VLAN_ADD with one trailing byte must be refused (long-payload), and the check agrees
    expect(checkCodec({ cmd: { kind: 'VLAN_ADD', vid: 5 }, mutations: [{ op: 'extend', bytes: new Uint8Array([0]) }], cuts: [0.5], raw: null })).toBeUndefined();
    expect(checkCodec({ cmd: { kind: 'VLAN_ADD', vid: 5 }, mutations: [], cuts: [0.3, 0.6], raw: null })).toBeUndefined();
  });

  it('the simulated device acks a valid command OK and a refused one ERR, state only on OK', () => {
    const sim = new CvqOnlySim();
    const ok = sim.send([encodeCommand({ kind: 'VLAN_ADD', vid: 7 }).subarray(0, 1), encodeCommand({ kind: 'VLAN_ADD', vid: 7 }).subarray(1)]);
    expect(ok).toEqual({ ack: VIRTIO_NET_OK, len: 1 });
    const bad = sim.send([encodeCommand({ kind: 'VLAN_ADD', vid: 4096 })]);
    expect(bad).toEqual({ ack: VIRTIO_NET_ERR, len: 1 });
    expect(vlanList(sim.dev.netState().vlanFilter)).toEqual([7]);
    expect(checkDeviceCvq({ commands: [{ cmd: { kind: 'MAC_ADDR_SET', mac: '02:00:00:00:00:01' }, mutations: [], cuts: [0.1], raw: null }] })).toBeUndefined();
    void E;
  });
});
