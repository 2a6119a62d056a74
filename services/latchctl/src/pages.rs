//! Walking Latch's cursor-paged lists: one page, or with `--all` every page
//! with a progress counter on the terminal.

use indicatif::ProgressBar;

use crate::{cli::Paging, failure::Failure, output};

pub(crate) struct Pages {
    all: bool,
    /// The token of the page to fetch next; `None` once done.
    next: Option<String>,
    /// The last page's `next_page_token`, for a person to continue by hand.
    remaining: String,
    bar: Option<ProgressBar>,
}

impl Pages {
    pub(crate) fn new(paging: &Paging, what: &'static str) -> Self {
        Self {
            all: paging.all,
            next: Some(paging.page_token.clone().unwrap_or_default()),
            remaining: String::new(),
            bar: paging.all.then(|| output::progress(what)),
        }
    }

    /// The page token to ask for, or `None` when every wanted page is in.
    pub(crate) fn token(&self) -> Option<String> {
        self.next.clone()
    }

    /// A page of `count` items arrived, pointing at `next_page_token`.
    pub(crate) fn arrived(&mut self, count: usize, next_page_token: String) -> Result<(), Failure> {
        if let Some(bar) = &self.bar {
            bar.inc(u64::try_from(count).unwrap_or(u64::MAX));
        }
        let asked = self.next.take().unwrap_or_default();
        if !next_page_token.is_empty() && next_page_token == asked {
            return Err(Failure::other(
                "the server answered the same page token again; stopped rather than loop",
            ));
        }
        if self.all && !next_page_token.is_empty() {
            self.next = Some(next_page_token);
        } else {
            self.remaining = next_page_token;
        }
        Ok(())
    }

    /// The token of the page after the last one fetched (empty when none).
    pub(crate) fn finish(self) -> String {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        self.remaining
    }
}

/// The hint printed under a table when more pages are left.
pub(crate) fn more_hint(next_page_token: &str) -> String {
    if next_page_token.is_empty() {
        String::new()
    } else {
        format!("\nmore: --page-token {next_page_token} (or --all)")
    }
}
