//! Command-line options of `latch-bench run`.

use std::{path::PathBuf, time::Duration};

use crate::error::{Context as _, Result, fail};

pub(crate) const USAGE: &str = "\
usage: latch-bench [run] [options]     measure Latch and the machine's floors
       latch-bench echo-server         serve the echo baseline (started by `run`)

options of run:
  --scenarios a,b      only these (their baselines are added); default: all
  --duration 5s        measured time per scenario (ms, s, m; bare = seconds)
  --concurrency 64     requests in flight
  --smoke              every scenario for ~0.2 s at 8 in flight; any error fails
  --scale              then seed 1M users and 10M refresh tokens and rerun
                       Validate and Refresh (--scale-users N, --scale-tokens N)
  --json PATH          JSON report (default target/bench.json)
  --postgres URL       admin URL (default postgres://postgres@127.0.0.1:5432/postgres)
  --redis URL          default redis://127.0.0.1:6379
  --list               print the scenario names and exit";

/// What `run` measures and where.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) scenarios: Option<Vec<String>>,
    pub(crate) duration: Duration,
    /// Unmeasured run-in before each scenario (connections, caches, JIT of
    /// the kernel's page cache).
    pub(crate) warmup: Duration,
    pub(crate) concurrency: usize,
    pub(crate) smoke: bool,
    pub(crate) scale: Option<ScaleSize>,
    pub(crate) json: PathBuf,
    pub(crate) postgres_url: String,
    pub(crate) redis_url: String,
    pub(crate) list: bool,
}

/// How much `--scale` seeds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScaleSize {
    pub(crate) users: u64,
    pub(crate) tokens: u64,
}

/// The subcommand.
#[derive(Debug)]
pub(crate) enum Command {
    Run(Box<Options>),
    EchoServer,
    Help,
}

/// Parses `args` (without the program name).
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command> {
    let mut args = args.into_iter().peekable();
    match args.peek().map(String::as_str) {
        Some("echo-server") => return Ok(Command::EchoServer),
        Some("-h" | "--help" | "help") => return Ok(Command::Help),
        Some("run") => {
            args.next();
        }
        _ => {}
    }
    let mut duration = None;
    let mut concurrency = None;
    let mut options = Options {
        scenarios: None,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        concurrency: 64,
        smoke: false,
        scale: None,
        json: PathBuf::from("target/bench.json"),
        postgres_url: "postgres://postgres@127.0.0.1:5432/postgres".to_owned(),
        redis_url: "redis://127.0.0.1:6379".to_owned(),
        list: false,
    };
    let mut scale = ScaleSize {
        users: 1_000_000,
        tokens: 10_000_000,
    };
    let mut scale_on = false;
    while let Some(flag) = args.next() {
        let mut value = || args.next().context(&format!("{flag} needs a value"));
        match flag.as_str() {
            "--scenarios" => {
                options.scenarios = Some(
                    value()?
                        .split(',')
                        .map(|s| s.trim().replace('-', "_"))
                        .filter(|s| !s.is_empty())
                        .collect(),
                );
            }
            "--duration" => duration = Some(parse_duration(&value()?)?),
            "--concurrency" => {
                let n: usize = value()?.parse().context("--concurrency")?;
                if n == 0 {
                    return Err(fail("--concurrency must be at least 1"));
                }
                concurrency = Some(n);
            }
            "--smoke" => options.smoke = true,
            "--scale" => scale_on = true,
            "--scale-users" => scale.users = value()?.parse().context("--scale-users")?,
            "--scale-tokens" => scale.tokens = value()?.parse().context("--scale-tokens")?,
            "--json" => options.json = PathBuf::from(value()?),
            "--postgres" => options.postgres_url = value()?,
            "--redis" => options.redis_url = value()?,
            "--list" => options.list = true,
            other => return Err(fail(format!("unknown option {other:?}\n{USAGE}"))),
        }
    }
    if options.smoke {
        options.duration = Duration::from_millis(200);
        options.warmup = Duration::ZERO;
        options.concurrency = 8;
    }
    if let Some(duration) = duration {
        options.duration = duration;
        options.warmup = options.warmup.min(duration / 5);
    }
    if let Some(concurrency) = concurrency {
        options.concurrency = concurrency;
    }
    if scale_on {
        options.scale = Some(scale);
    }
    Ok(Command::Run(Box::new(options)))
}

/// `500ms`, `5s`, `2m`, or a bare number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || fail(format!("{text:?} is not a duration (e.g. 500ms, 5s, 1m)"));
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_options(args: &[&str]) -> Options {
        match parse(args.iter().map(|s| (*s).to_owned())) {
            Ok(Command::Run(options)) => *options,
            other => panic!("expected run options, got {other:?}"),
        }
    }

    #[test]
    fn durations_take_the_units_of_latch_settings() {
        assert_eq!(
            parse_duration("200ms").ok(),
            Some(Duration::from_millis(200))
        );
        assert_eq!(parse_duration("5s").ok(), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m").ok(), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("3").ok(), Some(Duration::from_secs(3)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn run_is_the_default_command() {
        let options = run_options(&[]);
        assert_eq!(options.concurrency, 64);
        assert_eq!(options.duration, Duration::from_secs(5));
        assert!(options.scale.is_none());
    }

    #[test]
    fn smoke_is_short_and_explicit_flags_still_win() {
        let options = run_options(&["run", "--smoke", "--concurrency", "4"]);
        assert_eq!(options.duration, Duration::from_millis(200));
        assert_eq!(options.concurrency, 4);
        assert_eq!(options.warmup, Duration::ZERO);
    }

    #[test]
    fn scenario_names_accept_dashes() {
        let options = run_options(&["--scenarios", "get-profile, login"]);
        assert_eq!(
            options.scenarios,
            Some(vec!["get_profile".to_owned(), "login".to_owned()])
        );
    }

    #[test]
    fn unknown_flags_and_zero_concurrency_are_refused() {
        assert!(parse(["--fast".to_owned()]).is_err());
        assert!(parse(["--concurrency".to_owned(), "0".to_owned()]).is_err());
        assert!(parse(["--duration".to_owned()]).is_err());
    }
}
