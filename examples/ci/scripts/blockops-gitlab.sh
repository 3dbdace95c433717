#!/usr/bin/env bash
# The few GitLab REST API calls the blockops pipeline makes, with the token kept out of the
# process list (curl reads the header from a private file) and failures never ignored.
#
#   blockops-gitlab.sh mr-find SOURCE TARGET              IID of the open merge request, or nothing
#   blockops-gitlab.sh mr-create SOURCE TARGET TITLE FILE create one (description from FILE); prints IID
#   blockops-gitlab.sh mr-close IID FILE                  comment FILE on it, then close it
#   blockops-gitlab.sh note-upsert IID MARKER FILE        replace the note whose body starts with MARKER
#                                                         (posting it the first time): one review note per
#                                                         merge request, updated in place
#
# Environment: CI_API_V4_URL and CI_PROJECT_ID (set by GitLab), GITLAB_TOKEN (the token for these
# calls; never printed). Needs curl and jq.
set -euo pipefail

die() {
  echo "blockops-gitlab: $*" >&2
  exit 1
}

[ -n "${GITLAB_TOKEN:-}" ] || die "GITLAB_TOKEN is empty (is the CI/CD variable set, masked, and available to this branch?)"
[ -n "${CI_API_V4_URL:-}" ] && [ -n "${CI_PROJECT_ID:-}" ] || die "CI_API_V4_URL and CI_PROJECT_ID must be set"
command -v jq >/dev/null || die "jq is not installed"

headers=$(mktemp)
trap 'rm -f "$headers"' EXIT
chmod 600 "$headers"
printf 'PRIVATE-TOKEN: %s\n' "$GITLAB_TOKEN" >"$headers"

project="$CI_API_V4_URL/projects/$CI_PROJECT_ID"

# api METHOD PATH [JSON-BODY]: the response body on stdout; any HTTP error fails.
api() {
  local method=$1 path=$2 body=${3:-}
  if [ -n "$body" ]; then
    curl -fsS --retry 3 -X "$method" -H @"$headers" -H 'Content-Type: application/json' \
      --data-binary @- "$project$path" <<<"$body"
  else
    curl -fsS --retry 3 -X "$method" -H @"$headers" "$project$path"
  fi
}

# The URL-encoded form of $1 (branch names may contain `/`).
enc() {
  jq -rn --arg v "$1" '$v | @uri'
}

case ${1:-} in
  mr-find)
    source_branch=${2:?SOURCE}
    target_branch=${3:?TARGET}
    api GET "/merge_requests?state=opened&source_branch=$(enc "$source_branch")&target_branch=$(enc "$target_branch")" |
      jq -r 'if type == "array" then (.[0].iid // empty) else error("unexpected response: \(.)") end'
    ;;
  mr-create)
    source_branch=${2:?SOURCE}
    target_branch=${3:?TARGET}
    title=${4:?TITLE}
    file=${5:?FILE}
    body=$(jq -n --arg s "$source_branch" --arg t "$target_branch" --arg title "$title" --rawfile d "$file" \
      '{source_branch: $s, target_branch: $t, title: $title, description: $d, remove_source_branch: true}')
    api POST "/merge_requests" "$body" | jq -er '.iid'
    ;;
  mr-close)
    iid=${2:?IID}
    file=${3:?FILE}
    api POST "/merge_requests/$iid/notes" "$(jq -n --rawfile b "$file" '{body: $b}')" >/dev/null
    api PUT "/merge_requests/$iid" '{"state_event": "close"}' | jq -er '.state' >/dev/null
    ;;
  note-upsert)
    iid=${2:?IID}
    marker=${3:?MARKER}
    file=${4:?FILE}
    body=$(jq -n --rawfile b "$file" '{body: $b}')
    id=""
    page=1
    while [ -z "$id" ]; do
      notes=$(api GET "/merge_requests/$iid/notes?sort=asc&order_by=created_at&per_page=100&page=$page")
      id=$(jq -r --arg m "$marker" '[.[] | select(.body | startswith($m))][0].id // empty' <<<"$notes")
      [ "$(jq 'length' <<<"$notes")" -eq 100 ] || break
      page=$((page + 1))
    done
    if [ -n "$id" ]; then
      api PUT "/merge_requests/$iid/notes/$id" "$body" >/dev/null
      echo "updated review note $id on !$iid"
    else
      api POST "/merge_requests/$iid/notes" "$body" >/dev/null
      echo "posted the review note on !$iid"
    fi
    ;;
  *)
    die "usage: blockops-gitlab.sh mr-find|mr-create|mr-close|note-upsert ..."
    ;;
esac
