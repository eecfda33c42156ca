/**
 * Every virtio-net control virtqueue command (virtio 1.2 §5.1.6.5), encoded and decoded byte-exact.
 *
 * On the wire a command is `struct virtio_net_ctrl_hdr { u8 class; u8 command; }`, the command-specific
 * data, then one device-writable ack byte. `encodeCommand` produces the device-readable part (header +
 * payload); `decodeCommand` reads it back from any number of pieces, as a device sees it in a descriptor
 * chain (Linux sends header, payload pieces and ack as separate buffers). Short, long and malformed
 * payloads decode to a `CvqDecodeError`, never a throw.
 *
 * The commands, their numbers and their payload layouts are the class modules' (src/cvq/classes); this
 * module frames them with the header and dispatches on (class, command).
 */
import * as E from 'fp-ts/lib/Either.js';
import { KIND_BY_CODE, KIND_INFO, KINDS, type CommandKind, type NetCtrlCommand } from '../cvq/classes/index.js';
import { WireReader, isFail } from '../cvq/classes/wire.js';
import { CTRL_HDR_LEN } from './net.js';

export type { CommandKind, NetCtrlCommand } from '../cvq/classes/index.js';
export { RX_KINDS, isRxCommand, type RxCommand, type RxKind } from '../cvq/classes/rx.js';
export type { MacAddrSetCommand, MacTableSetCommand } from '../cvq/classes/mac.js';
export type { VlanCommand } from '../cvq/classes/vlan.js';
export type { AnnounceAckCommand } from '../cvq/classes/announce.js';
export type { MqVqPairsSetCommand } from '../cvq/classes/mq.js';
export type { MqHashConfigCommand, MqRssConfigCommand } from '../cvq/classes/rss.js';
export type { GuestOffloadsSetCommand } from '../cvq/classes/offloads.js';
export type { NotfCoalCommand } from '../cvq/classes/notf-coal.js';

/** (class, command) of every kind. */
export const COMMAND_CODES = Object.fromEntries(KINDS.map((k) => [k.kind, [k.cls, k.code] as const])) as {
  readonly [K in CommandKind]: readonly [cls: number, cmd: number];
};

/** The kind named by (class, command), or undefined for a code the spec does not define. */
export const kindOf = (cls: number, cmd: number): CommandKind | undefined => KIND_BY_CODE.get((cls << 8) | cmd)?.kind;

export const commandName = (cmd: NetCtrlCommand): CommandKind => cmd.kind;
export const commandClass = (cmd: NetCtrlCommand): number => COMMAND_CODES[cmd.kind][0];
export const commandCode = (cmd: NetCtrlCommand): number => COMMAND_CODES[cmd.kind][1];

/** Bytes of the command-specific data (without the 2-byte header). */
export const payloadLength = (cmd: NetCtrlCommand): number => KIND_INFO[cmd.kind].klass.payloadLength(cmd);

/** Header + payload bytes: the device-readable length of the command's chain. */
export const encodedLength = (cmd: NetCtrlCommand): number => CTRL_HDR_LEN + payloadLength(cmd);

/**
 * Write header + payload at `off` of `buf` (which must have `encodedLength(cmd)` bytes of room);
 * returns the bytes written. Allocation-free (the CVQ engine encodes straight into its out buffer).
 * Field values are written modulo their width; the reducers, not the codec, judge ranges.
 */
export function encodeCommandInto(cmd: NetCtrlCommand, buf: Uint8Array, off: number): number {
  const k = KIND_INFO[cmd.kind];
  buf[off] = k.cls;
  buf[off + 1] = k.code;
  return k.klass.encode(cmd, buf, off + CTRL_HDR_LEN) - off;
}

/** The device-readable bytes of the command: class, command, payload. */
export function encodeCommand(cmd: NetCtrlCommand): Uint8Array {
  const b = new Uint8Array(encodedLength(cmd));
  encodeCommandInto(cmd, b, 0);
  return b;
}

/** The command-specific data alone (no header). */
export const encodePayload = (cmd: NetCtrlCommand): Uint8Array => encodeCommand(cmd).subarray(CTRL_HDR_LEN);

// ---------------------------------------------------------------------------------------------
// Decoding

export type CvqDecodeReason =
  | 'short-header' // fewer than 2 readable bytes
  | 'unknown-command' // (class, command) not defined by the spec
  | 'short-payload' // the payload ends before its structure does
  | 'long-payload' // bytes left after the structure
  | 'bad-value' // a field outside its encoding (RX on/off not 0/1, key longer than the bytes …)
  | 'reserved-nonzero'; // a reserved field the driver must zero is not zero

export interface CvqDecodeError {
  readonly _tag: 'CvqDecodeError';
  readonly reason: CvqDecodeReason;
  /** Class and command when the header was read. */
  readonly cls?: number;
  readonly cmd?: number;
  /** The command kind when (class, command) is known. */
  readonly kind?: CommandKind;
  readonly message: string;
}

const decodeError = (reason: CvqDecodeReason, message: string, cls?: number, cmd?: number, kind?: CommandKind): CvqDecodeError => ({
  _tag: 'CvqDecodeError',
  reason,
  ...(cls === undefined ? {} : { cls }),
  ...(cmd === undefined ? {} : { cmd }),
  ...(kind === undefined ? {} : { kind }),
  message,
});

/**
 * Decode the device-readable bytes of a CVQ chain (header + payload, split across any number of
 * pieces) into a command.
 */
export function decodeCommand(segments: readonly Uint8Array[]): E.Either<CvqDecodeError, NetCtrlCommand> {
  const r = new WireReader(segments);
  if (r.remaining < CTRL_HDR_LEN) return E.left(decodeError('short-header', `CVQ command of ${r.remaining} byte(s): the header is 2`));
  const cls = r.u8();
  const code = r.u8();
  const k = KIND_BY_CODE.get((cls << 8) | code);
  if (k === undefined) {
    return E.left(decodeError('unknown-command', `unknown CVQ command class ${cls} command ${code}`, cls, code));
  }
  const kind = k.kind;
  const body = k.klass.decode(r, kind);
  if (isFail(body)) return E.left(decodeError(body.reason, `${kind}: ${body.what}`, cls, code, kind));
  if (r.remaining !== 0) return E.left(decodeError('long-payload', `${kind}: ${r.remaining} byte(s) after the command data`, cls, code, kind));
  return E.right(body);
}

/** A one-line human form of a command, e.g. `VLAN_ADD vid=100`. */
export const describeCommand = (cmd: NetCtrlCommand): string => KIND_INFO[cmd.kind].klass.describe(cmd);
