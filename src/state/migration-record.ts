/**
 * The migration record: what the source saves at stop-and-copy and the destination restores from
 * (QEMU's vmstate of a vhost-vdpa net device, as one versioned JSON document).
 *
 *   { format: "shadowvq-migration", version: 1,
 *     device:   the virtio-net device state JSON (src/state/json.ts codec),
 *     features: { offered, negotiated, backend }  (0x… masks),
 *     vrings:   [{ index, base }]  (vhost vring bases at suspend, u32),
 *     dirty:    { pageSize, rounds, pagesSent, remaining } (dirty-log summary of precopy) }
 *
 * Decoding validates every field with io-ts and the feature set with the §5.1.3.1 rules; the device
 * state is validated by the state codec the caller passes (kept pluggable so this module does not
 * fix the device model's shape). Bad input yields a typed error listing every failing path.
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { fromHex, validateAccepted } from './lifecycle.js';
import { showValue } from './show-value.js';

export const MIGRATION_FORMAT = 'shadowvq-migration';
export const MIGRATION_RECORD_VERSION = 1;

interface HexMaskBrand {
  readonly HexMask: unique symbol;
}
/** A `0x…` mask of at most 64 bits. */
export const HexMask = t.brand(t.string, (s): s is t.Branded<string, HexMaskBrand> => E.isRight(fromHex(s)), 'HexMask');

interface U32Brand {
  readonly U32: unique symbol;
}
export const U32 = t.brand(t.number, (n): n is t.Branded<number, U32Brand> => Number.isInteger(n) && n >= 0 && n <= 0xffffffff, 'U32');

interface QueueIndexBrand {
  readonly QueueIndex: unique symbol;
}
/** A virtqueue index (virtio-net: up to 2 × 0x8000 data queues + the CVQ). */
export const QueueIndex = t.brand(t.number, (n): n is t.Branded<number, QueueIndexBrand> => Number.isInteger(n) && n >= 0 && n <= 0x10000, 'QueueIndex');

export const VringRecord = t.readonly(t.strict({ index: QueueIndex, base: U32 }), 'VringRecord');

export const DirtySummary = t.readonly(
  t.strict({ pageSize: U32, rounds: U32, pagesSent: t.number, remaining: t.number }),
  'DirtySummary',
);

export const FeatureRecord = t.readonly(t.strict({ offered: HexMask, negotiated: HexMask, backend: HexMask }), 'FeatureRecord');

export const MigrationRecordV1 = t.readonly(
  t.strict({
    format: t.literal(MIGRATION_FORMAT),
    version: t.literal(MIGRATION_RECORD_VERSION),
    device: t.unknown,
    features: FeatureRecord,
    vrings: t.readonlyArray(VringRecord),
    dirty: DirtySummary,
  }),
  'MigrationRecordV1',
);

export type MigrationRecord = t.TypeOf<typeof MigrationRecordV1>;

export interface MigrationRecordError {
  readonly _tag: 'MigrationRecordError';
  /** Dotted paths of the failing fields ("" for the record itself). */
  readonly paths: readonly string[];
  readonly message: string;
}

const recordError = (paths: string[], message: string): MigrationRecordError => ({ _tag: 'MigrationRecordError', paths, message });

function describe(errors: t.Errors): MigrationRecordError {
  const lines = errors.map((e) => {
    const path = e.context
      .map((c) => c.key)
      .filter((k) => k !== '')
      .join('.');
    const expected = e.context[e.context.length - 1]?.type.name ?? '?';
    return { path, text: `${path || '(record)'}: expected ${expected}, got ${showValue(e.value)}` };
  });
  return recordError(
    lines.map((l) => l.path),
    `invalid migration record: ${lines.map((l) => l.text).join('; ')}`,
  );
}

/** Validate a device state with the device model's codec (src/state/json.ts). */
export type DeviceStateDecoder = (u: unknown) => E.Either<{ readonly message: string }, unknown>;

/**
 * Decode and validate a record: shape (io-ts), version, the negotiated features a valid subset of the
 * offer (§5.1.3.1), vring indices unique, and the device state through `decodeDevice` when given.
 */
export function decodeMigrationRecord(u: unknown, decodeDevice?: DeviceStateDecoder): E.Either<MigrationRecordError, MigrationRecord> {
  if (typeof u === 'object' && u !== null && (u as { version?: unknown }).version !== undefined && (u as { version?: unknown }).version !== MIGRATION_RECORD_VERSION) {
    return E.left(recordError(['version'], `unsupported migration record version ${showValue((u as { version: unknown }).version)} (this build reads ${MIGRATION_RECORD_VERSION})`));
  }
  return pipe(
    MigrationRecordV1.decode(u),
    E.mapLeft(describe),
    E.chain((r) => {
      const offered = BigInt(r.features.offered);
      const negotiated = BigInt(r.features.negotiated);
      return pipe(
        validateAccepted(offered, negotiated),
        E.bimap(
          (e) => recordError(['features.negotiated'], `invalid migration record: ${e.message}`),
          () => r,
        ),
      );
    }),
    E.chain((r) => {
      const seen = new Set<number>();
      for (let i = 0; i < r.vrings.length; i++) {
        const q = r.vrings[i]!.index;
        if (seen.has(q)) return E.left(recordError([`vrings.${i}.index`], `invalid migration record: vring ${q} recorded twice`));
        seen.add(q);
      }
      return E.right(r);
    }),
    E.chain((r) =>
      decodeDevice === undefined
        ? E.right(r)
        : pipe(
            decodeDevice(r.device),
            E.bimap(
              (e) => recordError(['device'], `invalid migration record: device state: ${e.message}`),
              () => r,
            ),
          ),
    ),
  );
}

/** Parse the JSON text of a record and decode it. */
export function parseMigrationRecord(text: string, decodeDevice?: DeviceStateDecoder): E.Either<MigrationRecordError, MigrationRecord> {
  let u: unknown;
  try {
    u = JSON.parse(text);
  } catch (e) {
    return E.left(recordError([], `migration record is not JSON: ${(e as Error).message}`));
  }
  return decodeMigrationRecord(u, decodeDevice);
}

export interface MigrationRecordParts {
  readonly device: unknown;
  readonly offered: bigint;
  readonly negotiated: bigint;
  readonly backend: bigint;
  readonly vrings: readonly { readonly index: number; readonly base: number }[];
  readonly dirty: { readonly pageSize: number; readonly rounds: number; readonly pagesSent: number; readonly remaining: number };
}

/** Build a record and validate it (so a source never saves a record its destination would refuse). */
export function makeMigrationRecord(parts: MigrationRecordParts, decodeDevice?: DeviceStateDecoder): E.Either<MigrationRecordError, MigrationRecord> {
  const hex = (v: bigint) => `0x${v.toString(16)}`;
  return decodeMigrationRecord(
    {
      format: MIGRATION_FORMAT,
      version: MIGRATION_RECORD_VERSION,
      device: parts.device,
      features: { offered: hex(parts.offered), negotiated: hex(parts.negotiated), backend: hex(parts.backend) },
      vrings: parts.vrings.map((v) => ({ index: v.index, base: v.base })),
      dirty: { ...parts.dirty },
    },
    decodeDevice,
  );
}

/** Stable JSON text (2-space indent, fields in codec order). */
export const encodeMigrationRecord = (r: MigrationRecord): string => `${JSON.stringify(MigrationRecordV1.encode(r), null, 2)}\n`;
