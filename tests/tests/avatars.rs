//! Avatars over real gRPC, on both backends: UploadAvatar (a client
//! stream: metadata, then chunks) for PNG, JPEG and WebP shows in
//! GetProfile, a new upload replaces the object and deletes the old one,
//! DeleteAvatar clears it; a corrupt image, a lying type, an oversized
//! stream (refused while it is still being sent) and a stream cut off half
//! way store nothing and leave the avatar as it was. On the local store
//! (files under the data directory) and on a real S3-compatible server
//! (moto, started by the test; skipped with a note when it is not
//! installed, a failure under `LATCH_TEST_REQUIRE_BACKENDS`).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::{Stream, StreamExt as _, stream};
use image::ImageFormat;
use latch_proto::latch::profile::v1::{
    AvatarMetadata, DeleteAvatarRequest, GetProfileRequest, Profile, UploadAvatarRequest,
    upload_avatar_request::Part,
};
use latch_runtime::config::MapSource;
use latch_testkit::images::picture;
use latch_testkit::moto::{self, Moto};
use latch_tests::{Backend, TestLatchd, bearer, reason};
use object_store::{ObjectStore as _, ObjectStoreExt as _};
use tonic::{Code, Status};

latch_tests::e2e!(world = local;
    uploads_show_in_get_profile_and_replace_the_old_object,
    bad_uploads_are_refused_and_store_nothing,
    an_oversized_stream_is_refused_before_it_is_all_sent,
    a_stream_cut_off_half_way_stores_nothing,
);
latch_tests::e2e!(world = s3; uploads_replace_and_delete_objects_on_s3);

const CDN: &str = "https://cdn.example.com/";
const CHUNK: usize = 16 * 1024;

/// latchd with avatars in files under a data directory the test reads.
struct Local {
    latchd: TestLatchd,
    dir: tempfile::TempDir,
}

async fn local<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(Local) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let settings = MapSource::new()
        .with("LATCH_DATA_DIR", dir.path().display().to_string())
        .with("LATCH_AVATAR_PUBLIC_URL", CDN)
        .with("LATCH_AVATAR_MAX_BYTES", (256 * 1024).to_string());
    match TestLatchd::start_with(backend, settings).await {
        Some(latchd) => scenario(Local { latchd, dir }).await,
        None => eprintln!("LATCH_TEST_DATABASE_URL unset: PostgreSQL + Redis run skipped"),
    }
}

/// Every avatar file under the data directory, relative to it.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &dir.join("avatars"), &mut out);
    out.sort();
    out
}

fn metadata(content_type: &str, size: u64) -> UploadAvatarRequest {
    UploadAvatarRequest {
        part: Some(Part::Metadata(AvatarMetadata {
            content_type: content_type.into(),
            size,
        })),
    }
}

fn chunk(bytes: &[u8]) -> UploadAvatarRequest {
    UploadAvatarRequest {
        part: Some(Part::Chunk(bytes.to_vec())),
    }
}

/// Metadata declaring `bytes`, then `bytes` in chunks.
fn upload_of(content_type: &str, bytes: &[u8]) -> Vec<UploadAvatarRequest> {
    let mut messages = vec![metadata(content_type, bytes.len() as u64)];
    messages.extend(bytes.chunks(CHUNK).map(chunk));
    messages
}

async fn upload<S>(latchd: &TestLatchd, token: &str, messages: S) -> Result<Profile, Status>
where
    S: Stream<Item = UploadAvatarRequest> + Send + 'static,
{
    let response = latchd
        .profile()
        .upload_avatar(bearer(messages, token))
        .await?;
    Ok(response.into_inner().profile.unwrap())
}

async fn upload_all(
    latchd: &TestLatchd,
    token: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<Profile, Status> {
    upload(latchd, token, stream::iter(upload_of(content_type, bytes))).await
}

async fn profile(latchd: &TestLatchd, token: &str) -> Profile {
    latchd
        .profile()
        .get_profile(bearer(GetProfileRequest::default(), token))
        .await
        .unwrap()
        .into_inner()
        .profile
        .unwrap()
}

/// The key a CDN URL of ours names.
fn key_of(url: &str) -> &str {
    url.strip_prefix(CDN)
        .unwrap_or_else(|| panic!("not a CDN URL: {url}"))
}

async fn uploads_show_in_get_profile_and_replace_the_old_object(w: Local) {
    let auth = w.latchd.signed_up("ada@example.com").await;
    let token = auth.access_token.as_str();
    let mut previous: Option<String> = None;
    for (format, content_type, extension) in [
        (ImageFormat::Png, "image/png", "png"),
        (ImageFormat::Jpeg, "image/jpeg", "jpg"),
        (ImageFormat::WebP, "image/webp", "webp"),
    ] {
        let bytes = picture(700, 350, format);
        let uploaded = upload_all(&w.latchd, token, content_type, &bytes)
            .await
            .unwrap();
        let key = key_of(&uploaded.avatar_url).to_owned();
        assert!(
            key.starts_with(&format!("avatars/{}/", auth.user_id)) && key.ends_with(extension),
            "{key}"
        );
        assert_eq!(
            profile(&w.latchd, token).await.avatar_url,
            uploaded.avatar_url
        );
        assert_eq!(
            files(w.dir.path()),
            vec![key.clone()],
            "the old object is gone"
        );
        let stored = std::fs::read(w.dir.path().join(&key)).unwrap();
        let img = image::load_from_memory(&stored).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            (512, 256),
            "bounded, aspect kept"
        );
        assert_ne!(previous.as_deref(), Some(key.as_str()));
        previous = Some(key);
    }

    let cleared = w
        .latchd
        .profile()
        .delete_avatar(bearer(DeleteAvatarRequest {}, token))
        .await
        .unwrap()
        .into_inner()
        .profile
        .unwrap();
    assert_eq!(cleared.avatar_url, "");
    assert_eq!(profile(&w.latchd, token).await.avatar_url, "");
    assert!(files(w.dir.path()).is_empty());
    // Idempotent.
    w.latchd
        .profile()
        .delete_avatar(bearer(DeleteAvatarRequest {}, token))
        .await
        .unwrap();
}

async fn bad_uploads_are_refused_and_store_nothing(w: Local) {
    let auth = w.latchd.signed_up("ada@example.com").await;
    let token = auth.access_token.as_str();
    let png = picture(64, 64, ImageFormat::Png);
    let kept = upload_all(&w.latchd, token, "image/png", &png)
        .await
        .unwrap();
    let refused = |result: Result<Profile, Status>, want: &str| {
        let status = result.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(reason(&status), want, "{status:?}");
    };

    // The right magic, then garbage.
    let mut corrupt = png[..16].to_vec();
    corrupt.extend(std::iter::repeat_n(0x5a, 4000));
    refused(
        upload_all(&w.latchd, token, "image/png", &corrupt).await,
        "AVATAR_INVALID",
    );
    refused(
        upload_all(&w.latchd, token, "image/png", b"GIF89a not what it says").await,
        "AVATAR_INVALID",
    );
    // A PNG that says it is a JPEG.
    refused(
        upload_all(&w.latchd, token, "image/jpeg", &png).await,
        "AVATAR_TYPE_MISMATCH",
    );
    refused(
        upload_all(&w.latchd, token, "image/gif", &png).await,
        "AVATAR_INVALID",
    );
    // A declared size over the limit is refused before any chunk.
    refused(
        upload(
            &w.latchd,
            token,
            stream::iter([metadata("image/png", 10 << 20)]),
        )
        .await,
        "AVATAR_TOO_LARGE",
    );
    // Chunks without metadata first.
    refused(
        upload(&w.latchd, token, stream::iter([chunk(&png)])).await,
        "AVATAR_INVALID",
    );
    // Fewer bytes than declared: the stream ended early.
    let mut short = upload_of("image/png", &png);
    short.truncate(short.len() - 1);
    short.push(chunk(&png[..10]));
    refused(
        upload(&w.latchd, token, stream::iter(short)).await,
        "AVATAR_INVALID",
    );

    assert_eq!(
        files(w.dir.path()),
        vec![key_of(&kept.avatar_url).to_owned()]
    );
    assert_eq!(profile(&w.latchd, token).await.avatar_url, kept.avatar_url);
}

async fn an_oversized_stream_is_refused_before_it_is_all_sent(w: Local) {
    let auth = w.latchd.signed_up("ada@example.com").await;
    // 64 MiB offered (size undeclared) against a limit of 256 KiB.
    const OFFERED: u64 = 64 << 20;
    let pulled = Arc::new(AtomicU64::new(0));
    let counter = pulled.clone();
    let messages = stream::iter([metadata("image/png", 0)]).chain(
        stream::iter(0..OFFERED / CHUNK as u64).map(move |_| {
            counter.fetch_add(CHUNK as u64, Ordering::SeqCst);
            chunk(&[0x42; CHUNK])
        }),
    );
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        upload(&w.latchd, &auth.access_token, messages),
    )
    .await
    .expect("the server answered while the client was still sending");
    let status = result.unwrap_err();
    assert_eq!(reason(&status), "AVATAR_TOO_LARGE", "{status:?}");
    let sent = pulled.load(Ordering::SeqCst);
    assert!(
        sent < OFFERED / 8,
        "the server read on: {sent} of {OFFERED} bytes were taken from the client"
    );
    assert!(files(w.dir.path()).is_empty());
}

async fn a_stream_cut_off_half_way_stores_nothing(w: Local) {
    let auth = w.latchd.signed_up("ada@example.com").await;
    let token = auth.access_token.as_str();
    let kept = upload_all(
        &w.latchd,
        token,
        "image/png",
        &picture(64, 64, ImageFormat::Png),
    )
    .await
    .unwrap();

    // Half of a JPEG, then the client goes silent and gives up: the call
    // is cancelled mid-stream (an HTTP/2 reset reaches the server).
    let jpeg = picture(400, 400, ImageFormat::Jpeg);
    let mut messages = upload_of("image/jpeg", &jpeg);
    messages.truncate(messages.len() / 2 + 1);
    let hanging = stream::iter(messages).chain(stream::pending());
    let cut = tokio::time::timeout(
        Duration::from_millis(500),
        upload(&w.latchd, token, hanging),
    )
    .await;
    assert!(cut.is_err(), "the server cannot answer a stream still open");
    // Time for the server to see the reset and finish whatever it would do.
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(
        files(w.dir.path()),
        vec![key_of(&kept.avatar_url).to_owned()]
    );
    assert_eq!(profile(&w.latchd, token).await.avatar_url, kept.avatar_url);
}

/// latchd with avatars in a bucket of a moto server of the test's own.
struct S3 {
    latchd: TestLatchd,
    moto: Moto,
}

const BUCKET: &str = "latch-avatars";
const PREFIX: &str = "tenant-a";

async fn s3<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(S3) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(moto) = Moto::start().await else {
        return;
    };
    moto.create_bucket(BUCKET).await;
    let settings = MapSource::new()
        .with("LATCH_AVATAR_STORE", format!("s3://{BUCKET}/{PREFIX}"))
        .with("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID)
        .with("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY)
        .with("AWS_REGION", moto::REGION)
        .with("AWS_ENDPOINT", moto.endpoint())
        .with("AWS_ALLOW_HTTP", "true");
    match TestLatchd::start_with(backend, settings).await {
        Some(latchd) => scenario(S3 { latchd, moto }).await,
        None => eprintln!("LATCH_TEST_DATABASE_URL unset: PostgreSQL + Redis run skipped"),
    }
}

impl S3 {
    /// The bucket as a client of its own sees it (moto refuses unsigned
    /// reads of a private object).
    fn bucket(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_access_key_id(moto::ACCESS_KEY_ID)
            .with_secret_access_key(moto::SECRET_ACCESS_KEY)
            .with_region(moto::REGION)
            .with_endpoint(self.moto.endpoint())
            .with_allow_http(true)
            .build()
            .unwrap()
    }

    fn path(key: &str) -> object_store::path::Path {
        object_store::path::Path::from(format!("{PREFIX}/{key}"))
    }

    async fn exists(&self, key: &str) -> bool {
        match self.bucket().head(&Self::path(key)).await {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(err) => panic!("head {key}: {err}"),
        }
    }

    /// How many objects the bucket holds under the prefix.
    async fn count(&self) -> usize {
        let prefix = object_store::path::Path::from(PREFIX);
        self.bucket().list(Some(&prefix)).count().await
    }

    async fn object(&self, key: &str) -> Vec<u8> {
        let got = self.bucket().get(&Self::path(key)).await.unwrap();
        got.bytes().await.unwrap().to_vec()
    }
}

async fn uploads_replace_and_delete_objects_on_s3(w: S3) {
    let auth = w.latchd.signed_up("ada@example.com").await;
    let token = auth.access_token.as_str();

    let first = upload_all(
        &w.latchd,
        token,
        "image/png",
        &picture(900, 300, ImageFormat::Png),
    )
    .await
    .unwrap();
    // No public URL set: GetProfile gives the key.
    let first_key = first.avatar_url.clone();
    assert!(
        first_key.starts_with(&format!("avatars/{}/", auth.user_id)),
        "{first_key}"
    );
    assert_eq!(profile(&w.latchd, token).await.avatar_url, first_key);
    let stored = image::load_from_memory(&w.object(&first_key).await).unwrap();
    assert_eq!(stored.width(), 512);
    assert!((170..=171).contains(&stored.height()), "aspect kept");

    let second = upload_all(&w.latchd, token, "", &picture(50, 50, ImageFormat::WebP))
        .await
        .unwrap();
    assert_ne!(second.avatar_url, first_key);
    assert!(w.exists(&second.avatar_url).await);
    assert!(!w.exists(&first_key).await, "the old object is deleted");

    // Refused uploads leave the bucket as it was.
    let status = upload_all(
        &w.latchd,
        token,
        "image/jpeg",
        &picture(8, 8, ImageFormat::Png),
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&status), "AVATAR_TYPE_MISMATCH");
    assert_eq!(w.count().await, 1, "nothing stored");
    assert_eq!(
        profile(&w.latchd, token).await.avatar_url,
        second.avatar_url
    );

    w.latchd
        .profile()
        .delete_avatar(bearer(DeleteAvatarRequest {}, token))
        .await
        .unwrap();
    assert_eq!(profile(&w.latchd, token).await.avatar_url, "");
    assert!(!w.exists(&second.avatar_url).await);
    assert_eq!(w.count().await, 0);
}
