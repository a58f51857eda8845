//! An [`Embedder`] run in-process: [`LocalEmbedder`], the sentence-transformers
//! model all-MiniLM-L6-v2 on candle (feature `local-embedder`).
//!
//! The weights are not bundled and never downloaded at run time: the
//! application keeps the model's directory on disk (see "A local embedder" in
//! `docs/caching.md` for where the files are published and how to fetch
//! them) and names it to [`LocalEmbedder::from_dir`].
//!
//! ```no_run
//! use tower_ai::cache::{CacheLayer, LocalEmbedder};
//! use tower_ai::store::MemoryCacheStore;
//!
//! # fn main() -> Result<(), tower_ai::Error> {
//! // config.json, tokenizer.json and model.safetensors of all-MiniLM-L6-v2.
//! let embedder = LocalEmbedder::from_dir("/opt/models/all-MiniLM-L6-v2")?;
//! let layer = CacheLayer::new(MemoryCacheStore::new()).semantic(embedder, 0.95);
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::Embedder;
use crate::error::{Error, Result};

/// The longest input, in word pieces with `[CLS]` and `[SEP]`: the
/// `max_seq_length` sentence-transformers uses for all-MiniLM-L6-v2 (longer
/// texts are cut to it, as there).
const MAX_SEQ_LEN: usize = 256;

/// The length of every vector all-MiniLM-L6-v2 answers.
const DIMENSIONS: usize = 384;

/// The sentence-transformers model all-MiniLM-L6-v2 run in-process with
/// candle on the CPU: 384-dimension vectors, mean-pooled over the tokens and
/// normalised to unit length, as sentence-transformers computes them.
///
/// Built from a directory holding the model's `config.json`,
/// `tokenizer.json` and `model.safetensors` ([`from_dir`](Self::from_dir)).
/// Texts longer than 256 word pieces are cut to their first 256, as
/// sentence-transformers cuts them. Each call to
/// [`embed`](Embedder::embed) runs one batch on a blocking thread
/// (`tokio::task::spawn_blocking`), so the forward pass never holds up the
/// async runtime; a batch is padded only to its longest text.
///
/// Cloning is cheap: clones share the weights.
#[derive(Clone)]
pub struct LocalEmbedder {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    tokenizer: Tokenizer,
    bert: Bert,
    device: Device,
}

impl fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

impl LocalEmbedder {
    /// Loads all-MiniLM-L6-v2 from `dir`: its `config.json`,
    /// `tokenizer.json` and `model.safetensors`.
    ///
    /// Reads the files and nothing else: no download. A missing or
    /// malformed file, or a model whose shape is not all-MiniLM-L6-v2's
    /// (a BERT encoder with 384-wide hidden states), answers
    /// [`Error::Config`] naming the file.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let device = Device::Cpu;

        let config_path = dir.join("config.json");
        let config: BertConfig = serde_json::from_slice(&read(&config_path)?).map_err(|e| {
            Error::config_with(format!("{} is not a BERT config.json", config_path.display()), e)
        })?;
        config.check(&config_path)?;

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_bytes(read(&tokenizer_path)?).map_err(|e| {
            Error::config_with(format!("{} is not a tokenizer.json", tokenizer_path.display()), e)
        })?;
        // The file pads every text to a fixed 128 tokens and cuts at 128;
        // sentence-transformers cuts at 256 and pads a batch to its longest
        // text only, which `embed` does itself.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: MAX_SEQ_LEN.min(config.max_position_embeddings),
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| {
                Error::config_with(format!("{}: cannot set truncation", tokenizer_path.display()), e)
            })?;

        let weights_path = dir.join("model.safetensors");
        let weights = read(&weights_path)?;
        let bert = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .and_then(|vb| Bert::load(vb, &config))
            .map_err(|e| {
                Error::config_with(
                    format!(
                        "{} does not hold the weights of all-MiniLM-L6-v2",
                        weights_path.display()
                    ),
                    e,
                )
            })?;

        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                tokenizer,
                bert,
                device,
            }),
        })
    }

    /// The length of every vector: 384.
    pub fn dimensions(&self) -> usize {
        DIMENSIONS
    }

    /// [`embed`](Embedder::embed) on the calling thread: one vector per
    /// text, in order, each of unit length. Blocks for the whole forward
    /// pass (milliseconds per text); from async code call `embed`, which
    /// runs this on a blocking thread.
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.inner.embed(texts)
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inner = Arc::clone(&self.inner);
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || inner.embed(&texts))
            .await
            .map_err(|e| Error::config_with("the local embedder's blocking task failed", e))?
    }
}

impl Inner {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.iter().map(String::as_str).collect::<Vec<_>>(), true)
            .map_err(|e| Error::config_with("the local embedder could not tokenize a text", e))?;
        self.forward(&encodings).map_err(|e| {
            Error::config_with(
                format!("the forward pass of the model in {} failed", self.dir.display()),
                e,
            )
        })
    }

    /// Pads the batch to its longest text, runs the encoder, mean-pools the
    /// real tokens (the attention mask) and normalises.
    fn forward(&self, encodings: &[tokenizers::Encoding]) -> candle_core::Result<Vec<Vec<f32>>> {
        let batch = encodings.len();
        let len = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![0u32; batch * len];
        let mut type_ids = vec![0u32; batch * len];
        let mut mask = vec![0f32; batch * len];
        for (row, encoding) in encodings.iter().enumerate() {
            let at = row * len;
            for (i, ((&id, &type_id), &m)) in encoding
                .get_ids()
                .iter()
                .zip(encoding.get_type_ids())
                .zip(encoding.get_attention_mask())
                .enumerate()
            {
                ids[at + i] = id;
                type_ids[at + i] = type_id;
                mask[at + i] = m as f32;
            }
        }
        let ids = Tensor::from_vec(ids, (batch, len), &self.device)?;
        let type_ids = Tensor::from_vec(type_ids, (batch, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (batch, len), &self.device)?;

        let hidden = self.bert.forward(&ids, &type_ids, &mask)?;

        // Mean over the real tokens, then unit length.
        let mask = mask.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
        mean.broadcast_div(&norms)?.to_vec2::<f32>()
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::config_with(format!("cannot read {}", path.display()), e))
}

/// The fields of `config.json` the forward pass needs.
#[derive(Debug, Deserialize)]
struct BertConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    layer_norm_eps: f64,
    #[serde(default = "gelu")]
    hidden_act: String,
    #[serde(default = "absolute")]
    position_embedding_type: String,
}

fn gelu() -> String {
    "gelu".into()
}

fn absolute() -> String {
    "absolute".into()
}

impl BertConfig {
    fn check(&self, path: &Path) -> Result<()> {
        let problem = if self.hidden_size != DIMENSIONS {
            Some(format!("hidden_size is {}, not {DIMENSIONS}", self.hidden_size))
        } else if self.num_attention_heads == 0 || self.hidden_size % self.num_attention_heads != 0 {
            Some(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ))
        } else if self.hidden_act != "gelu" {
            Some(format!(
                "hidden_act is {:?}, only \"gelu\" is supported",
                self.hidden_act
            ))
        } else if self.position_embedding_type != "absolute" {
            Some(format!(
                "position_embedding_type is {:?}, only \"absolute\" is supported",
                self.position_embedding_type
            ))
        } else {
            None
        };
        match problem {
            Some(problem) => Err(Error::config(format!(
                "{} is not all-MiniLM-L6-v2's: {problem}",
                path.display()
            ))),
            None => Ok(()),
        }
    }
}

/// A BERT encoder, as `transformers`' `BertModel` without its pooler.
struct Bert {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    embeddings_norm: LayerNorm,
    layers: Vec<BertLayer>,
}

struct BertLayer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    heads: usize,
    head_dim: usize,
}

impl Bert {
    fn load(vb: VarBuilder<'_>, config: &BertConfig) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let eps = config.layer_norm_eps;
        let emb = vb.pp("embeddings");
        let layers = (0..config.num_hidden_layers)
            .map(|i| BertLayer::load(vb.pp(format!("encoder.layer.{i}")), config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            word_embeddings: embedding(config.vocab_size, hidden, emb.pp("word_embeddings"))?,
            position_embeddings: embedding(
                config.max_position_embeddings,
                hidden,
                emb.pp("position_embeddings"),
            )?,
            token_type_embeddings: embedding(
                config.type_vocab_size,
                hidden,
                emb.pp("token_type_embeddings"),
            )?,
            embeddings_norm: layer_norm(hidden, eps, emb.pp("LayerNorm"))?,
            layers,
        })
    }

    /// Hidden states `(batch, len, hidden)` of ids `(batch, len)`; `mask`
    /// `(batch, len)` is 1 for a real token and 0 for padding.
    fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (_, len) = ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, ids.device())?;
        let mut hidden = self
            .word_embeddings
            .forward(ids)?
            .broadcast_add(&self.position_embeddings.forward(&positions)?)?
            .add(&self.token_type_embeddings.forward(type_ids)?)?;
        hidden = self.embeddings_norm.forward(&hidden)?;
        // 0 where a key is a real token, a large negative number where it is
        // padding: padding gets no attention.
        let bias = mask.affine(1e9, -1e9)?.unsqueeze(1)?.unsqueeze(1)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &bias)?;
        }
        Ok(hidden)
    }
}

impl BertLayer {
    fn load(vb: VarBuilder<'_>, config: &BertConfig) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let eps = config.layer_norm_eps;
        let attention = vb.pp("attention");
        Ok(Self {
            query: linear(hidden, hidden, attention.pp("self.query"))?,
            key: linear(hidden, hidden, attention.pp("self.key"))?,
            value: linear(hidden, hidden, attention.pp("self.value"))?,
            attention_out: linear(hidden, hidden, attention.pp("output.dense"))?,
            attention_norm: layer_norm(hidden, eps, attention.pp("output.LayerNorm"))?,
            intermediate: linear(hidden, config.intermediate_size, vb.pp("intermediate.dense"))?,
            output: linear(config.intermediate_size, hidden, vb.pp("output.dense"))?,
            output_norm: layer_norm(hidden, eps, vb.pp("output.LayerNorm"))?,
            heads: config.num_attention_heads,
            head_dim: hidden / config.num_attention_heads,
        })
    }

    fn forward(&self, hidden: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, len, width) = hidden.dims3()?;
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((batch, len, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.query.forward(hidden)?)?;
        let k = split(self.key.forward(hidden)?)?;
        let v = split(self.value.forward(hidden)?)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((batch, len, width))?;
        let attended = self
            .attention_norm
            .forward(&(self.attention_out.forward(&context)? + hidden)?)?;
        let inner = self.intermediate.forward(&attended)?.gelu_erf()?;
        self.output_norm
            .forward(&(self.output.forward(&inner)? + &attended)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_names_the_file() {
        let err = LocalEmbedder::from_dir("/nonexistent/minilm").unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
        assert!(err.to_string().contains("config.json"), "{err}");
    }

    #[test]
    fn a_corrupt_config_names_the_file() {
        let dir = std::env::temp_dir().join(format!("tower-ai-minilm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), b"{ not json").unwrap();
        let err = LocalEmbedder::from_dir(&dir).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(err, Error::Config { .. }), "{err}");
        assert!(err.to_string().contains("config.json"), "{err}");
    }
}
