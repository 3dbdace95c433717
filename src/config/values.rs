//! The value types of the configuration: durations (`30s`, `12h`, `30d`) and thresholds (a
//! count or a percentage), read and written in the forms users type.
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A count (`500`) or a share of the current size (`"25%"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    Count(usize),
    Percent(u32),
}

impl Threshold {
    /// The largest allowed number out of `total`.
    pub fn limit(&self, total: usize) -> usize {
        match *self {
            Threshold::Count(n) => n,
            Threshold::Percent(p) => total * p as usize / 100,
        }
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(usize),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Threshold::Count(n)),
            Raw::S(s) => {
                let t = s.trim();
                if let Some(p) = t.strip_suffix('%') {
                    let p: u32 = p.trim().parse().map_err(|_| {
                        serde::de::Error::custom(format!("`{s}` is not a percentage like \"25%\""))
                    })?;
                    if p > 100 {
                        return Err(serde::de::Error::custom("percentage above 100%"));
                    }
                    Ok(Threshold::Percent(p))
                } else {
                    t.parse().map(Threshold::Count).map_err(|_| {
                        serde::de::Error::custom(format!(
                            "`{s}` is neither a count nor a percentage"
                        ))
                    })
                }
            }
        }
    }
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Threshold::Count(n) => s.serialize_u64(*n as u64),
            Threshold::Percent(p) => s.serialize_str(&format!("{p}%")),
        }
    }
}

/// A duration written as `500ms`, `30s`, `15m`, `12h`, `30d` or `2w`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl fmt::Debug for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let units = [
            (604_800_000, "w"),
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1000, "s"),
        ];
        for (n, u) in units {
            if ms >= n && ms.is_multiple_of(n) {
                return write!(f, "{}{u}", ms / n);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl std::str::FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a duration like 30s, 12h or 30d"))?;
        let ms = match unit.trim() {
            "ms" => 1,
            "s" | "" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return Err(format!("`{s}`: unknown unit (use ms, s, m, h, d or w)")),
        };
        n.checked_mul(ms)
            .map(|v| Dur(Duration::from_millis(v)))
            .ok_or_else(|| format!("`{s}` is too long"))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Dur(Duration::from_secs(n))),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}
