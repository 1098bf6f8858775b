# shellcheck shell=bash
# The -ldflags of every Kubernetes binary built here from k8s.io/kubernetes $K8S_VERSION
# (e2e/cluster/build.sh, e2e/node/build.sh, bench/bench_k8s_build.sh): stripped, with the
# version that `kubectl version` and /version report. Sourced after versions.env, never run.
#   wq_k8s_ldflags [FLAG...]    prints the flags, then the extra FLAGs given
wq_k8s_ldflags() {
  local pkg=k8s.io/component-base/version commit minor
  commit=$(echo "$K8S_VERSION" | sha1sum | cut -c1-40)
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  printf '%s' "-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  printf '%s' " -X $pkg.gitTreeState=clean -X $pkg.gitCommit=$commit"
  printf '%s' " -X $pkg.buildDate=1970-01-01T00:00:00Z"
  (($#)) && printf ' %s' "$@"
  echo
}
