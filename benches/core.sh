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

# Hostile files (issue #8): a 50 MB file in several shapes, deep nesting, an oversized file.
# Each goes into blocklists/manual.yaml of a fresh repository and `check` must fail cleanly
# (or, for the legitimate 50 MB list, finish) in bounded time and memory.
hostile() {
  local name=$1 gen=$2
  local dir
  dir=$(mktemp -d -p "$work")
  (
    cd "$dir"
    cp "$work/blockops.yaml" .
    mkdir -p blocklists
    printf 'entries: []\n' > blocklists/cybereason.yaml
    printf 'entries: []\n' > blocklists/allowlist.yaml
    python3 -c "$gen" > blocklists/manual.yaml
    size=$(stat -c %s blocklists/manual.yaml)
    code=0
    /usr/bin/time -f "%e %M %U %S" -o "$dir/t" "$bin" check >"$dir/out" 2>"$dir/err" || code=$?
    read -r secs kb usr sys < <(tail -1 "$dir/t")
    printf '%-34s %8s %5s %8s %8s %10s  %s\n' "$name" "$((size / 1000))" "$code" "$secs" \
      "$(awk "BEGIN{print $usr + $sys}")" "$((kb / 1024))" \
      "$(cat "$dir/out" "$dir/err" | grep -m1 -o 'error: .\{0,70\}' | cut -c8-)"
  ) || true
  rm -rf "$dir"
}
echo
printf '%-34s %8s %5s %8s %8s %10s  %s\n' "hostile manual.yaml (check)" "KB" "exit" "wall (s)" "cpu (s)" "RSS (MB)" "first error"
hostile "50 MB canonical list (600 000)" "
import subprocess, sys
sys.stdout.write(subprocess.run(['python3', '$here/benches/gen_blocklist.py', '600000', '7'], capture_output=True, text=True).stdout)"
hostile "50 MB flow-style entries" "
import sys
w = sys.stdout.write
w('entries:\n')
for i in range(780000):
    w('- {value: h%d.evil.example, sources: [domain], comment: \"x\"}\n' % i)"
hostile "16 MB flow-style entries (limit)" "
import sys
w = sys.stdout.write
w('entries:\n')
for i in range(250000):
    w('- {value: h%d.evil.example, sources: [domain], comment: \"x\"}\n' % i)"
hostile "50 MB single scalar" "
import sys
sys.stdout.write('entries:\n- value: a.example\n  comment: \"' + 'x' * 50_000_000 + '\"\n')"
hostile "flow nesting 200 000 deep" "
import sys
sys.stdout.write('entries: ' + '[' * 200_000 + ']' * 200_000 + '\n')"
hostile "block nesting 100 000 deep" "
import sys
sys.stdout.write('entries:\n' + '- ' * 100_000 + 'x\n')"
hostile "65 MiB file (over the limit)" "
import sys
sys.stdout.write('entries: []\n' + ('#' * 1023 + '\n') * (65 * 1024))"
