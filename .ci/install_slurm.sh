#!/usr/bin/env bash
# CI: the SLURM packages tests/test_slurm.py needs (a one-node cluster on localhost).
# Idempotent: does nothing when they are installed already. Debian/Ubuntu, as root.
set -euo pipefail
PACKAGES=(slurm-wlm munge)
PROGRAMS=(slurmctld slurmd sbatch sinfo squeue scontrol scancel sacct munged)

versions() {
    dpkg-query -W -f='${Package} ${Version}\n' "${PACKAGES[@]}" 2>/dev/null | paste -sd, - ||
        echo "version unknown"
}

missing=()
for p in "${PROGRAMS[@]}"; do
    PATH="$PATH:/usr/sbin:/sbin" command -v "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install_slurm: already installed ($(versions)); nothing to do"
    exit 0
fi
echo "install_slurm: missing ${missing[*]}; installing ${PACKAGES[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "install_slurm: not root, cannot install; tests/test_slurm.py will skip" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${PACKAGES[@]}"; then
    apt-get update
    apt-get install -y --no-install-recommends "${PACKAGES[@]}"
fi
# The packages' own daemons are not used (the tests start private ones); Debian's
# postinst may start munge -- harmless, left as it is.
echo "install_slurm: installed $(versions)"
