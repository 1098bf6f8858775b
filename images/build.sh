#!/usr/bin/env bash
# Build the project's container images, each only when its inputs changed.
#
#   images/build.sh                   every image: cctools crane operator worker manager
#                                     builder pause
#   images/build.sh worker manager    only those (the local base, and the cctools image they
#                                     copy CCTools from, are made when needed; the builder
#                                     likewise copies crane from the crane image)
#   images/build.sh base              only the local Debian base (images/base/make-base.sh)
#   images/build.sh --list            the images and what each is built from
#
# Every image is tagged twice:
#   workqueue-operator/NAME:VERSION   the name the CRDs' defaults use (VERSION from pyproject;
#                                     for cctools, the CCTools release: cctools:7.17.1; for
#                                     crane, its release: crane:v0.22.1)
#   workqueue-operator/NAME:h-HASH    HASH covers the Dockerfile, the files the build context
#                                     sends, the build arguments and the base image's id (for
#                                     worker and manager, also the cctools image's id; for
#                                     the builder, the crane image's)
# When the :h-HASH tag exists the image is reused and nothing runs. Standard output gets one
# line per image, tab-separated: NAME  built|reused  REF  SECONDS  SIZE_MB; progress goes to
# standard error and each build's full log to ~/.cache/workqueue-operator/images/logs/.
#
# CCTools: the cctools image (images/cctools/Dockerfile, files only) compiles CCTools 7.17.1
# once from cctools-7.17.1-src.tar.gz, found where scripts/cctools.sh finds it:
# ../shared/vendor/ beside the clone (WQ_VENDOR_DIR), else
# ~/.cache/workqueue-operator/downloads/ (WQ_CACHE_DIR), else downloaded there from the release
# tag on GitHub (a path the project's machines, which reach no download site, cannot take). Its
# sha256 is a build argument, hence part of the cctools image's HASH and, through the
# CCTOOLS_IMAGE argument, of the worker's and manager's.
#
# crane: images/crane/build-crane.sh builds it with this machine's Go from the Go module proxy
# (cached in ~/.cache/workqueue-operator/crane/VERSION); the crane image holds that binary
# (its sha256 is a build argument) and the builder image copies it (PonchoEnv output.image).
#
# Environment:
#   BASE_IMAGE=REF          build on REF (e.g. debian:bookworm-slim where a registry is
#                           reachable) instead of the local mmdebstrap base (images/base/)
#   CCTOOLS_SOURCE=source   or conda: CCTools compiled from the source archive, or conda-forge's
#                           ndcctools 7.17.1 (needs conda.anaconda.org; not buildable here)
#   WITH_MICROMAMBA=auto    or true/false: micromamba in the builder image; auto = true when
#                           conda.anaconda.org answers (it does not on the project's machines)
#   IMAGE_PREFIX=workqueue-operator
#   FORCE=1                 build even when the hash tag exists (BuildKit's cache still applies)
set -euo pipefail
# shellcheck source=images/base/common.sh
source "$(dirname "$0")/base/common.sh"

ALL_IMAGES=(cctools crane operator worker manager builder pause)
IMAGE_PREFIX=${IMAGE_PREFIX:-workqueue-operator}
CCTOOLS_SOURCE=${CCTOOLS_SOURCE:-source}
CCTOOLS_RELEASE=7.17.1
CCTOOLS_ARCHIVE_NAME=cctools-$CCTOOLS_RELEASE-src.tar.gz
CRANE_VERSION=${CRANE_VERSION:-v0.22.1}
CCTOOLS_URL=https://github.com/cooperative-computing-lab/cctools/archive/refs/tags/release/$CCTOOLS_RELEASE.tar.gz
VENDOR_DIR=$(realpath -m "${WQ_VENDOR_DIR:-$REPO_DIR/../shared/vendor}")
DOWNLOAD_DIR=${WQ_CACHE_DIR:-$HOME/.cache/workqueue-operator}/downloads
WITH_MICROMAMBA=${WITH_MICROMAMBA:-auto}
FORCE=${FORCE:-0}
LOG_DIR=$CACHE_DIR/images/logs

VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO_DIR/pyproject.toml" | head -n1)
[[ -n $VERSION ]] || die "no version in pyproject.toml"

# The files a repo-root build context sends (.dockerignore is an allowlist; keep in step).
package_files() {
  (cd "$REPO_DIR" && {
    printf '%s\n' pyproject.toml README.md
    find operator -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*.egg-info/*'
  } | LC_ALL=C sort | sed "s|^|$REPO_DIR/|")
}

dir_files() { find "$1" -type f ! -name '*.pyc' | LC_ALL=C sort; }

# The CCTools source archive: vendored, else downloaded before (scripts/cctools.sh keeps its
# downloads in the same place); empty when neither.
cctools_archive() {
  local f
  for f in "$VENDOR_DIR/$CCTOOLS_ARCHIVE_NAME" "$DOWNLOAD_DIR/$CCTOOLS_ARCHIVE_NAME"; do
    [[ -f $f ]] && {
      echo "$f"
      return
    }
  done
  return 0
}

# Sets CCTOOLS_ARCHIVE and CCTOOLS_SHA256, downloading the release tag's source from GitHub when
# no archive is at hand (untried on the project's machines: they reach no download site).
fetch_cctools_archive() {
  CCTOOLS_ARCHIVE=$(cctools_archive)
  if [[ -z $CCTOOLS_ARCHIVE ]]; then
    log "no $CCTOOLS_ARCHIVE_NAME in $VENDOR_DIR or $DOWNLOAD_DIR: downloading $CCTOOLS_URL"
    mkdir -p "$DOWNLOAD_DIR"
    curl -fsSL --retry 3 -o "$DOWNLOAD_DIR/$CCTOOLS_ARCHIVE_NAME.part" "$CCTOOLS_URL" || {
      rm -f "$DOWNLOAD_DIR/$CCTOOLS_ARCHIVE_NAME.part"
      die "could not download $CCTOOLS_URL (and no $CCTOOLS_ARCHIVE_NAME in $VENDOR_DIR)"
    }
    mv "$DOWNLOAD_DIR/$CCTOOLS_ARCHIVE_NAME.part" "$DOWNLOAD_DIR/$CCTOOLS_ARCHIVE_NAME"
    CCTOOLS_ARCHIVE=$DOWNLOAD_DIR/$CCTOOLS_ARCHIVE_NAME
  fi
  CCTOOLS_SHA256=$(sha256sum <"$CCTOOLS_ARCHIVE" | cut -d' ' -f1)
}

# image_spec NAME -> sets dockerfile, context, inputs[], args[], tag
image_spec() {
  inputs=()
  args=(--build-arg "VERSION=$VERSION")
  tag=$VERSION
  case $1 in
    cctools)
      # The context is the archive's directory (the Dockerfile COPYs it by name); the archive
      # enters the hash through its sha256, a build argument. A conda build reads no archive.
      dockerfile=$IMAGES_DIR/cctools/Dockerfile
      inputs=("$dockerfile")
      args=(--build-arg "CCTOOLS_SOURCE=$CCTOOLS_SOURCE" --build-arg "CCTOOLS_VERSION=$CCTOOLS_RELEASE")
      tag=$CCTOOLS_RELEASE
      if [[ $CCTOOLS_SOURCE == conda ]]; then
        context=$IMAGES_DIR/cctools
        args+=(--build-arg "CCTOOLS_SHA256=")
        tag+=-conda
      else
        context=$(dirname "${CCTOOLS_ARCHIVE:-$(cctools_archive)}")
        [[ $context != . ]] || context=$DOWNLOAD_DIR # where the first build downloads it
        args+=(--build-arg "CCTOOLS_SHA256=${CCTOOLS_SHA256:-}")
      fi
      ;;
    crane)
      # The context is the directory of the binary build-crane.sh made; the binary enters the
      # hash through its sha256, a build argument.
      dockerfile=$IMAGES_DIR/crane/Dockerfile
      context=${CRANE_DIR:-$CACHE_DIR/crane/$CRANE_VERSION}
      inputs=("$dockerfile" "$IMAGES_DIR/crane/build-crane.sh")
      args=(--build-arg "CRANE_VERSION=$CRANE_VERSION" --build-arg "CRANE_SHA256=${CRANE_SHA256:-}")
      tag=$CRANE_VERSION
      ;;
    operator)
      dockerfile=$REPO_DIR/Dockerfile
      context=$REPO_DIR
      mapfile -t inputs < <(package_files)
      inputs+=("$REPO_DIR/Dockerfile" "$REPO_DIR/.dockerignore")
      ;;
    builder)
      dockerfile=$IMAGES_DIR/builder/Dockerfile
      context=$REPO_DIR
      mapfile -t inputs < <(package_files)
      inputs+=("$dockerfile" "$REPO_DIR/.dockerignore")
      args+=(--build-arg "WITH_MICROMAMBA=$WITH_MICROMAMBA"
        --build-arg "CRANE_IMAGE=${crane_ref:-$IMAGE_PREFIX/crane:$CRANE_VERSION}")
      ;;
    worker | manager | pause)
      dockerfile=$IMAGES_DIR/$1/Dockerfile
      context=$IMAGES_DIR/$1
      mapfile -t inputs < <(dir_files "$context")
      if [[ $1 != pause ]]; then
        args+=(--build-arg "CCTOOLS_SOURCE=$CCTOOLS_SOURCE"
          --build-arg "CCTOOLS_IMAGE=${cctools_ref:-$IMAGE_PREFIX/cctools:$CCTOOLS_RELEASE}")
      fi
      ;;
    *) die "unknown image '$1' (images: ${ALL_IMAGES[*]})" ;;
  esac
}

resolve_micromamba() {
  [[ $WITH_MICROMAMBA == auto ]] || return 0
  if curl -fsSI --max-time 5 -o /dev/null https://conda.anaconda.org/conda-forge/ 2>/dev/null; then
    WITH_MICROMAMBA=true
  else
    WITH_MICROMAMBA=false
    log "conda.anaconda.org does not answer: builder without micromamba (WITH_MICROMAMBA=false)"
  fi
}

# The host's CA bundle, handed to builds as a BuildKit secret (never stored in a layer): on
# networks that intercept TLS, PyPI is reachable only through a CA the host trusts.
ca_bundle() {
  local f
  for f in "${SSL_CERT_FILE:-}" "${PIP_CERT:-}" /etc/ssl/certs/ca-certificates.crt; do
    [[ -n $f && -s $f ]] && {
      echo "$f"
      return
    }
  done
}

list_images() {
  local name
  for name in "${ALL_IMAGES[@]}"; do
    image_spec "$name"
    printf '%-9s %s (context %s, %d input files)\n' "$name" "${dockerfile#"$REPO_DIR"/}" \
      "$(realpath -m --relative-to="$REPO_DIR" "$context")" "${#inputs[@]}"
  done
}

names=()
base_only=0
for arg in "$@"; do
  case $arg in
    --list)
      list_images
      exit 0
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    -*) die "unknown option $arg" ;;
    base) base_only=1 ;; # made whenever needed; alone: only the base
    *) names+=("$arg") ;;
  esac
done
((${#names[@]})) || ((base_only)) || names=("${ALL_IMAGES[@]}")
[[ $CCTOOLS_SOURCE == source || $CCTOOLS_SOURCE == conda ]] ||
  die "CCTOOLS_SOURCE=$CCTOOLS_SOURCE: use source (the default) or conda"
# The worker and manager copy CCTools from the cctools image: build (or reuse) it first.
if [[ " ${names[*]} " == *" worker "* || " ${names[*]} " == *" manager "* ]]; then
  others=()
  for name in "${names[@]}"; do [[ $name == cctools ]] || others+=("$name"); done
  names=(cctools "${others[@]}")
fi
# The builder copies crane from the crane image: build (or reuse) it first.
if [[ " ${names[*]} " == *" builder "* ]]; then
  others=()
  for name in "${names[@]}"; do [[ $name == crane ]] || others+=("$name"); done
  names=(crane "${others[@]}")
fi
[[ " ${names[*]} " != *" builder "* ]] || resolve_micromamba
for name in "${names[@]}"; do image_spec "$name"; done # validate names early

total_start=$SECONDS
ensure_dockerd

if [[ -n ${BASE_IMAGE:-} ]]; then
  base_ref=$BASE_IMAGE
  docker_cmd image inspect "$base_ref" >/dev/null 2>&1 || docker_cmd pull "$base_ref" >&2
else
  base_start=$SECONDS
  base_ref=$(bash "$IMAGES_DIR/base/make-base.sh")
  log "base $base_ref ($((SECONDS - base_start)) s)"
fi
base_id=$(docker_cmd image inspect -f '{{.Id}}' "$base_ref")
((${#names[@]})) || exit 0
if [[ " ${names[*]} " == *" cctools "* && $CCTOOLS_SOURCE == source ]]; then
  fetch_cctools_archive
  log "CCTools source: $CCTOOLS_ARCHIVE (sha256 $CCTOOLS_SHA256)"
fi
if [[ " ${names[*]} " == *" crane "* ]]; then
  CRANE_DIR=$(CRANE_VERSION=$CRANE_VERSION bash "$IMAGES_DIR/crane/build-crane.sh")
  CRANE_SHA256=$(sha256sum <"$CRANE_DIR/crane" | cut -d' ' -f1)
  log "crane: $CRANE_DIR/crane (sha256 $CRANE_SHA256)"
fi

secret_args=()
if ca=$(ca_bundle) && [[ -n $ca ]]; then
  secret_args=(--secret "id=cacerts,src=$ca")
fi

mkdir -p "$LOG_DIR"
for name in "${names[@]}"; do
  image_spec "$name"
  args+=(--build-arg "BASE_IMAGE=$base_ref")
  # The worker and manager also depend on the cctools image's content (its id), not only on
  # its h-HASH name: a FORCE=1 rebuild of it makes theirs stale too.
  depends=$base_id
  [[ $name != worker && $name != manager ]] || depends+=" ${cctools_id:-}"
  [[ $name != builder ]] || depends+=" ${crane_id:-}"
  hash=$(hash_text "$name" "$(hash_files "${inputs[@]}")" "$depends" "${args[@]}")
  repo=$IMAGE_PREFIX/$name
  ref=$repo:h-$hash
  start=$SECONDS
  if [[ $FORCE != 1 ]] && docker_cmd image inspect "$ref" >/dev/null 2>&1; then
    status=reused
    log "$name: $ref present, nothing to build"
  else
    status=built
    logfile=$LOG_DIR/$name.log
    cmd=(build --progress=plain "${secret_args[@]}" "${args[@]}"
      --label "dev.workqueue.inputs-hash=$hash" -f "$dockerfile" -t "$ref" "$context")
    log "$name: DOCKER_BUILDKIT=1 $DOCKER_BIN ${cmd[*]}"
    if ! DOCKER_BUILDKIT=1 docker_cmd "${cmd[@]}" >"$logfile" 2>&1; then
      tail -n 40 "$logfile" >&2
      die "$name: build failed (full log: $logfile)"
    fi
    # Drop this image's older hash tags (BuildKit's cache keeps their layers for reuse).
    docker_cmd image ls --format '{{.Repository}}:{{.Tag}}' "$repo" |
      grep -E ":h-[0-9a-f]+$" | grep -vxF "$ref" | xargs -r "$DOCKER_BIN" rmi >/dev/null 2>&1 || true
  fi
  docker_cmd tag "$ref" "$repo:$tag"
  if [[ $name == cctools ]]; then
    cctools_ref=$ref
    cctools_id=$(docker_cmd image inspect -f '{{.Id}}' "$ref")
  fi
  if [[ $name == crane ]]; then
    crane_ref=$ref
    crane_id=$(docker_cmd image inspect -f '{{.Id}}' "$ref")
  fi
  seconds=$((SECONDS - start))
  size=$(docker_cmd image inspect -f '{{.Size}}' "$ref")
  size_mb=$(((size + 500000) / 1000000))
  log "$name: $status $ref in $seconds s, $size_mb MB"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$ref" "$seconds" "$size_mb"
done
log "done in $((SECONDS - total_start)) s"
