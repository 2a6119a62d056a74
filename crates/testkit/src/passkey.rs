//! A software WebAuthn authenticator, with the browser around it: reads
//! the creation and request options a relying party sends (WebAuthn JSON,
//! as webauthn-rs serialises `CreationChallengeResponse` and
//! `RequestChallengeResponse`: `{"publicKey": {...}}`, or the bare
//! options) and answers the `PublicKeyCredential` JSON a browser posts
//! back, base64url without padding.
//!
//! ES256 keys (P-256), attestation format `none`, the few CBOR shapes that
//! needs written by hand (the attestation object map and the COSE EC2
//! key). Knobs make it misbehave the ways a test needs: another origin or
//! RP id, a counter that stays at 0 or goes back, a signature that does
//! not verify, no user verification, backup flags, and answering with a
//! credential the options did not allow.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use p256::ecdsa::{Signature, SigningKey, signature::Signer as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The AAGUID this authenticator reports (a fixed, made-up model id).
pub const AAGUID: [u8; 16] = *b"latch-soft-authn";

/// COSE algorithm ES256: ECDSA with P-256 and SHA-256.
const ES256: i64 = -7;

// Authenticator data flags (WebAuthn § 6.1).
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const BACKUP_ELIGIBLE: u8 = 0x08;
const BACKED_UP: u8 = 0x10;
const ATTESTED_CREDENTIAL_DATA: u8 = 0x40;

/// What the signature counter does at each assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// One more than the last one (a hardware key): the default.
    Increment,
    /// Always 0 (a synced passkey keeps no counter).
    Zero,
    /// This value, from now on (set it at or below the last one sent to
    /// simulate a cloned authenticator).
    Fixed(u32),
}

/// Why the authenticator (or the browser around it) gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthenticatorError {
    /// The options are not WebAuthn JSON as expected; names what.
    Malformed(String),
    /// ES256 is not among `pubKeyCredParams`.
    UnsupportedAlgorithm,
    /// One of this authenticator's credentials is in `excludeCredentials`
    /// (a browser's `InvalidStateError`).
    Excluded,
    /// No credential of this authenticator answers these options.
    NoCredential,
}

impl std::fmt::Display for AuthenticatorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed options: {what}"),
            Self::UnsupportedAlgorithm => f.write_str("ES256 not offered"),
            Self::Excluded => f.write_str("a credential of this authenticator is excluded"),
            Self::NoCredential => f.write_str("no credential answers these options"),
        }
    }
}

impl std::error::Error for AuthenticatorError {}

/// A credential the authenticator created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The credential id (raw bytes).
    pub credential_id: Vec<u8>,
    /// The `RegisterPublicKeyCredential` JSON to post to the relying party.
    pub json: String,
}

#[derive(Clone)]
struct Credential {
    id: Vec<u8>,
    key: SigningKey,
    /// `user.id` of the creation options: the user handle of assertions.
    user_handle: Vec<u8>,
    /// The last counter value sent.
    count: u32,
}

/// The authenticator and its credentials. Knobs apply to the ceremonies
/// after they are set; `Clone` copies the keys too (a cloned
/// authenticator).
#[derive(Clone)]
pub struct Authenticator {
    origin: String,
    rp_id: Option<String>,
    user_verified: bool,
    backup_eligible: bool,
    backed_up: bool,
    counter: Counter,
    tamper_signature: bool,
    answer_with: Option<Vec<u8>>,
    send_user_handle: bool,
    credentials: Vec<Credential>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private keys stay out of test output.
        f.debug_struct("Authenticator")
            .field("origin", &self.origin)
            .field("rp_id", &self.rp_id)
            .field("credentials", &self.credentials.len())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator in a browser at `origin` (e.g.
    /// `https://example.com`): user verification done, no backup, a
    /// counter that increments.
    pub fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            rp_id: None,
            user_verified: true,
            backup_eligible: false,
            backed_up: false,
            counter: Counter::Increment,
            tamper_signature: false,
            answer_with: None,
            send_user_handle: true,
            credentials: Vec::new(),
        }
    }

    /// The origin put in `clientDataJSON` (a page of another site).
    pub fn set_origin(&mut self, origin: &str) -> &mut Self {
        self.origin = origin.to_owned();
        self
    }

    /// The RP id hashed into the authenticator data; `None` (the default)
    /// = the one the options name.
    pub fn set_rp_id(&mut self, rp_id: Option<&str>) -> &mut Self {
        self.rp_id = rp_id.map(str::to_owned);
        self
    }

    /// Whether the UV flag is set (user verified by PIN or biometrics).
    pub fn set_user_verified(&mut self, verified: bool) -> &mut Self {
        self.user_verified = verified;
        self
    }

    /// The BE (backup eligible) and BS (backed up) flags.
    pub fn set_backup(&mut self, eligible: bool, backed_up: bool) -> &mut Self {
        self.backup_eligible = eligible;
        self.backed_up = backed_up;
        self
    }

    pub fn set_counter(&mut self, counter: Counter) -> &mut Self {
        self.counter = counter;
        self
    }

    /// Signs something else than the authenticator data and client data
    /// hash: a well-formed signature that does not verify.
    pub fn set_tamper_signature(&mut self, tamper: bool) -> &mut Self {
        self.tamper_signature = tamper;
        self
    }

    /// Answers assertions with this credential of the authenticator's,
    /// whatever the options allow; `None` (the default) = as a browser
    /// chooses: an allowed credential, or the newest for a discoverable
    /// request.
    pub fn answer_with(&mut self, credential_id: Option<&[u8]>) -> &mut Self {
        self.answer_with = credential_id.map(<[u8]>::to_vec);
        self
    }

    /// Whether assertions carry the user handle (on by default, as for a
    /// discoverable credential; off: `userHandle` is null, as a
    /// non-discoverable credential answers).
    pub fn set_user_handle(&mut self, send: bool) -> &mut Self {
        self.send_user_handle = send;
        self
    }

    /// The ids of the credentials created so far, oldest first.
    pub fn credential_ids(&self) -> Vec<Vec<u8>> {
        self.credentials.iter().map(|c| c.id.clone()).collect()
    }

    /// `navigator.credentials.create()`: a new ES256 credential for the
    /// user the options name, answered with attestation `none`.
    pub fn create(&mut self, options_json: &str) -> Result<Created, AuthenticatorError> {
        let options = public_key_options(options_json)?;
        let offers_es256 = options["pubKeyCredParams"]
            .as_array()
            .is_some_and(|params| params.iter().any(|p| p["alg"].as_i64() == Some(ES256)));
        if !offers_es256 {
            return Err(AuthenticatorError::UnsupportedAlgorithm);
        }
        let excluded = descriptor_ids(&options["excludeCredentials"])?;
        if self.credentials.iter().any(|c| excluded.contains(&c.id)) {
            return Err(AuthenticatorError::Excluded);
        }
        let challenge = text(&options, "challenge")?;
        let rp_id = self.rp_id_for(text(&options["rp"], "id")?);
        let user_handle = decode(text(&options["user"], "id")?, "user.id")?;

        let credential = Credential {
            id: random_bytes::<32>().to_vec(),
            key: new_key(),
            user_handle,
            count: 0,
        };
        let count = self.next_count(credential.count);
        let client_data = self.client_data("webauthn.create", challenge);
        let mut auth_data = self.auth_data(&rp_id, ATTESTED_CREDENTIAL_DATA, count);
        auth_data.extend_from_slice(&AAGUID);
        let id_len = u16::try_from(credential.id.len()).unwrap_or(u16::MAX);
        auth_data.extend_from_slice(&id_len.to_be_bytes());
        auth_data.extend_from_slice(&credential.id);
        auth_data.extend_from_slice(&cose_key(&credential.key));
        let attestation_object = attestation_none(&auth_data);

        let id = URL_SAFE_NO_PAD.encode(&credential.id);
        let json = json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data.as_bytes()),
                "attestationObject": URL_SAFE_NO_PAD.encode(&attestation_object),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": { "credProps": { "rk": true } },
            "authenticatorAttachment": "platform",
        });
        let credential_id = credential.id.clone();
        self.credentials.push(Credential {
            count,
            ..credential
        });
        Ok(Created {
            credential_id,
            json: json.to_string(),
        })
    }

    /// `navigator.credentials.get()`: an assertion by the credential the
    /// options (or [`Self::answer_with`]) select, with the user handle.
    pub fn get(&mut self, options_json: &str) -> Result<String, AuthenticatorError> {
        let options = public_key_options(options_json)?;
        let challenge = text(&options, "challenge")?;
        let rp_id = self.rp_id_for(text(&options, "rpId")?);
        let allowed = descriptor_ids(&options["allowCredentials"])?;
        let index = self.choose(&allowed)?;
        let count = self.next_count(self.credentials[index].count);

        let client_data = self.client_data("webauthn.get", challenge);
        let auth_data = self.auth_data(&rp_id, 0, count);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(client_data.as_bytes()));
        if self.tamper_signature {
            signed.push(0);
        }
        let credential = &mut self.credentials[index];
        credential.count = count;
        let signature: Signature = credential.key.sign(&signed);

        let id = URL_SAFE_NO_PAD.encode(&credential.id);
        let user_handle = self
            .send_user_handle
            .then(|| URL_SAFE_NO_PAD.encode(&credential.user_handle));
        let json = json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data.as_bytes()),
                "authenticatorData": URL_SAFE_NO_PAD.encode(&auth_data),
                "signature": URL_SAFE_NO_PAD.encode(signature.to_der().as_bytes()),
                "userHandle": user_handle,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        });
        Ok(json.to_string())
    }

    fn rp_id_for(&self, requested: &str) -> String {
        self.rp_id.clone().unwrap_or_else(|| requested.to_owned())
    }

    /// The credential that answers: the forced one, else the newest
    /// allowed one (any, for an empty allow list: discoverable).
    fn choose(&self, allowed: &[Vec<u8>]) -> Result<usize, AuthenticatorError> {
        let found = match &self.answer_with {
            Some(forced) => self.credentials.iter().position(|c| &c.id == forced),
            None => self
                .credentials
                .iter()
                .rposition(|c| allowed.is_empty() || allowed.contains(&c.id)),
        };
        found.ok_or(AuthenticatorError::NoCredential)
    }

    fn next_count(&self, last: u32) -> u32 {
        match self.counter {
            Counter::Increment => last.saturating_add(1),
            Counter::Zero => 0,
            Counter::Fixed(value) => value,
        }
    }

    /// `clientDataJSON` in the member order browsers use.
    fn client_data(&self, kind: &str, challenge: &str) -> String {
        format!(
            r#"{{"type":{},"challenge":{},"origin":{},"crossOrigin":false}}"#,
            Value::from(kind),
            Value::from(challenge),
            Value::from(self.origin.as_str()),
        )
    }

    /// rpIdHash, flags, counter; `extra_flags` adds AT for a creation.
    fn auth_data(&self, rp_id: &str, extra_flags: u8, count: u32) -> Vec<u8> {
        let mut flags = USER_PRESENT | extra_flags;
        if self.user_verified {
            flags |= USER_VERIFIED;
        }
        if self.backup_eligible {
            flags |= BACKUP_ELIGIBLE;
        }
        if self.backed_up {
            flags |= BACKED_UP;
        }
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend_from_slice(&count.to_be_bytes());
        data
    }
}

/// The options inside `{"publicKey": ...}`, or the bare options.
fn public_key_options(options_json: &str) -> Result<Value, AuthenticatorError> {
    let mut value: Value = serde_json::from_str(options_json)
        .map_err(|e| AuthenticatorError::Malformed(format!("not JSON: {e}")))?;
    match value.get_mut("publicKey") {
        Some(inner) => Ok(inner.take()),
        None => Ok(value),
    }
}

fn text<'a>(value: &'a Value, field: &str) -> Result<&'a str, AuthenticatorError> {
    value[field]
        .as_str()
        .ok_or_else(|| AuthenticatorError::Malformed(format!("{field} missing or not a string")))
}

fn decode(text: &str, field: &str) -> Result<Vec<u8>, AuthenticatorError> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| AuthenticatorError::Malformed(format!("{field} not base64url: {e}")))
}

/// The ids of a list of credential descriptors (absent = none).
fn descriptor_ids(list: &Value) -> Result<Vec<Vec<u8>>, AuthenticatorError> {
    let Some(list) = list.as_array() else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|descriptor| decode(text(descriptor, "id")?, "credential id"))
        .collect()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("operating system randomness");
    bytes
}

fn new_key() -> SigningKey {
    // A random scalar is valid but for a chance of about 2^-128.
    loop {
        if let Ok(key) = SigningKey::from_bytes(&random_bytes::<32>().into()) {
            return key;
        }
    }
}

// ------------------------------------------------------------ CBOR (RFC 8949)

const CBOR_UNSIGNED: u8 = 0;
const CBOR_NEGATIVE: u8 = 1;
const CBOR_BYTES: u8 = 2;
const CBOR_TEXT: u8 = 3;
const CBOR_MAP: u8 = 5;

/// A data item's head: major type and argument, shortest form.
fn cbor_head(out: &mut Vec<u8>, major: u8, argument: u64) {
    let major = major << 5;
    match argument {
        0..24 => out.push(major | argument as u8),
        24..0x100 => out.extend([major | 24, argument as u8]),
        0x100..0x1_0000 => {
            out.push(major | 25);
            out.extend_from_slice(&(argument as u16).to_be_bytes());
        }
        0x1_0000..0x1_0000_0000 => {
            out.push(major | 26);
            out.extend_from_slice(&(argument as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&argument.to_be_bytes());
        }
    }
}

fn cbor_int(out: &mut Vec<u8>, value: i64) {
    if value >= 0 {
        cbor_head(out, CBOR_UNSIGNED, value.unsigned_abs());
    } else {
        // -1 - n is encoded as n.
        cbor_head(out, CBOR_NEGATIVE, (-1 - value).unsigned_abs());
    }
}

fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    cbor_head(out, CBOR_BYTES, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn cbor_text(out: &mut Vec<u8>, text: &str) {
    cbor_head(out, CBOR_TEXT, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// The credential public key as a COSE_Key (RFC 9053 EC2, in CTAP2's
/// canonical order): kty EC2, alg ES256, crv P-256, x, y.
fn cose_key(key: &SigningKey) -> Vec<u8> {
    let point = key.verifying_key().to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        unreachable!("an uncompressed point has both coordinates")
    };
    let mut out = Vec::new();
    cbor_head(&mut out, CBOR_MAP, 5);
    cbor_int(&mut out, 1); // kty
    cbor_int(&mut out, 2); // EC2
    cbor_int(&mut out, 3); // alg
    cbor_int(&mut out, ES256);
    cbor_int(&mut out, -1); // crv
    cbor_int(&mut out, 1); // P-256
    cbor_int(&mut out, -2);
    cbor_bytes(&mut out, x);
    cbor_int(&mut out, -3);
    cbor_bytes(&mut out, y);
    out
}

/// The attestation object of format `none`: {fmt, attStmt: {}, authData}.
fn attestation_none(auth_data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    cbor_head(&mut out, CBOR_MAP, 3);
    cbor_text(&mut out, "fmt");
    cbor_text(&mut out, "none");
    cbor_text(&mut out, "attStmt");
    cbor_head(&mut out, CBOR_MAP, 0);
    cbor_text(&mut out, "authData");
    cbor_bytes(&mut out, auth_data);
    out
}

#[cfg(test)]
mod tests;
