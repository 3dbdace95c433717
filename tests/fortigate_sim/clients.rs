//! Clients we did not write (OpenSSH, netmiko's `fortinet` driver), exec requests, key
//! exchanges, and the `blockops sim fortigate` binary.
use blockops::sim::fortigate::{AccessProfile, AdminOptions};

use super::*;

/// A child process that is killed when the test ends, pass or fail.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn exec_requests_and_sha1_and_group_exchange_kex() {
    let sim = start(SimOptions::default()).await;
    for kex in [
        russh::kex::DH_GEX_SHA256,
        russh::kex::DH_G14_SHA1,
        russh::kex::DH_GEX_SHA1,
    ] {
        let mut t = Term::open(
            sim.addr,
            Some(vec![kex, russh::kex::EXTENSION_SUPPORT_AS_CLIENT]),
            1000,
        )
        .await;
        t.until("FGT # ").await;
    }
    let config = Arc::new(client::Config::default());
    let mut session = client::connect(config, sim.addr, AcceptAll)
        .await
        .expect("connect");
    assert!(
        !session
            .authenticate_password("admin", "wrong")
            .await
            .expect("auth")
            .success()
    );
    assert!(
        session
            .authenticate_password("admin", "admin")
            .await
            .expect("auth")
            .success()
    );
    let mut ch = session.channel_open_session().await.expect("channel");
    ch.exec(true, "get system status").await.expect("exec");
    let mut out = String::new();
    let mut status = None;
    while let Ok(Some(msg)) = tokio::time::timeout(TIMEOUT, ch.wait()).await {
        match msg {
            ChannelMsg::Data { data } => out.push_str(&String::from_utf8_lossy(&data)),
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            _ => {}
        }
    }
    assert!(out.contains("Hostname: FGT\n"), "{out}");
    assert_eq!(status, Some(0));
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn keygen(dir: &Path) -> std::path::PathBuf {
    let key = dir.join("id_ed25519");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    key
}

#[tokio::test]
async fn openssh_client_drives_the_shell_with_a_public_key() {
    if !have("ssh") || !have("ssh-keygen") {
        eprintln!(
            "SKIPPED openssh_client_drives_the_shell_with_a_public_key: OpenSSH client not installed"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let key = keygen(dir.path());
    let public = russh::keys::load_public_key(key.with_extension("pub")).expect("public key");
    let sim = start(SimOptions {
        password: None::<Secret>,
        authorized_keys: vec![public],
        ..SimOptions::default()
    })
    .await;
    let port = sim.addr.port().to_string();
    let key_s = key.to_string_lossy().to_string();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("ssh")
            .args(["-tt", "-i", &key_s, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-p", &port, "admin@127.0.0.1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ssh");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(
                b"config firewall address\nedit \"bl-198.51.100.7_32\"\nset subnet 198.51.100.7 255.255.255.255\nnext\nend\n\
                  config firewall addrgrp\nedit \"blocklist-v4\"\nset member \"bl-198.51.100.7_32\"\nnext\nend\n\
                  show firewall addrgrp\nexit\n",
            )
            .expect("write");
        child.wait_with_output().expect("ssh output")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ssh failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("FGT (address) # "), "{stdout}");
    assert!(
        stdout.contains("        set member \"bl-198.51.100.7_32\"\r\n"),
        "{stdout}"
    );
    let st = sim.state();
    assert_eq!(
        st.object("root", "firewall addrgrp", "blocklist-v4")
            .map(|o| o.list("member").len()),
        Some(1)
    );
    // A key that is not authorized is refused.
    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir).expect("mkdir");
    let other = keygen(&other_dir);
    let port = sim.addr.port().to_string();
    let denied = tokio::task::spawn_blocking(move || {
        Command::new("ssh")
            .args(["-i"])
            .arg(&other)
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
            ])
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "LogLevel=ERROR",
                "-p",
                &port,
                "admin@127.0.0.1",
                "get system status",
            ])
            .output()
            .expect("ssh")
    })
    .await
    .expect("join");
    assert!(!denied.status.success(), "unauthorized key was accepted");
}

#[test]
fn binary_prints_address_and_fingerprint_and_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let mut child = Reaped(
        Command::new(assert_cmd::cargo::cargo_bin("blockops"))
            .args([
                "sim",
                "fortigate",
                "--listen",
                "127.0.0.1:0",
                "--hostname",
                "EDGE-1",
                "--vdom-mode",
                "--state",
            ])
            .arg(&state)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn blockops"),
    );
    let mut lines = BufReader::new(child.0.stdout.take().expect("stdout")).lines();
    let listen = lines.next().and_then(Result::ok).unwrap_or_default();
    let fp = lines.next().and_then(Result::ok).unwrap_or_default();
    let addr: std::net::SocketAddr = listen
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {listen:?}"));
    assert!(fp.starts_with("host key SHA256:"), "{fp}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let out = rt.block_on(async {
        let mut t = Term::open(addr, None, 1000).await;
        t.until("EDGE-1 # ").await;
        t.cmd("config vdom", "EDGE-1 (vdom) # ").await;
        t.cmd("edit root", "EDGE-1 (root) # ").await;
        t.cmd("config firewall address", "EDGE-1 (address) # ")
            .await;
        t.cmd("edit cli", "EDGE-1 (cli) # ").await;
        t.cmd("end", "EDGE-1 (root) # ").await;
        t.cmd("end", "EDGE-1 # ").await;
        t.cmd("get system status | grep -i hostname", "EDGE-1 # ")
            .await
    });
    assert_eq!(out, "Hostname: EDGE-1\r\n");
    // The state file is rewritten shortly after each change, while the simulator runs.
    wait_for("the state file to hold the new address", || {
        DeviceState::load(&state)
            .is_ok_and(|st| st.object("root", "firewall address", "cli").is_some())
    });
    // SIGTERM stops it cleanly (exit 0) after a final state write.
    let term = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    assert!(term.is_ok_and(|s| s.success()), "kill -TERM failed");
    let mut status = None;
    wait_for("the simulator to exit after SIGTERM", || {
        status = child.0.try_wait().ok().flatten();
        status.is_some()
    });
    assert!(
        status.is_some_and(|s| s.success()),
        "no clean exit on SIGTERM: {status:?}"
    );
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn netmiko_fortinet_driver_connects_over_group_exchange() {
    if !python_has("netmiko") {
        eprintln!(
            "SKIPPED netmiko_fortinet_driver_connects_over_group_exchange: python3 with netmiko (and paramiko) \
             is not installed (pip install netmiko)"
        );
        return;
    }
    for vdom_mode in [false, true] {
        let profile = Profile {
            vdom_mode,
            ..Profile::default()
        };
        // The multi-VDOM run also has a post-login banner netmiko must accept with `a`.
        let banner = vdom_mode.then(|| "Authorized use only".to_string());
        let sim = start(SimOptions {
            profile,
            banner,
            ..SimOptions::default()
        })
        .await;
        let out = run_netmiko(sim.addr.port(), vdom_mode).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "netmiko failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_str(stdout.trim()).expect("json from the netmiko script");
        // netmiko's fortinet driver leaves paramiko 5 only group-exchange-sha256.
        assert_eq!(
            v["kex"],
            serde_json::json!(["diffie-hellman-group-exchange-sha256"]),
            "{v}"
        );
        assert_eq!(v["vdoms"], serde_json::json!(vdom_mode));
        assert_eq!(v["original_output_mode"], "more");
        assert_eq!(v["status_has_version"], true);
        assert!(
            !v["config_out"]
                .as_str()
                .unwrap_or_default()
                .contains("Command fail"),
            "{v}"
        );
        assert!(
            v["shown"]
                .as_str()
                .unwrap_or_default()
                .contains("set subnet 203.0.113.9 255.255.255.255"),
            "{v}"
        );
        let st = sim.state();
        assert!(
            st.object("root", "firewall address", "nm-203.0.113.9_32")
                .is_some()
        );
        // netmiko switched paging off for its session and restored it on disconnect: two
        // changes of a global setting that every administrator's console shares.
        assert_eq!(st.console.output, "more");
        assert_eq!(
            sim.global_changes(),
            [
                "admin: system console: output more -> standard",
                "admin: system console: output standard -> more"
            ]
        );
    }
}

/// netmiko runs one at a time: paramiko's group-exchange handshake against a debug build is
/// CPU-heavy, and three at once on a loaded machine can overrun its connect timeout.
static NETMIKO: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Run tests/scripts/fortigate_netmiko.py against a simulator on `port`.
async fn run_netmiko(port: u16, vdom: bool) -> std::process::Output {
    let _one_at_a_time = NETMIKO.lock().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/fortigate_netmiko.py");
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .args([port.to_string().as_str(), "admin", "admin"]);
        if vdom {
            cmd.arg("vdom");
        }
        cmd.output().expect("run python3")
    })
    .await
    .expect("join")
}

/// netmiko ≥ 4.2 needs `config global` + `get system console` on a multi-VDOM unit; a
/// VDOM-scoped administrator has neither, so the driver gives up while preparing the session
/// with "Unable to determine the output mode" — what real units cause (netmiko issues #3383,
/// #3353). The simulator must make the real driver fail the same way.
#[tokio::test]
async fn netmiko_fails_for_a_vdom_scoped_administrator_like_on_a_real_unit() {
    if !python_has("netmiko") {
        eprintln!(
            "SKIPPED netmiko_fails_for_a_vdom_scoped_administrator_like_on_a_real_unit: python3 \
             with netmiko is not installed (pip install netmiko)"
        );
        return;
    }
    let sim = start(SimOptions {
        profile: Profile {
            vdom_mode: true,
            ..Profile::default()
        },
        admin: AdminOptions {
            vdom: Some("edge".into()),
            ..AdminOptions::with_profile(AccessProfile::FirewallObjects)
        },
        ..SimOptions::default()
    })
    .await;
    let out = run_netmiko(sim.addr.port(), false).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "netmiko succeeded: {stderr}");
    assert!(
        stderr.contains("ValueError: Unable to determine the output mode on the Fortinet device."),
        "{stderr}"
    );
    assert!(sim.global_changes().is_empty());
}

/// With the least-privilege profile on a single-VDOM unit netmiko connects and pushes, but
/// its paging change is refused: no global setting changes.
#[tokio::test]
async fn netmiko_as_a_firewall_objects_administrator_changes_no_global_setting() {
    if !python_has("netmiko") {
        eprintln!(
            "SKIPPED netmiko_as_a_firewall_objects_administrator_changes_no_global_setting: \
             python3 with netmiko is not installed (pip install netmiko)"
        );
        return;
    }
    let sim = start(SimOptions {
        admin: AdminOptions::with_profile(AccessProfile::FirewallObjects),
        ..SimOptions::default()
    })
    .await;
    let out = run_netmiko(sim.addr.port(), false).await;
    assert!(
        out.status.success(),
        "netmiko failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim())
        .expect("json from the netmiko script");
    assert_eq!(v["prompt"], "FGT $");
    let st = sim.state();
    assert!(
        st.object("root", "firewall address", "nm-203.0.113.9_32")
            .is_some()
    );
    assert_eq!(st.console.output, "more");
    assert!(
        sim.global_changes().is_empty(),
        "{:?}",
        sim.global_changes()
    );
}

#[test]
fn binary_uses_the_given_host_key_and_authorized_keys() {
    if !have("ssh-keygen") {
        eprintln!(
            "SKIPPED binary_uses_the_given_host_key_and_authorized_keys: ssh-keygen not installed"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let host = keygen(dir.path());
    let listed = Command::new("ssh-keygen")
        .arg("-l")
        .arg("-f")
        .arg(host.with_extension("pub"))
        .output()
        .expect("ssh-keygen -l");
    let expected = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(expected.starts_with("SHA256:"), "{expected}");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("blockops"))
        .args(["sim", "fortigate", "--listen", "127.0.0.1:0", "--host-key"])
        .arg(&host)
        .arg("--authorized-key")
        .arg(host.with_extension("pub"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn blockops");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let _listen = lines.next();
    let fp = lines.next().and_then(Result::ok).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(fp, format!("host key {expected}"));
    // A malformed authorized key file is an operator error, reported with its path.
    let bad = dir.path().join("bad.pub");
    std::fs::write(&bad, "not a key\n").expect("write");
    let out = Command::new(assert_cmd::cargo::cargo_bin("blockops"))
        .args([
            "sim",
            "fortigate",
            "--listen",
            "127.0.0.1:0",
            "--authorized-key",
        ])
        .arg(&bad)
        .output()
        .expect("run blockops");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.pub:1: not an OpenSSH public key"));
}
