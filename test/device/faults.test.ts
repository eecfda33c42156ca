import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { parseFault, cvqCommandName, cvqCommandByName } from '../../src/device/sim/faults.js';
import { VHOST_ACCESS_RW } from '../../src/device/types.js';
import { Chain, Used, isRingError } from '../../src/ring/types.js';
import { vlanList } from '../../src/state/net-state.js';
import { encodeCommand, type NetCtrlCommand } from '../../src/virtio/cvq.js';
import { VIRTIO_NET_ERR, VIRTIO_NET_OK } from '../../src/virtio/net.js';
import { bringUp, left, queueCommands, right, runCvq, S, sendBatch, sendSerial } from './helpers.js';

const enc = (c: NetCtrlCommand): Uint8Array => encodeCommand(c);
const vlan = (vid: number): Uint8Array => enc({ kind: 'VLAN_ADD', vid });
const mac = enc({ kind: 'MAC_ADDR_SET', mac: '02:00:00:00:00:42' });

describe('fault: NACK chosen commands', () => {
  it('by command name: ERR ack, state unchanged, others applied', async () => {
    const h = bringUp({ device: { faults: [{ kind: 'nack', match: { commands: ['VLAN_ADD'] } }] } });
    expect(await sendBatch(h, [mac, vlan(5), vlan(6)])).toEqual([VIRTIO_NET_OK, VIRTIO_NET_ERR, VIRTIO_NET_ERR]);
    expect(vlanList(h.dev.netState().vlanFilter)).toEqual([]);
    expect(h.dev.netState().mac).toBe('02:00:00:00:00:42');
    expect(h.dev.faultHits()).toEqual([2]);
  });

  it('by class, a limited number of times, and set after construction', async () => {
    const h = bringUp();
    h.dev.setFaults([{ kind: 'nack', match: { classes: ['VLAN'] }, times: 1 }]);
    expect(await sendSerial(h, [vlan(5), vlan(6), mac])).toEqual([VIRTIO_NET_ERR, VIRTIO_NET_OK, VIRTIO_NET_OK]);
    expect(vlanList(h.dev.netState().vlanFilter)).toEqual([6]);
  });
});

describe('fault: delayed ack', () => {
  it('answers after the delay in virtual time; a short wait times out, a longer one gets it', async () => {
    const h = bringUp({ device: { latency: { kickToCallUs: 50, perChainUs: 0 }, faults: [{ kind: 'delay-ack', us: 5000, match: { commands: ['VLAN_ADD'] } }] } });
    const sent = queueCommands(h, [vlan(7), mac]);
    right(h.dev.kick(h.cvq));
    expect(right(await h.dev.waitCall(h.cvq, 1))).toBe(false); // 1 ms < 5 ms
    expect(right(h.cvqSpace.readU8(sent[0]!.ackAddr))).toBe(0xff); // not yet
    expect(right(h.cvqSpace.readU8(sent[1]!.ackAddr))).toBe(0xff); // the CVQ is sequential: queued behind
    expect(right(await h.dev.waitCall(h.cvq, 10))).toBe(true);
    expect(right(h.cvqSpace.readU8(sent[0]!.ackAddr))).toBe(VIRTIO_NET_OK);
    expect(h.dev.clock.now).toBe(50 + 5000);
    h.dev.settle();
    expect(right(h.cvqSpace.readU8(sent[1]!.ackAddr))).toBe(VIRTIO_NET_OK);
    expect(h.dev.cvqLog[0]!.ackedAt! - h.dev.cvqLog[0]!.poppedAt).toBe(5000);
  });

  it('a delayed ack that comes due while suspended is written only after resume', async () => {
    const h = bringUp({ device: { faults: [{ kind: 'delay-ack', us: 100 }] } });
    const sent = queueCommands(h, [vlan(1)]);
    right(h.dev.kick(h.cvq));
    h.dev.flush();
    right(h.dev.suspend());
    h.dev.clock.advance(1000);
    expect(right(h.cvqSpace.readU8(sent[0]!.ackAddr))).toBe(0xff);
    right(h.dev.resume());
    expect(right(h.cvqSpace.readU8(sent[0]!.ackAddr))).toBe(VIRTIO_NET_OK);
  });
});

describe('fault: never answering', () => {
  it('swallows the command, wedges the CVQ until reset; waits time out in virtual time', async () => {
    const h = bringUp({ device: { faults: [{ kind: 'no-answer', match: { commands: ['MQ_VQ_PAIRS_SET'] }, times: 1 }] } });
    const r = await runCvq(h, queueCommands(h, [vlan(1), enc({ kind: 'MQ_VQ_PAIRS_SET', pairs: 2 }), vlan(2)]), 2);
    expect(r.timedOut).toBe(true);
    expect(r.acks).toEqual([VIRTIO_NET_OK, 0xff, 0xff]);
    expect(r.used).toHaveLength(1);
    const t = h.dev.clock.now;
    expect(right(await h.dev.waitCall(h.cvq, 3))).toBe(false);
    expect(h.dev.clock.now).toBe(t + 3000);
    expect(h.dev.netState().queuePairs).toBe(1);
    // a reset brings it back
    const again = bringUp({ dev: h.dev });
    expect(await sendSerial(again, [enc({ kind: 'MQ_VQ_PAIRS_SET', pairs: 2 })])).toEqual([VIRTIO_NET_OK]);
  });
});

describe('fault: wrong used length and bad used id', () => {
  it('a used len beyond the writable bytes is caught by the driver', async () => {
    const h = bringUp({ layout: 'split', device: { faults: [{ kind: 'wrong-used-len', len: 5 }] } });
    const r = await runCvq(h, queueCommands(h, [vlan(1)]));
    expect(r.error?.rule).toBe('used-len-too-large');
  });

  it('a used len of 0 reaches the driver as 0 (the ack is there, the length lies)', async () => {
    const h = bringUp({ layout: 'packed', device: { faults: [{ kind: 'wrong-used-len', len: 0, match: { commands: ['VLAN_ADD'] } }] } });
    const r = await runCvq(h, queueCommands(h, [vlan(1), mac]));
    expect(r.used).toEqual([
      { token: 0, len: 0 },
      { token: 1, len: 1 },
    ]);
    expect(r.acks).toEqual([VIRTIO_NET_OK, VIRTIO_NET_OK]);
  });

  it.each(['split', 'packed'] as const)('a used id out of range or not in flight is caught by the %s driver', async (layout) => {
    const h = bringUp({ layout, device: { faults: [{ kind: 'bad-used-id' }] } });
    const r = await runCvq(h, queueCommands(h, [vlan(1)]));
    expect(r.error?.rule).toBe('used-id-out-of-range');
    const h2 = bringUp({ layout, device: { faults: [{ kind: 'bad-used-id', id: 7 }] } });
    const r2 = await runCvq(h2, queueCommands(h2, [vlan(1)]));
    expect(r2.error?.rule).toBe('used-id-not-in-flight');
  });

  it('on a data queue: the RX queue reports a wrong length', async () => {
    const h = bringUp({ layout: 'split', device: { faults: [{ kind: 'wrong-used-len', len: 9999, queue: 0 }] } });
    const rx = h.queues.get(0)!.driver;
    const tx = h.queues.get(1)!.driver;
    const c = new Chain(2);
    c.push(h.alloc(128), 128, true);
    rx.add(c, 1);
    const t = new Chain(2);
    const buf = h.alloc(64);
    right(h.space.write(buf, new Uint8Array(64).fill(0xff))); // broadcast
    t.push(buf, 64, false);
    tx.add(t, 2);
    right(h.dev.kick(1));
    expect(right(await h.dev.waitCall(0, 1))).toBe(true);
    const u = new Used();
    const r = rx.reap(u);
    expect(isRingError(r) && r.rule).toBe('used-len-too-large');
    expect(tx.reap(u)).toBe(true);
  });
});

describe('fault: suspend and resume fail', () => {
  it('suspend fails with the errno and the device keeps running; it works the next time', async () => {
    const h = bringUp({ device: { faults: [{ kind: 'suspend-fails', times: 1 }] } });
    const e = left(h.dev.suspend());
    expect(e).toMatchObject({ kind: 'fault', op: 'VHOST_VDPA_SUSPEND', errno: 5, errnoName: 'EIO' });
    expect(h.dev.isSuspended()).toBe(false);
    expect(await sendSerial(h, [vlan(3)])).toEqual([VIRTIO_NET_OK]);
    right(h.dev.suspend());
    expect(h.dev.isSuspended()).toBe(true);
  });

  it('resume fails and the device stays suspended', () => {
    const h = bringUp({ device: { faults: [{ kind: 'resume-fails', errno: 16 }] } });
    right(h.dev.suspend());
    expect(left(h.dev.resume())).toMatchObject({ kind: 'fault', op: 'VHOST_VDPA_RESUME', errnoName: 'EBUSY' });
    expect(h.dev.isSuspended()).toBe(true);
  });
});

describe('fault: IOTLB map failure', () => {
  it('fails the chosen update and maps nothing', () => {
    const h = bringUp({ device: { faults: [{ kind: 'iotlb-map-fails', asid: 1 }] } });
    const m = right(h.dev.allocHost(4096));
    const e = left(h.dev.iotlbUpdate(1, 0x1000, 4096, m.base, VHOST_ACCESS_RW));
    expect(e).toMatchObject({ kind: 'fault', op: 'VHOST_IOTLB_UPDATE', errnoName: 'ENOMEM' });
    expect(h.dev.iotlbEntries(1)).toHaveLength(0);
    right(h.dev.iotlbUpdate(0, 0x4000_0000, 4096, m.base, VHOST_ACCESS_RW)); // ASID 0 unaffected
  });

  it('from the n-th update on', () => {
    const h = bringUp({ device: { faults: [{ kind: 'iotlb-map-fails', after: 2 }] } });
    // bringUp made update 1; update 2 succeeds, 3 fails
    const m = right(h.dev.allocHost(8192));
    right(h.dev.iotlbUpdate(0, 0x4000_0000, 4096, m.base, VHOST_ACCESS_RW));
    expect(E.isLeft(h.dev.iotlbUpdate(0, 0x4000_1000, 4096, m.base + 4096, VHOST_ACCESS_RW))).toBe(true);
  });
});

describe('fault: DEVICE_NEEDS_RESET', () => {
  it('on a chosen command: status gains NEEDS_RESET, nothing more is answered, only a reset recovers', async () => {
    const h = bringUp({ device: { faults: [{ kind: 'needs-reset', match: { commands: ['VLAN_ADD'] }, times: 1 }] } });
    const r = await runCvq(h, queueCommands(h, [mac, vlan(1), mac]), 1);
    expect(r.acks).toEqual([VIRTIO_NET_OK, 0xff, 0xff]);
    const st = right(h.dev.getStatus());
    expect(st & S.NEEDS_RESET).toBe(S.NEEDS_RESET);
    expect(left(h.dev.setStatus(st & ~S.NEEDS_RESET)).errnoName).toBe('EINVAL'); // bits only clear by reset
    const again = bringUp({ dev: h.dev });
    expect(right(again.dev.getStatus()) & S.NEEDS_RESET).toBe(0);
    expect(await sendSerial(again, [vlan(1)])).toEqual([VIRTIO_NET_OK]);
  });

  it('after n chains on a data queue, and on demand', async () => {
    const h = bringUp({ layout: 'split', device: { faults: [{ kind: 'needs-reset', afterChains: 2, queue: 1 }] } });
    const tx = h.queues.get(1)!.driver;
    const rx = h.queues.get(0)!.driver;
    for (let i = 0; i < 4; i++) {
      const c = new Chain(2);
      c.push(h.alloc(64), 64, true);
      rx.add(c, i);
      const t = new Chain(2);
      t.push(h.alloc(64), 64, false);
      tx.add(t, i);
    }
    right(h.dev.kick(1));
    h.dev.flush();
    expect(right(h.dev.getStatus()) & S.NEEDS_RESET).toBe(S.NEEDS_RESET);
    expect(h.dev.stats.txPackets).toBe(2);
    const h2 = bringUp();
    h2.dev.injectNeedsReset('firmware crash');
    expect(right(h2.dev.getStatus()) & S.NEEDS_RESET).toBe(S.NEEDS_RESET);
    expect(h2.dev.errors.at(-1)?.message).toContain('firmware crash');
  });

  it('a ring the driver corrupted is a device error: NEEDS_RESET on full, counted only on vdpa_sim_net', async () => {
    for (const profile of ['full', 'vdpa_sim_net'] as const) {
      const h = bringUp({ layout: 'split', device: { profile } });
      queueCommands(h, [mac]);
      // avail->idx runs ahead by more than the queue size
      const q = h.queues.get(h.cvq)!;
      const availIdx = q.driver.config.addrs.driver + 2;
      right(h.cvqSpace.writeU16(availIdx, 1000));
      right(h.dev.kick(h.cvq));
      h.dev.flush();
      expect(h.dev.errors[0]?.ring?.rule).toBe('avail-idx-ahead');
      expect(right(h.dev.getStatus()) & S.NEEDS_RESET).toBe(profile === 'full' ? S.NEEDS_RESET : 0);
    }
  });
});

describe('fault plans from the command line', () => {
  it('parses every kind', () => {
    expect(parseFault('nack:VLAN_ADD,MQ_RSS_CONFIG')).toEqual(E.right({ kind: 'nack', match: { commands: ['VLAN_ADD', 'MQ_RSS_CONFIG'] } }));
    expect(parseFault('nack:class=VLAN')).toEqual(E.right({ kind: 'nack', match: { classes: ['VLAN'] } }));
    expect(parseFault('delay-ack:500:MAC_ADDR_SET')).toEqual(E.right({ kind: 'delay-ack', us: 500, match: { commands: ['MAC_ADDR_SET'] } }));
    expect(parseFault('no-answer')).toEqual(E.right({ kind: 'no-answer' }));
    expect(parseFault('wrong-used-len:0')).toEqual(E.right({ kind: 'wrong-used-len', len: 0 }));
    expect(parseFault('bad-used-id:3:VLAN_ADD')).toEqual(E.right({ kind: 'bad-used-id', id: 3, match: { commands: ['VLAN_ADD'] } }));
    expect(parseFault('suspend-fails')).toEqual(E.right({ kind: 'suspend-fails' }));
    expect(parseFault('iotlb-map-fails:1')).toEqual(E.right({ kind: 'iotlb-map-fails', asid: 1 }));
    expect(parseFault('needs-reset:MQ_VQ_PAIRS_SET')).toEqual(E.right({ kind: 'needs-reset', match: { commands: ['MQ_VQ_PAIRS_SET'] } }));
  });

  it('names what is wrong', () => {
    for (const [spec, msg] of [
      ['nack', 'needs the commands'],
      ['nack:VLAN_ADDD', 'unknown CVQ command "VLAN_ADDD"'],
      ['nack:class=FOO', 'unknown CVQ class "FOO"'],
      ['delay-ack:soon', 'must be a decimal integer'],
      ['suspend-fails:3', 'takes no argument'],
      ['explode', 'unknown fault "explode"'],
    ] as const) {
      const r = parseFault(spec);
      expect(E.isLeft(r) && r.left.message).toContain(msg);
    }
  });

  it('names CVQ commands both ways', () => {
    expect(cvqCommandName(4, 1)).toBe('MQ_RSS_CONFIG');
    expect(cvqCommandName(6, 0)).toBe('NOTF_COAL_TX_SET');
    expect(cvqCommandName(9, 1)).toBe('CLASS9_CMD1');
    expect(cvqCommandByName('virtio_net_ctrl_mac_addr_set')).toEqual({ cls: 1, cmd: 1 });
  });
});
