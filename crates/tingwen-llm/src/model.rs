//! `ChatModel`: a GGUF chat model on its own worker thread behind a bounded queue.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use tingwen_core::{
    ChatMessage, CoreResult, FinishReason, GenerationOutput, GenerationRequest, Generator,
    SamplingParams, TokenSink,
};

use crate::gguf::{Architecture, LoadedGguf, Weights};
use crate::sampler::Sampler;
use crate::stream::{StreamEvent, TextStream};
use crate::template::ChatTemplate;
use crate::tokenizer::GgufTokenizer;
use crate::LlmError;

/// Prompt tokens run through the model per forward pass; bounds the
/// attention score matrix for long prompts.
const PREFILL_CHUNK: usize = 512;
/// Text pieces buffered between the worker and the caller.
const EVENT_BUFFER: usize = 16;
/// Set to `1` to keep weight types as stored (no Q8_0 re-quantisation), e.g.
/// to measure the difference.
pub const KEEP_QUANTISATION_ENV: &str = "TINGWEN_LLM_KEEP_QUANTISATION";

/// How to run a chat model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatModelOptions {
    /// Requests that may wait while one generates; more is `Overloaded`.
    pub queue_bound: usize,
    /// Compute threads. candle's thread pools are process-wide and sized on
    /// first use, so this only takes effect when set before any model runs
    /// (it sets `CANDLE_NUM_THREADS`/`RAYON_NUM_THREADS` if they are unset).
    pub threads: Option<usize>,
    /// Cap on the context window (default: the model's own).
    pub max_context: Option<usize>,
}

impl Default for ChatModelOptions {
    fn default() -> Self {
        ChatModelOptions {
            queue_bound: 8,
            threads: None,
            max_context: None,
        }
    }
}

/// Load-time choices beyond [`ChatModelOptions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadTuning {
    /// Re-quantise weight types without a SIMD kernel in candle (Q4_1, Q5_0,
    /// Q5_1) to Q8_0 at load: several times faster, ~1.5x the weight memory,
    /// numerically a little different from the file.
    pub requantise_slow_types: bool,
}

impl Default for LoadTuning {
    /// Re-quantises, unless `TINGWEN_LLM_KEEP_QUANTISATION=1`.
    fn default() -> Self {
        LoadTuning {
            requantise_slow_types: std::env::var(KEEP_QUANTISATION_ENV).as_deref() != Ok("1"),
        }
    }
}

struct Job {
    prompt: Vec<u32>,
    params: SamplingParams,
    events: SyncSender<Event>,
    cancel: Arc<AtomicBool>,
    started: Instant,
    ignore_stop_tokens: bool,
}

enum Event {
    Text(String),
    Done {
        finish_reason: FinishReason,
        completion_tokens: usize,
        first_token_ms: Option<f64>,
    },
    Failed(LlmError),
}

/// A local chat model loaded from a GGUF file. `Send + Sync`; share it
/// through an `Arc`. Generation runs on one worker thread, one request at a time.
pub struct ChatModel {
    model_id: String,
    architecture: Architecture,
    context_length: usize,
    tokenizer: Arc<GgufTokenizer>,
    template: ChatTemplate,
    stop_tokens: Vec<u32>,
    queue_bound: usize,
    jobs: Option<SyncSender<Job>>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ChatModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatModel")
            .field("model_id", &self.model_id)
            .field("architecture", &self.architecture)
            .field("context_length", &self.context_length)
            .field("stop_tokens", &self.stop_tokens)
            .finish()
    }
}

impl ChatModel {
    /// Loads a GGUF chat model and starts its worker thread.
    pub fn load(gguf_path: &Path, options: ChatModelOptions) -> Result<Self, LlmError> {
        Self::load_tuned(gguf_path, options, LoadTuning::default())
    }

    /// [`ChatModel::load`] with explicit load-time choices.
    pub fn load_tuned(
        gguf_path: &Path,
        options: ChatModelOptions,
        tuning: LoadTuning,
    ) -> Result<Self, LlmError> {
        if let Some(threads) = options.threads.filter(|t| *t > 0) {
            for key in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"] {
                if std::env::var_os(key).is_none() {
                    std::env::set_var(key, threads.to_string());
                }
            }
        }
        let mut gguf = LoadedGguf::read(gguf_path)?;
        let model_id = gguf_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "chat-model".to_string());
        Self::from_gguf(&mut gguf, options, &tuning).and_then(|parts| parts.start(gguf, model_id))
    }

    /// Loads a model from GGUF bytes already in memory (tests, embedded models).
    pub fn load_from_bytes(
        bytes: Vec<u8>,
        model_id: &str,
        options: ChatModelOptions,
    ) -> Result<Self, LlmError> {
        let mut gguf = LoadedGguf::from_bytes(bytes)?;
        Self::from_gguf(&mut gguf, options, &LoadTuning::default())
            .and_then(|parts| parts.start(gguf, model_id.into()))
    }

    fn from_gguf(
        gguf: &mut LoadedGguf,
        options: ChatModelOptions,
        tuning: &LoadTuning,
    ) -> Result<Parts, LlmError> {
        let metadata = gguf.metadata();
        let arch_name = metadata.string("general.architecture")?;
        let architecture = Architecture::from_name(&arch_name)?;
        let tokenizer = GgufTokenizer::from_metadata(&metadata)?;
        let template_source = metadata
            .optional_string("tokenizer.chat_template")?
            .ok_or_else(|| {
                LlmError::Template("the model has no tokenizer.chat_template".to_string())
            })?;
        let token_text = |id: Option<u32>| {
            id.and_then(|id| tokenizer.token_text(id))
                .unwrap_or("")
                .to_string()
        };
        let template = ChatTemplate::new(
            &template_source,
            &token_text(tokenizer.bos_id()),
            &token_text(tokenizer.eos_id()),
        )?;
        let stop_tokens = find_stop_tokens(&metadata, &tokenizer, &template)?;
        let model_context = metadata
            .optional_u32(&format!("{}.context_length", architecture.key_prefix()))?
            .map(|c| c as usize)
            .unwrap_or(2048);
        // candle's llama precomputes rotary tables for a fixed length only.
        let model_context = match architecture {
            Architecture::Llama => {
                model_context.min(candle_transformers::models::quantized_llama::MAX_SEQ_LEN)
            }
            _ => model_context,
        };
        let context_length = options
            .max_context
            .map_or(model_context, |cap| cap.min(model_context));
        if tuning.requantise_slow_types {
            let converted = gguf.requantise_slow_types()?;
            if converted > 0 {
                tracing::info!(
                    converted,
                    "re-quantised weights without a fast CPU kernel to Q8_0"
                );
            }
        }
        Ok(Parts {
            architecture,
            context_length,
            tokenizer,
            template,
            stop_tokens,
            queue_bound: options.queue_bound,
        })
    }

    /// The model family.
    pub fn architecture(&self) -> Architecture {
        self.architecture
    }

    /// The tokenizer built from the model file.
    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    /// Tokens that end generation (EOS and the template's end-of-turn marker).
    pub fn stop_tokens(&self) -> &[u32] {
        &self.stop_tokens
    }

    /// The conversation rendered with the model's chat template, ending with
    /// the opening of the assistant's turn.
    pub fn render_prompt(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        self.template.render(messages, true)
    }

    /// Token ids of the rendered prompt (BOS included when the model uses it).
    pub fn prompt_tokens(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, LlmError> {
        let text = self.render_prompt(messages)?;
        self.tokenizer.encode_prompt(&text)
    }

    /// Generates from already tokenized input (bypassing the chat template),
    /// streaming into `sink`. Used by benchmarks; `generate` is the normal entry.
    pub fn generate_tokens(
        &self,
        prompt: Vec<u32>,
        params: &SamplingParams,
        sink: &mut TokenSink<'_>,
    ) -> Result<GenerationOutput, LlmError> {
        self.submit(prompt, params, false, sink)
    }

    /// Like [`ChatModel::generate_tokens`] but ignores end-of-turn tokens, so
    /// exactly `max_tokens` tokens are generated unless a stop string or the
    /// sink ends it. For benchmarks.
    pub fn generate_fixed_length(
        &self,
        prompt: Vec<u32>,
        params: &SamplingParams,
        sink: &mut TokenSink<'_>,
    ) -> Result<GenerationOutput, LlmError> {
        self.submit(prompt, params, true, sink)
    }

    fn submit(
        &self,
        prompt: Vec<u32>,
        params: &SamplingParams,
        ignore_stop_tokens: bool,
        sink: &mut TokenSink<'_>,
    ) -> Result<GenerationOutput, LlmError> {
        let started = Instant::now();
        let prompt_tokens = prompt.len();
        if prompt_tokens == 0 {
            return Err(LlmError::InvalidRequest("empty prompt".into()));
        }
        let needed = prompt_tokens + params.max_tokens;
        if needed > self.context_length {
            return Err(LlmError::ContextOverflow {
                needed,
                limit: self.context_length,
            });
        }
        // Validate before queueing so bad parameters fail fast.
        Sampler::new(params)?;
        let (events_tx, events_rx) = mpsc::sync_channel(EVENT_BUFFER);
        let cancel = Arc::new(AtomicBool::new(false));
        let job = Job {
            prompt,
            params: params.clone(),
            events: events_tx,
            cancel: Arc::clone(&cancel),
            started,
            ignore_stop_tokens,
        };
        let jobs = self.jobs.as_ref().ok_or(LlmError::WorkerGone)?;
        match jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(LlmError::Overloaded(self.queue_bound)),
            Err(TrySendError::Disconnected(_)) => return Err(LlmError::WorkerGone),
        }
        collect_events(events_rx, &cancel, sink, started, prompt_tokens)
    }
}

/// Everything but the weights, ready to start the worker.
struct Parts {
    architecture: Architecture,
    context_length: usize,
    tokenizer: GgufTokenizer,
    template: ChatTemplate,
    stop_tokens: Vec<u32>,
    queue_bound: usize,
}

impl Parts {
    fn start(self, gguf: LoadedGguf, model_id: String) -> Result<ChatModel, LlmError> {
        let weights = gguf.into_weights(self.architecture)?;
        let tokenizer = Arc::new(self.tokenizer);
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job>(self.queue_bound);
        let worker_tokenizer = Arc::clone(&tokenizer);
        let stop_tokens = self.stop_tokens.clone();
        let worker = std::thread::Builder::new()
            .name(format!("tingwen-llm-{model_id}"))
            .spawn(move || run_worker(weights, worker_tokenizer, stop_tokens, jobs_rx))
            .map_err(|source| LlmError::Io {
                path: "worker thread".into(),
                source,
            })?;
        Ok(ChatModel {
            model_id,
            architecture: self.architecture,
            context_length: self.context_length,
            tokenizer,
            template: self.template,
            stop_tokens: self.stop_tokens,
            queue_bound: self.queue_bound,
            jobs: Some(jobs_tx),
            worker: Some(worker),
        })
    }
}

impl Drop for ChatModel {
    fn drop(&mut self) {
        // Closing the queue ends the worker loop once the current job is done.
        self.jobs.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// EOS, the metadata's end-of-turn ids, and the control token the template
/// writes right after an assistant message (`<|im_end|>`, `<|eot_id|>`,
/// `<end_of_turn>`...), found by rendering, not by name.
fn find_stop_tokens(
    metadata: &crate::gguf::Metadata,
    tokenizer: &GgufTokenizer,
    template: &ChatTemplate,
) -> Result<Vec<u32>, LlmError> {
    let mut stops = Vec::new();
    for key in [
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id",
    ] {
        if let Some(id) = metadata.optional_u32(key)? {
            stops.push(id);
        }
    }
    let suffix = template.assistant_turn_suffix()?;
    let suffix = suffix.trim_start();
    if let Some((_, id)) = tokenizer
        .special_tokens()
        .iter()
        .find(|(text, _)| suffix.starts_with(text.as_str()))
    {
        stops.push(*id);
    }
    stops.sort_unstable();
    stops.dedup();
    stops.retain(|id| (*id as usize) < tokenizer.vocab_size());
    Ok(stops)
}

fn collect_events(
    events: Receiver<Event>,
    cancel: &AtomicBool,
    sink: &mut TokenSink<'_>,
    started: Instant,
    prompt_tokens: usize,
) -> Result<GenerationOutput, LlmError> {
    let mut text = String::new();
    let mut cancelled = false;
    for event in events.iter() {
        match event {
            Event::Text(piece) => {
                if cancelled {
                    continue;
                }
                if !sink(&piece) {
                    cancelled = true;
                    cancel.store(true, Ordering::Relaxed);
                }
                text.push_str(&piece);
            }
            Event::Done {
                finish_reason,
                completion_tokens,
                first_token_ms,
            } => {
                let total_ms = started.elapsed().as_secs_f64() * 1000.0;
                return Ok(GenerationOutput {
                    text,
                    prompt_tokens,
                    completion_tokens,
                    finish_reason: if cancelled {
                        FinishReason::Cancelled
                    } else {
                        finish_reason
                    },
                    time_to_first_token_ms: first_token_ms.unwrap_or(total_ms),
                    total_ms,
                });
            }
            Event::Failed(err) => return Err(err),
        }
    }
    Err(LlmError::WorkerGone)
}

fn run_worker(
    mut weights: Weights,
    tokenizer: Arc<GgufTokenizer>,
    stop_tokens: Vec<u32>,
    jobs: Receiver<Job>,
) {
    for job in jobs.iter() {
        let events = job.events.clone();
        let result = run_job(&mut weights, &tokenizer, &stop_tokens, job);
        if let Err(err) = result {
            tracing::warn!(error = %err, "generation failed");
            let _ = events.send(Event::Failed(err));
        }
    }
}

fn run_job(
    weights: &mut Weights,
    tokenizer: &GgufTokenizer,
    stop_tokens: &[u32],
    job: Job,
) -> Result<(), LlmError> {
    let Job {
        prompt,
        params,
        events,
        cancel,
        started,
        ignore_stop_tokens,
    } = job;
    let mut sampler = Sampler::new(&params)?;
    let mut stream = TextStream::new(&params.stop);
    let mut history = prompt.clone();
    let mut completion_tokens = 0usize;
    let mut first_token_ms = None;
    // The caller is gone or asked to stop: either way, stop computing.
    let stopped = |cancel: &AtomicBool| cancel.load(Ordering::Relaxed);
    let send_text =
        |text: String| -> bool { text.is_empty() || events.send(Event::Text(text)).is_ok() };

    weights.clear_kv_cache();
    let mut finish_reason = FinishReason::Length;
    let mut logits = None;
    let mut position = 0;
    for chunk in prompt.chunks(PREFILL_CHUNK) {
        if stopped(&cancel) {
            break;
        }
        logits = Some(weights.forward(chunk, position)?);
        position += chunk.len();
    }
    let mut logits = match logits {
        Some(l) if !stopped(&cancel) => l.to_vec1::<f32>()?,
        _ => {
            let _ = events.send(Event::Done {
                finish_reason: FinishReason::Cancelled,
                completion_tokens: 0,
                first_token_ms: None,
            });
            return Ok(());
        }
    };
    let mut stop_string_hit = false;
    while completion_tokens < params.max_tokens {
        if stopped(&cancel) {
            finish_reason = FinishReason::Cancelled;
            break;
        }
        let token = sampler.sample(&mut logits, &history);
        if first_token_ms.is_none() {
            first_token_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        }
        if !ignore_stop_tokens && stop_tokens.contains(&token) {
            finish_reason = FinishReason::Stop;
            break;
        }
        completion_tokens += 1;
        history.push(token);
        match stream.push(tokenizer.token_bytes(token)) {
            StreamEvent::Text(text) => {
                if !send_text(text) {
                    finish_reason = FinishReason::Cancelled;
                    break;
                }
            }
            StreamEvent::Stopped(text) => {
                send_text(text);
                finish_reason = FinishReason::Stop;
                stop_string_hit = true;
                break;
            }
        }
        if completion_tokens >= params.max_tokens {
            finish_reason = FinishReason::Length;
            break;
        }
        logits = weights.forward(&[token], position)?.to_vec1::<f32>()?;
        position += 1;
    }
    if !stop_string_hit && finish_reason != FinishReason::Cancelled {
        send_text(stream.finish());
    }
    let _ = events.send(Event::Done {
        finish_reason,
        completion_tokens,
        first_token_ms,
    });
    Ok(())
}

impl Generator for ChatModel {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn context_length(&self) -> usize {
        self.context_length
    }

    fn count_prompt_tokens(&self, messages: &[ChatMessage]) -> CoreResult<usize> {
        Ok(self.prompt_tokens(messages)?.len())
    }

    fn generate(
        &self,
        request: &GenerationRequest,
        sink: &mut TokenSink<'_>,
    ) -> CoreResult<GenerationOutput> {
        let prompt = self.prompt_tokens(&request.messages)?;
        Ok(self.generate_tokens(prompt, &request.params, sink)?)
    }
}
