#!/usr/bin/env bash
# Install one pinned blockops binary for a CI job: fetched (checksum-verified) or built once per
# version, then reused from a cache and handed from job to job as an artifact, so the plan job
# and the apply job run the very same binary.
#
#   blockops-install.sh key                      print the cache key of the pinned version
#   blockops-install.sh install BINDIR [CACHE]   put the binary at BINDIR/blockops (and its key in
#                                                BINDIR/blockops.version); reuse CACHE/<key>/ if there
#
# Which version (environment; the pipelines pass their CI variables through):
#   BLOCKOPS_RELEASE_URL + BLOCKOPS_RELEASE_SHA256   a prebuilt linux-x86_64 binary (https:// or
#                                                    file://), refused unless its sha256 matches
#   BLOCKOPS_GIT_URL [+ BLOCKOPS_GIT_REF]            `cargo install --locked` from git; the ref is a
#                                                    tag, a branch or a full commit SHA, resolved to
#                                                    a commit first so the cache key names exactly
#                                                    what was built (a branch that moves gets a new key)
set -euo pipefail

die() {
  echo "blockops-install: $*" >&2
  exit 1
}

# The commit a tag (annotated or not), branch or full SHA names in the repository at $1.
resolve_commit() {
  local url=$1 ref=$2 refs out want sha
  if [[ $ref =~ ^[0-9a-f]{40}$ ]]; then
    echo "$ref"
    return
  fi
  if [ -z "$ref" ]; then
    refs=(HEAD)
  else
    # A peeled annotated tag (`^{}`) names the commit; the tag object itself does not.
    refs=("refs/tags/$ref^{}" "refs/tags/$ref" "refs/heads/$ref")
  fi
  out=$(git ls-remote "$url" "${refs[@]}") || die "cannot list the refs of $url"
  for want in "${refs[@]}"; do
    sha=$(awk -v r="$want" '$2 == r { print $1 }' <<<"$out")
    if [ -n "$sha" ]; then
      echo "$sha"
      return
    fi
  done
  die "BLOCKOPS_GIT_REF '${ref}' is neither a tag nor a branch of $url (a commit must be given as its full 40-character SHA)"
}

cache_key() {
  if [ -n "${BLOCKOPS_RELEASE_URL:-}" ]; then
    [[ ${BLOCKOPS_RELEASE_SHA256:-} =~ ^[0-9a-f]{64}$ ]] ||
      die "BLOCKOPS_RELEASE_URL is set but BLOCKOPS_RELEASE_SHA256 is not a sha256 (64 lowercase hex digits): a downloaded binary is never run unverified"
    echo "release-$BLOCKOPS_RELEASE_SHA256"
  elif [ -n "${BLOCKOPS_GIT_URL:-}" ]; then
    local sha
    sha=$(resolve_commit "$BLOCKOPS_GIT_URL" "${BLOCKOPS_GIT_REF:-}")
    echo "git-$sha"
  else
    die "set BLOCKOPS_GIT_URL (build from git) or BLOCKOPS_RELEASE_URL and BLOCKOPS_RELEASE_SHA256 (prebuilt binary)"
  fi
}

# Fetch or build the binary for $1 into the file $2.
obtain() {
  local key=$1 out=$2 tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expand $tmp now: it is local to this function
  trap "rm -rf '$tmp'" RETURN
  case $key in
    release-*)
      curl -fsSL --proto '=https,file' --retry 3 -o "$tmp/blockops" "$BLOCKOPS_RELEASE_URL" ||
        die "cannot download $BLOCKOPS_RELEASE_URL"
      echo "$BLOCKOPS_RELEASE_SHA256  $tmp/blockops" | sha256sum --check --status ||
        die "checksum mismatch: $BLOCKOPS_RELEASE_URL is not the binary BLOCKOPS_RELEASE_SHA256 names"
      ;;
    git-*)
      cargo install --locked --quiet --git "$BLOCKOPS_GIT_URL" --rev "${key#git-}" --root "$tmp/root" blockops
      mv "$tmp/root/bin/blockops" "$tmp/blockops"
      ;;
  esac
  chmod 755 "$tmp/blockops"
  mv "$tmp/blockops" "$out"
}

cmd=${1:-}
case $cmd in
  key)
    cache_key
    ;;
  install)
    bindir=${2:?usage: blockops-install.sh install BINDIR [CACHE]}
    cache=${3:-}
    key=$(cache_key)
    mkdir -p "$bindir"
    if [ -n "$cache" ] && [ -x "$cache/$key/blockops" ]; then
      echo "blockops $key: from the cache"
      cp "$cache/$key/blockops" "$bindir/blockops"
    else
      echo "blockops $key: not cached, obtaining it"
      obtain "$key" "$bindir/blockops"
      if [ -n "$cache" ]; then
        # One version at a time: older pins are dropped so the cache does not grow without bound.
        rm -rf "$cache"/release-* "$cache"/git-*
        mkdir -p "$cache/$key"
        cp "$bindir/blockops" "$cache/$key/blockops"
      fi
    fi
    # A release binary is checked again after the copy: a cache is not trusted blindly.
    if [[ $key == release-* ]]; then
      echo "${key#release-}  $bindir/blockops" | sha256sum --check --status ||
        die "the cached binary does not match BLOCKOPS_RELEASE_SHA256"
    fi
    echo "$key" >"$bindir/blockops.version"
    "$bindir/blockops" --version
    ;;
  *)
    die "usage: blockops-install.sh key | install BINDIR [CACHE]"
    ;;
esac
