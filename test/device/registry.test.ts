import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { deviceBackends, deviceError, hasCapability, openDevice, registerBackend, SimVdpaDevice, validateSpec, type VdpaDevice } from '../../src/device/index.js';

describe('device backends behind a registry of spec prefixes', () => {
  it('knows sim and vdpa, validates without opening, and names every form on an unknown spec', () => {
    expect(deviceBackends().map((b) => b.prefix)).toEqual(expect.arrayContaining(['sim', 'vdpa']));
    expect(E.isRight(validateSpec('sim:vdpa_sim_net+stale'))).toBe(true);
    // a path that does not exist is still a valid spec: validation opens nothing
    expect(E.isRight(validateSpec('vdpa:/dev/vhost-vdpa-77'))).toBe(true);
    expect(E.isLeft(validateSpec('vdpa:/tmp/x'))).toBe(true);
    const bad = validateSpec('tcp:host');
    expect(E.isLeft(bad) && bad.left.message).toMatch(/expected sim, sim:<profile>, .*vdpa:\/dev\/vhost-vdpa-N/);
  });

  it('asks a device for capabilities, not for its class: the simulator has them all', () => {
    const d = openDevice('sim');
    expect(E.isRight(d)).toBe(true);
    const dev = (d as E.Right<VdpaDevice>).right;
    for (const c of ['faults', 'netState', 'suspendState', 'probe', 'sharedHostMemory'] as const) expect(hasCapability(dev, c)).toBe(true);
    expect(dev).toBeInstanceOf(SimVdpaDevice);
    dev.close();
  });

  it('a new backend plugs in by prefix; a duplicate prefix is refused; a kernel device refuses simulator options', () => {
    const opened: string[] = [];
    registerBackend({
      prefix: 'test-echo',
      forms: ['test-echo:<anything>'],
      validate: (spec) => (spec.length > 'test-echo:'.length ? E.right(undefined) : E.left(deviceError('invalid', 'open', 'empty'))),
      open: (spec) => {
        opened.push(spec);
        return openDevice('sim');
      },
    });
    expect(E.isRight(openDevice('test-echo:x'))).toBe(true);
    expect(opened).toEqual(['test-echo:x']);
    expect(() => registerBackend({ prefix: 'sim', forms: [], validate: () => E.right(undefined), open: () => openDevice('sim') })).toThrow(/registered already/);
    const k = openDevice('vdpa:/dev/vhost-vdpa-0', { faults: [{ kind: 'suspend-fails' }] });
    expect(E.isLeft(k) && k.left.message).toMatch(/takes no simulator options \(faults\)/);
  });
});

describe('capabilities are what a device says it has, not what its fields look like', () => {
  it('a device with a host address space that does not share this process memory has no sharedHostMemory', () => {
    const d = openDevice('sim');
    const dev = (d as E.Right<VdpaDevice>).right;
    // the kernel device has a `host` address space too (its MAP_SHARED pages), but never reads ours
    const kernelLike = { ...dev, host: (dev as unknown as { host: unknown }).host, sharesProcessMemory: undefined } as unknown as VdpaDevice;
    expect(hasCapability(dev, 'sharedHostMemory')).toBe(true);
    expect(hasCapability(kernelLike, 'sharedHostMemory')).toBe(false);
    dev.close();
  });
});
