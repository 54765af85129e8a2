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

/// An effect, borrowed from the VM's event or from a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectRef<'a> {
    /// A request (its details are the driver's: the dry run shows the
    /// request, a real run its attempts).
    Webhook,
    /// `tag add`, with the tag.
    TagAdd(&'a str),
    /// `tag remove`, with the tag.
    TagRemove(&'a str),
    /// `field set`.
    FieldSet {
        /// The field's name.
        field: &'a str,
        /// Its new value.
        value: &'a str,
    },
    /// `note`, with its text.
    Note(&'a str),
    /// A wait, however long it was.
    Wait {
        /// Milliseconds waited.
        millis: u64,
    },
    /// A goal reached, by name.
    Goal(&'a str),
    /// `stop`.
    Stop,
}

impl<'a> EffectRef<'a> {
    /// The effect of an event; `None` for the end of a run or its failure,
    /// which are outcomes, not effects.
    pub fn of(event: &Event<'a>) -> Option<EffectRef<'a>> {
        Some(match *event {
            Event::Webhook(_) => EffectRef::Webhook,
            Event::TagAdd(tag) => EffectRef::TagAdd(tag),
            Event::TagRemove(tag) => EffectRef::TagRemove(tag),
            Event::FieldSet { field, value } => EffectRef::FieldSet { field, value },
            Event::Note(text) => EffectRef::Note(text),
            Event::Wait { millis } => EffectRef::Wait { millis },
            Event::Goal(name) => EffectRef::Goal(name),
            Event::Stop => EffectRef::Stop,
            Event::Error(_) | Event::Done => return None,
        })
    }

    /// The `action` key's value.
    pub fn action(&self) -> &'static str {
        match self {
            EffectRef::Webhook => "webhook",
            EffectRef::TagAdd(_) => "tag_add",
            EffectRef::TagRemove(_) => "tag_remove",
            EffectRef::FieldSet { .. } => "field_set",
            EffectRef::Note(_) => "note",
            EffectRef::Wait { .. } => "wait",
            EffectRef::Goal(_) => "goal",
            EffectRef::Stop => "stop",
        }
    }

    /// The keys after `action`, for every effect but a webhook's.
    pub fn write_details<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        match self {
            EffectRef::TagAdd(tag) | EffectRef::TagRemove(tag) => map.serialize_entry("tag", tag),
            EffectRef::FieldSet { field, value } => {
                map.serialize_entry("field", field)?;
                map.serialize_entry("value", value)
            }
            EffectRef::Note(text) => map.serialize_entry("text", text),
            EffectRef::Wait { millis } => map.serialize_entry("seconds", &Seconds(*millis)),
            EffectRef::Goal(name) => map.serialize_entry("goal", name),
            EffectRef::Webhook | EffectRef::Stop => Ok(()),
        }
    }
}

/// An effect a real run keeps: when (on the contact's virtual clock, as the
/// dry run's `at`), which step for a webhook, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Milliseconds since the contact entered, waits included.
    pub at_ms: u64,
    /// The webhook's step name, for a webhook.
    pub step: Option<String>,
    kind: Owned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Webhook,
    TagAdd(String),
    TagRemove(String),
    FieldSet(String, String),
    Note(String),
    Wait(u64),
    Goal(String),
    Stop,
}

impl Recorded {
    /// The record of `effect` at `at_ms`; `step` names a webhook's step.
    pub fn new(at_ms: u64, effect: EffectRef<'_>, step: Option<&str>) -> Recorded {
        let kind = match effect {
            EffectRef::Webhook => Owned::Webhook,
            EffectRef::TagAdd(t) => Owned::TagAdd(t.into()),
            EffectRef::TagRemove(t) => Owned::TagRemove(t.into()),
            EffectRef::FieldSet { field, value } => Owned::FieldSet(field.into(), value.into()),
            EffectRef::Note(t) => Owned::Note(t.into()),
            EffectRef::Wait { millis } => Owned::Wait(millis),
            EffectRef::Goal(g) => Owned::Goal(g.into()),
            EffectRef::Stop => Owned::Stop,
        };
        Recorded {
            at_ms,
            step: step.map(str::to_string),
            kind,
        }
    }

    /// The effect, borrowed.
    pub fn effect(&self) -> EffectRef<'_> {
        match &self.kind {
            Owned::Webhook => EffectRef::Webhook,
            Owned::TagAdd(t) => EffectRef::TagAdd(t),
            Owned::TagRemove(t) => EffectRef::TagRemove(t),
            Owned::FieldSet(field, value) => EffectRef::FieldSet { field, value },
            Owned::Note(t) => EffectRef::Note(t),
            Owned::Wait(millis) => EffectRef::Wait { millis: *millis },
            Owned::Goal(g) => EffectRef::Goal(g),
            Owned::Stop => EffectRef::Stop,
        }
    }
}

/// `{"at":…,"step":…,"action":…,…}`: the dry run's line without `contact`
/// (and, for a webhook, without the request, which the attempts show).
impl Serialize for Recorded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("at", &Seconds(self.at_ms))?;
        if let Some(step) = &self.step {
            map.serialize_entry("step", step)?;
        }
        let effect = self.effect();
        map.serialize_entry("action", effect.action())?;
        effect.write_details(&mut map)?;
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
                Recorded::new(0, EffectRef::TagAdd("Hot"), None),
                r#"{"at":0,"action":"tag_add","tag":"Hot"}"#,
            ),
            (
                Recorded::new(
                    1500,
                    EffectRef::FieldSet {
                        field: "S",
                        value: "x",
                    },
                    None,
                ),
                r#"{"at":1.5,"action":"field_set","field":"S","value":"x"}"#,
            ),
            (
                Recorded::new(0, EffectRef::Webhook, Some("W")),
                r#"{"at":0,"step":"W","action":"webhook"}"#,
            ),
            (
                Recorded::new(
                    172_800_000,
                    EffectRef::Wait {
                        millis: 172_800_000,
                    },
                    None,
                ),
                r#"{"at":172800,"action":"wait","seconds":172800}"#,
            ),
            (
                Recorded::new(0, EffectRef::Stop, None),
                r#"{"at":0,"action":"stop"}"#,
            ),
        ];
        for (record, json) in cases {
            assert_eq!(serde_json::to_string(&record).unwrap(), json);
        }
    }
}
