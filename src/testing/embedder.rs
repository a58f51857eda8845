//! [`WordEmbedder`]: a deterministic embedder for tests of a semantic cache.

use async_trait::async_trait;

use crate::cache::Embedder;
use crate::error::Result;

/// An [`Embedder`] for tests: each lower-cased word (a run of letters and
/// digits) adds one to a slot of a 256-dimension vector picked by its
/// hash, so two texts are as similar as the words they share. "How do I
/// enable dark mode?" and "How can I enable dark mode?" share five of six
/// words: a cosine of 5/6. No model, no network, the same vector on every
/// run.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> tower_ai::Result<()> {
/// use tower_ai::cache::Embedder;
/// use tower_ai::testing::WordEmbedder;
///
/// let vectors = WordEmbedder.embed(&["Dark mode".into(), "dark MODE!".into()]).await?;
/// assert_eq!(vectors[0], vectors[1]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct WordEmbedder;

/// The vector's length.
const DIMENSIONS: usize = 256;

#[async_trait]
impl Embedder for WordEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|text| words(text)).collect())
    }
}

fn words(text: &str) -> Vec<f32> {
    let mut vector = vec![0.0f32; DIMENSIONS];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        // FNV-1a: stable across runs and platforms.
        let hash = word
            .to_lowercase()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        vector[(hash % DIMENSIONS as u64) as usize] += 1.0;
    }
    vector
}
