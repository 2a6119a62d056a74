use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use chrono::Duration as ChronoDuration;
use futures::{StreamExt as _, TryStreamExt as _, stream};
use image::ImageFormat;
use latch_domain::{
    Error, Reason, Result, UserId,
    ports::{OutboxRepository as _, ProfileDirectory as _, ProfileRepository},
};
use latch_runtime::metrics::CleanupCounter;
use latch_store::sql::{SqlOutbox, SqlProfiles};
use latch_testkit::images::picture;
use object_store::{ObjectStore, PutPayload, memory::InMemory, path::Path};

use super::*;
use crate::testing::Harness;

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG chunk with its length and CRC.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

/// `png` with a text chunk after IHDR (8-byte signature + 25-byte IHDR).
fn with_text(png: &[u8], text: &str) -> Vec<u8> {
    let mut out = png[..33].to_vec();
    out.extend(chunk(b"tEXt", format!("Comment\0{text}").as_bytes()));
    out.extend_from_slice(&png[33..]);
    out
}

/// `png` whose header claims `width`×`height` (the pixels do not follow):
/// what a decompression bomb looks like before it is decoded.
fn claiming(png: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = png[16..29].to_vec();
    ihdr[..4].copy_from_slice(&width.to_be_bytes());
    ihdr[4..8].copy_from_slice(&height.to_be_bytes());
    let mut out = png[..8].to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    out.extend_from_slice(&png[33..]);
    out
}

fn reason(result: Result<impl std::fmt::Debug>) -> Reason {
    result.unwrap_err().reason()
}

#[test]
fn the_type_comes_from_the_bytes() {
    assert_eq!(
        AvatarType::sniff(&picture(4, 4, ImageFormat::Png)),
        Some(AvatarType::Png)
    );
    assert_eq!(
        AvatarType::sniff(&picture(4, 4, ImageFormat::Jpeg)),
        Some(AvatarType::Jpeg)
    );
    assert_eq!(
        AvatarType::sniff(&picture(4, 4, ImageFormat::WebP)),
        Some(AvatarType::WebP)
    );
    assert_eq!(AvatarType::sniff(b"GIF89a\x01\x00\x01\x00"), None);
    assert_eq!(
        AvatarType::sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
        None
    );
    assert_eq!(AvatarType::declared("").unwrap(), None);
    assert_eq!(
        AvatarType::declared("Image/JPEG; charset=x").unwrap(),
        Some(AvatarType::Jpeg)
    );
    assert_eq!(
        reason(AvatarType::declared("image/gif")),
        Reason::AvatarInvalid
    );
}

#[test]
fn every_type_is_reencoded_in_its_own_type_within_512_keeping_the_aspect() {
    for (format, kind) in [
        (ImageFormat::Png, AvatarType::Png),
        (ImageFormat::Jpeg, AvatarType::Jpeg),
        (ImageFormat::WebP, AvatarType::WebP),
    ] {
        let out = reencode(&picture(1024, 600, format), Some(kind)).unwrap();
        assert_eq!(out.kind, kind);
        assert_eq!((out.width, out.height), (512, 300), "{kind:?}");
        assert_eq!(AvatarType::sniff(&out.bytes), Some(kind));
        let back = image::load_from_memory(&out.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (512, 300));
    }
    // Small images are not enlarged; undeclared is fine.
    let out = reencode(&picture(40, 30, ImageFormat::Png), None).unwrap();
    assert_eq!((out.width, out.height), (40, 30));
}

#[test]
fn metadata_does_not_survive() {
    let png = with_text(&picture(16, 16, ImageFormat::Png), "gps=48.8584,2.2945");
    assert!(
        png.windows(7).any(|w| w == b"48.8584"),
        "the fixture carries it"
    );
    let out = reencode(&png, Some(AvatarType::Png)).unwrap();
    assert!(!out.bytes.windows(7).any(|w| w == b"48.8584"));
    assert!(!out.bytes.windows(4).any(|w| w == b"tEXt"));
}

#[test]
fn lies_corruption_and_bombs_are_refused() {
    let png = picture(64, 64, ImageFormat::Png);
    assert_eq!(
        reason(reencode(&png, Some(AvatarType::Jpeg))),
        Reason::AvatarTypeMismatch
    );
    // A PNG cut in half: the right magic, pixels missing.
    assert_eq!(
        reason(reencode(&png[..png.len() / 2], None)),
        Reason::AvatarInvalid
    );
    let mut garbled = png.clone();
    for b in garbled.iter_mut().skip(60) {
        *b = 0x5a;
    }
    assert_eq!(reason(reencode(&garbled, None)), Reason::AvatarInvalid);
    assert_eq!(
        reason(reencode(b"not an image at all", None)),
        Reason::AvatarInvalid
    );
    // 100,000 × 100,000 claimed in a few hundred bytes.
    let bomb = claiming(&png, 100_000, 100_000);
    let err = reencode(&bomb, None).unwrap_err();
    assert_eq!(err.reason(), Reason::AvatarInvalid);
    assert!(err.message().contains("too large"), "{}", err.message());
}

/// A stream of `n` chunks of `size` bytes that counts how many were taken.
fn counted(n: usize, size: usize) -> (Arc<AtomicUsize>, impl Stream<Item = Result<Vec<u8>>>) {
    let taken = Arc::new(AtomicUsize::new(0));
    let seen = taken.clone();
    let chunks = stream::iter(0..n).map(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
        Ok(vec![7u8; size])
    });
    (taken, chunks)
}

#[tokio::test]
async fn reading_stops_at_the_first_chunk_past_the_limit() {
    let (taken, chunks) = counted(1_000, 1024);
    let err = read_limited(chunks, 0, 10 * 1024).await.unwrap_err();
    assert_eq!(err.reason(), Reason::AvatarTooLarge);
    assert_eq!(
        taken.load(Ordering::SeqCst),
        11,
        "not one chunk more was read"
    );

    // More than declared, under the limit: refused as it comes too.
    let (taken, chunks) = counted(1_000, 1024);
    let err = read_limited(chunks, 3 * 1024, 10 * 1024).await.unwrap_err();
    assert_eq!(err.reason(), Reason::AvatarInvalid);
    assert_eq!(taken.load(Ordering::SeqCst), 4);

    // Fewer than declared: the stream ended early.
    let (_, chunks) = counted(2, 1024);
    let err = read_limited(chunks, 3 * 1024, 10 * 1024).await.unwrap_err();
    assert_eq!(err.reason(), Reason::AvatarInvalid);

    let (_, chunks) = counted(3, 1024);
    assert_eq!(
        read_limited(chunks, 3 * 1024, 10 * 1024)
            .await
            .unwrap()
            .len(),
        3 * 1024
    );
    let (_, chunks) = counted(0, 1024);
    assert_eq!(
        read_limited(chunks, 0, 10 * 1024)
            .await
            .unwrap_err()
            .reason(),
        Reason::AvatarInvalid
    );
}

#[test]
fn settings_have_their_defaults_and_ranges() {
    use latch_runtime::config::MapSource;
    let d = AvatarConfig::from_source(&MapSource::new()).unwrap();
    assert_eq!(d, AvatarConfig::default());
    assert_eq!(d.max_bytes, 2 * 1024 * 1024);
    let set = AvatarConfig::from_source(
        &MapSource::new()
            .with("LATCH_AVATAR_MAX_BYTES", "4096")
            .with("LATCH_AVATAR_PUBLIC_URL", "https://cdn.example.com/"),
    )
    .unwrap();
    assert_eq!(set.max_bytes, 4096);
    for (key, value) in [
        ("LATCH_AVATAR_MAX_BYTES", "100"),
        ("LATCH_AVATAR_PUBLIC_URL", "cdn.example.com"),
        ("LATCH_AVATAR_ORPHAN_GRACE", "1s"),
    ] {
        assert!(
            AvatarConfig::from_source(&MapSource::new().with(key, value)).is_err(),
            "{key}={value}"
        );
    }
}

struct World {
    h: Harness,
    avatars: Arc<Avatars>,
    store: Arc<InMemory>,
    repo: Arc<SqlProfiles>,
}

async fn world() -> World {
    let h = Harness::new().await;
    let repo = Arc::new(SqlProfiles::new(h.db().clone()));
    let store = Arc::new(InMemory::new());
    let avatars = Avatars::new(
        h.profiles.clone(),
        repo.clone(),
        store.clone(),
        Arc::new(h.clock.clone()),
        AvatarConfig {
            public_url: Some("https://cdn.example.com/".into()),
            ..AvatarConfig::default()
        },
        CleanupCounter::global(),
    );
    World {
        h,
        avatars,
        store,
        repo,
    }
}

fn chunks_of(bytes: &[u8]) -> impl Stream<Item = Result<Vec<u8>>> + Send + use<> {
    stream::iter(
        bytes
            .chunks(1000)
            .map(|c| Ok(c.to_vec()))
            .collect::<Vec<_>>(),
    )
}

impl World {
    async fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .store
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }

    async fn upload(&self, user: UserId, bytes: &[u8], content_type: &str) -> Result<Profile> {
        let declared = Declared {
            content_type: content_type.into(),
            size: bytes.len() as u64,
        };
        self.avatars.upload(user, declared, chunks_of(bytes)).await
    }
}

#[tokio::test]
async fn an_upload_replaces_the_avatar_deletes_the_old_object_and_writes_its_event() {
    let w = world().await;
    let ada = UserId::new();
    w.h.profiles.create(ada, "Ada", "Lovelace").await.unwrap();
    let before = w.h.profiles.get(ada).await.unwrap();

    let first = w
        .upload(ada, &picture(800, 800, ImageFormat::Png), "image/png")
        .await
        .unwrap();
    let key = first.avatar_key.clone().unwrap();
    assert!(key.starts_with(&format!("avatars/{ada}/")) && key.ends_with(".png"));
    assert_eq!(
        first.avatar_url.as_deref(),
        Some(format!("https://cdn.example.com/{key}").as_str())
    );
    assert_eq!(first.avatar_mime.as_deref(), Some("image/png"));
    assert_eq!(first.first_name, "Ada", "other fields are untouched");
    assert!(first.version > before.version, "the version moved on");
    assert_eq!(w.keys().await, vec![key.clone()]);
    let stored = w
        .store
        .get(&Path::from(key.as_str()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(first.avatar_size, Some(stored.len() as i64));
    assert_eq!(image::load_from_memory(&stored).unwrap().width(), 512);

    let second = w
        .upload(ada, &picture(100, 100, ImageFormat::Jpeg), "")
        .await
        .unwrap();
    let new_key = second.avatar_key.clone().unwrap();
    assert!(new_key.ends_with(".jpg"));
    assert_ne!(new_key, key);
    assert_eq!(w.keys().await, vec![new_key], "the old object is gone");

    let rows = SqlOutbox::new(w.h.db().clone())
        .find_by_key(&format!("user:{ada}"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "one user:updated per upload");
    assert!(
        rows.iter()
            .all(|r| r.kind == latch_domain::events::DELIVER_EVENT_KIND)
    );
}

#[tokio::test]
async fn a_refused_upload_stores_nothing_and_keeps_the_avatar() {
    let w = world().await;
    let ada = UserId::new();
    w.h.profiles.create(ada, "Ada", "Lovelace").await.unwrap();
    let png = picture(64, 64, ImageFormat::Png);
    let kept = w.upload(ada, &png, "image/png").await.unwrap();

    let err = w.upload(ada, &png, "image/webp").await.unwrap_err();
    assert_eq!(err.reason(), Reason::AvatarTypeMismatch);
    let err = w
        .upload(ada, &png[..png.len() - 40], "image/png")
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::AvatarInvalid);
    // Broken off half-way: the transport's error ends the stream.
    let half = stream::iter(vec![
        Ok(png[..png.len() / 2].to_vec()),
        Err(Error::new(
            Reason::AvatarInvalid,
            "the upload stream broke off",
        )),
    ]);
    let declared = Declared {
        content_type: "image/png".into(),
        size: png.len() as u64,
    };
    assert!(w.avatars.upload(ada, declared, half).await.is_err());
    let too_big = Declared {
        content_type: String::new(),
        size: DEFAULT_MAX_BYTES + 1,
    };
    let err = w
        .avatars
        .upload(ada, too_big, chunks_of(&png))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::AvatarTooLarge);

    assert_eq!(w.keys().await, vec![kept.avatar_key.clone().unwrap()]);
    assert_eq!(
        w.h.profiles.get(ada).await.unwrap().avatar_key,
        kept.avatar_key
    );

    let nobody = UserId::new();
    let err = w.upload(nobody, &png, "image/png").await.unwrap_err();
    assert_eq!(err.reason(), Reason::NotFound);
    assert_eq!(w.keys().await.len(), 1);
}

#[tokio::test]
async fn delete_clears_the_columns_then_the_object_and_is_idempotent() {
    let w = world().await;
    let ada = UserId::new();
    w.h.profiles.create(ada, "Ada", "Lovelace").await.unwrap();
    w.upload(ada, &picture(64, 64, ImageFormat::WebP), "image/webp")
        .await
        .unwrap();
    let cleared = w.avatars.delete(ada).await.unwrap();
    assert_eq!(cleared.avatar_key, None);
    assert_eq!(cleared.avatar_url, None);
    assert_eq!(cleared.avatar_size, None);
    assert!(w.keys().await.is_empty());
    let again = w.avatars.delete(ada).await.unwrap();
    assert_eq!(
        again.version, cleared.version,
        "nothing written the second time"
    );
    let rows = SqlOutbox::new(w.h.db().clone())
        .find_by_key(&format!("user:{ada}"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "upload and one delete");
    assert_eq!(
        w.avatars.delete(UserId::new()).await.unwrap_err().reason(),
        Reason::NotFound
    );
}

#[tokio::test]
async fn the_cleanup_removes_old_objects_no_profile_names_and_nothing_else() {
    let w = world().await;
    let ada = UserId::new();
    let gone = UserId::new();
    w.h.profiles.create(ada, "Ada", "Lovelace").await.unwrap();
    w.h.profiles.create(gone, "Gone", "User").await.unwrap();
    let png = picture(32, 32, ImageFormat::Png);
    let in_use = w.upload(ada, &png, "").await.unwrap().avatar_key.unwrap();
    w.upload(gone, &png, "").await.unwrap();
    // A failed delete's leftover, and a deleted user's avatar.
    let leftover = format!("avatars/{ada}/leftover.png");
    w.store
        .put(
            &Path::from(leftover.as_str()),
            PutPayload::from(png.clone()),
        )
        .await
        .unwrap();
    assert!(w.repo.delete(gone).await.unwrap());
    // Not ours: never touched.
    w.store
        .put(&Path::from("other/thing.txt"), PutPayload::from(vec![1u8]))
        .await
        .unwrap();

    assert_eq!(
        w.avatars.remove_orphans().await.unwrap(),
        0,
        "within the grace period"
    );
    assert_eq!(w.keys().await.len(), 4);

    w.h.clock.advance(ChronoDuration::hours(2));
    assert_eq!(w.avatars.remove_orphans().await.unwrap(), 2);
    let mut left = vec![in_use, "other/thing.txt".to_owned()];
    left.sort();
    assert_eq!(w.keys().await, left);
    assert_eq!(w.avatars.remove_orphans().await.unwrap(), 0, "idempotent");
}

#[tokio::test]
async fn avatar_keys_reads_only_profiles_that_exist() {
    let w = world().await;
    let ada = UserId::new();
    let bob = UserId::new();
    w.h.profiles.create(ada, "Ada", "Lovelace").await.unwrap();
    w.h.profiles.create(bob, "Bob", "B").await.unwrap();
    let key = w
        .upload(ada, &picture(8, 8, ImageFormat::Png), "")
        .await
        .unwrap()
        .avatar_key;
    let keys = w
        .repo
        .avatar_keys(&[ada, bob, UserId::new()])
        .await
        .unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[&ada], key);
    assert_eq!(keys[&bob], None);
}
