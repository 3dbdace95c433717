//! The part of GitLab's REST API (v4) the pipeline calls — merge requests and their notes —
//! answered with GitLab's shapes for the fields the pipeline reads (`iid`, `id`, `body`,
//! `state`), every call recorded for the test's assertions.
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// The project id gitlab-ci-local gives every pipeline (`CI_PROJECT_ID`).
pub const PROJECT_ID: &str = "1217";

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub token: Option<String>,
    pub body: Value,
}

#[derive(Debug, Clone)]
pub struct Mr {
    pub iid: u64,
    pub source: String,
    pub target: String,
    pub description: String,
    pub state: String,
}

#[derive(Default)]
struct ApiState {
    mrs: Vec<Mr>,
    notes: BTreeMap<u64, Vec<(u64, String)>>,
    calls: Vec<Call>,
    next_note: u64,
}

/// The merge-request and note endpoints of the GitLab REST API (v4) the pipeline uses, with
/// GitLab's shapes for the fields it reads (`iid`, `id`, `body`, `state`).
pub struct Api {
    pub port: u16,
    state: Arc<Mutex<ApiState>>,
    stop: Arc<AtomicBool>,
}

impl Api {
    pub fn start() -> Api {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind API stand-in");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(ApiState {
            next_note: 100,
            ..ApiState::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    serve(c, &st);
                }
            }
        });
        Api { port, state, stop }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn mrs(&self) -> Vec<Mr> {
        self.state.lock().unwrap().mrs.clone()
    }

    pub fn notes(&self, iid: u64) -> Vec<(u64, String)> {
        self.state
            .lock()
            .unwrap()
            .notes
            .get(&iid)
            .cloned()
            .unwrap_or_default()
    }

    /// What GitLab does when the merge request is merged.
    pub fn mark_merged(&self, iid: u64) {
        let mut s = self.state.lock().unwrap();
        let mr = s
            .mrs
            .iter_mut()
            .find(|m| m.iid == iid)
            .expect("merge request");
        mr.state = "merged".into();
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve(conn: TcpStream, state: &Mutex<ApiState>) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut l = String::new();
        if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut out = conn;
    if headers
        .get("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        let _ = out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::String("<not JSON>".into()))
    };
    let (code, reply) = route(
        state,
        Call {
            method,
            path: target,
            token: headers.get("private-token").cloned(),
            body,
        },
    );
    let text = reply.to_string();
    let _ = write!(
        out,
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn route(state: &Mutex<ApiState>, call: Call) -> (u16, Value) {
    let mut s = state.lock().unwrap();
    s.calls.push(call.clone());
    if call.token.is_none() {
        return (401, json!({"message": "401 Unauthorized"}));
    }
    let (path, query) = call.path.split_once('?').unwrap_or((&call.path, ""));
    let q: BTreeMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    let prefix = format!("/api/v4/projects/{PROJECT_ID}/merge_requests");
    let Some(rest) = path.strip_prefix(&prefix) else {
        return (404, json!({"message": "404 Project Not Found"}));
    };
    let seg: Vec<&str> = rest.split('/').filter(|x| !x.is_empty()).collect();
    let mr_json = |m: &Mr| {
        json!({"iid": m.iid, "source_branch": m.source, "target_branch": m.target,
               "description": m.description, "state": m.state})
    };
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match (call.method.as_str(), seg.as_slice()) {
        ("GET", []) => {
            let list: Vec<Value> = s
                .mrs
                .iter()
                .filter(|m| {
                    q.get("state").is_none_or(|st| *st == m.state)
                        && q.get("source_branch").is_none_or(|b| *b == m.source)
                        && q.get("target_branch").is_none_or(|b| *b == m.target)
                })
                .map(mr_json)
                .collect();
            (200, Value::Array(list))
        }
        ("POST", []) => {
            let mr = Mr {
                iid: s.mrs.len() as u64 + 1,
                source: text(&call.body, "source_branch"),
                target: text(&call.body, "target_branch"),
                description: text(&call.body, "description"),
                state: "opened".into(),
            };
            let v = mr_json(&mr);
            s.mrs.push(mr);
            (201, v)
        }
        ("PUT", [iid]) => {
            let close = text(&call.body, "state_event") == "close";
            match s.mrs.iter_mut().find(|m| m.iid.to_string() == *iid) {
                Some(m) => {
                    if close {
                        m.state = "closed".into();
                    }
                    (200, mr_json(m))
                }
                None => (404, json!({"message": "404 Not found"})),
            }
        }
        ("GET", [iid, "notes"]) => {
            let page = q.get("page").map(String::as_str).unwrap_or("1");
            let notes = match (iid.parse::<u64>(), page) {
                (Ok(i), "1") => s.notes.get(&i).cloned().unwrap_or_default(),
                _ => vec![],
            };
            let list = notes
                .iter()
                .map(|(id, body)| json!({"id": id, "body": body, "system": false}))
                .collect();
            (200, Value::Array(list))
        }
        ("POST", [iid, "notes"]) => {
            let Ok(i) = iid.parse::<u64>() else {
                return (404, json!({}));
            };
            s.next_note += 1;
            let id = s.next_note;
            let body = text(&call.body, "body");
            s.notes.entry(i).or_default().push((id, body.clone()));
            (201, json!({"id": id, "body": body}))
        }
        ("PUT", [iid, "notes", id]) => {
            let body = text(&call.body, "body");
            let note = iid.parse::<u64>().ok().and_then(|i| {
                s.notes
                    .get_mut(&i)?
                    .iter_mut()
                    .find(|(n, _)| n.to_string() == *id)
            });
            match note {
                Some(n) => {
                    n.1 = body.clone();
                    (200, json!({"id": n.0, "body": body}))
                }
                None => (404, json!({"message": "404 Note Not Found"})),
            }
        }
        _ => (404, json!({"message": "404 Not Found"})),
    }
}
