/**
 * Device bring-up steps shared by the in-guest tests, in QEMU's order (hw/virtio/vhost-vdpa.c):
 * SET_OWNER → GET/SET_BACKEND_FEATURES → status ACKNOWLEDGE|DRIVER → SET_FEATURES → FEATURES_OK
 * (re-read: the device may refuse, virtio 1.2 §3.1.1 step 6).
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { backendMask, deviceError, type DeviceError, type VdpaDevice } from '../../../src/device/types.js';
import { VIRTIO_CONFIG_S } from '../../../src/virtio/status.js';

export { backendMask, VIRTIO_CONFIG_S };

export interface Negotiated {
  readonly features: bigint;
  readonly backend: bigint;
}

/**
 * Own the device, ack the wanted backend features the device offers, reset, and negotiate `want`
 * (intersected with the device's features) up to FEATURES_OK.
 */
export function negotiate(dev: VdpaDevice, want: bigint, wantBackend: bigint): E.Either<DeviceError, Negotiated> {
  const S = VIRTIO_CONFIG_S;
  return pipe(
    dev.setOwner(),
    E.chain(() => dev.getBackendFeatures()),
    E.chain((offered) => {
      const backend = offered & wantBackend;
      return E.map(() => backend)(dev.setBackendFeatures(backend));
    }),
    E.chainFirst(() => dev.setStatus(0)),
    E.chainFirst(() => dev.setStatus(S.ACKNOWLEDGE | S.DRIVER)),
    E.chain((backend) =>
      pipe(
        dev.getFeatures(),
        E.map((offered) => ({ features: offered & want, backend })),
      ),
    ),
    E.chainFirst((n) => dev.setFeatures(n.features)),
    E.chainFirst(() => dev.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK)),
    E.chainFirst(() =>
      pipe(
        dev.getStatus(),
        E.chain((st) =>
          (st & S.FEATURES_OK) !== 0
            ? E.right(undefined)
            : E.left(deviceError('state', 'VHOST_VDPA_GET_STATUS', `device refused FEATURES_OK (status 0x${st.toString(16)})`)),
        ),
      ),
    ),
  );
}
