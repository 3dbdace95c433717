//! Login like the real server (research `cybereason-api.md` §2, `real-systems.md` §12): the
//! password form (body or query string), the success chain `302 Location: /#/current?` with
//! a `JSESSIONID` (after optional extra hops), rejected passwords per
//! `Quirks::failed_login`, the two-factor page and its `POST /` form, the expired-password
//! redirect, and logout.
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::quirks::FailedLogin;
use super::server::{Holder, Shared, redirect, session_cookie, session_set_cookie};

/// The login page (title `Cybereason | Login`, which clients look for).
pub(super) const LOGIN_HTML: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Cybereason | Login</title></head>\n<body><form method=\"post\" action=\"/login.html\">\n<input type=\"text\" name=\"username\" placeholder=\"Username\">\n<input type=\"password\" name=\"password\" placeholder=\"Password\">\n<input type=\"submit\" name=\"submit\" value=\"Login\">\n</form></body></html>\n";

const LOGIN_ERROR_HTML: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Cybereason | Login</title></head>\n<body><div class=\"error\">Wrong username or password</div>\n<form method=\"post\" action=\"/login.html\">\n<input type=\"text\" name=\"username\" placeholder=\"Username\">\n<input type=\"password\" name=\"password\" placeholder=\"Password\">\n<input type=\"submit\" name=\"submit\" value=\"Login\">\n</form></body></html>\n";

const TWO_FACTOR_HTML: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Cybereason | Login</title></head>\n<body><h1>Two factor authentication</h1>\n<p>Enter the code from your authenticator app.</p>\n<form method=\"post\" action=\"/\">\n<input type=\"text\" name=\"totpCode\" autocomplete=\"one-time-code\">\n<input type=\"submit\" name=\"submit\" value=\"Login\">\n</form></body></html>\n";

const RESET_HTML: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Cybereason | Reset password</title></head>\n<body><p>Your password has expired. Choose a new password.</p>\n<form method=\"post\" action=\"/?originalurl=/current?\">\n<input type=\"password\" name=\"oldPassword\">\n<input type=\"password\" name=\"newPassword\">\n<input type=\"password\" name=\"confirmNewPassword\">\n<input type=\"submit\" name=\"submit\" value=\"Login\">\n</form></body></html>\n";

/// What a logged-in browser gets at `/` (the console shell; no login form).
const APP_HTML: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Cybereason</title></head>\n<body><div id=\"app\"></div></body></html>\n";

pub(super) fn html_page(html: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/html;charset=UTF-8")], html).into_response()
}

/// `GET /login.html` (also `?error`).
pub(super) async fn login_page(RawQuery(q): RawQuery) -> Response {
    if q.as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "error"))
    {
        html_page(LOGIN_ERROR_HTML)
    } else {
        html_page(LOGIN_HTML)
    }
}

/// `GET /`: the console for a session, the login page otherwise.
pub(super) async fn root_page(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if s.holder(session_cookie(&headers).as_deref()) == Some(Holder::User) {
        html_page(APP_HTML)
    } else {
        html_page(LOGIN_HTML)
    }
}

/// `GET /resetPassword.html`: where an expired password is sent [U: no public URL; PyPI
/// `cybereason` only tests that the final URL contains `reset`].
pub(super) async fn reset_page() -> Response {
    html_page(RESET_HTML)
}

/// Decode `application/x-www-form-urlencoded` pairs.
pub(super) fn form_pairs(text: &str) -> Vec<(String, String)> {
    fn dec(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = |c: u8| (c as char).to_digit(16);
                    match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                        (Some(h), Some(l)) => {
                            out.push((h * 16 + l) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(p), String::new()),
        })
        .collect()
}

/// Form fields from the query string (Polarity sends credentials there) and the body.
fn fields(q: Option<&str>, body: &[u8]) -> Vec<(String, String)> {
    let mut pairs = form_pairs(q.unwrap_or(""));
    pairs.extend(form_pairs(&String::from_utf8_lossy(body)));
    pairs
}

fn field<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
}

fn rejected(s: &Shared) -> Response {
    s.failed_logins.fetch_add(1, Ordering::SeqCst);
    match s.quirks.failed_login {
        FailedLogin::RedirectError => redirect("/login.html?error", None),
        FailedLogin::Html200 => html_page(LOGIN_ERROR_HTML),
    }
}

/// A new session and the start of the success chain (HAR: `302 Location: /#/current?`, the
/// session cookie and a `rememberMe` deletion on the first answer).
fn logged_in(s: &Shared) -> Response {
    s.logins.fetch_add(1, Ordering::SeqCst);
    let id = s.new_session(Holder::User);
    let first = match s.quirks.login_redirect_hops {
        0 => "/#/current?".to_string(),
        n => format!("/login-redirect/{n}"),
    };
    let mut r = redirect(&first, Some(session_set_cookie(&id, s.secure)));
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("rememberMe=deleteMe; Path=/; Max-Age=0"),
    );
    r
}

/// `POST /login.html`.
pub(super) async fn login(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let pairs = fields(q.as_deref(), &body);
    let ok = field(&pairs, "username") == Some(s.username.as_str())
        && field(&pairs, "password") == Some(s.password.as_str());
    if !ok {
        return rejected(&s);
    }
    if s.quirks.expired_password {
        return redirect("/resetPassword.html", None);
    }
    if s.quirks.two_factor {
        let id = s.new_session(Holder::PendingTwoFactor);
        let mut r = html_page(TWO_FACTOR_HTML);
        if let Ok(v) = HeaderValue::from_str(&session_set_cookie(&id, s.secure)) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
        return r;
    }
    logged_in(&s)
}

/// `POST /` with `totpCode` and `submit=Login`, in the session the password form started.
pub(super) async fn two_factor(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let sid = session_cookie(&headers);
    let pending = s.holder(sid.as_deref()) == Some(Holder::PendingTwoFactor);
    let pairs = fields(q.as_deref(), &body);
    if let Some(id) = &sid
        && pending
    {
        s.drop_session(id);
    }
    if pending && field(&pairs, "totpCode") == Some(s.totp_code.as_str()) {
        logged_in(&s)
    } else {
        rejected(&s)
    }
}

/// `GET /login-redirect/N`: one more hop of the success chain.
pub(super) async fn hop(Path(n): Path<u8>) -> Response {
    if n > 1 {
        redirect(&format!("/login-redirect/{}", n - 1), None)
    } else {
        redirect("/#/current?", None)
    }
}

/// `GET`/`POST /logout`: the session ends.
pub(super) async fn logout(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        s.drop_session(&id);
    }
    redirect("/login.html", None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let p = form_pairs("username=a%40b.example&password=p+w%26x&bad=%zz");
        assert_eq!(p[0], ("username".into(), "a@b.example".into()));
        assert_eq!(p[1], ("password".into(), "p w&x".into()));
        assert_eq!(p[2].1, "%zz");
    }
}
