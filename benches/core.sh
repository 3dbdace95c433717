#!/usr/bin/env bash
# Core benchmark (issue: blocklist-as-code core). 100 000 indicators (70% IPv4, 10% IPv6,
# 20% FQDN); `check`, `render` and `diff` between two commits that differ by 1 000 indicators
# each way. Prints wall time and peak RSS per command (release build, GNU time).
#   usage: benches/core.sh [N] [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100000}
runs=${2:-3}
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/release/blockops"
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
python3 "$here/benches/gen_blocklist.py" "$n" 1 > blocklists/cybereason.yaml
git add -A && git commit -qm base
python3 "$here/benches/gen_blocklist.py" "$n" 1 1000 > blocklists/cybereason.yaml
git add -A && git commit -qm "1000 changed"
export BLOCKOPS_TODAY=2026-11-27
printf '%-28s %10s %12s\n' command "wall (s)" "peak RSS (MB)"
for cmd in "check" "render --target fw1" "diff" "diff --format markdown" "diff --format json"; do
  best=""
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$work/t" "$bin" $cmd >/dev/null 2>"$work/err" || true
    read -r secs kb < "$work/t"
    if [[ -z "$best" ]] || awk "BEGIN{exit !($secs < ${best%% *})}"; then best="$secs $kb"; fi
  done
  read -r secs kb <<<"$best"
  printf '%-28s %10s %12s\n' "$cmd" "$secs" "$((kb / 1024))"
done
