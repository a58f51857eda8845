//! OpenAI's image formula: a base cost, and a cost per 512-pixel tile.

use base64::Engine;

use super::openai::Profile;
use crate::types::{Image, ImageDetail, ImageSource};

/// The largest image the formula allows, once scaled: 768 × 2048, 2 × 4 tiles.
const MOST_TILES: u64 = 8;
/// Base64 characters decoded to find an image's size: 64 KiB of bytes,
/// enough for the header of the formats `imagesize` reads.
const HEADER_CHARS: usize = 65_536 / 3 * 4;

pub(super) fn tokens(image: &Image, profile: &Profile) -> u64 {
    if image.detail == Some(ImageDetail::Low) {
        return profile.image_base;
    }
    let tiles = size(&image.source).map_or(MOST_TILES, |(w, h)| tiles(w, h));
    profile.image_base + profile.image_tile * tiles
}

/// The number of 512-pixel tiles of a `width` × `height` image, once scaled
/// to fit 2048 × 2048 and then to a shorter side of at most 768 pixels.
pub(super) fn tiles(width: u64, height: u64) -> u64 {
    if width == 0 || height == 0 {
        return 0;
    }
    let (mut w, mut h) = (width as f64, height as f64);
    let fit = (2048.0 / w).min(2048.0 / h);
    if fit < 1.0 {
        w *= fit;
        h *= fit;
    }
    let shorter = w.min(h);
    if shorter > 768.0 {
        let scale = 768.0 / shorter;
        w *= scale;
        h *= scale;
    }
    let across = (w / 512.0).ceil().max(1.0) as u64;
    let down = (h / 512.0).ceil().max(1.0) as u64;
    across * down
}

/// The pixel size of an inline image, read from its header.
fn size(source: &ImageSource) -> Option<(u64, u64)> {
    let data = match source {
        ImageSource::Base64 { data, .. } => data.as_str(),
        ImageSource::Url { url } => {
            let rest = url.strip_prefix("data:")?;
            let (meta, data) = rest.split_once(',')?;
            if !meta.ends_with(";base64") {
                return None;
            }
            data
        }
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    let mut end = data.len().min(HEADER_CHARS);
    end -= end % 4;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.get(..end)?)
        .ok()?;
    let size = imagesize::blob_size(&bytes).ok()?;
    Some((size.width as u64, size.height as u64))
}
