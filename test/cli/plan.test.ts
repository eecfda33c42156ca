import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runPlan } from '../../src/cli/plan.js';
import { SIM_FULL_FEATURES } from '../../src/device/sim/index.js';
import { FULL_PROFILE_FEATURES } from '../../src/virtio/features.js';

const KEY = '6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa';
const STATE = {
  mac: '52:54:00:12:34:56',
  queuePairs: 4,
  rxMode: { promisc: false, allmulti: false, alluni: false, nomulti: false, nouni: false, nobcast: true },
  macTable: { unicast: [], multicast: ['01:00:5e:00:00:01'], unicastOverflow: false, multicastOverflow: false },
  vlans: [100, 1],
  guestOffloads: '0x182',
  rss: { hashTypes: 63, indirectionTable: [0, 1, 2, 3], unclassifiedQueue: 0, key: KEY },
  hashReport: null,
  coalescing: { tx: { maxPackets: 0, maxUsecs: 0 }, rx: { maxPackets: 16, maxUsecs: 8 } },
};
const files: Record<string, string> = { 'state.json': JSON.stringify(STATE), 'bad.json': JSON.stringify({ ...STATE, vlans: [5000] }), 'text.json': 'nope' };
const read = (p: string): string => {
  const f = files[p];
  if (f === undefined) throw new Error(`ENOENT: ${p}`);
  return f;
};

describe('shadowvq plan', async () => {
  it('prints one line per command: class, command, name, payload hex (full profile by default)', async () => {
    const out = await runPlan({ state: 'state.json' }, read);
    expect(out.code).toBe(0);
    expect(out.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/))).toEqual([
      ['1', '1', 'MAC_ADDR_SET', '525400123456'],
      ['1', '0', 'MAC_TABLE_SET', '00000000' + '0100000001005e000001'],
      ['4', '0', 'MQ_VQ_PAIRS_SET', '0400'],
      ['4', '1', 'MQ_RSS_CONFIG', '3f000000030000000000010002000300040028' + KEY],
      ['5', '0', 'GUEST_OFFLOADS_SET', '8201000000000000'],
      ['0', '0', 'RX_PROMISC', '00'],
      ['0', '5', 'RX_NOBCAST', '01'],
      ['2', '0', 'VLAN_ADD', '0100'],
      ['2', '0', 'VLAN_ADD', '6400'],
      ['6', '1', 'NOTF_COAL_RX_SET', '1000000008000000'],
    ]);
  });

  it('defaults to exactly the simulated device\'s full profile', async () => {
    expect(FULL_PROFILE_FEATURES).toBe(SIM_FULL_FEATURES);
    expect(await runPlan({ state: 'state.json', features: `0x${SIM_FULL_FEATURES.toString(16)}` }, read)).toEqual(await runPlan({ state: 'state.json' }, read));
  });

  it('--json prints the documented array; --features takes names or a hex mask', async () => {
    const out = await runPlan({ state: 'state.json', features: 'CTRL_VQ,CTRL_MAC_ADDR,VIRTIO_NET_F_MQ', json: true }, read);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual([
      { class: 1, command: 1, name: 'MAC_ADDR_SET', payload: '525400123456' },
      { class: 4, command: 0, name: 'MQ_VQ_PAIRS_SET', payload: '0400' },
    ]);
    // what these features cannot carry is noted on stderr
    expect(out.stderr).toMatch(/does not reproduce the state's rxMode, macTable, vlans, guestOffloads, rss, coalescing/);
    expect((await runPlan({ state: 'state.json', features: '0xc20000', json: true }, read)).stdout).toBe(out.stdout);
  });

  it.each([
    [{ state: 'missing.json' }, /cannot read state file missing\.json/],
    [{ state: 'text.json' }, /invalid state file text\.json:\n {2}\(document\): not JSON/],
    [{ state: 'bad.json' }, /vlans\[0\]: expected an integer in 0\.\.4095, got 5000/],
    [{ state: 'state.json', features: 'CTRL_VQ,WARP_DRIVE' }, /unknown feature name "WARP_DRIVE"/],
    [{ state: 'state.json', features: 'CTRL_RX,MQ' }, /CTRL_RX requires CTRL_VQ/],
  ])('%o is a clear error with status 2', async (opts, message) => {
    const out = await runPlan(opts, read);
    expect(out).toMatchObject({ code: 2, stdout: '' });
    expect(out.stderr).toMatch(message);
  });

  it('exits 2 from the real command line, 0 with the plan on stdout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'svq-plan-'));
    const file = join(dir, 'state.json');
    writeFileSync(file, JSON.stringify(STATE));
    const run = promisify(execFile);
    const ok = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'plan', '--state', file, '--features', 'CTRL_VQ,CTRL_MAC_ADDR']);
    expect(ok.stdout).toBe('1 1 MAC_ADDR_SET 525400123456\n');
    const bad = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'plan', '--state', file, '--features', 'NOPE']).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toContain('unknown feature name "NOPE"');
  });
});
