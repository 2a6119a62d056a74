//! Resident memory of a server process, from `/proc/<pid>/status`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::error::{Context as _, Result};

/// How often a [`PeakSampler`] reads the RSS.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// `VmRSS` (resident now) of `pid`, in bytes.
pub(crate) fn resident(pid: u32) -> Result<u64> {
    status_field(pid, "VmRSS:")
}

/// `VmHWM` (the most ever resident) of `pid`, in bytes.
pub(crate) fn high_water_mark(pid: u32) -> Result<u64> {
    status_field(pid, "VmHWM:")
}

fn status_field(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context(&format!("read /proc/{pid}/status"))?;
    parse_kib(&status, field).context(&format!("no {field} in /proc/{pid}/status"))
}

/// The value of `field` (a line `Field:   1234 kB`) in bytes.
fn parse_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Samples the RSS of a process in the background and keeps the largest.
pub(crate) struct PeakSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl PeakSampler {
    pub(crate) fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(resident(pid).unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (peak, stop) = (peak.clone(), stop.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(rss) = resident(pid) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    tokio::time::sleep(SAMPLE_EVERY).await;
                }
            }
        });
        Self { peak, stop, task }
    }

    /// Stops sampling; the largest RSS seen, in bytes.
    pub(crate) async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak.load(Ordering::Relaxed)
    }
}

/// Bytes as megabytes (MiB), for the report.
pub(crate) fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kib_fields_as_bytes() {
        let status = "Name:\tlatchd\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\n";
        assert_eq!(parse_kib(status, "VmRSS:"), Some(20 * 1024 * 1024));
        assert_eq!(parse_kib(status, "VmHWM:"), Some(40 * 1024 * 1024));
        assert_eq!(parse_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn this_process_has_a_resident_size() {
        let rss = resident(std::process::id()).unwrap_or(0);
        assert!(rss > 1024 * 1024, "rss {rss}");
        assert!(high_water_mark(std::process::id()).unwrap_or(0) >= rss);
    }
}
