//! `<id-or-email>` arguments: an address is looked up through ListUsers
//! (the email-prefix filter, then an exact match); anything else is taken
//! as an id and checked by Latch itself.

use latch_proto::latch::identity::v1::ListUsersRequest;

use crate::{
    api::Api,
    failure::{Exit, Failure},
};

/// The user id `who` names.
pub(crate) async fn user_id(api: &mut Api, who: &str) -> Result<String, Failure> {
    let who = who.trim();
    if who.is_empty() {
        return Err(Failure::usage("name a user by id or email address"));
    }
    if !who.contains('@') {
        return Ok(who.to_owned());
    }
    let email = who.to_lowercase();
    let identity = api.identity();
    let mut request = ListUsersRequest {
        email_prefix: email.clone(),
        // An address is unique: the exact match sorts among the few
        // addresses it prefixes, and a handful of those is enough to scan.
        page_size: 20,
        ..Default::default()
    };
    loop {
        let page = api
            .call(
                "look up the email",
                &identity,
                request.clone(),
                |mut c, r| async move { c.list_users(r).await },
            )
            .await?;
        if let Some(user) = page.users.iter().find(|u| u.email.to_lowercase() == email) {
            return Ok(user.id.clone());
        }
        if page.next_page_token.is_empty() {
            return Err(Failure::new(
                Exit::NotFound,
                format!("no user has the address {who}"),
            ));
        }
        request.page_token = page.next_page_token;
    }
}
