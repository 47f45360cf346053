//! The writer task: the one owner of the chain head, which takes queued
//! events in batches, chains them and makes each batch durable before any
//! waiter is answered.

use std::time::Instant;

use super::*;

pub(super) struct Writer {
    pub(super) store: Arc<dyn AuditStore>,
    pub(super) rx: mpsc::Receiver<Msg>,
    pub(super) shared: Arc<Shared>,
    pub(super) key: Option<Arc<dyn ChainKey>>,
    /// The chain head, loaded from the store on first use after activation.
    pub(super) head: Option<Checkpoint>,
    /// Whether the pending events were chained since the key was installed.
    pub(super) drained: bool,
}

pub(super) type Waiter = (AuditEvent, Reply<Appended>);

/// A head taken from the store before the batch was formed: when the
/// writer asked for it (the batch's write is timed from then, wait
/// included), and the head, or why it could not be taken (the batch then
/// fails with that).
type Held = Option<(Instant, Result<Box<dyn HeldHead>, AuditError>)>;

impl Writer {
    pub(super) async fn run(mut self) {
        while let Some(first) = self.rx.recv().await {
            let mut held = self.hold(&first).await;
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(msg) => batch.push(msg),
                    Err(_) => break,
                }
            }
            let mut appends: Vec<Waiter> = Vec::new();
            for msg in batch {
                match msg {
                    Msg::Append(event, reply) => appends.push((event, reply)),
                    Msg::Activate(key, reply) => {
                        let _ = self.commit(std::mem::take(&mut appends), held.take()).await;
                        self.key = Some(key);
                        self.head = None;
                        self.drained = false;
                        let _ = reply.send(self.commit(Vec::new(), None).await);
                    }
                    Msg::Deactivate(reply) => {
                        let _ = self.commit(std::mem::take(&mut appends), held.take()).await;
                        self.key = None;
                        self.head = None;
                        self.drained = false;
                        let _ = reply.send(());
                    }
                }
            }
            let _ = self.commit(appends, held).await;
        }
    }

    /// With a store that other processes append to, takes the chain head
    /// before the batch that starts with `first` is formed, so the events
    /// queued while it waits for them join this batch. Only for an event
    /// to chain once the head is loaded and the pending events are chained
    /// (loading may move a restored trail in, under the same lock).
    async fn hold(&self, first: &Msg) -> Held {
        let chaining = matches!(first, Msg::Append(..))
            && self.key.is_some()
            && self.head.is_some()
            && self.drained;
        if !chaining {
            return None;
        }
        let asked = Instant::now();
        let head = self.store.hold_head().await.transpose()?;
        Some((asked, head))
    }

    /// Writes one batch and answers its waiters; returns the batch result.
    async fn commit(&mut self, waiters: Vec<Waiter>, held: Held) -> Result<(), AuditError> {
        let needs_drain = self.key.is_some() && !self.drained;
        if waiters.is_empty() && !needs_drain {
            return Ok(());
        }
        let (events, replies): (Vec<_>, Vec<_>) = waiters.into_iter().unzip();
        let outcome = match self.key.clone() {
            Some(key) => self.write_chained(&key, events, held).await,
            None => self.write_pending(events).await,
        };
        match outcome {
            Ok(placed) => {
                for (reply, at) in replies.into_iter().zip(placed) {
                    let _ = reply.send(Ok(at));
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, events = replies.len(), "audit batch not written");
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
                Err(e)
            }
        }
    }

    /// One durable write through the store, with the fault-injection knob,
    /// the flush histogram and the counters.
    async fn write<F>(
        &self,
        events: usize,
        since: Option<Instant>,
        write: F,
    ) -> Result<(), AuditError>
    where
        F: std::future::Future<Output = Result<(), AuditError>>,
    {
        let injected = self
            .shared
            .faults
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if injected {
            self.shared.outage.failed(events, "injected");
            return Err(AuditError::Unavailable("injected audit write failure"));
        }
        let started = since.unwrap_or_else(Instant::now);
        let disk = self.shared.disk.get();
        write.await.map_err(|e| {
            tracing::error!(error = %e, "audit store write failed");
            match e {
                AuditError::DiskFull => {
                    if let Some(d) = disk {
                        d.failed();
                    }
                    self.shared.outage.failed(events, "disk_full");
                    AuditError::DiskFull
                }
                _ => {
                    self.shared.outage.failed(events, "io");
                    AuditError::Unavailable("the audit store write failed")
                }
            }
        })?;
        if let Some(d) = disk {
            d.succeeded();
        }
        if let (Some(outage), Some(hook)) = (
            self.shared.outage.succeeded(),
            self.shared.on_recovery.get(),
        ) {
            hook(outage);
        }
        if let Some(h) = self.shared.flushes.get() {
            h.observe(started.elapsed().as_secs_f64());
        }
        self.shared.batches.fetch_add(1, Ordering::SeqCst);
        self.shared
            .events
            .fetch_add(events as u64, Ordering::SeqCst);
        Ok(())
    }

    /// The head, after moving a previous release's trail in (once).
    async fn load_head(&self, key: &Arc<dyn ChainKey>) -> Result<Checkpoint, AuditError> {
        let unavailable = |e: AuditError| {
            tracing::error!(error = %e, "cannot read the audit chain head");
            AuditError::Unavailable("the audit chain head cannot be read")
        };
        self.store
            .upgrade(Arc::clone(key))
            .await
            .map_err(unavailable)?;
        self.store.head().await.map_err(unavailable)
    }

    async fn write_chained(
        &mut self,
        key: &Arc<dyn ChainKey>,
        events: Vec<AuditEvent>,
        held: Held,
    ) -> Result<Vec<Appended>, AuditError> {
        let mut head = match (&held, &self.head) {
            (Some((_, Ok(h))), _) => h.head().clone(),
            (_, Some(h)) => h.clone(),
            (_, None) => self.load_head(key).await?,
        };
        let mut queue = Vec::new();
        let mut drained_pending = None;
        if !self.drained {
            let pending =
                self.store.pending().await.map_err(|_| {
                    AuditError::Unavailable("the pending audit events cannot be read")
                })?;
            for (counter, event) in pending {
                drained_pending = Some(counter);
                queue.push(event);
            }
        }
        let drained = queue.len();
        queue.extend(events);
        let mut records = Vec::with_capacity(queue.len());
        let mut hasher = RecordHasher::new(key.as_ref());
        for event in queue {
            let record = chain_event_with(&mut hasher, head.seq + 1, event, head.hash.clone());
            head = Checkpoint {
                seq: record.seq,
                hash: record.hash.clone(),
            };
            records.push(record);
        }
        let mut placed: Vec<Appended> = records.iter().map(|r| Appended::Chained(r.seq)).collect();
        let count = records.len();
        if count > 0 {
            match held {
                Some((asked, Ok(h))) => self.write(count, Some(asked), h.append(records)).await?,
                Some((asked, Err(e))) => self.write(count, Some(asked), async { Err(e) }).await?,
                None => {
                    let batch = Batch {
                        records,
                        drained_pending,
                    };
                    self.write(count, None, self.store.append(batch)).await?
                }
            }
        }
        if drained > 0 {
            tracing::info!(
                events = drained,
                "chained the audit events recorded while sealed"
            );
        }
        self.head = Some(head);
        self.drained = true;
        Ok(placed.split_off(drained))
    }

    async fn write_pending(
        &mut self,
        events: Vec<AuditEvent>,
    ) -> Result<Vec<Appended>, AuditError> {
        let count = events.len();
        self.write(count, None, self.store.append_pending(events))
            .await?;
        Ok(vec![Appended::Pending; count])
    }
}
