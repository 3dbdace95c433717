"""Drive the FortiGate simulator with netmiko's `fortinet` driver (paramiko underneath).

Usage: fortigate_netmiko.py PORT USER PASSWORD [vdom]
Prints one JSON object on stdout; exits non-zero on any failure. Called by
tests/fortigate_sim.rs when python3 + netmiko are importable.
"""
import json
import logging
import sys

from netmiko import ConnectHandler


class KexRecorder(logging.Handler):
    """Collects the key exchange paramiko negotiated (its `Kex: <name>` debug line)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.kex = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Kex: "):
            self.kex.append(msg[5:])


def main() -> int:
    recorder = KexRecorder()
    log = logging.getLogger("paramiko.transport")
    log.setLevel(logging.DEBUG)
    log.addHandler(recorder)
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    multi = len(sys.argv) > 4 and sys.argv[4] == "vdom"
    conn = ConnectHandler(
        device_type="fortinet",
        host="127.0.0.1",
        port=port,
        username=user,
        password=password,
        fast_cli=False,
        conn_timeout=30,
        allow_agent=False,
        use_keys=False,
    )
    status = conn.send_command("get system status")
    lines = [
        "config firewall address",
        'edit "nm-203.0.113.9_32"',
        "set subnet 203.0.113.9 255.255.255.255",
        "next",
        "end",
    ]
    if multi:
        lines = ["config vdom", "edit root"] + lines + ["end"]
    config_out = conn.send_config_set(lines, error_pattern=r"Command fail|parse error")
    show = 'show firewall address "nm-203.0.113.9_32"'
    if multi:
        conn.send_config_set(["config vdom", "edit root"])
        shown = conn.send_command(show)
        conn.send_config_set(["end"])
    else:
        shown = conn.send_command(show)
    prompt = conn.find_prompt()
    conn.disconnect()
    print(
        json.dumps(
            {
                "kex": recorder.kex,
                "prompt": prompt,
                "vdoms": conn._vdoms,
                "original_output_mode": conn._original_output_mode,
                "status_has_version": "Version: FortiGate" in status,
                "config_out": config_out,
                "shown": shown,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
