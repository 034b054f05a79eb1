#!/usr/bin/env bash
# deploy check 'build': scripts/docker-build-steps.sh --runtime-rootfs: the Dockerfile's build stage replayed
# outside Docker, the runtime image's packages checked, the staged entrypoint run as the
# image would, then the runtime stage replayed in a debootstrapped chroot
# (KITH_SKIP_RUNTIME_ROOTFS=1 skips the chroot, which needs Debian's mirror and takes a
# minute). Stages the image's root at $rootfs for the other checks.
# shellcheck source=scripts/deploy-checks/lib.sh
. "$(dirname "$0")/lib.sh"

if [ -n "${KITH_SKIP_RUNTIME_ROOTFS:-}" ]; then
    echo "KITH_SKIP_RUNTIME_ROOTFS is set: the runtime stage is not replayed in a chroot"
    scripts/docker-build-steps.sh --rootfs-out "$rootfs"
else
    scripts/docker-build-steps.sh --runtime-rootfs --rootfs-out "$rootfs"
fi
