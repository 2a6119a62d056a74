//! Images for the avatar tests, made by the test rather than shipped.

use image::{DynamicImage, ImageFormat, Rgba, RgbaImage};

/// A `width`×`height` image in `format`: a gradient (so encoders have
/// something to chew on), half-transparent where the format keeps alpha.
pub fn picture(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let rgba = RgbaImage::from_fn(width, height, |x, y| {
        Rgba([(x % 256) as u8, (y % 256) as u8, 128, 200])
    });
    let image = if format == ImageFormat::Jpeg {
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).to_rgb8())
    } else {
        DynamicImage::ImageRgba8(rgba)
    };
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("an image encodes");
    out.into_inner()
}
