#!/usr/bin/env bash
# Core benchmark (issue: blocklist-as-code core). 100 000 indicators (70% IPv4, 10% IPv6,
# 20% FQDN); `check`, `render` and `diff` between two commits that differ by 1 000 indicators
# each way. Prints wall time and peak RSS per command (release build, GNU time).
#   usage: benches/core.sh [N] [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100000}
runs=${2:-3}
# BLOCKOPS_BIN=path measures another build (e.g. the commit before a change).
if [[ -n "${BLOCKOPS_BIN:-}" ]]; then
  bin=$BLOCKOPS_BIN
else
  cargo build --release --quiet --manifest-path "$here/Cargo.toml"
  bin="$here/target/release/blockops"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q -b main
git config user.name bench && git config user.email bench@example.com
cat > blockops.yaml <<'YAML'
targets:
  - name: fw1
    host: 127.0.0.1
    password: {env: FW1_PASSWORD}
YAML
mkdir -p blocklists
printf 'entries: []\n' > blocklists/manual.yaml
printf 'entries: []\n' > blocklists/allowlist.yaml
python3 "$here/benches/gen_blocklist.py" "$n" 1 > blocklists/cybereason.yaml
git add -A && git commit -qm base
python3 "$here/benches/gen_blocklist.py" "$n" 1 1000 > blocklists/cybereason.yaml
git add -A && git commit -qm "1000 changed"
export BLOCKOPS_TODAY=2026-11-27
printf '%-28s %10s %10s %12s\n' command "wall (s)" "cpu (s)" "peak RSS (MB)"
for cmd in "check" "render --target fw1" "diff" "diff --format markdown" "diff --format json"; do
  best=""
  for _ in $(seq "$runs"); do
    if ! /usr/bin/time -f "%e %M %U %S" -o "$work/t" "$bin" $cmd >/dev/null 2>"$work/err"; then
      echo "blockops $cmd failed:" >&2; cat "$work/err" >&2; exit 1
    fi
    read -r secs kb usr sys < "$work/t"
    if [[ -z "$best" ]] || awk "BEGIN{exit !($secs < ${best%% *})}"; then
      best="$secs $kb $(awk "BEGIN{print $usr + $sys}")"
    fi
  done
  read -r secs kb cpu <<<"$best"
  printf '%-28s %10s %10s %12s\n' "$cmd" "$secs" "$cpu" "$((kb / 1024))"
done
