#!/usr/bin/env bash
# Build CCTools from source, once, into the cache; print the install prefix on standard output.
#
#   scripts/cctools.sh              CCTools 7.17.1 (the release the project supports and tests)
#   scripts/cctools.sh devel        the devel head vendored beside it (for bench/ and sizing)
#   scripts/cctools.sh devel-if-vendored
#                                   the same when it is vendored; otherwise says so, prints
#                                   nothing and succeeds (what the setup runs)
#   scripts/cctools.sh --prefix     only print where 7.17.1 is (or would be) installed
#
# Where the source comes from: ../shared/vendor/cctools-<version>-src.tar.gz beside the clone
# when it exists (WQ_VENDOR_DIR overrides; the project's machines reach no download site),
# otherwise CCTools' published source of the same release tag from GitHub. The install goes to
#   ${WQ_CACHE_DIR:-~/.cache/workqueue-operator}/cctools-<version>/{bin,lib,...}
# keyed by the archive's sha256, the Python it is built for and the configure flags: a warm
# cache builds nothing. Progress goes to standard error; the build's output to
# <prefix>.log (its last lines are printed when it fails).
#
# What it needs: gcc, make, swig, zlib1g-dev, libssl-dev (without it CCTools drops TLS) and the
# headers of the Python that gets the `ndcctools` package (PYTHON, default python3: the
# package's SWIG modules are built for that interpreter's minor version).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${WQ_CACHE_DIR:-$HOME/.cache/workqueue-operator}
vendor=${WQ_VENDOR_DIR:-$repo/../shared/vendor}
python=${PYTHON:-python3}
CCTOOLS_RELEASE=7.17.1
GITHUB=https://github.com/cooperative-computing-lab/cctools/archive
# Parrot, Chirp, GROW and the docs are not used by this project; leaving them out halves the
# build. Makeflow, Work Queue, TaskVine, resource_monitor, Poncho and the catalog stay.
CONFIGURE_FLAGS=(--without-system-parrot --without-system-chirp --without-system-grow
  --without-system-doc)

say() { printf '[cctools %4ss] %s\n' "$((SECONDS - start))" "$*" >&2; }
die() {
  printf 'scripts/cctools.sh: %s\n' "$*" >&2
  exit 1
}
start=$SECONDS

what=${1:-$CCTOOLS_RELEASE}
if [[ $what == --prefix ]]; then
  echo "$cache/cctools-$CCTOOLS_RELEASE"
  exit 0
fi

# version label, archive in vendor/, and the URL of the same source on GitHub
case $what in
  devel | devel-if-vendored)
    archive=$(compgen -G "$vendor/cctools-devel-*-src.tar.gz" | sort | tail -n1 || true)
    if [[ -z $archive && $what == devel-if-vendored ]]; then
      say "the devel head is not vendored (no cctools-devel-*-src.tar.gz in $vendor): not built"
      exit 0
    fi
    [[ -n $archive ]] || die "no cctools-devel-*-src.tar.gz in $vendor (the devel head is only vendored)"
    version=${archive##*/cctools-}
    version=${version%-src.tar.gz}
    url=$GITHUB/${version#devel-}.tar.gz
    ;;
  [0-9]*)
    version=$what
    archive=$vendor/cctools-$version-src.tar.gz
    url=$GITHUB/refs/tags/release/$version.tar.gz
    ;;
  *) die "unknown version '$what' (use a release such as $CCTOOLS_RELEASE, devel or devel-if-vendored)" ;;
esac
prefix=$cache/cctools-$version
logfile=$prefix.log
mkdir -p "$cache"

if [[ ! -f $archive ]]; then
  archive=$cache/downloads/cctools-$version-src.tar.gz
  if [[ ! -f $archive ]]; then
    say "no vendored source in $vendor: downloading $url"
    mkdir -p "$cache/downloads"
    curl -fL --retry 3 -o "$archive.part" "$url" ||
      die "could not download $url (and no cctools-$version-src.tar.gz in $vendor)"
    mv "$archive.part" "$archive"
  fi
fi

command -v "$python" >/dev/null || die "no $python: set PYTHON to the interpreter that gets ndcctools"
python_prefix=$("$python" -c 'import sys; print(sys.base_prefix)')
python_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
key=$(
  {
    sha256sum <"$archive" | cut -d' ' -f1
    echo "python $python_version $python_prefix"
    echo "${CONFIGURE_FLAGS[*]}"
  } | sha256sum | cut -c1-16
)
if [[ -f $prefix/.built && $(cat "$prefix/.built") == "$key" && -x $prefix/bin/work_queue_worker ]]; then
  say "CCTools $version: cached in $prefix"
  echo "$prefix"
  exit 0
fi

missing=()
for tool in gcc make swig; do command -v "$tool" >/dev/null || missing+=("$tool"); done
[[ -f /usr/include/zlib.h ]] || missing+=("zlib1g-dev")
[[ -f /usr/include/openssl/ssl.h ]] || missing+=("libssl-dev")
((${#missing[@]} == 0)) || die "missing ${missing[*]} (scripts/setup.sh installs them)"

say "building CCTools $version for Python $python_version from $archive (about a minute; log: $logfile)"
work=$(mktemp -d "$cache/cctools-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$archive" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n1)
run() {
  if ! "$@" >>"$logfile" 2>&1; then
    tail -n 30 "$logfile" >&2
    die "'$*' failed in $src (full log: $logfile)"
  fi
}
: >"$logfile"
rm -rf "$prefix"
say "configure"
(cd "$src" && run ./configure --prefix "$prefix" --with-python3-path "$python_prefix" \
  "${CONFIGURE_FLAGS[@]}")
grep -q "^openssl *yes" "$logfile" || die "configure found no OpenSSL: TLS would be missing (install libssl-dev)"
say "make -j$(nproc)"
(cd "$src" && run make -j"$(nproc)")
say "make install"
(cd "$src" && run make install)
site=$prefix/lib/python$python_version/site-packages
[[ -d $site/ndcctools/taskvine ]] || die "the build installed no ndcctools.taskvine in $site"
echo "$key" >"$prefix/.built"
say "CCTools $version installed in $prefix ($(du -sh "$prefix" | cut -f1))"
echo "$prefix"
