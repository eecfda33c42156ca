/**
 * Pure reducers for the virtio device status life and feature negotiation (virtio 1.2 §2.1, §2.2,
 * §3.1.1, §5.1.3.1). The device-lifecycle machine takes its guards from here; nothing here does I/O.
 *
 * Feature sets are `bigint` masks in the reducers; machine contexts keep them as `0x…` hex strings so
 * snapshots stay JSON-serializable (`toHex` / `fromHex`).
 */
import * as E from 'fp-ts/lib/Either.js';
import { F, FEATURE_REQUIREMENTS, featureNames, type FeatureName } from '../virtio/features.js';
import { VIRTIO_CONFIG_S as STATUS, type StatusBit } from '../virtio/status.js';

/** The device status bits (virtio 1.2 §2.1), under the name the lifecycle code uses. */
export { STATUS, type StatusBit };

const KNOWN_STATUS = 0xcf;
/** The bits a driver sets, in the order §3.1.1 requires them. */
const INIT_ORDER = [STATUS.ACKNOWLEDGE, STATUS.DRIVER, STATUS.FEATURES_OK, STATUS.DRIVER_OK] as const;

export type StatusRule =
  | 'unknown-bit' // a bit outside §2.1's list
  | 'out-of-order' // a step of §3.1.1 set before the one it follows
  | 'cleared-bit' // the driver cleared a bit without resetting (§2.1.1)
  | 'driver-set-needs-reset' // NEEDS_RESET is the device's to set (§2.1.1)
  | 'failed-set' // FAILED is set: only a reset leaves it
  | 'features-ok-not-set'; // the device refused the features (§3.1.1 step 6)

export interface StatusError {
  readonly _tag: 'StatusError';
  readonly rule: StatusRule;
  readonly status: number;
  readonly message: string;
}

const statusError = (rule: StatusRule, status: number, message: string): StatusError => ({ _tag: 'StatusError', rule, status, message });

export const formatStatus = (status: number): string => {
  const names = (Object.keys(STATUS) as StatusBit[]).filter((k) => (status & STATUS[k]) !== 0);
  return `0x${status.toString(16)}${names.length ? ` (${names.join('|')})` : ' (RESET)'}`;
};

/**
 * Whether a status byte is one a conforming driver/device pair can be in: only known bits, and each
 * step of §3.1.1 implies the ones before it (DRIVER ⇒ ACKNOWLEDGE, FEATURES_OK ⇒ DRIVER,
 * DRIVER_OK ⇒ FEATURES_OK). FAILED and NEEDS_RESET may join any of them.
 */
export function checkStatus(status: number): E.Either<StatusError, number> {
  if (!Number.isInteger(status) || status < 0 || status > 0xff || (status & ~KNOWN_STATUS) !== 0) {
    return E.left(statusError('unknown-bit', status, `status ${formatStatus(status)} has bits outside virtio 1.2 §2.1`));
  }
  for (let i = 1; i < INIT_ORDER.length; i++) {
    if ((status & INIT_ORDER[i]!) !== 0 && (status & INIT_ORDER[i - 1]!) === 0) {
      return E.left(statusError('out-of-order', status, `status ${formatStatus(status)} skips a step of virtio 1.2 §3.1.1`));
    }
  }
  return E.right(status);
}

export const statusConsistent = (status: number): boolean => E.isRight(checkStatus(status));

/**
 * The driver writes `next` over `current` (virtio 1.2 §2.1.1, §3.1.1). Writing 0 is a reset and always
 * allowed. Otherwise the driver only adds bits, one init step at a time or FAILED, never NEEDS_RESET,
 * and nothing but a reset after FAILED.
 */
export function writeStatus(current: number, next: number): E.Either<StatusError, number> {
  if (next === 0) return E.right(0);
  const checked = checkStatus(next);
  if (E.isLeft(checked)) return checked;
  if ((current & STATUS.FAILED) !== 0) return E.left(statusError('failed-set', next, 'FAILED is set: the driver must reset the device first'));
  if ((current & ~next & ~STATUS.NEEDS_RESET) !== 0) {
    return E.left(statusError('cleared-bit', next, `writing ${formatStatus(next)} over ${formatStatus(current)} clears a bit without a reset`));
  }
  const added = next & ~current;
  if ((added & STATUS.NEEDS_RESET) !== 0) return E.left(statusError('driver-set-needs-reset', next, 'NEEDS_RESET is set by the device only'));
  const steps = INIT_ORDER.filter((b) => (added & b) !== 0).length;
  if (steps > 1) return E.left(statusError('out-of-order', next, `writing ${formatStatus(next)} over ${formatStatus(current)} takes more than one step of §3.1.1`));
  return E.right(next);
}

/** §3.1.1 step 6: re-read status after setting FEATURES_OK; if it is clear, the device refused. */
export function featuresAccepted(statusReadBack: number): E.Either<StatusError, number> {
  return (statusReadBack & STATUS.FEATURES_OK) !== 0
    ? E.right(statusReadBack)
    : E.left(statusError('features-ok-not-set', statusReadBack, `device cleared FEATURES_OK (read back ${formatStatus(statusReadBack)}): it refuses the feature subset`));
}

/** The status the next init step writes, or undefined once DRIVER_OK is set. */
export function nextInitStatus(current: number): number | undefined {
  for (const bit of INIT_ORDER) if ((current & bit) === 0) return current | bit;
  return undefined;
}

/** The §5.1.3.1 requirement table of src/virtio/features.ts, as masks: feature → any one of these. */
const DEPS = FEATURE_REQUIREMENTS.map(([name, alts]) => ({ name, mask: F[name], alts: alts.map((n) => F[n]) }));

/** Features of `features` whose §5.1.3.1 requirements are not met within `features`. */
export function unmetDependencies(features: bigint): FeatureName[] {
  return DEPS.filter((d) => (features & d.mask) !== 0n && !d.alts.some((a) => (features & a) !== 0n)).map((d) => d.name);
}

export type NegotiationRule = 'not-offered' | 'dependency' | 'version-1-missing' | 'required-missing';

export interface NegotiationError {
  readonly _tag: 'NegotiationError';
  readonly rule: NegotiationRule;
  readonly features: string[];
  readonly message: string;
}

const negotiationError = (rule: NegotiationRule, features: string[], message: string): NegotiationError => ({
  _tag: 'NegotiationError',
  rule,
  features,
  message,
});

/**
 * The driver's side of negotiation (virtio 1.2 §2.2, §3.1.1 step 4): accept what both the device
 * offers and the driver wants, then drop (to a fixpoint) every feature whose requirements did not
 * survive. VERSION_1 must be offered and wanted (a modern device), and every feature of `required`
 * must survive, or negotiation fails naming them.
 */
export function negotiate(offered: bigint, wanted: bigint, required: bigint = F.VERSION_1): E.Either<NegotiationError, bigint> {
  if ((offered & F.VERSION_1) === 0n) return E.left(negotiationError('version-1-missing', ['VERSION_1'], 'the device does not offer VIRTIO_F_VERSION_1'));
  let acc = offered & wanted;
  for (;;) {
    const drop = unmetDependencies(acc);
    if (drop.length === 0) break;
    for (const n of drop) acc &= ~F[n];
  }
  const missing = required & ~acc;
  if (missing !== 0n) {
    const names = featureNames(missing);
    return E.left(negotiationError('required-missing', names, `required features not negotiable: ${names.join(', ')}`));
  }
  return E.right(acc);
}

/**
 * Check a feature set the driver is about to write (or a migration record carries) against what the
 * device offers: a subset of the offer with all §5.1.3.1 requirements met.
 */
export function validateAccepted(offered: bigint, accepted: bigint): E.Either<NegotiationError, bigint> {
  const extra = accepted & ~offered;
  if (extra !== 0n) {
    const names = featureNames(extra);
    return E.left(negotiationError('not-offered', names, `features not offered by the device: ${names.join(', ')}`));
  }
  const unmet = unmetDependencies(accepted);
  if (unmet.length) return E.left(negotiationError('dependency', unmet, `features without their virtio 1.2 §5.1.3.1 requirements: ${unmet.join(', ')}`));
  if ((accepted & F.VERSION_1) === 0n) return E.left(negotiationError('version-1-missing', ['VERSION_1'], 'VIRTIO_F_VERSION_1 not accepted'));
  return E.right(accepted);
}

/** `0x…` lower-case hex of a feature mask (JSON-friendly form kept in machine contexts). */
export const toHex = (v: bigint): string => `0x${v.toString(16)}`;

/** Parse a `0x…` mask of at most 64 bits. */
export function fromHex(s: string): E.Either<string, bigint> {
  return /^0x[0-9a-f]{1,16}$/i.test(s) ? E.right(BigInt(s)) : E.left(`not a 64-bit 0x… mask: ${JSON.stringify(s)}`);
}
