//! Switches for the odd shapes and behaviours real Cybereason servers show, and the JSON
//! rewrites that play them. Each switch exists because a public source shows the behaviour
//! (cited per field and in `docs/cybereason-sim.md`); the defaults are what a real tenant does
//! most often according to those sources, so a client tested against the defaults and every
//! switch has seen everything the public record knows about.
use std::time::Duration;

use serde_json::Value;

/// How nested `elementValues` lists are written for features the server did not materialise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum NullForm {
    /// A JSON list (the HAR recording of a real tenant).
    #[default]
    List,
    /// JSON `null` (a Machine row with `totalValues: 2, elementValues: null`; XSOAR guards it).
    Null,
    /// The string `"null"` (XSOAR `test_files/responses_raw_data.py`).
    NullString,
}

/// How a Connection row carries the domain it talked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DomainForm {
    /// `simpleValues.domainName` (a string feature).
    SimpleValue,
    /// `elementValues.domainName`, elements of type `DomainName`.
    DomainNameElement,
    /// `elementValues.dnsQuery`, elements named `<domain> > <ip>` (stix-shifter test data,
    /// Elastic's ingest pipeline reads `dnsQuery` from `elementValues`).
    DnsQueryElement,
    /// `elementValues.urlDomains`, elements of type `DomainName`.
    UrlDomainsElement,
    /// Every form at once, like the stix-shifter sample row that carries both `domainName` and
    /// `dnsQuery`. No public source settles which bucket a tenant uses, so this is the default.
    #[default]
    All,
}

/// How the server answers a rejected password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FailedLogin {
    /// `302 Location: /login.html?error`, then the login page (PyPI `cybereason` and Elastic
    /// test `'error' in final_url`).
    #[default]
    RedirectError,
    /// `200` with the HTML login page directly (XSOAR and tobor88 look for "Login" in the body).
    Html200,
}

/// The quirk switches of [`super::SimConfig`]. `Default` plays the most common real tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quirks {
    /// Element-level flags (`hasSuspicions`, `hasMalops`, `isMalicious`, `suspect`,
    /// `malicious`), `queryTerminated` and `hidePartialSuccess` as `"true"`/`"false"` strings
    /// (XSOAR test data); every JSON boolean of a visual-search or crimes answer is affected.
    pub string_booleans: bool,
    /// Nested `elementValues` of secondary features as a list, `null` or `"null"`.
    pub element_values_null: NullForm,
    /// Absent values as strings: `"null"` in visual-search rows (`labelsIds`, `malopPriority`,
    /// `sortInGroupFeature`), `"None"` in crimes/unified rows (`closeTime`, `closerName`,
    /// `malopPriority`), as in the two XSOAR samples.
    pub none_strings: bool,
    /// Every JSON number of visual-search, crimes and MalOp answers (totalValues, counts,
    /// times) as a string. No public sample shows it; issue #9 reports it [U].
    pub numbers_as_strings: bool,
    /// `values: []` with `totalValues: 1` on secondary simple features (XSOAR
    /// `test_files/responses_raw_data.py`: `endTime`, `creationTime`, `commandLine`).
    pub empty_values: bool,
    /// A trailing NUL (`\u0000`) on every `simpleValues` string (stix-shifter strips `\u0000`,
    /// msticpy strips a trailing `\x00`).
    pub nul_padding: bool,
    /// Where a Connection's domain appears.
    pub domain_form: DomainForm,
    /// How a rejected password is answered.
    pub failed_login: FailedLogin,
    /// Extra `302` hops in the successful login chain (Elastic's mock server redirects twice).
    pub login_redirect_hops: u8,
    /// The password POST answers the "Two factor authentication" page; the session is made by
    /// `POST /` with `totpCode` and `submit=Login` (PyPI `cybereason`, Get-CybereasonCookie).
    pub two_factor: bool,
    /// The login redirects to a URL containing `reset` (PyPI `cybereason`: expired password).
    pub expired_password: bool,
    /// Seconds in a `Retry-After` header on 429 faults. No public source shows one, so none
    /// by default.
    pub retry_after: Option<u64>,
    /// Added to every response.
    pub latency: Duration,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            string_booleans: false,
            element_values_null: NullForm::List,
            none_strings: false,
            numbers_as_strings: false,
            empty_values: false,
            nul_padding: false,
            domain_form: DomainForm::All,
            failed_login: FailedLogin::RedirectError,
            login_redirect_hops: 0,
            two_factor: false,
            expired_password: false,
            retry_after: None,
            latency: Duration::ZERO,
        }
    }
}

/// Which family of answer a rewrite is for (the samples differ per endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    /// `visualsearch/query/simple`.
    VisualSearch,
    /// `crimes/unified`.
    Crimes,
    /// `detection/inbox`, `mmng/v2/malops`, `detection/details`.
    Malops,
}

impl Quirks {
    /// The word an absent value becomes under `none_strings` in this family.
    fn none_word(&self, family: Family) -> Option<&'static str> {
        match (self.none_strings, family) {
            (true, Family::VisualSearch) => Some("null"),
            (true, Family::Crimes) => Some("None"),
            _ => None,
        }
    }

    /// Whether absent crimes/unified features (`closeTime`, `closerName`) are written as
    /// `["None"]` instead of being left out.
    pub(super) fn none_features(&self) -> bool {
        self.none_strings
    }

    /// The nested `elementValues` of a secondary element feature.
    pub(super) fn secondary_list(&self, list: Vec<Value>) -> Value {
        match self.element_values_null {
            NullForm::List => Value::Array(list),
            NullForm::Null => Value::Null,
            NullForm::NullString => Value::String("null".into()),
        }
    }

    /// A `simpleValues` string as sent.
    pub(super) fn simple_text(&self, s: &str) -> String {
        if self.nul_padding {
            format!("{s}\u{0}")
        } else {
            s.to_string()
        }
    }

    /// Apply the whole-answer rewrites of `family` to a finished JSON answer.
    pub(super) fn finish(&self, family: Family, mut v: Value) -> Value {
        let bools = self.string_booleans && family != Family::Malops;
        let none = self.none_word(family);
        let numbers = self.numbers_as_strings;
        if bools || none.is_some() || numbers {
            rewrite(&mut v, bools, none, numbers);
        }
        v
    }
}

fn rewrite(v: &mut Value, bools: bool, none: Option<&str>, numbers: bool) {
    match v {
        Value::Bool(b) if bools => *v = Value::String(b.to_string()),
        Value::Null => {
            if let Some(w) = none {
                *v = Value::String(w.into());
            }
        }
        Value::Number(n) if numbers => *v = Value::String(n.to_string()),
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, bools, none, numbers)),
        Value::Object(m) => m
            .values_mut()
            .for_each(|x| rewrite(x, bools, none, numbers)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rewrites_touch_only_their_family() {
        let q = Quirks {
            string_booleans: true,
            none_strings: true,
            numbers_as_strings: true,
            ..Quirks::default()
        };
        let v = json!({"a": true, "b": null, "c": [1, 2.5], "d": {"e": false}});
        assert_eq!(
            q.finish(Family::VisualSearch, v.clone()),
            json!({"a": "true", "b": "null", "c": ["1", "2.5"], "d": {"e": "false"}})
        );
        assert_eq!(
            q.finish(Family::Crimes, v.clone()),
            json!({"a": "true", "b": "None", "c": ["1", "2.5"], "d": {"e": "false"}})
        );
        assert_eq!(
            q.finish(Family::Malops, v.clone()),
            json!({"a": true, "b": null, "c": ["1", "2.5"], "d": {"e": false}})
        );
        assert_eq!(Quirks::default().finish(Family::VisualSearch, v.clone()), v);
    }
}
