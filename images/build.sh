#!/usr/bin/env bash
# Builds the mlrail component image and serving image with podman, without any image registry:
#
#   1. a Debian bookworm root file system from debootstrap (cached as a tarball), checked against
#      images/base.lock and imported as localhost/mlrail-base:bookworm;
#   2. every Python dependency as a wheel, fetched once on the host into the cache, and mlrail's
#      own wheel built from this checkout;
#   3. localhost/mlrail:<version> and localhost/mlrail-serving:<version> from the Containerfiles,
#      built with no network: pip installs only the wheels from step 2. The component image gets
#      mlrail's whole dependency list (read from its wheel); the serving image only what the
#      server and the payload receiver import, images/serving.requirements.txt (no TensorFlow,
#      no pyarrow);
#   4. a CycloneDX SBOM per image in images/out/<image>.cdx.json (Python packages and Debian
#      packages), then each image's size and SBOM component count;
#   5. the digest record images/digests/kustomization.yaml (images/record.py): each image by its
#      digest, as pushed to MLRAIL_PUSH_REGISTRY when set, else as built in local storage. The
#      prod overlay and `mlrail compile --image-record` read it.
#
# Usage: images/build.sh            (from anywhere; needs root, podman, debootstrap, python 3.11)
# Environment:
#   MLRAIL_IMAGE_CACHE        cache folder (default ~/.cache/mlrail-images): base tarball, wheels
#   MLRAIL_PYTHON             the Python that runs pip on the host (default .venv/bin/python)
#   MLRAIL_DEBIAN_MIRROR      Debian mirror for debootstrap, e.g. a snapshot.debian.org URL
#   MLRAIL_REFRESH_BASE=1     debootstrap again even when the cached tarball exists (needed once
#                             to drop the documentation and translations from a tarball cached
#                             before build.sh removed them)
#   MLRAIL_UPDATE_BASE_LOCK=1 accept the debootstrapped package versions and rewrite base.lock
#   MLRAIL_PUSH_REGISTRY      push both images there (e.g. ghcr.io/mlrail) and record the digests
#                             the registry answered with, the ones a cluster pulls
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cache=${MLRAIL_IMAGE_CACHE:-$HOME/.cache/mlrail-images}
python=${MLRAIL_PYTHON:-$repo/.venv/bin/python}
mirror=${MLRAIL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
base_name=localhost/mlrail-base:$suite
lock=$here/base.lock
out=$here/out
# The SBOM tool runs in a throwaway container from each image, never installed in it; the
# json-validation extra checks each SBOM against the CycloneDX schema.
cyclonedx="cyclonedx-bom==7.5.0"
cyclonedx_validating="cyclonedx-python-lib[json-validation]"

# runc, cgroupfs and explicit ulimits: see containers.conf. Used by every podman call below.
export CONTAINERS_CONF=$here/containers.conf

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root: debootstrap and the podman storage need it"
command -v podman >/dev/null || die "podman not found: apt-get install -y podman runc"
[[ -x $python ]] || die "no Python at $python: set MLRAIL_PYTHON"
# The wheels are built for the host's Python and must load in the base's python3 (bookworm: 3.11).
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "$python is not Python 3.11, the python3 of Debian $suite: wheels would not match"
version=$(cd "$repo" && "$python" -c 'import mlrail; print(mlrail.__version__)')
mkdir -p "$cache" "$out"

# pip wheel from the cache alone when it already holds everything (fast, offline), else from PyPI.
pip_wheel() {
  "$python" -m pip wheel --quiet --no-index --find-links "$cache/wheels" "$@" 2>/dev/null \
    || "$python" -m pip wheel --quiet --find-links "$cache/wheels" "$@"
}

# ---------------------------------------------------------------------------------------------
# 1. Base root file system
# ---------------------------------------------------------------------------------------------
base_tar=$cache/base/$suite-minbase.tar
base_packages=$cache/base/$suite-minbase.packages
if [[ ! -s $base_tar || ${MLRAIL_REFRESH_BASE:-0} == 1 ]]; then
  command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install -y debootstrap"
  log "debootstrap $suite (minbase) from $mirror"
  mkdir -p "$cache/base"
  root=$(mktemp -d "$cache/base/root.XXXXXX")
  trap 'rm -rf --one-file-system "$root"' EXIT
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$root" "$mirror" >"$cache/base/debootstrap.log" 2>&1 \
    || die "debootstrap failed: see $cache/base/debootstrap.log"
  release_date=$(sed -n 's/^Date: //p' "$root"/var/lib/apt/lists/*_dists_"${suite}"_*Release \
    2>/dev/null | head -n1 || true)
  # The package lists and downloaded .debs are for the build only; the images install no packages.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*
  # Nor does anything in them read documentation, manual pages or message translations (~50 MB,
  # an eighth of the serving image). The copyright files stay, and glibc's locale.alias.
  find "$root"/usr/share/doc -type f ! -name copyright -delete
  find "$root"/usr/share/doc -depth -type d -empty -delete
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/*
  find "$root"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  {
    printf 'release-date %s\n' "${release_date:-unknown}"
    # shellcheck disable=SC2016 # dpkg-query's own ${field} syntax, not the shell's
    chroot "$root" dpkg-query -W -f '${Package} ${Version} ${Architecture}\n' | LC_ALL=C sort
  } >"$base_packages"
  tar --numeric-owner --xattrs --sort=name -C "$root" -cf "$base_tar.tmp" .
  mv "$base_tar.tmp" "$base_tar"
  rm -rf --one-file-system "$root"
  trap - EXIT
fi
base_sha256=$(sha256sum "$base_tar" | cut -d' ' -f1)

# The lock pins the base the way a registry digest would pin a pulled one: its Debian release and
# every package version. A different set fails the build until someone accepts it on purpose.
if [[ ${MLRAIL_UPDATE_BASE_LOCK:-0} == 1 || ! -f $lock ]]; then
  {
    printf '# generated by images/build.sh (MLRAIL_UPDATE_BASE_LOCK=1), do not edit\n'
    printf '# Debian %s minbase + python3 python3-venv ca-certificates, from debootstrap\n' "$suite"
    # The Release file's date: pick the snapshot.debian.org timestamp from it to rebuild this set.
    sed -n 's/^release-date /# Release date: /p' "$base_packages"
    printf 'suite %s\n' "$suite"
    grep -v '^release-date ' "$base_packages"
  } >"$lock"
  log "wrote $lock"
fi
if ! diff <(grep -v -e '^#' -e '^suite ' "$lock") <(grep -v '^release-date ' "$base_packages") >&2; then
  die "the base's Debian packages differ from $lock (above: < lock, > debootstrap).
  To build the locked versions, point MLRAIL_DEBIAN_MIRROR at a snapshot.debian.org date and set
  MLRAIL_REFRESH_BASE=1; to accept the new ones, run again with MLRAIL_UPDATE_BASE_LOCK=1."
fi

if [[ $(podman image inspect --format '{{index .Labels "org.mlrail.base.sha256"}}' "$base_name" \
  2>/dev/null) != "$base_sha256" ]]; then
  log "import $base_tar as $base_name"
  podman import --quiet \
    --change "LABEL org.mlrail.base.sha256=$base_sha256" \
    --change "LABEL org.mlrail.base.release-date=\"$(sed -n 's/^release-date //p' "$base_packages")\"" \
    --change 'CMD ["/bin/bash"]' \
    "$base_tar" "$base_name" >/dev/null
fi
# Both images build FROM the exact base just checked, named by digest.
base_ref=localhost/mlrail-base@$(podman image inspect --format '{{.Digest}}' "$base_name")

# ---------------------------------------------------------------------------------------------
# 2. Wheels
# ---------------------------------------------------------------------------------------------
log "wheels into $cache/wheels"
context=$cache/context
rm -rf "$context"
mkdir -p "$context/dist" "$cache/wheels" "$cache/sbom-wheels"
cp "$repo/constraints.txt" "$context/constraints.txt"
cp "$here/serving.requirements.txt" "$context/serving.requirements.txt"
# Timestamps in the wheel from the last commit: an unchanged checkout gives the same wheel, and the
# image build reuses its cached layers.
SOURCE_DATE_EPOCH=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 315532800)
export SOURCE_DATE_EPOCH
(cd "$repo" && pip_wheel --no-deps --wheel-dir "$context/dist" .)
project_wheel=$(echo "$context"/dist/mlrail-"$version"-*.whl)
[[ -f $project_wheel ]] || die "pip wheel did not build mlrail $version into $context/dist"
# mlrail's requirements (no extras), so the image installs its dependencies in their own layer.
"$python" - "$project_wheel" >"$context/requirements.txt" <<'PY'
import email, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as whl:
    (meta,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
    msg = email.message_from_bytes(whl.read(meta))
print("\n".join(r for r in msg.get_all("Requires-Dist", []) if "extra ==" not in r))
PY
pip_wheel --wheel-dir "$cache/wheels" -c "$repo/constraints.txt" "$project_wheel"
# The serving set is not a subset of mlrail's own list (grpcio and model-signing's extras are not
# all there); fetched the same way, usually all from the cache already.
pip_wheel --wheel-dir "$cache/wheels" -c "$repo/constraints.txt" -r "$here/serving.requirements.txt"
rm -f "$cache"/wheels/mlrail-*.whl # this checkout's wheel goes through the build context only
"$python" -m pip wheel --quiet --wheel-dir "$cache/sbom-wheels" --find-links "$cache/sbom-wheels" \
  "$cyclonedx" "$cyclonedx_validating"

# ---------------------------------------------------------------------------------------------
# 3. Images
# ---------------------------------------------------------------------------------------------
build() { # Containerfile image
  log "build $2 FROM $base_ref"
  podman build --pull=never --network=none --layers \
    --build-arg "BASE=$base_ref" \
    --build-context "wheels=$cache/wheels" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.mlrail.base.sha256=$base_sha256" \
    -f "$here/$1" -t "$2" "$context"
}
build component.Containerfile "localhost/mlrail:$version"
build serving.Containerfile "localhost/mlrail-serving:$version"

# ---------------------------------------------------------------------------------------------
# 4. SBOMs and the summary
# ---------------------------------------------------------------------------------------------
sbom() { # image name
  log "SBOM of $1"
  local image_id
  image_id=$(podman image inspect --format '{{.Id}}' "$1")
  # Everything runs inside the image, with no network, a read-only root and the image's user:
  # cyclonedx-py reads the image's own venv, dpkg-query its Debian packages, sbom.py joins them
  # and checks the result against the CycloneDX schema. The tool lives in /tmp and goes away with
  # the container; the image itself is not changed.
  # shellcheck disable=SC2016 # the script is for the container's shell, with its own arguments
  podman run --rm --network=none --read-only --tmpfs /tmp:rw,mode=1777 \
    -v "$cache/sbom-wheels:/sbom-wheels:ro" -v "$here/sbom.py:/sbom.py:ro" \
    -e "SBOM_TOOLS=$cyclonedx $cyclonedx_validating" --entrypoint /bin/sh "$1" -c '
      set -e
      /usr/bin/python3 -m venv /tmp/sbom >/dev/null
      /tmp/sbom/bin/pip install --quiet --no-index --find-links /sbom-wheels $SBOM_TOOLS
      /tmp/sbom/bin/cyclonedx-py environment --output-reproducible --of JSON \
        -o /tmp/python.cdx.json /opt/venv
      dpkg-query -W -f "\${Package}\t\${Version}\t\${Architecture}\n" >/tmp/dpkg.txt
      /tmp/sbom/bin/python /sbom.py --image "$1" --version "$2" --image-id "$3" \
        --python-bom /tmp/python.cdx.json --dpkg /tmp/dpkg.txt --out /tmp/image.cdx.json --validate
      cat /tmp/image.cdx.json' \
    sbom "$1" "$version" "$image_id" >"$out/$2.cdx.json.tmp"
  mv "$out/$2.cdx.json.tmp" "$out/$2.cdx.json"
}
sbom "localhost/mlrail:$version" mlrail
sbom "localhost/mlrail-serving:$version" mlrail-serving

log "images"
printf 'base %s  tarball sha256 %s\n' "$base_ref" "$base_sha256"
for name in mlrail mlrail-serving; do
  image=localhost/$name:$version
  size=$(podman image inspect --format '{{.Size}}' "$image")
  printf '%-32s %6d MB  SBOM %s: %s\n' "$image" $((size / 1000000)) "images/out/$name.cdx.json" \
    "$("$python" "$here/sbom.py" --count "$out/$name.cdx.json")"
done

# ---------------------------------------------------------------------------------------------
# 5. The digest record
# ---------------------------------------------------------------------------------------------
# A pushed image's digest is the registry's (the push may compress layers anew), so it is read
# from the push itself; without a push, the local digest names exactly what was built here.
references=()
for name in mlrail mlrail-serving; do
  image=localhost/$name:$version
  if [[ -n ${MLRAIL_PUSH_REGISTRY:-} ]]; then
    repository=${MLRAIL_PUSH_REGISTRY%/}/$name
    log "push $image to $repository:$version"
    podman push --digestfile "$out/$name.digest" "$image" "docker://$repository:$version"
    digest=$(<"$out/$name.digest")
  else
    repository=localhost/$name
    digest=$(podman image inspect --format '{{.Digest}}' "$image")
  fi
  references+=("$name=$repository@$digest")
done
"$python" "$here/record.py" --out "$here/digests" "${references[@]}"
