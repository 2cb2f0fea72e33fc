//! Running an answer on a blocking thread and bridging its callback to the
//! async side: a bounded channel feeds the SSE stream; when the stream is
//! dropped (client gone) or its deadline passes, the callback starts
//! returning `false` so the engine stops generating.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tingwen_core::Answer;
use tokio::sync::mpsc;

use crate::{ApiError, AppState, AskEvent, AskRequest, GenerationSlot};

/// Pieces buffered between the engine and a slow client before the engine waits.
const CHANNEL_CAPACITY: usize = 64;

/// What the engine thread sends to the stream.
pub(crate) enum StreamItem {
    /// Progress.
    Event(AskEvent),
    /// The verified answer, or why there is none. Always the last item.
    Finished(Result<Answer, ApiError>),
}

/// Sets a flag when dropped, so blocking work started by a request future
/// notices that the future was dropped (client gone, or timed out).
pub(crate) struct CancelOnDrop(Arc<AtomicBool>);

impl CancelOnDrop {
    pub(crate) fn new() -> Self {
        CancelOnDrop(Arc::new(AtomicBool::new(false)))
    }

    pub(crate) fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Answers without streaming; the answer is cancelled if the request future
/// is dropped.
pub(crate) async fn ask_to_end(
    state: &AppState,
    request: AskRequest,
    mut slot: GenerationSlot,
) -> Result<Answer, ApiError> {
    let cancel = CancelOnDrop::new();
    let cancelled = cancel.flag();
    let answer = state
        .blocking(move |service| {
            let mut on_event = |event: AskEvent| {
                if matches!(event, AskEvent::Delta(_)) {
                    slot.count_delta();
                }
                !cancelled.load(Ordering::Relaxed)
            };
            service.ask(&request, &mut on_event)
        })
        .await;
    drop(cancel);
    answer
}

/// An answer being produced on a blocking thread.
pub(crate) struct AskStream {
    receiver: mpsc::Receiver<StreamItem>,
    deadline: tokio::time::Instant,
    finished: bool,
}

impl AskStream {
    /// Starts answering; the slot is held until the engine returns.
    pub(crate) fn start(state: &AppState, request: AskRequest, mut slot: GenerationSlot) -> Self {
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        let service = state.service.clone();
        let retry_after = state.config.retry_after_secs;
        let timeout = state.config.stream_timeout;
        let deadline = std::time::Instant::now() + timeout;
        tokio::task::spawn_blocking(move || {
            let mut on_event = |event: AskEvent| {
                if std::time::Instant::now() >= deadline {
                    return false;
                }
                if matches!(event, AskEvent::Delta(_)) {
                    slot.count_delta();
                }
                // Fails once the receiver (the response stream) is dropped.
                sender.blocking_send(StreamItem::Event(event)).is_ok()
            };
            let result = service.ask(&request, &mut on_event);
            let result = match result {
                Err(_) if std::time::Instant::now() >= deadline => Err(ApiError::Timeout),
                other => other.map_err(|error| ApiError::from_service(error, retry_after)),
            };
            // Release the slot before the client reads the last event, so a
            // client that asks again right away finds it free.
            drop(slot);
            let _ = sender.blocking_send(StreamItem::Finished(result));
        });
        AskStream {
            receiver,
            deadline: tokio::time::Instant::now() + timeout,
            finished: false,
        }
    }

    /// The next item; `None` after `Finished`.
    pub(crate) async fn next(&mut self) -> Option<StreamItem> {
        if self.finished {
            return None;
        }
        let item = match tokio::time::timeout_at(self.deadline, self.receiver.recv()).await {
            Ok(Some(item)) => item,
            Ok(None) => StreamItem::Finished(Err(ApiError::Internal(
                "the answer thread ended without a result".into(),
            ))),
            Err(_) => StreamItem::Finished(Err(ApiError::Timeout)),
        };
        if matches!(item, StreamItem::Finished(_)) {
            self.finished = true;
        }
        Some(item)
    }
}

/// An SSE response whose events `translate` makes from the answer's items.
pub(crate) fn sse_response<F>(
    stream: AskStream,
    keep_alive: std::time::Duration,
    translate: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    F: FnMut(StreamItem) -> Vec<Event> + Send + 'static,
{
    let events = futures::stream::unfold(
        (stream, translate),
        |(mut stream, mut translate)| async move {
            let item = stream.next().await?;
            let events = translate(item);
            Some((
                futures::stream::iter(events.into_iter().map(Ok::<Event, Infallible>)),
                (stream, translate),
            ))
        },
    );
    Sse::new(futures::StreamExt::flatten(events)).keep_alive(KeepAlive::new().interval(keep_alive))
}

/// A JSON data event; serialisation of our own types cannot fail, but if it
/// did the client gets an error event instead of a broken stream.
pub(crate) fn json_event(name: Option<&str>, data: &impl serde::Serialize) -> Event {
    let event = match name {
        Some(name) => Event::default().event(name),
        None => Event::default(),
    };
    match serde_json::to_string(data) {
        Ok(json) => event.data(json),
        Err(error) => {
            let error = ApiError::Internal(format!("cannot serialise an event: {error}"));
            tracing::error!(%error);
            Event::default()
                .event("error")
                .data(error.body_json().to_string())
        }
    }
}
