#!/usr/bin/env bash
# Builds this project's images (images/build.sh: cached by content) and pushes them to the
# node's local registry as 127.0.0.1:PORT/workqueue-operator/NAME:{VERSION,h-HASH}.
#   e2e/node/push-images.sh                 pause worker manager builder operator
#   e2e/node/push-images.sh pause worker    only those
# A push of an image the registry already holds moves no layer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
names=("$@")
((${#names[@]})) || names=(pause worker manager builder operator)
wq_node_healthy registry || wq_die "the registry does not answer on $wq_registry (run e2e/node/up.sh)"
version=$(wq_project_version)
docker=${DOCKER_BIN:-/usr/bin/docker}
start=$SECONDS
while IFS=$'\t' read -r name status ref _seconds size_mb; do
  # The CCTools build the worker and manager images copy, and the crane binary the builder
  # copies (files only): no pod runs them.
  [[ $name != cctools && $name != crane ]] || continue
  hash_tag=${ref##*:}
  for tag in "$version" "$hash_tag"; do
    target=$wq_registry/workqueue-operator/$name:$tag
    "$docker" tag "$ref" "$target"
    "$docker" push -q "$target" >/dev/null || wq_die "docker push $target failed"
  done
  printf '%s\t%s\t%s\t%s MB\n' "$name" "$status" "$wq_registry/workqueue-operator/$name:$version" "$size_mb"
done < <("$here/../../images/build.sh" "${names[@]}")
echo "pushed ${#names[@]} image(s) to $wq_registry in $((SECONDS - start)) s" >&2
