/**
 * Every CVQ command class of the registry (src/cvq/classes) is wired everywhere: its numbers in the
 * codec, a byte round trip of its arbitraries, its features in the profiles, a plan step for its
 * features (in registry order), its reducer rule replaying that plan into its view, its maximal
 * values, its JSON fields, its fuzz arbitraries, and a simulated device that answers it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { CLASSES, CVQ_CLASSES, KINDS, type AnyCvqClass } from '../../src/cvq/classes/index.js';
import { COMMAND_CODES, decodeCommand, describeCommand, encodeCommand, kindOf, payloadLength, type NetCtrlCommand } from '../../src/virtio/cvq.js';
import { FULL_PROFILE_FEATURES, maskOf, type FeatureName } from '../../src/virtio/features.js';
import { VIRTIO_NET_OK } from '../../src/virtio/net.js';
import { applyAll, applyCommand, REQUIRED_FEATURE } from '../../src/state/apply.js';
import { decodeStateJson, encodeStateJson, StateJsonCodec } from '../../src/state/json.js';
import { maximalState } from '../../src/state/maximal.js';
import { DEFAULT_LIMITS, resetNetState, type NetDeviceState } from '../../src/state/net-state.js';
import { planCommands } from '../../src/state/plan.js';
import { viewThrough } from '../../src/state/view.js';
import { SIM_FULL_FEATURES } from '../../src/device/sim/profiles.js';
import { arbCommand, arbKit, arbSplit, arbState } from '../../testkit/fuzz/arbitraries.js';
import { bringUp, sendSerial } from '../device/helpers.js';

const MAC = '52:54:00:12:34:56';
const kindsOf = (c: AnyCvqClass): string[] => Object.keys(c.commands);
const featuresOf = (c: AnyCvqClass): FeatureName[] => [...new Set(Object.values(c.commands).map((i) => i.feature))];
const classOf = (cmd: NetCtrlCommand): AnyCvqClass => KINDS.find((k) => k.kind === cmd.kind)!.klass;
/** The fields a class restores (what its view gives for the maximal state through every feature). */
const fieldsOf = (c: AnyCvqClass): string[] =>
  Object.keys(c.view(maximalState(), { has: () => true, negotiated: FULL_PROFILE_FEATURES, reset: resetNetState(MAC, FULL_PROFILE_FEATURES) }));
const pick = (s: NetDeviceState, fields: string[]): Record<string, unknown> => Object.fromEntries(fields.map((f) => [f, (s as Record<string, unknown>)[f]]));
/** ANNOUNCE has no state to restore: the destination asks its guest to announce again. */
const RESTORES_NOTHING = ['ANNOUNCE'];

describe('the CVQ class registry', () => {
  it('lists each class once, each (class, command) once, and the restore order QEMU uses', () => {
    expect(CLASSES.map((c) => c.name)).toEqual(['MAC', 'MQ', 'RSS', 'GUEST_OFFLOADS', 'RX', 'VLAN', 'NOTF_COAL', 'ANNOUNCE']);
    const codes = KINDS.map((k) => `${k.cls}.${k.code}`);
    expect(new Set(codes).size).toBe(codes.length);
    expect(new Set(KINDS.map((k) => k.kind)).size).toBe(KINDS.length);
    expect(Object.keys(COMMAND_CODES).sort()).toEqual(KINDS.map((k) => k.kind).sort());
  });

  it('keeps the state file format: every key, in the documented order', () => {
    expect(Object.keys(encodeStateJson(maximalState()))).toEqual(['mac', 'queuePairs', 'rxMode', 'macTable', 'vlans', 'guestOffloads', 'rss', 'hashReport', 'coalescing']);
    expect(StateJsonCodec.name).toBe('NetDeviceState');
  });

  it('plans commands class by class, in registry order', () => {
    const order = planCommands(maximalState({ alluni: true, nouni: true }), FULL_PROFILE_FEATURES).map((c) => CLASSES.indexOf(classOf(c)));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(new Set(order).size).toBe(CLASSES.length - RESTORES_NOTHING.length);
  });
});

describe.each(CVQ_CLASSES.map((c) => [c.name, c as unknown as AnyCvqClass] as const))('CVQ class %s', (name, c) => {
  it('numbers: every command maps to (class, command) and back, with its feature', () => {
    for (const [kind, info] of Object.entries(c.commands)) {
      expect(COMMAND_CODES[kind as NetCtrlCommand['kind']]).toEqual([c.cls, info.code]);
      expect(kindOf(c.cls, info.code)).toBe(kind);
      expect(REQUIRED_FEATURE[kind as NetCtrlCommand['kind']]).toBe(info.feature);
    }
  });

  it('codec: each arbitrary round-trips byte-exact through any split, header first', () => {
    const arbs = c.arbitraries(arbKit);
    expect(arbs.length).toBeGreaterThan(0);
    for (const arb of arbs) {
      fc.assert(
        fc.property(arb.chain((cmd) => fc.tuple(fc.constant(cmd), arbSplit(encodeCommand(cmd)))), ([cmd, pieces]) => {
          const b = encodeCommand(cmd);
          expect([b[0], b[1]]).toEqual([c.cls, c.commands[cmd.kind]!.code]);
          expect(b.length).toBe(2 + payloadLength(cmd));
          expect(decodeCommand(pieces)).toEqual(E.right(cmd));
          expect(describeCommand(cmd).startsWith(cmd.kind)).toBe(true);
        }),
        { numRuns: 40, seed: 16 },
      );
    }
  });

  it('features: offered by the full profiles, and only with CTRL_VQ', () => {
    for (const f of featuresOf(c)) {
      expect(FULL_PROFILE_FEATURES & maskOf([f])).not.toBe(0n);
      expect(SIM_FULL_FEATURES & maskOf([f])).not.toBe(0n);
    }
    for (const kind of kindsOf(c)) expect(E.isLeft(applyCommand(resetNetState(MAC), FULL_PROFILE_FEATURES & ~maskOf(['CTRL_VQ']), DEFAULT_LIMITS, { kind } as never))).toBe(true);
  });

  it('plan step: present with its features, absent without them, and replayed by its rule into its view', () => {
    const state = maximalState({ alluni: true, nomulti: true, nouni: true });
    const mine = (cmds: NetCtrlCommand[]) => cmds.filter((x) => classOf(x) === c);
    const planned = mine(planCommands(state, FULL_PROFILE_FEATURES));
    const without = FULL_PROFILE_FEATURES & ~maskOf(featuresOf(c));
    expect(mine(planCommands(state, without))).toEqual([]);
    if (RESTORES_NOTHING.includes(name)) {
      expect(planned).toEqual([]);
      expect(fieldsOf(c)).toEqual([]);
      return;
    }
    expect(planned.length).toBeGreaterThan(0);
    // the rule: replaying the whole plan on a reset device gives the view; this class's fields differ from reset
    const reset = resetNetState(state.mac, FULL_PROFILE_FEATURES);
    const replayed = applyAll(reset, FULL_PROFILE_FEATURES, DEFAULT_LIMITS, planCommands(state, FULL_PROFILE_FEATURES));
    expect(E.isRight(replayed)).toBe(true);
    const fields = fieldsOf(c);
    expect(fields.length).toBeGreaterThan(0);
    expect(pick(E.isRight(replayed) ? replayed.right : reset, fields)).toEqual(pick(viewThrough(state, FULL_PROFILE_FEATURES), fields));
    expect(pick(viewThrough(state, FULL_PROFILE_FEATURES), fields)).not.toEqual(pick(reset, fields));
    // without its features the view reads the reset values (the MAC stays: config space provisions it)
    expect(pick(viewThrough(state, without), fields.filter((f) => f !== 'mac' && f !== 'queuePairs'))).toEqual(pick(resetNetState(state.mac, without), fields.filter((f) => f !== 'mac' && f !== 'queuePairs')));
  });

  it('maximal values: in the benchmark state', () => {
    const m = c.maximal();
    expect(pick(maximalState(), Object.keys(m))).toEqual(m);
    if (!RESTORES_NOTHING.includes(name)) expect(Object.keys(m).length).toBeGreaterThan(0);
  });

  it('JSON: the state file carries its fields and round-trips them', () => {
    const fields = fieldsOf(c);
    const max = maximalState();
    const doc = encodeStateJson(max);
    const back = decodeStateJson(doc);
    expect(E.isRight(back) && pick(back.right, fields)).toEqual(pick(max, fields));
    // the class's fields reach the document: resetting them changes it
    const withReset = encodeStateJson({ ...max, ...pick(resetNetState(MAC), fields) } as NetDeviceState);
    if (fields.length > 0) expect(JSON.stringify(withReset)).not.toBe(JSON.stringify(doc));
  });

  it('fuzz: arbCommand generates every command of the class; arbState gives its fields', () => {
    const seen = new Set(fc.sample(arbCommand, { numRuns: 4000, seed: 16 }).map((x) => x.kind));
    for (const kind of kindsOf(c)) expect(seen).toContain(kind);
    const s = fc.sample(arbState(DEFAULT_LIMITS), { numRuns: 1, seed: 16 })[0]!;
    for (const f of fieldsOf(c)) expect(s).toHaveProperty(f);
  });

  it('simulator: the full profile answers the class as the reducer does', async () => {
    const h = bringUp();
    const state = maximalState({ alluni: true, nomulti: true, nouni: true });
    let cmds = planCommands(state, h.features).filter((x) => classOf(x) === c);
    if (RESTORES_NOTHING.includes(name)) {
      // ANNOUNCE_ACK: refused with nothing pending, accepted once the device asks for an announcement
      cmds = kindsOf(c).map((kind) => ({ kind }) as NetCtrlCommand);
      expect(await sendSerial(h, cmds.map(encodeCommand))).not.toContain(VIRTIO_NET_OK);
      expect(h.dev.announce()).toBe(true);
    }
    expect(await sendSerial(h, cmds.map(encodeCommand))).toEqual(cmds.map(() => VIRTIO_NET_OK));
    const expected = applyAll(resetNetState(MAC, h.features), h.features, DEFAULT_LIMITS, cmds);
    expect(E.isRight(expected) && h.dev.netState()).toEqual(E.isRight(expected) && expected.right);
  });
});
