//! `latchctl keys rotate`: RotateSigningKey.

use latch_proto::latch::token::v1::RotateSigningKeyRequest;

use crate::{api::Api, cli::KeysCommand, failure::Failure, output::Output};

pub(crate) async fn run(api: &mut Api, command: &KeysCommand, out: Output) -> Result<(), Failure> {
    match command {
        KeysCommand::Rotate => {
            let client = api.token();
            let answer = api
                .call(
                    "rotate the signing key",
                    &client,
                    RotateSigningKeyRequest {},
                    |mut c, r| async move { c.rotate_signing_key(r).await },
                )
                .await?;
            out.show(&serde_json::json!({ "kid": answer.kid }), || {
                format!(
                    "Key {} is published now and signs from one JWKS cache period on; older keys stay published until their tokens expire",
                    answer.kid
                )
            })
        }
    }
}
