//! `latchctl sessions …`: ListSessions and RevokeSession.

use latch_proto::latch::session::v1::{ListSessionsRequest, RevokeSessionRequest};
use serde::Serialize;

use crate::{
    api::Api,
    cli::{ListSessionsArgs, RevokeSessionArgs, SessionsCommand},
    failure::Failure,
    output::{self, Output},
    pages::{self, Pages},
    resolve,
    view::{self, SessionView},
};

pub(crate) async fn run(
    api: &mut Api,
    command: &SessionsCommand,
    out: Output,
) -> Result<(), Failure> {
    match command {
        SessionsCommand::List(args) => list(api, args, out).await,
        SessionsCommand::Revoke(args) => revoke(api, args, out).await,
    }
}

#[derive(Serialize)]
struct SessionList {
    sessions: Vec<SessionView>,
    next_page_token: String,
}

async fn list(api: &mut Api, args: &ListSessionsArgs, out: Output) -> Result<(), Failure> {
    let user_id = resolve::user_id(api, &args.user).await?;
    let client = api.session();
    let mut pages = Pages::new(&args.paging, "sessions");
    let mut sessions = Vec::new();
    while let Some(page_token) = pages.token() {
        let request = ListSessionsRequest {
            user_id: user_id.clone(),
            include_revoked: args.include_revoked,
            page_size: args.paging.size(),
            page_token,
        };
        let page = api
            .call("list sessions", &client, request, |mut c, r| async move {
                c.list_sessions(r).await
            })
            .await?;
        pages.arrived(page.sessions.len(), page.next_page_token)?;
        sessions.extend(page.sessions.iter().map(SessionView::from));
    }
    let shown = SessionList {
        sessions,
        next_page_token: pages.finish(),
    };
    out.show(&shown, || {
        let rows = shown.sessions.iter().map(|s| {
            let state = match (&s.revoked_at, &s.revoked_reason) {
                (Some(_), reason) => format!("revoked ({})", reason.as_deref().unwrap_or("-")),
                (None, _) if s.current => "active (this latchctl)".to_owned(),
                (None, _) => "active".to_owned(),
            };
            vec![
                s.id.clone(),
                device(s),
                s.ip.clone(),
                view::short(s.created_at.as_ref()),
                view::short(s.last_active_at.as_ref()),
                state,
            ]
        });
        let header = ["ID", "DEVICE", "IP", "CREATED", "LAST ACTIVE", "STATE"];
        format!(
            "{}\n{} session(s){}",
            output::table(&header, rows),
            shown.sessions.len(),
            pages::more_hint(&shown.next_page_token)
        )
    })
}

/// "Firefox on Linux (desktop)", or the raw user agent when unparsed.
fn device(s: &SessionView) -> String {
    if s.browser.is_empty() && s.os.is_empty() {
        return s.user_agent.clone();
    }
    let mut text = format!("{} on {}", s.browser, s.os);
    if !s.device.is_empty() {
        text.push_str(&format!(" ({})", s.device));
    }
    text
}

async fn revoke(api: &mut Api, args: &RevokeSessionArgs, out: Output) -> Result<(), Failure> {
    let client = api.session();
    let request = RevokeSessionRequest {
        session_id: args.session_id.trim().to_owned(),
        reason: args.reason.clone(),
    };
    api.call(
        "revoke the session",
        &client,
        request,
        |mut c, r| async move { c.revoke_session(r).await },
    )
    .await?;
    out.show(
        &serde_json::json!({ "revoked": args.session_id.trim() }),
        || format!("Revoked session {}", args.session_id.trim()),
    )
}
