//! The report: a markdown table on stdout and the same figures as JSON.

use std::{fmt::Write as _, path::Path};

use serde_json::{Value, json};

use crate::{
    error::{Context as _, Result},
    load::Stats,
    rss::mb,
    scenario::Target,
};

/// latchd's memory goals (issue 3), in MiB.
pub(crate) const IDLE_RSS_TARGET_MB: f64 = 64.0;
pub(crate) const PEAK_RSS_TARGET_MB: f64 = 256.0;

/// One measured scenario.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) name: String,
    /// How a ratio to this row reads ("argon2 floor").
    pub(crate) label: String,
    pub(crate) baseline: Option<String>,
    /// How the ratio names the baseline when not by its label (a rerun at
    /// scale is compared with the same scenario before seeding).
    pub(crate) baseline_label: Option<String>,
    pub(crate) target: Option<Target>,
    pub(crate) stats: Stats,
    /// Peak RSS of the server doing the work, bytes.
    pub(crate) rss_peak: Option<u64>,
}

/// The whole run.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub(crate) rows: Vec<Row>,
    pub(crate) profile: &'static str,
    pub(crate) cores: usize,
    pub(crate) concurrency: usize,
    pub(crate) duration_s: f64,
    pub(crate) latchd_idle_rss: u64,
    pub(crate) latchd_peak_rss: u64,
}

/// A row's comparison with its baseline.
struct Verdict {
    ratio: Option<f64>,
    pass: Option<bool>,
}

impl Report {
    fn verdict(&self, row: &Row) -> Verdict {
        let baseline = row
            .baseline
            .as_deref()
            .and_then(|name| self.rows.iter().find(|r| r.name == name));
        let ratio = baseline
            .filter(|b| b.stats.rate > 0.0)
            .map(|b| row.stats.rate / b.stats.rate);
        let pass = row.target.map(|target| {
            ratio.is_some_and(|r| r >= target.min_ratio)
                && target.max_p99_ms.is_none_or(|max| row.stats.p99_ms <= max)
                && row.stats.errors == 0
        });
        Verdict { ratio, pass }
    }

    /// Whether every targeted row and both memory goals pass.
    pub(crate) fn all_targets_met(&self) -> bool {
        self.rows
            .iter()
            .all(|row| self.verdict(row).pass != Some(false))
            && self.idle_ok()
            && self.peak_ok()
    }

    fn idle_ok(&self) -> bool {
        mb(self.latchd_idle_rss) <= IDLE_RSS_TARGET_MB
    }

    fn peak_ok(&self) -> bool {
        mb(self.latchd_peak_rss) <= PEAK_RSS_TARGET_MB
    }

    /// The markdown table and the memory line.
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "latch-bench: {} build, {} cores, {} in flight, {:.1} s per scenario\n",
            self.profile, self.cores, self.concurrency, self.duration_s
        );
        out.push_str(
            "| scenario | rate/s | p50 ms | p99 ms | errors | server RSS MB | vs baseline | target | ok |\n\
             |---|---:|---:|---:|---:|---:|---|---|:-:|\n",
        );
        for row in &self.rows {
            let verdict = self.verdict(row);
            let versus = match (&row.baseline, verdict.ratio) {
                (Some(name), Some(ratio)) => {
                    let label = row.baseline_label.as_deref().unwrap_or_else(|| {
                        self.rows
                            .iter()
                            .find(|r| &r.name == name)
                            .map_or(name.as_str(), |r| r.label.as_str())
                    });
                    format!("{}/s = {ratio:.2} × {label}", rate(row.stats.rate))
                }
                (Some(name), None) => format!("({name} not measured)"),
                (None, _) => "baseline".to_owned(),
            };
            let target = row.target.map_or_else(|| "—".to_owned(), target_text);
            let ok = match verdict.pass {
                Some(true) => "✓",
                Some(false) => "✗",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {versus} | {target} | {ok} |",
                row.name,
                rate(row.stats.rate),
                millis(row.stats.p50_ms),
                millis(row.stats.p99_ms),
                row.stats.errors,
                row.rss_peak
                    .map_or_else(String::new, |b| format!("{:.0}", mb(b))),
            );
        }
        let mark = |ok| if ok { "✓" } else { "✗" };
        let _ = writeln!(
            out,
            "\nlatchd RSS: idle {:.1} MB (target ≤ {IDLE_RSS_TARGET_MB:.0} MB) {}; \
             peak {:.1} MB (VmHWM, target ≤ {PEAK_RSS_TARGET_MB:.0} MB) {}",
            mb(self.latchd_idle_rss),
            mark(self.idle_ok()),
            mb(self.latchd_peak_rss),
            mark(self.peak_ok()),
        );
        for row in self.rows.iter().filter(|r| r.stats.errors > 0) {
            let _ = writeln!(
                out,
                "{}: {} errors, first: {}",
                row.name,
                row.stats.errors,
                row.stats.first_error.as_deref().unwrap_or("?")
            );
        }
        out
    }

    pub(crate) fn json(&self) -> Value {
        let scenarios: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let verdict = self.verdict(row);
                json!({
                    "name": row.name,
                    "requests": row.stats.requests,
                    "seconds": row.stats.seconds,
                    "rate_per_s": row.stats.rate,
                    "p50_ms": row.stats.p50_ms,
                    "p99_ms": row.stats.p99_ms,
                    "max_ms": row.stats.max_ms,
                    "errors": row.stats.errors,
                    "first_error": row.stats.first_error,
                    "server_rss_peak_mb": row.rss_peak.map(mb),
                    "baseline": row.baseline,
                    "ratio": verdict.ratio,
                    "target_min_ratio": row.target.map(|t| t.min_ratio),
                    "target_max_p99_ms": row.target.and_then(|t| t.max_p99_ms),
                    "pass": verdict.pass,
                })
            })
            .collect();
        json!({
            "profile": self.profile,
            "cores": self.cores,
            "concurrency": self.concurrency,
            "duration_s": self.duration_s,
            "scenarios": scenarios,
            "latchd_rss": {
                "idle_mb": mb(self.latchd_idle_rss),
                "peak_mb": mb(self.latchd_peak_rss),
                "idle_target_mb": IDLE_RSS_TARGET_MB,
                "peak_target_mb": PEAK_RSS_TARGET_MB,
                "idle_pass": self.idle_ok(),
                "peak_pass": self.peak_ok(),
            },
            "all_targets_met": self.all_targets_met(),
        })
    }

    /// Writes [`Self::json`] to `path`, creating its directory.
    pub(crate) fn write_json(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).context(&format!("create {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(&self.json()).context("encode JSON")?;
        std::fs::write(path, text + "\n").context(&format!("write {}", path.display()))
    }
}

fn target_text(target: Target) -> String {
    match target.max_p99_ms {
        Some(max) => format!("≥ {} & p99 ≤ {max} ms", target.min_ratio),
        None => format!("≥ {}", target.min_ratio),
    }
}

/// A rate with precision where it matters.
pub(crate) fn rate(per_second: f64) -> String {
    if per_second >= 100.0 {
        format!("{per_second:.0}")
    } else {
        format!("{per_second:.1}")
    }
}

fn millis(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, rate: f64, baseline: Option<&str>, target: Option<Target>) -> Row {
        Row {
            name: name.to_owned(),
            label: format!("{name} floor"),
            baseline: baseline.map(str::to_owned),
            baseline_label: None,
            target,
            stats: Stats {
                rate,
                p99_ms: 4.0,
                ..Stats::default()
            },
            rss_peak: None,
        }
    }

    fn report(rows: Vec<Row>) -> Report {
        Report {
            rows,
            profile: "release",
            cores: 2,
            concurrency: 64,
            duration_s: 5.0,
            latchd_idle_rss: 20 << 20,
            latchd_peak_rss: 80 << 20,
        }
    }

    #[test]
    fn ratios_read_against_the_baseline_label() {
        let report = report(vec![
            row("argon2", 40.0, None, None),
            row("login", 36.4, Some("argon2"), Target::ratio(0.9)),
        ]);
        let table = report.markdown();
        assert!(
            table.contains("36.4/s = 0.91 × argon2 floor | ≥ 0.9 | ✓"),
            "{table}"
        );
        assert!(report.all_targets_met());
    }

    #[test]
    fn a_missed_ratio_p99_or_memory_goal_fails() {
        let slow = report(vec![
            row("echo", 1000.0, None, None),
            row("validate", 600.0, Some("echo"), Target::ratio(0.7)),
        ]);
        assert!(slow.markdown().contains("| ✗ |"));
        assert!(!slow.all_targets_met());

        let late = report(vec![
            row("echo", 1000.0, None, None),
            row(
                "validate",
                900.0,
                Some("echo"),
                Some(Target {
                    min_ratio: 0.7,
                    max_p99_ms: Some(3.0),
                }),
            ),
        ]);
        assert!(!late.all_targets_met());

        let mut fat = report(vec![row("echo", 1000.0, None, None)]);
        fat.latchd_peak_rss = 300 << 20;
        assert!(!fat.all_targets_met());
        assert_eq!(fat.json()["latchd_rss"]["peak_pass"], json!(false));
    }

    #[test]
    fn errors_fail_a_target_and_are_listed() {
        let mut login = row("login", 40.0, Some("argon2"), Target::ratio(0.9));
        login.stats.errors = 3;
        login.stats.first_error = Some("status: Unavailable".to_owned());
        let report = report(vec![row("argon2", 40.0, None, None), login]);
        assert!(!report.all_targets_met());
        assert!(
            report
                .markdown()
                .contains("login: 3 errors, first: status: Unavailable")
        );
    }
}
