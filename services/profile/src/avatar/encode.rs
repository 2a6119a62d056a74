//! What an upload is and what is stored of it: the type taken from the
//! bytes (never from the name or the declared type alone), the image
//! decoded under limits, turned upright, shrunk to fit 512×512 and encoded
//! again from its pixels, so nothing of the upload's metadata (EXIF with
//! its GPS position, ICC profiles, comments) survives.
//!
//! CPU-bound: call it through `spawn_blocking`.

use std::io::Cursor;

use image::{
    DynamicImage, ImageDecoder as _, ImageFormat, ImageReader, Limits,
    codecs::{jpeg::JpegEncoder, png::PngEncoder, webp::WebPEncoder},
    imageops::FilterType,
    metadata::Orientation,
};
use latch_domain::{Error, Reason, Result};

/// The largest side of a stored avatar, in pixels.
pub const MAX_SIDE: u32 = 512;
/// An upload declaring a larger side is refused before any pixel is
/// decoded: a few kilobytes of PNG can claim gigapixels (a decompression
/// bomb).
const MAX_INPUT_SIDE: u32 = 8_192;
/// What the decoder may allocate: a 4096×4096 RGBA image and change.
const MAX_DECODE_ALLOC: u64 = 80 * 1024 * 1024;
/// JPEG quality of stored avatars: no visible loss at 512 px.
const JPEG_QUALITY: u8 = 85;

/// The image types an avatar may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvatarType {
    Png,
    Jpeg,
    WebP,
}

impl AvatarType {
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::WebP => "image/webp",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::WebP => "webp",
        }
    }

    /// The type the bytes are, from their magic numbers; `None` for
    /// anything but PNG, JPEG and WebP.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match image::guess_format(bytes).ok()? {
            ImageFormat::Png => Some(Self::Png),
            ImageFormat::Jpeg => Some(Self::Jpeg),
            ImageFormat::WebP => Some(Self::WebP),
            _ => None,
        }
    }

    /// The declared `content_type` (parameters and case ignored; `""` =
    /// not declared). A type that is not one of the three is refused.
    pub fn declared(content_type: &str) -> Result<Option<Self>> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "" => Ok(None),
            "image/png" => Ok(Some(Self::Png)),
            // `image/jpg` is not registered, but common enough to accept.
            "image/jpeg" | "image/jpg" => Ok(Some(Self::Jpeg)),
            "image/webp" => Ok(Some(Self::WebP)),
            _ => Err(Error::field(
                Reason::AvatarInvalid,
                "metadata.content_type",
                "must be image/png, image/jpeg or image/webp",
            )),
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            Self::Png => ImageFormat::Png,
            Self::Jpeg => ImageFormat::Jpeg,
            Self::WebP => ImageFormat::WebP,
        }
    }
}

/// An avatar ready to store.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub kind: AvatarType,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Checks `bytes` against the `declared` type, decodes them under limits
/// and encodes them again, in the same type, at most [`MAX_SIDE`] a side
/// (aspect kept, never enlarged).
///
/// Errors: `AVATAR_INVALID` for bytes of no accepted type, a corrupt or
/// truncated image, or one past the decoder's limits;
/// `AVATAR_TYPE_MISMATCH` when the declared type is not the bytes' type.
pub fn reencode(bytes: &[u8], declared: Option<AvatarType>) -> Result<Encoded> {
    let kind = AvatarType::sniff(bytes).ok_or_else(|| {
        Error::new(
            Reason::AvatarInvalid,
            "the bytes are not a PNG, JPEG or WebP image",
        )
    })?;
    if let Some(declared) = declared
        && declared != kind
    {
        return Err(Error::field(
            Reason::AvatarTypeMismatch,
            "metadata.content_type",
            format!(
                "declared {}, but the bytes are {}",
                declared.mime(),
                kind.mime()
            ),
        ));
    }
    let image = decode(bytes, kind)?;
    let image = if image.width() > MAX_SIDE || image.height() > MAX_SIDE {
        image.resize(MAX_SIDE, MAX_SIDE, FilterType::CatmullRom)
    } else {
        image
    };
    let (width, height) = (image.width(), image.height());
    let bytes = encode(&image, kind)
        .map_err(|e| Error::internal_msg("an avatar could not be encoded").with_source(e))?;
    Ok(Encoded {
        kind,
        bytes,
        width,
        height,
    })
}

/// Decodes under [`MAX_INPUT_SIDE`] and [`MAX_DECODE_ALLOC`], upright per
/// its EXIF orientation (the only metadata worth keeping, applied to the
/// pixels before the rest is dropped).
fn decode(bytes: &[u8], kind: AvatarType) -> Result<DynamicImage> {
    let invalid = |e: image::ImageError| {
        let why = match e {
            image::ImageError::Limits(_) => "the image is too large to decode",
            _ => "the image does not decode",
        };
        Error::new(Reason::AvatarInvalid, why).with_source(e)
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_INPUT_SIDE);
    limits.max_image_height = Some(MAX_INPUT_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(invalid)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(invalid)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Encodes 8-bit RGB or RGBA (alpha only where the image has it and the
/// type can hold it): no metadata is written.
fn encode(image: &DynamicImage, kind: AvatarType) -> image::ImageResult<Vec<u8>> {
    let mut out = Vec::new();
    let alpha = image.color().has_alpha();
    match kind {
        AvatarType::Jpeg => image
            .to_rgb8()
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))?,
        AvatarType::Png if alpha => image
            .to_rgba8()
            .write_with_encoder(PngEncoder::new(&mut out))?,
        AvatarType::Png => image
            .to_rgb8()
            .write_with_encoder(PngEncoder::new(&mut out))?,
        AvatarType::WebP if alpha => image
            .to_rgba8()
            .write_with_encoder(WebPEncoder::new_lossless(&mut out))?,
        AvatarType::WebP => image
            .to_rgb8()
            .write_with_encoder(WebPEncoder::new_lossless(&mut out))?,
    }
    Ok(out)
}
