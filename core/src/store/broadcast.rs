//! Broadcasts: messages that store scripts publish (`PUBLISH` inside the
//! script that made the change) and that every process sharing the store
//! receives within about one round trip.
//!
//! Components use them to learn of a change made elsewhere without polling: a
//! circuit breaker tripped by another process, a single-flight value written
//! by another process's leader, a lock released.
//!
//! Guarantees:
//! - **One subscriber connection per store**, made on the first
//!   [`RedisStore::subscribe`](super::RedisStore::subscribe) and shared by
//!   every channel of the store. On Redis Cluster it connects to one node
//!   (classic `PUBLISH` reaches the subscribers of every node), moving to the
//!   next seed when that node fails.
//! - **At most once, never relied on alone.** A message published while the
//!   subscriber is (re)connecting is lost. Each handler is told so: after
//!   every (re)connection it receives [`Notice::Resync`], on which a component
//!   reads the state it mirrors again; and components keep a fallback (a timer
//!   at the lease expiry, a periodic sync), so a lost message costs latency,
//!   never correctness.
//! - **Reconnects by itself**, with backoff (50 ms doubling to 2 s); a
//!   connection that stops answering its keep-alive `PING` is replaced.
//! - **Handlers run on the I/O thread** and must be quick (update a mirror,
//!   wake waiters). A panicking handler is isolated.
//! - **Fork-safe:** a forked child starts its own subscriber on first use.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What a broadcast handler receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice<'a> {
    /// A message published on the channel.
    Message(&'a [u8]),
    /// The subscriber (re)connected: messages may have been lost meanwhile;
    /// read the mirrored state again.
    Resync,
}

/// A broadcast handler.
pub type Handler = Arc<dyn Fn(Notice<'_>) + Send + Sync>;

enum Cmd {
    Subscribe(String),
    Unsubscribe(String),
}

#[derive(Default)]
struct State {
    /// Handlers by full channel name.
    channels: HashMap<String, Vec<(u64, Handler)>>,
    next_id: u64,
    /// The subscriber task of runtime generation `.0`.
    task: Option<(u64, mpsc::UnboundedSender<Cmd>)>,
}

/// The broadcast hub of one store.
pub(crate) struct Hub {
    state: Mutex<State>,
    /// Channels confirmed subscribed on the current connection; bumped on
    /// every change so [`Subscription::ready`] can wait.
    confirmed: watch::Sender<std::collections::HashSet<String>>,
    /// Where to connect: the server, or every cluster seed in turn.
    clients: Vec<redis::Client>,
    connect_timeout: Duration,
}

impl Hub {
    pub(crate) fn new(clients: Vec<redis::Client>, connect_timeout: Duration) -> Self {
        let (confirmed, _) = watch::channel(std::collections::HashSet::new());
        Self {
            state: Mutex::new(State::default()),
            confirmed,
            clients,
            connect_timeout,
        }
    }

    /// Registers `handler` on `channel` (the full name); starts the
    /// subscriber task if this process has none yet.
    pub(crate) fn subscribe(self: &Arc<Self>, channel: String, handler: Handler) -> Subscription {
        let mut st = self.state.lock();
        st.next_id += 1;
        let id = st.next_id;
        let list = st.channels.entry(channel.clone()).or_default();
        let first = list.is_empty();
        list.push((id, handler));
        if !self.start_if_needed(&mut st) && first {
            if let Some((_, tx)) = &st.task {
                let _ = tx.send(Cmd::Subscribe(channel.clone()));
            }
        }
        Subscription {
            hub: Arc::clone(self),
            channel,
            id,
        }
    }

    /// Starts the subscriber task unless this process already runs one (a
    /// forked child runs none: its parent's thread did not survive the
    /// fork). A new task subscribes to every registered channel itself.
    /// Whether it started one.
    fn start_if_needed(self: &Arc<Self>, st: &mut State) -> bool {
        let generation = crate::runtime::generation();
        let alive = st
            .task
            .as_ref()
            .is_some_and(|(g, tx)| *g == generation && !tx.is_closed());
        if alive {
            return false;
        }
        // Nothing is subscribed on a connection not made yet (a forked
        // child inherits its parent's view of a connection it does not have).
        self.set_confirmed(std::collections::HashSet::clear);
        let (tx, rx) = mpsc::unbounded_channel();
        let hub = Arc::clone(self);
        st.task = crate::runtime::detach(async move { hub.run(rx).await })
            .is_ok()
            .then_some((generation, tx));
        true
    }

    fn remove(&self, channel: &str, id: u64) {
        let mut st = self.state.lock();
        let Some(list) = st.channels.get_mut(channel) else {
            return;
        };
        list.retain(|(i, _)| *i != id);
        if list.is_empty() {
            st.channels.remove(channel);
            if let Some((_, tx)) = &st.task {
                let _ = tx.send(Cmd::Unsubscribe(channel.to_owned()));
            }
        }
    }

    fn dispatch(&self, channel: &str, notice: Notice<'_>) {
        let handlers: Vec<Handler> = match self.state.lock().channels.get(channel) {
            Some(list) => list.iter().map(|(_, h)| Arc::clone(h)).collect(),
            None => return,
        };
        for h in handlers {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h(notice)));
        }
    }

    fn channel_names(&self) -> Vec<String> {
        self.state.lock().channels.keys().cloned().collect()
    }

    fn set_confirmed(&self, f: impl FnOnce(&mut std::collections::HashSet<String>)) {
        self.confirmed.send_modify(f);
    }

    /// The subscriber: connect, subscribe, dispatch; reconnect on failure.
    async fn run(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        const BACKOFF_MIN: Duration = Duration::from_millis(50);
        const BACKOFF_MAX: Duration = Duration::from_secs(2);
        const KEEPALIVE: Duration = Duration::from_secs(1);
        let mut backoff = BACKOFF_MIN;
        let mut node = 0usize;
        loop {
            let client = &self.clients[node % self.clients.len()];
            let connected =
                tokio::time::timeout(self.connect_timeout, client.get_async_pubsub()).await;
            if let Ok(Ok(pubsub)) = connected {
                let (mut sink, mut stream) = pubsub.split();
                let names = self.channel_names();
                let subscribed = names.is_empty()
                    || tokio::time::timeout(self.connect_timeout, sink.subscribe(&names))
                        .await
                        .is_ok_and(|r| r.is_ok());
                if subscribed {
                    backoff = BACKOFF_MIN;
                    self.set_confirmed(|set| set.extend(names.iter().cloned()));
                    for name in &names {
                        self.dispatch(name, Notice::Resync);
                    }
                    let mut keepalive = tokio::time::interval(KEEPALIVE);
                    keepalive.tick().await;
                    loop {
                        tokio::select! {
                            msg = futures_util::StreamExt::next(&mut stream) => match msg {
                                Some(msg) => self.dispatch(
                                    msg.get_channel_name(),
                                    Notice::Message(msg.get_payload_bytes()),
                                ),
                                None => break,
                            },
                            cmd = rx.recv() => match cmd {
                                Some(Cmd::Subscribe(ch)) => {
                                    if sink.subscribe(&ch).await.is_err() {
                                        break;
                                    }
                                    // Still wanted (it may have been dropped meanwhile)?
                                    if self.state.lock().channels.contains_key(&ch) {
                                        self.set_confirmed(|set| {
                                            set.insert(ch);
                                        });
                                    }
                                }
                                Some(Cmd::Unsubscribe(ch)) => {
                                    self.set_confirmed(|set| {
                                        set.remove(&ch);
                                    });
                                    if self.state.lock().channels.contains_key(&ch) {
                                        continue;
                                    }
                                    if sink.unsubscribe(&ch).await.is_err() {
                                        break;
                                    }
                                }
                                // The store is gone.
                                None => return,
                            },
                            _ = keepalive.tick() => {
                                let ping = sink.ping::<String>();
                                if !matches!(
                                    tokio::time::timeout(self.connect_timeout, ping).await,
                                    Ok(Ok(_))
                                ) {
                                    break;
                                }
                            }
                        }
                    }
                }
                self.set_confirmed(std::collections::HashSet::clear);
            }
            node = node.wrapping_add(1);
            // Commands queued while down are covered by the full subscribe
            // on the next connection.
            while rx.try_recv().is_ok() {}
            if rx.is_closed() {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

/// A registered handler; dropping it unregisters the handler (and
/// unsubscribes the channel when it was the last one).
pub struct Subscription {
    hub: Arc<Hub>,
    channel: String,
    id: u64,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("channel", &self.channel)
            .finish()
    }
}

impl Subscription {
    /// Whether the channel is subscribed on a live connection now.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.hub.confirmed.borrow().contains(&self.channel)
    }

    /// Waits (at most `limit`) until the channel is subscribed on a live
    /// connection, so that a message published from now on is received.
    /// `false` when it is not by then (Redis unreachable).
    pub async fn ready(&self, limit: Duration) -> bool {
        let mut rx = self.hub.confirmed.subscribe();
        let channel = self.channel.clone();
        tokio::time::timeout(limit, rx.wait_for(move |set| set.contains(&channel)))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Makes sure this process listens: a forked child whose subscription
    /// was made by its parent starts its own subscriber here (components
    /// call this from their periodic work).
    pub fn keep_listening(&self) {
        let mut st = self.hub.state.lock();
        self.hub.start_if_needed(&mut st);
    }

    /// The full channel name (prefix included).
    #[must_use]
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.remove(&self.channel, self.id);
    }
}
