/**
 * CVQ payload fuzzing (virtio 1.2 §5.1.6.5):
 *
 *  - codec: every command kind, encoded and split across random buffer boundaries, decodes back to
 *    itself; mutated bytes decode to a typed `CvqDecodeError` or to a command whose canonical encoding
 *    is exactly those bytes (the decoder accepts nothing it cannot reproduce);
 *  - reducer: `applyCommand` is pure — the input state is never touched; a refusal is a typed
 *    `CommandRefused` and an accepted command yields a state still within the device's limits;
 *  - device: hostile chains sent to the simulated device's CVQ: the ack is VIRTIO_NET_OK exactly when
 *    the command decodes and the reducer accepts it, the used length is the one ack byte, and the
 *    device's state changes only on an OK ack, to exactly the reducer's next state.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { SimVdpaDevice } from '../../src/device/sim/device.js';
import { VHOST_ACCESS_RW } from '../../src/device/types.js';
import { placeRing, ringFactory } from '../../src/ring/index.js';
import { Chain, Used, isRingError, type RingDriver } from '../../src/ring/types.js';
import { applyCommand } from '../../src/state/apply.js';
import { encodeStateJson } from '../../src/state/json.js';
import { DEFAULT_LIMITS, type DeviceLimits, type NetDeviceState } from '../../src/state/net-state.js';
import { checkLimits } from '../../src/state/validate.js';
import { decodeCommand, encodeCommand, type CvqDecodeReason, type NetCtrlCommand } from '../../src/virtio/cvq.js';
import { F } from '../../src/virtio/features.js';
import { VIRTIO_NET_ERR, VIRTIO_NET_OK } from '../../src/virtio/net.js';
import { VIRTIO_CONFIG_S as S } from '../../src/virtio/status.js';
import { arbCommand, arbLimits, arbNegotiated, arbState, byteMutationArb, bytesEqual, concat, cutsArb, mutateBytes, splitAt, type ByteMutation } from './arbitraries.js';
import { show } from './runner.js';
import { Violations, type AnyFuzzTarget, type Verdict } from './target.js';

const REASONS: readonly CvqDecodeReason[] = ['short-header', 'unknown-command', 'short-payload', 'long-payload', 'bad-value', 'reserved-nonzero'];

/** The state as canonical text (bigints in hex): equality and "untouched" checks. */
export const stateText = (s: NetDeviceState): string => JSON.stringify(encodeStateJson(s));

// ───────────────────────────── codec ─────────────────────────────

export interface CodecCase {
  readonly cmd: NetCtrlCommand;
  readonly mutations: readonly ByteMutation[];
  readonly cuts: readonly number[];
  /** Replace the bytes entirely by random ones (header included). */
  readonly raw: Uint8Array | null;
}

export const codecCaseArb = (mutate: boolean): fc.Arbitrary<CodecCase> =>
  fc.record({
    cmd: arbCommand,
    mutations: mutate ? fc.array(byteMutationArb, { minLength: 1, maxLength: 4 }) : fc.constant([]),
    cuts: cutsArb,
    raw: mutate ? fc.option(fc.uint8Array({ maxLength: 24 }), { nil: null, freq: 5 }) : fc.constant(null),
  });

export function checkCodec(c: CodecCase): Verdict {
  const v = new Violations();
  const wire = encodeCommand(c.cmd);
  const bytes = c.raw ?? mutateBytes(wire, c.mutations);
  const segs = splitAt(bytes, c.cuts);
  const r = decodeCommand(segs);
  if (E.isLeft(r)) {
    const e = r.left;
    v.expect(e._tag === 'CvqDecodeError' && REASONS.includes(e.reason) && e.message.length > 0, () => `decode error is not typed: ${show(e)}`);
    v.expect(c.mutations.length > 0 || c.raw !== null, () => `a well-formed ${c.cmd.kind} did not decode: ${e.message}`);
    return v.verdict;
  }
  // accepted: the canonical encoding of what was decoded is exactly the bytes
  const again = encodeCommand(r.right);
  v.expect(bytesEqual(again, bytes), () => `decoded ${show(r.right)} re-encodes to ${Buffer.from(again).toString('hex')}, input was ${Buffer.from(bytes).toString('hex')}`);
  if (c.mutations.length === 0 && c.raw === null) v.expect(r.right.kind === c.cmd.kind, () => `${c.cmd.kind} decoded as ${r.right.kind}`);
  return v.verdict;
}

// ───────────────────────────── reducer ─────────────────────────────

export interface ApplyCase {
  readonly limits: DeviceLimits;
  readonly state: NetDeviceState;
  readonly negotiated: bigint;
  readonly cmd: NetCtrlCommand;
}

export const applyCaseArb: fc.Arbitrary<ApplyCase> = arbLimits.chain((limits) =>
  fc.record({ limits: fc.constant(limits), state: arbState(limits), negotiated: arbNegotiated, cmd: arbCommand }),
);

export function checkApply(c: ApplyCase): Verdict {
  const v = new Violations();
  const before = stateText(c.state);
  const r = applyCommand(c.state, c.negotiated, c.limits, c.cmd);
  v.expect(stateText(c.state) === before, () => `applyCommand(${c.cmd.kind}) changed its input state`);
  if (E.isLeft(r)) {
    v.expect(r.left._tag === 'CommandRefused' && r.left.kind === c.cmd.kind && r.left.message.length > 0, () => `refusal is not typed: ${show(r.left)}`);
    return v.verdict;
  }
  const lim = checkLimits(r.right, c.limits);
  v.expect(E.isRight(lim), () => `${c.cmd.kind} accepted into a state beyond the device's limits: ${E.isLeft(lim) ? lim.left.message : ''}`);
  return v.verdict;
}

// ───────────────────────────── simulated device ─────────────────────────────

const IOVA = 0x10_0000;
const MEM = 1 << 16;

/**
 * A simulated device with only its CVQ brought up (split ring, ASID 0) and a driver on it. It fuzzes the
 * simulator's own CVQ against the reducer, per case and synchronously, so it writes the status byte
 * through the raw uAPI on purpose (like test/device): every product bring-up goes through
 * machines/device-lifecycle (`startDevice`).
 */
export class CvqOnlySim {
  readonly dev = new SimVdpaDevice({});
  readonly driver: RingDriver;
  readonly cvq: number;
  private next = IOVA + 0x2000;
  private readonly chain = new Chain(16);
  private readonly used = new Used();

  constructor() {
    const d = this.dev;
    const must = <T>(e: E.Either<{ message: string }, T>): T => {
      if (E.isLeft(e)) throw new Error(`sim CVQ bring-up: ${e.left.message}`);
      return e.right;
    };
    must(d.setOwner());
    const features = must(d.getFeatures()) & ~F.RING_PACKED;
    must(d.setBackendFeatures(must(d.getBackendFeatures())));
    must(d.setStatus(S.ACKNOWLEDGE));
    must(d.setStatus(S.ACKNOWLEDGE | S.DRIVER));
    must(d.setFeatures(features));
    must(d.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK));
    const mem = must(d.allocHost(MEM, 'cvq'));
    must(d.iotlbUpdate(0, IOVA, MEM, mem.base, VHOST_ACCESS_RW));
    this.cvq = d.cvqIndex();
    const size = 16;
    const { addrs } = placeRing('split', size, IOVA);
    const drv = ringFactory('split').driver(d.iovaSpace(0)!, { layout: 'split', size, addrs, eventIdx: false, indirect: false });
    if (isRingError(drv)) throw new Error(drv.message);
    this.driver = drv;
    must(d.setVringNum(this.cvq, size));
    must(d.setVringAddr(this.cvq, addrs));
    must(d.setVringBase(this.cvq, 0));
    must(d.setVringEnable(this.cvq, true));
    must(d.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK));
  }

  /** Send one chain (out pieces + a 1-byte ack preset to 0xff); the device's ack and used length. */
  send(pieces: readonly Uint8Array[]): { ack: number; len: number } | string {
    const space = this.dev.iovaSpace(0)!;
    const c = this.chain;
    c.reset();
    this.next = IOVA + 0x2000;
    for (const p of pieces) {
      const a = this.next;
      this.next += p.length;
      if (this.next > IOVA + MEM - 16) return 'command too large for the test buffer';
      space.write(a, p);
      c.push(a, p.length, false);
    }
    const ackAddr = this.next;
    space.writeU8(ackAddr, 0xff);
    c.push(ackAddr, 1, true);
    const h = this.driver.add(c, 1);
    if (isRingError(h)) return `add: ${h.message}`;
    const k = this.dev.kick(this.cvq);
    if (E.isLeft(k)) return `kick: ${k.left.message}`;
    this.dev.flush();
    const r = this.driver.reap(this.used);
    if (r !== true) return r === false ? 'the device did not answer' : `reap: ${r.message}`;
    const ack = space.readU8(ackAddr);
    return { ack: E.isRight(ack) ? ack.right : -1, len: this.used.len };
  }
}

export interface DeviceCvqCase {
  readonly commands: readonly CodecCase[];
}

export const deviceCvqCaseArb: fc.Arbitrary<DeviceCvqCase> = fc.record({
  commands: fc.array(fc.oneof(codecCaseArb(false), codecCaseArb(true)), { minLength: 1, maxLength: 12 }),
});

export function checkDeviceCvq(c: DeviceCvqCase): Verdict {
  const v = new Violations();
  const sim = new CvqOnlySim();
  const negotiated = sim.dev.negotiatedFeatures();
  for (const cc of c.commands) {
    const bytes = cc.raw ?? mutateBytes(encodeCommand(cc.cmd), cc.mutations);
    const pieces = splitAt(bytes, cc.cuts).filter((p) => p.length > 0);
    if (pieces.length === 0) continue; // a chain needs a readable buffer for the header
    const before = sim.dev.netState();
    const beforeText = stateText(before);
    // the reference: decode the pieces as they are, apply with the reducer
    const decoded = decodeCommand(pieces);
    const next = E.isRight(decoded) ? applyCommand(before, negotiated, DEFAULT_LIMITS, decoded.right) : undefined;
    const r = sim.send(pieces);
    if (bytes.length < 2) {
      // no header: QEMU's "virtio-net ctrl missing headers" → virtio_error; the device stops answering
      v.expect(r === 'the device did not answer', () => `a ${bytes.length}-byte command was answered: ${show(r)}`);
      v.expect(stateText(sim.dev.netState()) === beforeText, () => 'the device changed its state on a headerless command');
      return v.verdict;
    }
    if (typeof r === 'string') return `CVQ chain ${Buffer.from(concat(pieces)).toString('hex')}: ${r}`;
    v.expect(r.len === 1, () => `used len ${r.len} for a 1-byte ack`);
    const after = stateText(sim.dev.netState());
    // ANNOUNCE_ACK is OK only while an announcement is pending (QEMU virtio_net_handle_announce)
    const announce = E.isRight(decoded) && decoded.right.kind === 'ANNOUNCE_ACK';
    if (next !== undefined && E.isRight(next) && !(announce && r.ack === VIRTIO_NET_ERR)) {
      v.expect(r.ack === VIRTIO_NET_OK, () => `${describe(decoded)} is valid, device acked ${r.ack}`);
      v.expect(after === stateText(next.right), () => `${describe(decoded)} acked OK but the device's state is not the reducer's next state`);
    } else if (announce && next !== undefined && E.isRight(next)) {
      v.expect(after === beforeText, () => 'the device changed its state on a refused ANNOUNCE_ACK');
    } else {
      v.expect(r.ack === VIRTIO_NET_ERR, () => `${describe(decoded)} is invalid (${next === undefined ? (decoded as E.Left<{ message: string }>).left.message : (next as E.Left<{ message: string }>).left.message}), device acked ${r.ack}`);
      v.expect(after === beforeText, () => `the device changed its state on a refused command ${describe(decoded)}`);
    }
    if (v.failed) return v.verdict;
  }
  return v.verdict;
}

const describe = (d: E.Either<unknown, NetCtrlCommand>): string => (E.isRight(d) ? d.right.kind : 'an undecodable chain');

export const cvqTargets = (): AnyFuzzTarget[] => [
  { kind: 'cvq decode (valid, split)', arbitrary: codecCaseArb(false), check: checkCodec },
  { kind: 'cvq decode (mutated)', arbitrary: codecCaseArb(true), check: checkCodec },
  { kind: 'cvq applyCommand (pure)', arbitrary: applyCaseArb, check: checkApply },
  { kind: 'cvq sim device (ack ⇔ valid)', arbitrary: deviceCvqCaseArb, check: checkDeviceCvq, weight: 0.3 },
];
