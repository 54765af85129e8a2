//! A contact's effects as data, in the keys the dry run's NDJSON uses: the
//! dry run prints them, a real run records them (in `--out` and the
//! journal), and both name every effect the same way.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::vm::Event;

/// Virtual milliseconds, written as seconds: an integer when whole, else a
/// decimal (`1.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub u64);

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(1000) {
            s.serialize_u64(self.0 / 1000)
        } else {
            s.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

/// The `action` key's value for an event; `None` for the end of a run or
/// its failure, which are outcomes, not effects.
pub fn action(event: &Event<'_>) -> Option<&'static str> {
    Some(match event {
        Event::Webhook(_) => "webhook",
        Event::TagAdd(_) => "tag_add",
        Event::TagRemove(_) => "tag_remove",
        Event::FieldSet { .. } => "field_set",
        Event::Note(_) => "note",
        Event::Wait { .. } => "wait",
        Event::Goal(_) => "goal",
        Event::Stop => "stop",
        Event::Error(_) | Event::Done => return None,
    })
}

/// The keys after `action`, for every effect but a webhook's (whose
/// details are the driver's: the dry run shows the request, a real run
/// its attempts).
pub fn write_details<M: SerializeMap>(map: &mut M, event: &Event<'_>) -> Result<(), M::Error> {
    match event {
        Event::TagAdd(tag) | Event::TagRemove(tag) => map.serialize_entry("tag", tag),
        Event::FieldSet { field, value } => {
            map.serialize_entry("field", field)?;
            map.serialize_entry("value", value)
        }
        Event::Note(text) => map.serialize_entry("text", text),
        Event::Wait { millis } => map.serialize_entry("seconds", &Seconds(*millis)),
        Event::Goal(name) => map.serialize_entry("goal", name),
        Event::Webhook(_) | Event::Stop | Event::Error(_) | Event::Done => Ok(()),
    }
}

/// An effect as a real run records it: the dry run's line without
/// `contact` (and, for a webhook, without the request, which the attempts
/// show): `{"at":…,"step":…,"action":…,…}`.
pub struct Recorded<'a> {
    /// Milliseconds since the contact entered, waits included, when the
    /// effect began (a wait's start, as the dry run's `at`).
    pub at_ms: u64,
    /// The webhook's step name, for a webhook.
    pub step: Option<&'a str>,
    /// The effect; an outcome (`Error`, `Done`) writes only `at`.
    pub event: &'a Event<'a>,
}

impl Serialize for Recorded<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("at", &Seconds(self.at_ms))?;
        if let Some(step) = self.step {
            map.serialize_entry("step", step)?;
        }
        if let Some(action) = action(self.event) {
            map.serialize_entry("action", action)?;
            write_details(&mut map, self.event)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_serializes_as_the_dry_run_names_it() {
        let cases = [
            (
                0,
                None,
                Event::TagAdd("Hot"),
                r#"{"at":0,"action":"tag_add","tag":"Hot"}"#,
            ),
            (
                1500,
                None,
                Event::FieldSet {
                    field: "S",
                    value: "x",
                },
                r#"{"at":1.5,"action":"field_set","field":"S","value":"x"}"#,
            ),
            (
                172_800_000,
                None,
                Event::Wait {
                    millis: 172_800_000,
                },
                r#"{"at":172800,"action":"wait","seconds":172800}"#,
            ),
            (
                0,
                Some("W"),
                Event::Stop,
                r#"{"at":0,"step":"W","action":"stop"}"#,
            ),
        ];
        for (at_ms, step, event, json) in cases {
            let record = Recorded {
                at_ms,
                step,
                event: &event,
            };
            assert_eq!(serde_json::to_string(&record).unwrap(), json);
        }
    }
}
