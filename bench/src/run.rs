//! `latch-bench run`: start the servers, measure every chosen scenario in
//! order, optionally again at scale, report, clean up.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::{
    backends::Backends,
    cli::Options,
    error::{Result, fail},
    load::{self, Load},
    report::{Report, Row},
    rss::{self, PeakSampler},
    scale,
    scenario::{self, Ctx, Scenario, Server},
    servers::{self, ServerProcess},
};

/// HTTP/2 connections the load is spread over, per server.
const CHANNELS: usize = 4;

/// Runs the bench; `Ok(false)` when a `--smoke` run saw an error.
pub(crate) async fn run(options: &Options) -> Result<bool> {
    let chosen = choose(options.scenarios.as_deref())?;
    if options.list {
        for s in &chosen {
            println!("{}", s.name);
        }
        return Ok(true);
    }
    servers::latchd_path()?;
    let backends = Backends::create(&options.postgres_url, &options.redis_url).await?;
    let outcome = run_on(options, &chosen, &backends).await;
    if let Err(err) = backends.remove().await {
        eprintln!("latch-bench: cleaning up failed: {err}");
    }
    let report = outcome?;
    print!("{}", report.markdown());
    report.write_json(&options.json)?;
    eprintln!("JSON report: {}", options.json.display());
    if options.smoke {
        let broken: Vec<&str> = report
            .rows
            .iter()
            .filter(|r| r.stats.errors > 0 || r.stats.requests == 0)
            .map(|r| r.name.as_str())
            .collect();
        if !broken.is_empty() {
            eprintln!(
                "smoke failed: errors or no requests in {}",
                broken.join(", ")
            );
            return Ok(false);
        }
    }
    Ok(true)
}

/// The scenarios named (all when none), plus the baselines they need, in
/// report order.
fn choose(names: Option<&[String]>) -> Result<Vec<Scenario>> {
    let all = scenario::all();
    let Some(names) = names else {
        return Ok(all);
    };
    if let Some(unknown) = names.iter().find(|n| !all.iter().any(|s| s.name == *n)) {
        let known: Vec<&str> = all.iter().map(|s| s.name).collect();
        return Err(fail(format!(
            "unknown scenario {unknown:?}; known: {}",
            known.join(", ")
        )));
    }
    let wanted = |s: &Scenario| {
        names.iter().any(|n| n == s.name)
            || all
                .iter()
                .any(|o| o.baseline == Some(s.name) && names.iter().any(|n| n == o.name))
    };
    Ok(all.iter().copied().filter(wanted).collect())
}

async fn run_on(options: &Options, chosen: &[Scenario], backends: &Backends) -> Result<Report> {
    let log = options
        .json
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("bench-latchd.log");
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let env = backends.latchd_env()?;
    let service_token = env
        .iter()
        .find(|(k, _)| k == "LATCH_SERVICE_TOKEN")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    eprintln!(
        "starting latchd (log: {}) and the echo server",
        log.display()
    );
    let latchd = servers::start_latchd(&env, &log).await?;
    let echo = servers::start_echo().await?;
    // Let start-up allocations settle before calling it idle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let latchd_idle_rss = rss::resident(latchd.pid)?;
    let ctx = Ctx::new(
        latchd.channels(CHANNELS)?,
        echo.channels(CHANNELS)?,
        service_token,
        backends.pg.clone(),
        backends.redis.clone(),
        backends.redis_prefix.clone(),
        options.concurrency,
    );
    let load = Load {
        concurrency: options.concurrency,
        warmup: options.warmup,
        duration: options.duration,
    };
    let total = chosen.len()
        + options
            .scale
            .map_or(0, |_| chosen.iter().filter(|s| s.rerun_at_scale).count());
    let mut rows = Vec::new();
    for (i, s) in chosen.iter().enumerate() {
        let progress = format!("[{}/{total}] {}", i + 1, s.name);
        rows.push(measure(&ctx, s, s.name.to_owned(), &progress, load, &latchd, &echo).await?);
    }
    if let Some(size) = options.scale {
        eprintln!(
            "scale: seeding {} users and {} refresh tokens",
            size.users, size.tokens
        );
        scale::seed(&backends.pg, size).await?;
        for (i, s) in chosen.iter().filter(|s| s.rerun_at_scale).enumerate() {
            let name = format!("{}@scale", s.name);
            let progress = format!("[{}/{total}] {name}", chosen.len() + i + 1);
            let rerun = Scenario {
                baseline: Some(s.name),
                target: None,
                ..*s
            };
            let mut row = measure(&ctx, &rerun, name, &progress, load, &latchd, &echo).await?;
            row.baseline_label = Some(format!("{} before seeding", s.name));
            rows.push(row);
        }
    }
    let latchd_peak_rss = rss::high_water_mark(latchd.pid)?;
    latchd.stop().await;
    echo.stop().await;
    Ok(Report {
        rows,
        profile: if cfg!(debug_assertions) {
            "debug (figures not meaningful)"
        } else {
            "release"
        },
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        concurrency: options.concurrency,
        duration_s: options.duration.as_secs_f64(),
        latchd_idle_rss,
        latchd_peak_rss,
    })
}

/// Sets up and drives one scenario, sampling its server's RSS.
async fn measure(
    ctx: &Ctx,
    s: &Scenario,
    name: String,
    progress: &str,
    load: Load,
    latchd: &ServerProcess,
    echo: &ServerProcess,
) -> Result<Row> {
    eprintln!("{progress}: setting up");
    let call = (s.setup)(ctx)
        .await
        .map_err(|e| fail(format!("{}: setup: {e}", s.name)))?;
    let sampler = match s.server {
        Server::Latchd => Some(PeakSampler::start(latchd.pid)),
        Server::Echo => Some(PeakSampler::start(echo.pid)),
        Server::None => None,
    };
    let done = Arc::new(AtomicU64::new(0));
    let ticker = (load.duration >= Duration::from_secs(2)).then(|| {
        let done = done.clone();
        let progress = progress.to_owned();
        let warmup = load.warmup;
        tokio::spawn(async move {
            tokio::time::sleep(warmup).await;
            let mut seconds = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                seconds += 1;
                eprintln!(
                    "{progress}: {seconds} s, {} requests",
                    done.load(Ordering::Relaxed)
                );
            }
        })
    });
    let stats = load::drive(call, load, done).await;
    if let Some(ticker) = ticker {
        ticker.abort();
    }
    let rss_peak = match sampler {
        Some(sampler) => Some(sampler.finish().await),
        None => None,
    };
    let stats = stats?;
    eprintln!(
        "{progress}: {}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors{}",
        crate::report::rate(stats.rate),
        stats.p50_ms,
        stats.p99_ms,
        stats.errors,
        stats
            .first_error
            .as_deref()
            .map_or_else(String::new, |e| format!(" (first: {e})"))
    );
    Ok(Row {
        name,
        label: s.label.to_owned(),
        baseline: s.baseline.map(str::to_owned),
        baseline_label: None,
        target: s.target,
        stats,
        rss_peak,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(chosen: &[Scenario]) -> Vec<&'static str> {
        chosen.iter().map(|s| s.name).collect()
    }

    #[test]
    fn choosing_a_scenario_brings_its_baseline_first() {
        let chosen = choose(Some(&["login".to_owned()])).unwrap_or_default();
        assert_eq!(names(&chosen), vec!["argon2_verify", "login"]);
        let chosen =
            choose(Some(&["client_verify".to_owned(), "echo".to_owned()])).unwrap_or_default();
        assert_eq!(names(&chosen), vec!["echo", "jwt_verify", "client_verify"]);
    }

    #[test]
    fn every_baseline_named_exists_and_precedes_its_scenarios() {
        let all = scenario::all();
        for (i, s) in all.iter().enumerate() {
            if let Some(baseline) = s.baseline {
                let at = all.iter().position(|b| b.name == baseline);
                assert!(at.is_some_and(|at| at < i), "{} needs {baseline}", s.name);
            }
        }
    }

    #[test]
    fn unknown_scenarios_are_refused() {
        assert!(choose(Some(&["teleport".to_owned()])).is_err());
    }
}
