"""Push a FortiOS script with netmiko 4.8.0's `fortinet` driver, for benches/latency.rs.

Usage: netmiko_push.py PORT USER PASSWORD SCRIPT_FILE
Prints one JSON object (`seconds`, `lines`) on stdout; exits non-zero on any failure.

netmiko's `send_config_set` with `cmd_verify` (its default) writes one line, waits for its
echo, then for the prompt, and checks the output against `error_pattern` — the same per-line
check blockops makes, one round trip per line (`netmiko/base_connection.py`). The connection
and the driver's session preparation (`get system status`, console output mode) are not timed.
"""
import json
import sys
import time

from netmiko import ConnectHandler


def main() -> int:
    port, user, password, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    with open(path, encoding="utf-8") as f:
        lines = [l.strip() for l in f if l.strip()]
    conn = ConnectHandler(
        device_type="fortinet",
        host="127.0.0.1",
        port=port,
        username=user,
        password=password,
        conn_timeout=30,
        allow_agent=False,
        use_keys=False,
    )
    start = time.monotonic()
    conn.send_config_set(
        lines,
        error_pattern=r"Command fail|parse error|not found in datasource|Maximum number of entries",
        read_timeout=600,
    )
    seconds = time.monotonic() - start
    conn.disconnect()
    print(json.dumps({"seconds": seconds, "lines": len(lines)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
