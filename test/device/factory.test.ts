import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { openDevice, parseSimSpec, SimVdpaDevice } from '../../src/device/index.js';
import { left, right } from './helpers.js';

describe('openDevice', () => {
  it('opens the simulator by spec', () => {
    const full = right(openDevice('sim'));
    expect(full).toBeInstanceOf(SimVdpaDevice);
    expect((full as SimVdpaDevice).profile.name).toBe('full');
    const k = right(openDevice('sim:vdpa_sim_net')) as SimVdpaDevice;
    expect(k.profile.name).toBe('vdpa_sim_net');
    expect(right(k.getFeatures())).toBe(0x308830028n);
    expect(parseSimSpec('sim:vdpa_sim_net+stale')).toEqual(E.right({ profile: 'vdpa_sim_net', staleAck: true }));
  });

  it('passes simulator options (faults, latency, MAC) through', () => {
    const d = right(openDevice('sim:full', { mac: '02:00:00:00:00:01', faults: [{ kind: 'suspend-fails' }] })) as SimVdpaDevice;
    expect(Array.from(right(d.getConfig(0, 6)))).toEqual([2, 0, 0, 0, 0, 1]);
  });

  it('refuses bad simulator options as error values', () => {
    expect(left(openDevice('sim', { mac: '52:54:00:12:34' })).message).toContain('is not xx:xx');
    expect(left(openDevice('sim', { maxQueuePairs: 0 })).message).toContain('1..32768');
    expect(left(openDevice('sim:vdpa_sim_net', { maxQueuePairs: 2 })).message).toContain('no VIRTIO_NET_F_MQ');
    expect(left(openDevice('sim', { latency: { kickToCallUs: -1 } })).message).toContain('non-negative');
    expect(left(openDevice('sim:full', { staleAck: true })).message).toContain('staleAck');
    expect(right(openDevice('sim', { maxQueuePairs: 2 })).getVqsCount()).toEqual(E.right(5));
  });

  it('names what is wrong with a spec', () => {
    expect(left(openDevice('sim:nope')).message).toContain('unknown profile "nope"');
    expect(left(openDevice('sim:full+stale')).message).toContain('only vdpa_sim_net');
    expect(left(openDevice('qemu')).message).toContain('expected sim');
    expect(left(openDevice('vdpa:')).kind).toBe('invalid');
  });

  it('hands a vdpa: spec to the vhost-vdpa backend (which reports a missing node as an error value)', () => {
    const r = openDevice('vdpa:/dev/vhost-vdpa-does-not-exist');
    expect(E.isLeft(r)).toBe(true);
  });
});
