//! Splitting a FortiOS CLI output stream into per-line replies, strictly.
//!
//! After each prompt the CLI echoes the next line it reads, then prints that line's output and
//! the next prompt; input that arrives while a line runs waits and is echoed only when the
//! CLI reads it, so replies never interleave (netmiko's `send_config_set` relies on the same
//! order: it waits for each line's echo, then for the prompt — `netmiko/base_connection.py`).
//! A client that sends several lines at once can therefore take the stream apart in order:
//! `<echo of line i>\r\n<output lines><prompt><echo of line i+1>\r\n…`.
//!
//! The echo must equal the line sent, byte for byte: a CLI that dropped characters of a long
//! paste (a known failure of large pastes into a terminal) shows it here, and the caller
//! aborts instead of guessing which line a reply belongs to.

/// What the buffer holds for the line whose echo is expected next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not enough data yet.
    Need,
    /// The complete reply: `consumed` bytes of the buffer belong to it.
    Reply {
        /// Output lines between the echo and the prompt, `\n`-separated, without `\r`.
        output: String,
        /// The prompt that ended the reply, e.g. `FGT (address) # `.
        prompt: String,
        consumed: usize,
    },
    /// The device echoed something else than the line sent.
    Mismatch {
        expected: String,
        /// What arrived instead (up to the first line end, lossy UTF-8, at most 200 bytes).
        got: String,
    },
}

/// Parse the reply to `line` at the start of `buf` (which begins right after the previous
/// prompt). `is_prompt` decides whether a text is a complete prompt of this session.
pub fn parse_reply(buf: &[u8], line: &str, is_prompt: &dyn Fn(&str) -> bool) -> Parsed {
    let echo = line.as_bytes();
    // 1. The echo, then the line end (`\r\n`, or `\n` alone).
    let n = buf.len().min(echo.len());
    if buf[..n] != echo[..n] {
        return mismatch(buf, line);
    }
    if buf.len() <= echo.len() {
        return Parsed::Need;
    }
    let mut pos = echo.len();
    if buf[pos] == b'\r' {
        pos += 1;
        if pos == buf.len() {
            return Parsed::Need;
        }
    }
    if buf[pos] != b'\n' {
        return mismatch(buf, line);
    }
    pos += 1;
    let body_start = pos;
    // 2. Output lines until a line that starts with a prompt. The prompt has no line end of
    // its own: the next echo (or nothing yet) follows it on the same terminal line.
    loop {
        let rest = &buf[pos..];
        let line_end = rest.iter().position(|&b| b == b'\n');
        let segment = match line_end {
            Some(e) => &rest[..e],
            None => rest,
        };
        if let Some(plen) = prompt_prefix(segment, is_prompt) {
            let output = String::from_utf8_lossy(&buf[body_start..pos]);
            let output = output.trim_end_matches('\n').replace('\r', "");
            return Parsed::Reply {
                output,
                prompt: String::from_utf8_lossy(&segment[..plen]).into_owned(),
                consumed: pos + plen,
            };
        }
        match line_end {
            Some(e) => pos += e + 1,
            None => return Parsed::Need,
        }
    }
}

/// Length of the prompt at the start of `segment`, if it starts with one: the shortest
/// prefix ending in `# ` or `$ ` that `is_prompt` accepts.
fn prompt_prefix(segment: &[u8], is_prompt: &dyn Fn(&str) -> bool) -> Option<usize> {
    let mut i = 1;
    while i < segment.len() {
        if segment[i] == b' ' && (segment[i - 1] == b'#' || segment[i - 1] == b'$') {
            let cand = std::str::from_utf8(&segment[..=i]).ok()?;
            if is_prompt(cand) {
                return Some(i + 1);
            }
        }
        i += 1;
    }
    None
}

fn mismatch(buf: &[u8], line: &str) -> Parsed {
    let end = buf
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(buf.len())
        .min(200);
    Parsed::Mismatch {
        expected: line.to_string(),
        got: String::from_utf8_lossy(&buf[..end])
            .trim_end_matches('\r')
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fortios::ssh::is_prompt;

    fn host(p: &str) -> bool {
        is_prompt(p, Some("FGT"))
    }

    fn reply(buf: &str, line: &str) -> Parsed {
        parse_reply(buf.as_bytes(), line, &host)
    }

    #[test]
    fn a_pipelined_stream_splits_into_replies_in_order() {
        let stream = "config firewall address\r\nFGT (address) # edit \"bo-1\"\r\nFGT (bo-1) # set subnet 1.2.3.999/32\r\nvalue parse error before '1.2.3.999/32'\r\nCommand fail. Return code -8\r\nFGT (bo-1) # abort\r\nFGT (address) # ";
        let lines = [
            "config firewall address",
            "edit \"bo-1\"",
            "set subnet 1.2.3.999/32",
            "abort",
        ];
        let mut at = 0;
        let mut got = Vec::new();
        for l in lines {
            match parse_reply(&stream.as_bytes()[at..], l, &host) {
                Parsed::Reply {
                    output,
                    prompt,
                    consumed,
                } => {
                    got.push((output, prompt));
                    at += consumed;
                }
                other => panic!("{l}: {other:?}"),
            }
        }
        assert_eq!(at, stream.len());
        assert_eq!(got[0], ("".into(), "FGT (address) # ".into()));
        assert_eq!(got[1].1, "FGT (bo-1) # ");
        assert_eq!(
            got[2].0,
            "value parse error before '1.2.3.999/32'\nCommand fail. Return code -8"
        );
        assert_eq!(got[3].1, "FGT (address) # ");
    }

    #[test]
    fn partial_data_needs_more_and_never_guesses() {
        let full = "edit \"bo-1\"\r\nFGT (bo-1) # ";
        for cut in 0..full.len() {
            assert_eq!(
                reply(&full[..cut], "edit \"bo-1\""),
                Parsed::Need,
                "cut {cut}"
            );
        }
        assert!(matches!(
            reply(full, "edit \"bo-1\""),
            Parsed::Reply { consumed, .. } if consumed == full.len()
        ));
    }

    #[test]
    fn a_changed_echo_is_a_mismatch() {
        // Characters dropped from a long paste.
        let r = reply(
            "set member \"bo-1\" \"bo-3\"\r\nFGT (g) # ",
            "set member \"bo-1\" \"bo-2\" \"bo-3\"",
        );
        assert!(
            matches!(r, Parsed::Mismatch { ref got, .. } if got.starts_with("set member")),
            "{r:?}"
        );
        // Extra characters after the line.
        assert!(matches!(
            reply("next x\r\nFGT (address) # ", "next"),
            Parsed::Mismatch { .. }
        ));
        // An unprompted notice instead of the echo.
        assert!(matches!(
            reply("config transaction id=1 has expired\r\nFGT # ", "next"),
            Parsed::Mismatch { .. }
        ));
    }

    #[test]
    fn output_that_merely_contains_a_prompt_sign_is_output() {
        let s = "show\r\n    set comment \"a # b $ \"\r\nFGT (x) # ";
        match reply(s, "show") {
            Parsed::Reply { output, prompt, .. } => {
                assert_eq!(output, "    set comment \"a # b $ \"");
                assert_eq!(prompt, "FGT (x) # ");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_restricted_prompt_ends_a_reply_too() {
        match reply("end\r\nFGT $ edit", "end") {
            Parsed::Reply {
                prompt, consumed, ..
            } => {
                assert_eq!(prompt, "FGT $ ");
                assert_eq!(consumed, "end\r\nFGT $ ".len());
            }
            other => panic!("{other:?}"),
        }
    }
}
