/**
 * What the VDUSE device offers the kernel for a vhost-vdpa device behind it, and why the bridge has no
 * passthrough mode (docs/vduse.md).
 */
import { F, FEATURE_REQUIREMENTS, hasFeature } from '../../virtio/features.js';

/**
 * Why the bridge has no passthrough mode: the kernel's rings live in VDUSE's coherent IOVA area, reachable
 * only through an mmap of the "[vduse-domain]" file, and vduse_domain_mmap marks that VMA VM_IO;
 * vhost_vdpa_va_map (vdpa_sim's use_va mode) skips VM_IO | VM_PFNMAP VMAs without an error, and
 * vhost_vdpa_pa_map cannot pin them either, so a vhost-vdpa device pointed at the kernel's rings would read
 * nothing. Only the bounce area can be given user memory (VDUSE_IOTLB_REG_UMEM); the rings cannot.
 */
export const NO_PASSTHROUGH =
  'passthrough impossible: the kernel driver\'s rings are in the VDUSE coherent area, mapped only as a VM_IO VMA ([vduse-domain] mmap), which vhost_vdpa_va_map skips (vhost_vdpa_pa_map cannot pin it); only the bounce area takes user memory (VDUSE_IOTLB_REG_UMEM)';

/**
 * The features the VDUSE device offers for a vdpa device's: CTRL_VQ and everything that needs it removed
 * (VDUSE refuses a net device with CTRL_VQ; Linux's virtnet_validate_features refuses a feature whose
 * requirement is missing), VERSION_1 and ACCESS_PLATFORM added (VDUSE requires both), RING_PACKED when asked.
 */
export function vduseFeaturesFor(vdpaFeatures: bigint, packed: boolean): bigint {
  let f = (vdpaFeatures & ~F.CTRL_VQ & ~F.RING_PACKED) | F.VERSION_1 | F.ACCESS_PLATFORM;
  for (let changed = true; changed; ) {
    changed = false;
    for (const [feature, requires] of FEATURE_REQUIREMENTS) {
      if (hasFeature(f, feature) && !requires.some((r) => hasFeature(f, r))) {
        f &= ~F[feature];
        changed = true;
      }
    }
  }
  return packed ? f | F.RING_PACKED : f;
}
