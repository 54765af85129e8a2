//! The benchmark campaign written by hand: what `campaign run bench.campaign
//! --contacts FILE --dry-run --format ndjson` does for benches/run.sh's
//! two-webhook campaign, with no compiler and no VM. Reads the CSV with the
//! `csv` crate, encodes post data with `form_urlencoded`, derives each
//! request's `Idempotency-Key` with `sha2` (from the dry run's run id: the
//! first 32 hex digits of the campaign file's SHA-256), writes each effect
//! with `serde_json`; its output must be byte-identical to the campaign's.
//!
//! Usage: `baseline CONTACTS.csv CAMPAIGN > out.ndjson`

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};

use serde::ser::{Serialize, SerializeMap, Serializer};
use sha2::{Digest, Sha256};

/// The headers object: script order, then Content-Type.
struct Headers<'a>(&'a [(&'a str, &'a str)]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// One `webhook` effect line, keys in the dry run's order.
#[derive(serde::Serialize)]
struct Webhook<'a> {
    contact: &'a str,
    at: u64,
    step: &'a str,
    action: &'a str,
    method: &'a str,
    url: &'a str,
    headers: Headers<'a>,
    body: &'a str,
}

const FORM: &str = "application/x-www-form-urlencoded";

fn form(out: &mut String, text: &str) {
    out.extend(form_urlencoded::byte_serialize(text.as_bytes()));
}

/// `msg_` + the first 32 hex digits of SHA-256(run id \0 contact \0 step),
/// the step as 4 little-endian bytes: docs/delivery.md's definition.
/// `run_prefix` has hashed `run id \0` once for all keys, as the dry run's
/// `KeyDeriver` does.
fn idempotency_key(key: &mut String, run_prefix: &Sha256, contact: &str, step: u32) {
    let mut h = run_prefix.clone();
    h.update(contact.as_bytes());
    h.update([0]);
    h.update(step.to_le_bytes());
    let digest = h.finalize();
    let mut hex = [0u8; 32];
    hex::encode_to_slice(&digest[..16], &mut hex).expect("16 bytes make 32 digits");
    key.clear();
    key.push_str("msg_");
    key.push_str(std::str::from_utf8(&hex).expect("hex digits"));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: baseline CONTACTS.csv CAMPAIGN";
    let path = std::env::args_os().nth(1).ok_or(usage)?;
    let campaign = std::fs::read(std::env::args_os().nth(2).ok_or(usage)?)?;
    let run_id = hex::encode(Sha256::digest(&campaign))[..32].to_string();
    let mut run_prefix = Sha256::new();
    run_prefix.update(run_id.as_bytes());
    run_prefix.update([0]);
    let file = BufReader::with_capacity(256 * 1024, File::open(path)?);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file);
    let mut record = csv::ByteRecord::new();
    if !reader.read_byte_record(&mut record)? {
        return Err("no header row".into());
    }
    // Header names trimmed (and a BOM dropped), first of a name wins.
    let header: Vec<String> = record
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let name = String::from_utf8_lossy(cell);
            let name = if i == 0 {
                name.trim_start_matches('\u{feff}')
            } else {
                &name
            };
            name.trim().to_owned()
        })
        .collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    let (id_col, first_col, email_col) =
        (column("Contact ID"), column("First Name"), column("Email"));

    // The constant parts of the second body, encoded once.
    let mut note_prefix = String::new();
    for (i, (label, value)) in [
        ("id", "0"),
        ("data", "Note inserted by webhook using new API."),
        ("author", "1"),
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            note_prefix.push('&');
        }
        form(&mut note_prefix, label);
        note_prefix.push('=');
        form(&mut note_prefix, value);
    }
    note_prefix.push_str("&contact_id=");

    let mut key = String::new();

    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout);
    let mut body = String::new();
    let mut row_id = String::new();
    let mut row = 0u64;
    while reader.read_byte_record(&mut record)? {
        row += 1;
        let cell = |col: Option<usize>| -> Result<Option<&str>, std::str::Utf8Error> {
            col.and_then(|c| record.get(c))
                .map(std::str::from_utf8)
                .transpose()
        };
        let (Ok(id_cell), Ok(first), Ok(email)) = (cell(id_col), cell(first_col), cell(email_col))
        else {
            return Err(
                format!("record {row}: not valid UTF-8 (not handled by the baseline)").into(),
            );
        };
        // The contact's id: the trimmed `Contact ID`, or the record number.
        let id = match id_cell.map(str::trim) {
            Some(id) if !id.is_empty() => id,
            _ => {
                row_id.clear();
                row_id.push_str(&row.to_string());
                &row_id
            }
        };

        body.clear();
        body.push_str("First_Name=");
        form(&mut body, first.unwrap_or(""));
        body.push_str("&Email=");
        form(&mut body, email.unwrap_or(""));
        idempotency_key(&mut key, &run_prefix, id, 0);
        let create_headers = [("Content-Type", FORM), ("Idempotency-Key", key.as_str())];
        serde_json::to_writer(
            &mut out,
            &Webhook {
                contact: id,
                at: 0,
                step: "Create contact",
                action: "webhook",
                method: "POST",
                url: "https://app.example.com/contacts",
                headers: Headers(&create_headers),
                body: &body,
            },
        )?;
        out.write_all(b"\n")?;

        body.clear();
        body.push_str(&note_prefix);
        // `[Contact ID]` merges the id the run reports.
        form(&mut body, id);
        idempotency_key(&mut key, &run_prefix, id, 1);
        let note_headers = [
            ("Api-Appid", "***"),
            ("Api-Key", "***"),
            ("Content-Type", FORM),
            ("Idempotency-Key", key.as_str()),
        ];
        serde_json::to_writer(
            &mut out,
            &Webhook {
                contact: id,
                at: 0,
                step: "Add contact note",
                action: "webhook",
                method: "POST",
                url: "https://api.ontraport.com/1/objects",
                headers: Headers(&note_headers),
                body: &body,
            },
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    eprintln!("baseline: {row} contacts");
    Ok(())
}
