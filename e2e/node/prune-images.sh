#!/usr/bin/env bash
# Keeps the real node's image stores the size of the images in use. Each new build of an image
# (images/build.sh tags it h-HASH) and each test's environment image adds a digest that nothing
# uses once a newer one exists; kept, they grew the registry and containerd by about a gigabyte
# per `make test` on this machine.
#   prune-images.sh registry-gc  (the registry stopped) deletes the test-envimage/ repositories
#                                (the tests' environment images of earlier runs), then
#                                docker-registry garbage-collect frees the blobs of untagged
#                                manifests and of those `stale` deleted
#   prune-images.sh stale        (the registry and containerd running) deletes the registry's
#                                h-HASH tags of workqueue-operator/* other than the current build
#                                (the digest its version tag has), then removes from containerd
#                                each image of the local registry whose manifest the registry no
#                                longer serves
# up.sh runs both: registry-gc before the registry starts, stale once the images are pushed and
# before the kubelet starts. Prints what it frees; running it again frees nothing more.
# The images here are single manifests (docker's classic store, crane's single-platform
# pushes): docker-registry 2.8's --delete-untagged would also delete the untagged platform
# manifests of an image index, so do not point it at a registry that holds indexes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

accept=application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json
accept+=,application/vnd.docker.distribution.manifest.list.v2+json
accept+=,application/vnd.docker.distribution.manifest.v2+json

registry_get() { curl -fsS --noproxy '*' --max-time 10 "http://$wq_registry/v2/$1"; }

# The digest the registry serves for REPOSITORY:REFERENCE, a tag or a digest (nothing, and
# success, when it serves none: a tag deleted with an earlier one of the same digest, a
# repository without this version).
served_digest() {
  { curl -fsSI --noproxy '*' --max-time 10 -H "Accept: $accept" \
    "http://$wq_registry/v2/$1/manifests/$2" 2>/dev/null || true; } |
    tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: *//p'
}

# The strings of a JSON list field (`"tags":[...]`, `"repositories":[...]`), one per line.
json_list() { sed -n "s/.*\"$1\":\[\([^]]*\)\].*/\1/p" | tr ',' '\n' | tr -d '"' | sed '/^$/d'; }

delete_manifest() {
  curl -fsS --noproxy '*' --max-time 10 -X DELETE -o /dev/null \
    "http://$wq_registry/v2/$1/manifests/$2" || echo "could not delete $1@$2" >&2
}

stale_registry() {
  local repo tag current digest deleted=0
  while read -r repo; do
    [[ $repo == workqueue-operator/* ]] || continue
    current=$(served_digest "$repo" "$version")
    [[ -n $current ]] || continue # not pushed under this version: leave it alone
    while read -r tag; do
      [[ $tag == h-* ]] || continue
      digest=$(served_digest "$repo" "$tag")
      if [[ -n $digest && $digest != "$current" ]]; then
        delete_manifest "$repo" "$digest"
        deleted=$((deleted + 1))
      fi
    done < <(registry_get "$repo/tags/list" | json_list tags)
  done < <(registry_get "_catalog?n=1000" | json_list repositories)
  echo "registry: deleted $deleted stale manifest(s) (their blobs go at the next registry-gc)"
}

# Whether the registry serves REPOSITORY's manifest DIGEST.
serves() { [[ -n $(served_digest "$1" "$2") ]]; }

stale_containerd() {
  local ref digest name repo
  declare -A ours=() served=()
  local -a refs=() gone=()
  # REF TYPE DIGEST ...: every name of an image (repo:tag, repo@digest, and the sha256: image
  # id the CRI adds) shows the digest of the manifest it names. An image of the local registry
  # stays while the registry serves its manifest (after `stale_registry`: the current builds).
  while read -r ref _type digest _; do
    refs+=("$ref $digest")
    case $ref in
      "$wq_registry"/* | "$wq_registry_pods"/*) ;;
      *) continue ;;
    esac
    name=${ref#*/}
    repo=${name%@*}
    repo=${repo%:*}
    ours[$digest]=1
    if [[ -z ${served[$digest]:-} ]] && serves "$repo" "$digest"; then
      served[$digest]=1
    fi
  done < <(ctr --address "$wq_containerd_sock" -n k8s.io images ls | tail -n +2)
  for entry in "${refs[@]}"; do
    ref=${entry% *} digest=${entry#* }
    case $ref in
      "$wq_registry"/* | "$wq_registry_pods"/* | sha256:*) ;;
      *) continue ;; # another registry's name for the same content stays
    esac
    if [[ -n ${ours[$digest]:-} && -z ${served[$digest]:-} ]]; then
      gone+=("$ref")
    fi
  done
  if ((${#gone[@]})); then
    ctr --address "$wq_containerd_sock" -n k8s.io images rm --sync "${gone[@]}" >/dev/null
  fi
  echo "containerd: removed $((${#ours[@]} - ${#served[@]})) image(s) the registry no longer" \
    "serves (${#gone[@]} name(s)), kept ${#served[@]}"
}

version=$(wq_project_version)
case ${1:-} in
  registry-gc)
    if wq_node_pid registry >/dev/null || wq_node_pid registry-pods >/dev/null; then
      wq_die "registry-gc needs the registry stopped (e2e/node/down.sh)"
    fi
    [[ -f $wq_node_state/registry/config.yml ]] || exit 0 # never started: nothing to collect
    before=$(du -sm "$wq_cache_root/registry" | cut -f1)
    # The tests' environment images (tests/*/test_*env_image*.py): earlier runs', never used again.
    rm -rf "$wq_cache_root/registry/docker/registry/v2/repositories/test-envimage"
    docker-registry garbage-collect --delete-untagged "$wq_node_state/registry/config.yml" \
      >"$wq_node_logs/registry-gc.log" 2>&1 ||
      wq_die "docker-registry garbage-collect failed; its log: $wq_node_logs/registry-gc.log"
    echo "registry: garbage-collected ${before} MB -> $(du -sm "$wq_cache_root/registry" | cut -f1) MB"
    ;;
  stale)
    wq_node_healthy registry || wq_die "the registry does not answer on $wq_registry"
    wq_node_healthy containerd || wq_die "containerd does not answer on $wq_containerd_sock"
    stale_registry
    stale_containerd
    ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
