#!/usr/bin/env bash
# Build the project's container images, each only when its inputs changed.
#
#   images/build.sh                   every image: operator worker manager builder pause
#   images/build.sh worker manager    only those (the local base is made when needed)
#   images/build.sh base              only the local Debian base (images/base/make-base.sh)
#   images/build.sh --list            the images and what each is built from
#
# Every image is tagged twice:
#   workqueue-operator/NAME:VERSION   the name the CRDs' defaults use (VERSION from pyproject)
#   workqueue-operator/NAME:h-HASH    HASH covers the Dockerfile, the files the build context
#                                     sends, the build arguments and the base image's id
# When the :h-HASH tag exists the image is reused and nothing runs. Standard output gets one
# line per image, tab-separated: NAME  built|reused  REF  SECONDS  SIZE_MB; progress goes to
# standard error and each build's full log to ~/.cache/workqueue-operator/images/logs/.
#
# Environment:
#   BASE_IMAGE=REF          build on REF (e.g. debian:bookworm-slim where a registry is
#                           reachable) instead of the local mmdebstrap base (images/base/)
#   CCTOOLS_SOURCE=debian   or conda: where work_queue_worker & co come from (worker, manager)
#   WITH_MICROMAMBA=auto    or true/false: micromamba in the builder image; auto = true when
#                           conda.anaconda.org answers (it does not on the project's machines)
#   IMAGE_PREFIX=workqueue-operator
#   FORCE=1                 build even when the hash tag exists (BuildKit's cache still applies)
set -euo pipefail
# shellcheck source=images/base/common.sh
source "$(dirname "$0")/base/common.sh"

ALL_IMAGES=(operator worker manager builder pause)
IMAGE_PREFIX=${IMAGE_PREFIX:-workqueue-operator}
CCTOOLS_SOURCE=${CCTOOLS_SOURCE:-debian}
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

# image_spec NAME -> sets dockerfile, context, inputs[], args[]
image_spec() {
  inputs=()
  args=(--build-arg "VERSION=$VERSION")
  case $1 in
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
      args+=(--build-arg "WITH_MICROMAMBA=$WITH_MICROMAMBA")
      ;;
    worker | manager | pause)
      dockerfile=$IMAGES_DIR/$1/Dockerfile
      context=$IMAGES_DIR/$1
      mapfile -t inputs < <(dir_files "$context")
      args+=(--build-arg "CCTOOLS_SOURCE=$CCTOOLS_SOURCE")
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
      "$(realpath --relative-to="$REPO_DIR" "$context")" "${#inputs[@]}"
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

secret_args=()
if ca=$(ca_bundle) && [[ -n $ca ]]; then
  secret_args=(--secret "id=cacerts,src=$ca")
fi

mkdir -p "$LOG_DIR"
for name in "${names[@]}"; do
  image_spec "$name"
  args+=(--build-arg "BASE_IMAGE=$base_ref")
  hash=$(hash_text "$name" "$(hash_files "${inputs[@]}")" "$base_id" "${args[@]}")
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
  docker_cmd tag "$ref" "$repo:$VERSION"
  seconds=$((SECONDS - start))
  size=$(docker_cmd image inspect -f '{{.Size}}' "$ref")
  size_mb=$(((size + 500000) / 1000000))
  log "$name: $status $ref in $seconds s, $size_mb MB"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$ref" "$seconds" "$size_mb"
done
log "done in $((SECONDS - total_start)) s"
