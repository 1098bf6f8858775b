#!/usr/bin/env bash
# Make the local Debian base image, since no registry (and so no debian:bookworm-slim) can be
# reached here:   mmdebstrap --variant=minbase bookworm  ->  rootfs tarball  ->  docker import.
#
#   images/base/make-base.sh            print the base image reference (building it if needed)
#   BASE_EPOCH=2026-12 images/base/...  a new key, hence a fresh rootfs (e.g. for security updates)
#   DEBIAN_MIRROR=http://host/debian    a mirror other than this machine's apt sources
#
# Cached by content: the key hashes the suite, variant, mirrors, dpkg/apt options, extra
# packages and BASE_EPOCH. The tarball stays in ~/.cache/workqueue-operator/images/base/, the
# image is tagged localhost/workqueue-operator/debian-base:bookworm-KEY (and :bookworm), and a
# re-run with the same key builds nothing. The rootfs mirrors what debian:bookworm-slim holds:
# minbase, merged /usr (usr-is-merged, not usrmerge and its perl), no man pages, docs or
# locales, no recommends.
set -euo pipefail
# shellcheck source=images/base/common.sh
source "$(dirname "$0")/common.sh"

SUITE=${SUITE:-bookworm}
VARIANT=minbase
BASE_REPO=localhost/workqueue-operator/debian-base
BASE_EPOCH=${BASE_EPOCH:-}
EXTRA_PACKAGES=${EXTRA_PACKAGES:-} # comma-separated, for experiments; part of the key

mirrors=()
if [[ -n ${DEBIAN_MIRROR:-} ]]; then
  mirrors=("deb $DEBIAN_MIRROR $SUITE main" "deb $DEBIAN_MIRROR $SUITE-updates main")
  [[ -n ${DEBIAN_SECURITY_MIRROR:-} ]] &&
    mirrors+=("deb $DEBIAN_SECURITY_MIRROR $SUITE-security main")
else
  while read -r uri suite; do
    case $suite in
      "$SUITE" | "$SUITE-updates" | "$SUITE-security") mirrors+=("deb $uri $suite main") ;;
    esac
  done < <(host_debian_mirrors)
  ((${#mirrors[@]})) || mirrors=("deb http://deb.debian.org/debian $SUITE main"
    "deb http://deb.debian.org/debian $SUITE-updates main"
    "deb http://deb.debian.org/debian-security $SUITE-security main")
fi

# shellcheck disable=SC2016 # the hook's "$1" (the rootfs) is expanded by mmdebstrap, not here
options=(
  --variant="$VARIANT"
  --mode=root
  --format=tar
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --aptopt='Acquire::Languages "none"'
  --aptopt='APT::Install-Recommends "false"'
  --aptopt='APT::Install-Suggests "false"'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-include=/usr/share/locale/locale.alias'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
  --customize-hook='rm -f "$1"/var/log/apt/*.log "$1"/var/log/dpkg.log "$1"/var/cache/ldconfig/aux-cache'
)
[[ -n $EXTRA_PACKAGES ]] && options+=(--include="$EXTRA_PACKAGES")

key=$(hash_text "$SUITE" "${options[@]}" "${mirrors[@]}" "epoch=$BASE_EPOCH")
ref=$BASE_REPO:$SUITE-$key

if docker_cmd image inspect "$ref" >/dev/null 2>&1; then
  log "base image $ref: present"
else
  ensure_host_packages mmdebstrap=mmdebstrap
  tarball=$CACHE_DIR/images/base/debian-$SUITE-$key.tar
  mkdir -p "$(dirname "$tarball")"
  if [[ ! -s $tarball ]]; then
    log "mmdebstrap $VARIANT $SUITE from ${mirrors[0]#deb } (key $key)"
    start=$SECONDS
    tmp=$tarball.partial
    rm -f "$tmp"
    mmlog=$tarball.log
    if ! as_root mmdebstrap "${options[@]}" "$SUITE" "$tmp" "${mirrors[@]}" >"$mmlog" 2>&1; then
      tail -n 30 "$mmlog" >&2
      die "mmdebstrap failed (log: $mmlog)"
    fi
    mv "$tmp" "$tarball"
    log "rootfs: $(du -h "$tarball" | cut -f1) in $((SECONDS - start)) s"
  fi
  log "docker import $tarball -> $ref"
  docker_cmd import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL org.opencontainers.image.title=debian-base org.opencontainers.image.description=\"Debian $SUITE $VARIANT made with mmdebstrap\" dev.workqueue.base-key=$key" \
    "$tarball" "$ref" >/dev/null
fi
docker_cmd tag "$ref" "$BASE_REPO:$SUITE"
echo "$ref"
