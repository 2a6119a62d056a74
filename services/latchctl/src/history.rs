//! `latchctl history <user>`: ListLoginHistory.

use latch_proto::latch::identity::v1::ListLoginHistoryRequest;
use serde::Serialize;

use crate::{
    api::Api,
    cli::HistoryArgs,
    failure::Failure,
    output::{self, Output},
    pages::{self, Pages},
    resolve,
    view::{self, HistoryView},
};

#[derive(Serialize)]
struct History {
    user_id: String,
    entries: Vec<HistoryView>,
    next_page_token: String,
}

pub(crate) async fn run(api: &mut Api, args: &HistoryArgs, out: Output) -> Result<(), Failure> {
    let user_id = resolve::user_id(api, &args.user).await?;
    let client = api.identity();
    let mut pages = Pages::new(&args.paging, "sign-in attempts");
    let mut entries = Vec::new();
    while let Some(page_token) = pages.token() {
        let request = ListLoginHistoryRequest {
            user_id: user_id.clone(),
            page_size: args.paging.size(),
            page_token,
        };
        let page = api
            .call(
                "read the history",
                &client,
                request,
                |mut c, r| async move { c.list_login_history(r).await },
            )
            .await?;
        pages.arrived(page.entries.len(), page.next_page_token)?;
        entries.extend(page.entries.iter().map(HistoryView::from));
    }
    let shown = History {
        user_id,
        entries,
        next_page_token: pages.finish(),
    };
    out.show(&shown, || {
        let rows = shown.entries.iter().map(|e| {
            let result = match &e.failure_reason {
                _ if e.success => "success".to_owned(),
                Some(reason) => reason.clone(),
                None => "failed".to_owned(),
            };
            let client = if e.browser.is_empty() && e.os.is_empty() {
                e.user_agent.clone()
            } else {
                format!("{} on {}", e.browser, e.os)
            };
            vec![
                view::short(e.time.as_ref()),
                result,
                e.method.clone(),
                e.ip.clone(),
                client,
            ]
        });
        let header = ["TIME", "RESULT", "METHOD", "IP", "CLIENT"];
        format!(
            "{}\n{} attempt(s){}",
            output::table(&header, rows),
            shown.entries.len(),
            pages::more_hint(&shown.next_page_token)
        )
    })
}
