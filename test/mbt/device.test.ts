/**
 * The conformance run on a device (src/mbt/device.ts, `shadowvq mbt --device vdpa:…|sim:<profile>`):
 * refusals before anything runs (exit 2, one line, no stack), the report's shape, differences found
 * when the device is not the profile, and the device left reset after a path that broke mid-way.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { runMbtCli } from '../../src/cli/mbt.js';
import { SimVdpaDevice } from '../../src/device/sim/device.js';
import { PROFILES } from '../../src/device/sim/profiles.js';
import { deviceError, type VdpaDevice } from '../../src/device/types.js';
import { openVhostVdpa } from '../../src/device/vhost-vdpa/index.js';
import { runDeviceMbt, type DeviceMbtReport } from '../../src/mbt/device.js';
import { lifecycleRoom } from '../../src/mbt/sim/lifecycle.js';
import { svqRoom } from '../../src/mbt/sim/svq.js';
import { cvqRoom } from '../../src/mbt/sim/cvq.js';
import { formatMac } from '../../src/virtio/net.js';
import { STATUS } from '../../src/state/lifecycle.js';
import { F } from '../../src/virtio/features.js';

const NEVER = () => {
  throw new Error('opened a device the run should have refused before opening');
};

/** A refusal: exit 2, one line on stderr naming the problem, nothing on stdout, no stack. */
async function refused(opts: Parameters<typeof runMbtCli>[0], run: Parameters<typeof runMbtCli>[1], pattern: RegExp): Promise<void> {
  const out = await runMbtCli({ progress: false, ...opts }, run);
  expect(out.code).toBe(2);
  expect(out.stdout).toBe('');
  expect(out.stderr).toMatch(pattern);
  expect(out.stderr.trim().split('\n')).toHaveLength(1);
  expect(out.stderr).not.toMatch(/\n\s+at /);
}

describe('shadowvq mbt --device: bad input is refused with exit 2', () => {
  it('a path that is not /dev/vhost-vdpa-N, a missing device, a spec that is neither vdpa: nor sim:', async () => {
    await refused({ device: 'vdpa:/dev/null' }, {}, /expected vdpa:\/dev\/vhost-vdpa-N/);
    await refused({ device: 'vdpa:/dev/vhost-vdpa-97' }, {}, /\/dev\/vhost-vdpa-97: no such device/);
    await refused({ device: 'sim:nope' }, {}, /unknown profile "nope"/);
  });

  it('a character device that is not vhost-vdpa (/dev/null answers ENOTTY)', async () => {
    await refused({ device: 'vdpa:/dev/vhost-vdpa-0' }, { uid: 0, open: () => openVhostVdpa('/dev/null') }, /is not a vhost-vdpa device: .*ENOTTY/);
  });

  it('a user who is not root, before the device is opened; a permission error when opening', async () => {
    await refused({ device: 'vdpa:/dev/vhost-vdpa-0' }, { uid: 1000, open: NEVER }, /needs root/);
    const eacces = () => E.left(deviceError('ioctl', 'open', 'open(/dev/vhost-vdpa-0) failed: EACCES', 13, 'EACCES'));
    await refused({ device: 'vdpa:/dev/vhost-vdpa-0' }, { uid: 0, open: eacces }, /EACCES opening the device: run as root/);
  });

  it('a device without CTRL_VQ', async () => {
    const noCvq = { ...PROFILES.vdpa_sim_net, deviceFeatures: PROFILES.vdpa_sim_net.deviceFeatures & ~(F.CTRL_VQ | F.CTRL_MAC_ADDR) };
    await refused({ device: 'vdpa:/dev/vhost-vdpa-0' }, { uid: 0, open: () => SimVdpaDevice.create({ profile: noCvq }) }, /offers no VIRTIO_NET_F_CTRL_VQ/);
  });

  it('an unknown --compare profile, --compare without a device, --simple-limit with one', async () => {
    await refused({ device: 'sim:vdpa_sim_net', compare: 'sim:nope' }, {}, /--compare: .*unknown profile "nope"/);
    await refused({ device: 'sim:vdpa_sim_net', compare: 'qemu' }, {}, /--compare: expected a simulator profile/);
    await refused({ device: 'sim', compare: 'sim:full' }, {}, /--compare needs --device/);
    await refused({ device: 'sim:vdpa_sim_net', simpleLimit: '3' }, {}, /--simple-limit applies to/);
  });
});

describe('shadowvq mbt --device sim:<profile>: the comparison', () => {
  it('--json: today\'s fields plus steps, differences, infeasible; vdpa_sim_net ≡ its own profile, exit 0', async () => {
    const out = await runMbtCli({ device: 'sim:vdpa_sim_net', json: true, progress: false });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const doc = JSON.parse(out.stdout) as { machines: Record<string, unknown>[]; device: Record<string, unknown> };
    expect(doc.machines.map((m) => m.id)).toEqual(['device-lifecycle', 'svq-switch', 'svq-relayout', 'cvq-command', 'migration']);
    expect(doc.device).toMatchObject({ spec: 'sim:vdpa_sim_net', compare: 'sim:vdpa_sim_net', compareChosen: 'matches the offer', features: '0x308830028', finalStatus: 0, interrupted: false });
    for (const m of doc.machines) {
      expect(Object.keys(m)).toEqual(['id', 'states', 'transitions', 'paths', 'failures', 'impossible', 'steps', 'failureDetails', 'differences', 'infeasible']);
      expect(m.failures).toBe(0);
      expect(m.differences).toEqual([]);
      expect(m.steps as number).toBeGreaterThan(m.paths as number);
      for (const i of m.infeasible as { path: string; reason: string }[]) expect(i.reason.length).toBeGreaterThan(10);
    }
    const [lc, svq] = doc.machines as { states: { covered: number; total: number }; transitions: { covered: number; total: number } }[];
    // what the in-guest suite asserts on the kernel's vdpa_sim_net holds on its profile too
    expect(lc!.transitions.covered).toBe(lc!.transitions.total);
    expect(svq!.states.covered).toBe(svq!.states.total);
    expect(svq!.transitions.covered).toBe(svq!.transitions.total);
  }, 300_000);

  it('is not vacuous: a device that offers more than the profile differs at the negotiation steps, each difference naming path, step and both sides', async () => {
    const out = await runMbtCli({ device: 'sim:full', compare: 'sim:vdpa_sim_net', progress: false }, { rooms: [lifecycleRoom] });
    const [m] = out.device!.machines;
    expect(m!.failures).toBe(0);
    expect(m!.differences.length).toBeGreaterThan(10);
    const d = m!.differences.find((x) => x.path.includes('done:readFeatures'))!;
    expect(d.device?.context).not.toBe(d.sim?.context);
    expect(d.device?.context).toContain(`"offered":"0x${PROFILES.full.deviceFeatures.toString(16)}"`);
    expect(d.sim?.context).toContain('"offered":"0x308830028"');
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/^DIFF device-lifecycle: .*\n\s+step -?\d+\n\s+device \{.*\n\s+sim\s+\{/m);
  }, 120_000);
});

describe('the device is left reset', () => {
  /**
   * One simulated device that, like a kernel device, lives across opens and — unlike vhost-vdpa's release,
   * the worst case — keeps whatever it was left with when closed; every open sees the status the last left.
   */
  function persistentDevice(breakAt: ReadonlySet<number>) {
    const sim = new SimVdpaDevice({ profile: 'vdpa_sim_net' });
    expect(E.isRight(sim.setOwner())).toBe(true);
    const statusAtOpen: number[] = [];
    const macAtOpen = new Set<string>();
    let addrCalls = 0;
    const open = (): E.Either<never, VdpaDevice> => {
      statusAtOpen.push(E.getOrElse(() => -1)(sim.getStatus()));
      macAtOpen.add(formatMac(E.getOrElse((): Uint8Array => new Uint8Array(6))(sim.getConfig(0, 6))));
      return E.right(
        new Proxy(sim, {
          get(target, prop, receiver) {
            if (prop === 'close') return () => undefined;
            if (prop === 'setOwner') return () => E.right(undefined);
            // a crash in the middle of a path: an exception, not a typed error
            if (prop === 'setVringAddr')
              return (...a: Parameters<VdpaDevice['setVringAddr']>) => {
                if (breakAt.has(++addrCalls)) throw new Error(`planted crash at SET_VRING_ADDR #${addrCalls}`);
                return target.setVringAddr(...a);
              };
            const v = Reflect.get(target, prop, receiver) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        }),
      );
    };
    return { sim, open, statusAtOpen, macAtOpen };
  }

  it('after a path that crashed mid-way (set-up or a step), every next path starts from a reset device, and the run ends with it reset', async () => {
    // #1: the first path's data-path set-up; #9: a SET_VRING_ADDR of a switch to shadow virtqueues mid-path
    const dev = persistentDevice(new Set([1, 9]));
    const r = await runDeviceMbt({ device: 'vdpa:/dev/vhost-vdpa-0', uid: 0, open: dev.open, compare: 'sim:vdpa_sim_net', rooms: [svqRoom, cvqRoom] });
    const report = (E.isRight(r) ? r.right : expect.unreachable(r.left.message)) as DeviceMbtReport;
    const [m, cvq] = report.machines;
    expect(cvq!.failures).toBe(0);
    // the CVQ paths changed the MAC (as on a kernel device, it outlives resets); the run gives it back
    expect(dev.macAtOpen.size).toBeGreaterThan(1);
    expect(report.mac).toEqual({ before: '52:54:00:12:34:56', after: '52:54:00:12:34:56' });
    expect(formatMac(E.getOrElse((): Uint8Array => new Uint8Array(6))(dev.sim.getConfig(0, 6)))).toBe('52:54:00:12:34:56');
    expect(m!.failureDetails.filter((f) => f.side === 'device').map((f) => f.message).join('\n')).toMatch(/planted crash at SET_VRING_ADDR #1\b[\s\S]*planted crash at SET_VRING_ADDR #9\b/);
    // the preflight open, then each path: every open finds the device reset
    expect(dev.statusAtOpen.length).toBeGreaterThan(m!.paths);
    expect(dev.statusAtOpen.filter((s) => s !== 0)).toEqual([]);
    expect(report.finalStatus).toBe(0);
    expect(E.getOrElse(() => -1)(dev.sim.getStatus())).toBe(0);
    expect(dev.sim.isSuspended()).toBe(false);
  }, 120_000);

  it('a run stopped by its signal still resets the device', async () => {
    const dev = persistentDevice(new Set());
    const stop = new AbortController();
    const r = await runDeviceMbt({
      device: 'vdpa:/dev/vhost-vdpa-0',
      uid: 0,
      open: dev.open,
      rooms: [svqRoom, lifecycleRoom],
      signal: stop.signal,
      onPath: (_, done) => {
        if (done === 3) stop.abort();
      },
    });
    const report = (E.isRight(r) ? r.right : expect.unreachable(r.left.message)) as DeviceMbtReport;
    expect(report.interrupted).toBe(true);
    expect(report.machines.map((m) => m.id)).toEqual(['svq-switch']);
    expect(report.machines[0]!.paths).toBe(3);
    expect(report.finalStatus).toBe(0);
    expect((E.getOrElse(() => -1)(dev.sim.getStatus()) & STATUS.DRIVER_OK) === 0).toBe(true);
  }, 120_000);
});
