//! A tiny `--name value` / `--flag` parser (no dependency needed for a tool
//! whose only user is bench/run.ts).

use std::collections::HashMap;
use std::str::FromStr;

pub struct Args {
    values: HashMap<String, Vec<String>>,
    flags: Vec<String>,
    used: std::cell::RefCell<Vec<String>>,
}

impl Args {
    /// `flag_names` take no value; every other `--name` takes the next word.
    pub fn parse(words: &[String], flag_names: &[&str]) -> Result<Self, String> {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        let mut flags = Vec::new();
        let mut iter = words.iter();
        while let Some(word) = iter.next() {
            let Some(name) = word.strip_prefix("--") else {
                return Err(format!("unexpected argument {word:?}"));
            };
            if let Some((name, value)) = name.split_once('=') {
                values
                    .entry(name.to_string())
                    .or_default()
                    .push(value.to_string());
            } else if flag_names.contains(&name) {
                flags.push(name.to_string());
            } else {
                let value = iter
                    .next()
                    .ok_or_else(|| format!("--{name} needs a value"))?;
                values
                    .entry(name.to_string())
                    .or_default()
                    .push(value.clone());
            }
        }
        Ok(Self {
            values,
            flags,
            used: Default::default(),
        })
    }

    pub fn flag(&self, name: &str) -> bool {
        self.used.borrow_mut().push(name.to_string());
        self.flags.iter().any(|f| f == name)
    }

    pub fn str(&self, name: &str) -> Option<String> {
        self.used.borrow_mut().push(name.to_string());
        self.values.get(name).and_then(|v| v.last().cloned())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.used.borrow_mut().push(name.to_string());
        self.values.get(name).cloned().unwrap_or_default()
    }

    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.str(name) {
            None => Ok(default),
            Some(text) => {
                parse_value(&text).ok_or_else(|| format!("bad value for --{name}: {text:?}"))
            }
        }
    }

    /// A duration in seconds (`3`, `2.5`, `3s`, `500ms`).
    pub fn seconds(&self, name: &str, default: f64) -> Result<f64, String> {
        match self.str(name) {
            None => Ok(default),
            Some(text) => {
                parse_seconds(&text).ok_or_else(|| format!("bad duration for --{name}: {text:?}"))
            }
        }
    }

    /// Errors on any option that no `get`/`str`/`flag` call asked about.
    pub fn finish(&self) -> Result<(), String> {
        let used = self.used.borrow();
        for name in self.values.keys().chain(self.flags.iter()) {
            if !used.contains(name) {
                return Err(format!("unknown option --{name}"));
            }
        }
        Ok(())
    }
}

/// Numbers with an optional binary suffix (`64k`, `1m`, `1g`) or a duration
/// suffix (`500ms`, `3s`) where they make sense; plain `FromStr` otherwise.
fn parse_value<T: FromStr>(text: &str) -> Option<T> {
    if let Ok(value) = text.parse::<T>() {
        return Some(value);
    }
    let lower = text.to_ascii_lowercase();
    let (digits, multiplier) =
        if let Some(d) = lower.strip_suffix("kib").or(lower.strip_suffix('k')) {
            (d, 1u64 << 10)
        } else if let Some(d) = lower.strip_suffix("mib").or(lower.strip_suffix('m')) {
            (d, 1 << 20)
        } else if let Some(d) = lower.strip_suffix("gib").or(lower.strip_suffix('g')) {
            (d, 1 << 30)
        } else {
            return None;
        };
    let value: u64 = digits.parse().ok()?;
    (value * multiplier).to_string().parse().ok()
}

/// Seconds from `3`, `2.5`, `3s` or `500ms`.
pub fn parse_seconds(text: &str) -> Option<f64> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse::<f64>().ok().map(|v| v / 1000.0);
    }
    text.strip_suffix('s').unwrap_or(text).parse().ok()
}
