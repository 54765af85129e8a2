//! `/metrics`: Prometheus text, through the `prometheus-client` crate.
//! Counters are kept as things happen; the per-state counts and the due
//! backlog are read from the database when scraped, so they are true for
//! every worker on it.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::store::StatusRow;

type Labels = Vec<(String, String)>;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    events: Family<Labels, Counter>,
    entered: Family<Labels, Counter>,
    finished: Family<Labels, Counter>,
    sends: Family<Labels, Counter>,
    latency: Histogram,
    contacts: Family<Labels, Gauge>,
    backlog: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("campaign");
        let events = Family::<Labels, Counter>::default();
        registry.register(
            "events_accepted",
            "Inbound events accepted and committed, by source and outcome",
            events.clone(),
        );
        let entered = Family::<Labels, Counter>::default();
        registry.register(
            "contacts_entered",
            "Contacts that entered a campaign",
            entered.clone(),
        );
        let finished = Family::<Labels, Counter>::default();
        registry.register(
            "contacts_finished",
            "Contacts that reached the end of a campaign or failed in it",
            finished.clone(),
        );
        let sends = Family::<Labels, Counter>::default();
        registry.register(
            "sends",
            "Webhook steps by outcome (delivered, failed, retry_later, interrupted)",
            sends.clone(),
        );
        let latency = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "send_duration_seconds",
            "Time to deliver a webhook step, its own retries included",
            latency.clone(),
        );
        let contacts = Family::<Labels, Gauge>::default();
        registry.register(
            "contacts",
            "Contacts per campaign, revision and state",
            contacts.clone(),
        );
        let backlog = Gauge::default();
        registry.register(
            "due_backlog",
            "Contacts due to run now and not yet claimed",
            backlog.clone(),
        );
        Metrics {
            registry,
            events,
            entered,
            finished,
            sends,
            latency,
            contacts,
            backlog,
        }
    }
}

impl Metrics {
    /// An inbound event was accepted (`outcome`: `applied`, `duplicate`).
    pub fn event(&self, source: &str, outcome: &str) {
        self.events
            .get_or_create(&vec![
                ("source".into(), source.into()),
                ("outcome".into(), outcome.into()),
            ])
            .inc();
    }

    /// Contacts entered `campaign`.
    pub fn entered(&self, campaign: &str, n: u64) {
        self.entered
            .get_or_create(&vec![("campaign".into(), campaign.into())])
            .inc_by(n);
    }

    /// A contact finished in `campaign` (`done` or `failed`).
    pub fn finished(&self, campaign: &str, how: &str) {
        self.finished
            .get_or_create(&vec![
                ("campaign".into(), campaign.into()),
                ("state".into(), how.into()),
            ])
            .inc();
    }

    /// A webhook step ended (`delivered`, `failed`, `retry_later`,
    /// `interrupted`), after `took` in attempts.
    pub fn sent(&self, outcome: &str, took: Duration) {
        self.sends
            .get_or_create(&vec![("outcome".into(), outcome.into())])
            .inc();
        self.latency.observe(took.as_secs_f64());
    }

    /// The text to serve, with the database's counts.
    pub fn render(&self, status: &[StatusRow], backlog: u64) -> String {
        self.contacts.clear();
        for row in status {
            self.contacts
                .get_or_create(&vec![
                    ("campaign".into(), row.campaign.clone()),
                    ("revision".into(), row.revision.to_string()),
                    ("state".into(), row.state.as_str().into()),
                ])
                .inc_by(row.count as i64);
        }
        self.backlog.set(backlog as i64);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
