//! One paragraph per keyword, setting and filter: what hover shows and what
//! completion items carry. Each says what docs/language.md says, shorter;
//! a test holds the list to the grammar's keywords.

/// Keywords and settings: `(word, what it is, paragraph)`.
pub const KEYWORDS: &[(&str, &str, &str)] = &[
    ("campaign", "`campaign \"Name\" { ... }`", "The one block of a file: its name, then `trigger` lines and steps in any order. Steps run top to bottom for each contact."),
    ("trigger", "`trigger contact_added | tag_added \"Tag\" | webhook_received \"/path\" verify ...`", "What starts a contact on the campaign. Recorded in the program for `campaign serve`; a dry run sends every contact of the file through regardless."),
    ("contact_added", "`trigger contact_added`", "Starts every contact added to the server's contacts (through the API or `campaign enroll`)."),
    ("tag_added", "`trigger tag_added \"Tag\"`", "Starts a contact when it gets the tag."),
    ("webhook_received", "`trigger webhook_received \"/path\" verify ...`", "Starts the contact an inbound webhook on this path describes. The `verify` clause is required: `verify standard secret(\"NAME\")`, `verify github secret(\"NAME\")` or `verify none` (a warning)."),
    ("verify", "`verify standard|github secret(\"NAME\") | verify none`", "How the server checks that an inbound webhook comes from who it claims to, over the exact bytes received: Standard Webhooks or GitHub signatures, compared in constant time; a delivery id seen in the last 24 hours is a replay and does nothing."),
    ("webhook", "`webhook \"Name\" { url \"...\" ... }`", "Sends one HTTP request per contact. `url` is required; the method defaults to POST; a body is `post` data or `json`, not both. Names are unique among webhooks and goals: they identify the step in run output, idempotency keys and journals."),
    ("tag", "`tag add \"Tag\"` / `tag remove \"Tag\"`", "Adds or removes a contact's tag. The name is a template (it may merge fields) and is trimmed; a name that merges to nothing fails the contact with `campaign::run::empty_tag`."),
    ("add", "`tag add \"Tag\"`", "Adds the tag; adding one the contact has still records the effect."),
    ("remove", "`tag remove \"Tag\"`", "Removes the tag, recorded whether or not the contact had it."),
    ("set", "`field set [Field] = value`", "Writes a contact field."),
    ("field", "`field set [Field] = value`", "Writes a contact field: a merge, a string template, a number or `true`/`false`, stored as text. Later merges see the new value; the field counts as known to `check`. The target takes no filters."),
    ("note", "`note \"text\"`", "Records a note on the contact. A template: merges are inserted as plain text, with no escaping."),
    ("wait", "`wait 2 days` / `wait until <date>`", "Advances the contact's virtual clock by a duration (ms, s, m, h, d, w; at most ten years), or to a date (an RFC 3339 timestamp, a quoted date or a date field), then checks goals."),
    ("until", "`wait until <date>`", "Waits until an RFC 3339 timestamp, a quoted date, or the date in a field such as `[Renewal Date]`; a date in the past waits 0 s (goals are still checked)."),
    ("if", "`if cond { } else if cond { } else { }`", "Runs the first branch whose condition holds. Conditions compare merges, text, numbers and booleans (`==`, `!=`, `<`, `contains`, `starts_with`, ...), test `is empty`, or `has tag \"X\"`, joined with `and`, `or`, `not`."),
    ("else", "`else { }` / `else if cond { }`", "The branch taken when no earlier condition holds; required after `split`."),
    ("split", "`split 30% { } else { }`", "Sends a share of contacts down the first block and the rest down `else`, by a stable hash of the contact id, so a contact always takes the same side."),
    ("stop", "`stop` / `on failure stop`", "As a step, ends the contact's run; steps after it in the same block are unreachable. In a webhook, `on failure stop` ends the contact when retries are exhausted (the default)."),
    ("goal", "`goal \"Name\" when cond`", "A point contacts jump to: when a contact enters and after every wait, it skips ahead to the first goal ahead of it whose condition holds, from inside any block. A contact that walks onto it records it if the condition holds then. Top level only."),
    ("when", "`goal \"Name\" when cond`", "The condition of a goal."),
    ("has", "`has tag \"Tag\"`", "Whether the contact has the tag now, including tags added earlier in the run."),
    ("is", "`value is empty` / `value is not empty`", "Whether a value is missing, empty or only whitespace."),
    ("empty", "`is empty`", "Missing, `\"\"` or only whitespace."),
    ("not", "`not cond`", "Negates a condition; binds tighter than `and` and `or`."),
    ("and", "`a and b`", "Both hold; binds tighter than `or`."),
    ("or", "`a or b`", "Either holds; binds loosest."),
    ("method", "`method GET|POST|PUT|PATCH|DELETE`", "The HTTP method, any case; POST when absent. A GET with a body draws a warning."),
    ("url", "`url \"https://...\"`", "Required: where the request goes. Merged text is percent-encoded like JavaScript's encodeURIComponent; contact data may never supply the scheme, user name, host or port (unless `dynamic host` for the host and port). `http://` draws a warning."),
    ("header", "`header \"Name\" = \"text\" + secret(\"NAME\")`", "A request header, repeatable, sent in order: string templates and secrets joined with no separator. A merged value holding CR, LF or NUL fails the contact. In `capture`, `header \"Name\"` reads a response header."),
    ("post", "`post \"label=value&...\"`", "ONTRAPORT post data: split into pairs at the literal `&` and `=` at compile time, every label and value form-urlencoded; merged text never splits. Adds `Content-Type: application/x-www-form-urlencoded`."),
    ("json", "`json { ... }`", "A JSON body: strings are templates (merged text JSON-escaped), a bare `[Field]` is a typed value (a string, or a number with `| number`). Adds `Content-Type: application/json`. In `capture`, `json \"/ptr\"` reads the response."),
    ("timeout", "`timeout 5s`", "Per-attempt timeout in a real run; 30s by default, zero is an error."),
    ("retry", "`retry 3`", "Retries after the first attempt in a real run, 0 to 100; 3 by default."),
    ("backoff", "`backoff 500ms`", "The delay before the first retry in a real run; 1s by default."),
    ("rate", "`rate 10/s`", "At most N requests per unit of time for this webhook in a real run (any duration unit, or sec/min)."),
    ("on", "`on failure continue|stop`", "What the contact does when a webhook's retries are exhausted: go on with the next step, or stop as failed (the default)."),
    ("failure", "`on failure continue|stop`", "What the contact does when a webhook's retries are exhausted."),
    ("continue", "`on failure continue`", "After a webhook's retries are exhausted, the contact goes on with the next step."),
    ("sign", "`sign secret(\"NAME\")`", "Signs the request the Standard Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the `whsec_` key in the secret."),
    ("secret", "`secret(\"NAME\")`", "The value of the environment variable (or `--env-file` entry) NAME in a real run; a dry run shows `***` and needs none set. Only names appear in the script."),
    ("capture", "`capture [Field] = json \"/ptr\"` / `header \"Name\"`", "Stores a value of the response (an RFC 6901 pointer into its JSON body, or a header) into a contact field in a real run; the field counts as known to `check`."),
    ("dynamic", "`dynamic host`", "Lets merges supply the URL's host and port (never the scheme or user name). Merged host text may hold only letters, digits, `.`, `-`, `:` and `[` `]`; a real run refuses addresses that are not public unless `--allow-private`."),
    ("host", "`dynamic host`", "Lets merges supply the URL's host and port."),
    ("standard", "`verify standard secret(\"NAME\")`", "Standard Webhooks signatures: `webhook-id`, `webhook-timestamp` (within 5 minutes) and `webhook-signature`, HMAC-SHA256 with a `whsec_` key."),
    ("github", "`verify github secret(\"NAME\")`", "GitHub's `X-Hub-Signature-256`, HMAC-SHA256 of the body with the secret text as entered in GitHub."),
    ("none", "`verify none`", "Accepts unsigned requests: anyone who finds the URL can enrol contacts (warning `campaign::trigger::verify_none`)."),
    ("true", "`true`", "The boolean true."),
    ("false", "`false`", "The boolean false."),
    ("null", "`null`", "JSON null, in `json` bodies."),
    ("contains", "`a contains b`", "Whether the text of `a` contains `b`, case-sensitively."),
    ("starts_with", "`a starts_with b`", "Whether the text of `a` starts with `b`, case-sensitively."),
    ("ends_with", "`a ends_with b`", "Whether the text of `a` ends with `b`, case-sensitively."),
];

/// Filters: `(name, arguments as written, paragraph)`.
pub const FILTERS: &[(&str, &str, &str)] = &[
    ("default", ": 'text'", "Replaces an empty value (missing, `\"\"`, only whitespace, or the empty result of `number`/`date`) with the text; `default: 0` gives the text `0`."),
    ("upper", "", "Unicode uppercase: `straße` → `STRASSE`."),
    ("lower", "", "Unicode lowercase: `ÉCOLE` → `école`."),
    ("trim", "", "Removes Unicode whitespace at both ends."),
    ("title", "", "Uppercases the first letter of each whitespace-separated word and lowercases the rest."),
    ("truncate", ": N", "Keeps the first N characters (not bytes), no ellipsis."),
    ("replace", ": 'from', 'to'", "Replaces every occurrence of `from`, case-sensitively."),
    ("number", "", "Reads the text as a number (a typed number in `json`); empty stays empty, anything unreadable fails the contact."),
    ("date", ": '%Y-%m-%d'", "Reads a date (RFC 3339, `2026-11-27`, or Unix seconds) and formats it with strftime codes, in UTC; unreadable fails the contact."),
    ("raw", "", "Turns off the context's escaping (form, URL or JSON) for this merge; always warns where it does so."),
];

/// The paragraph for a keyword or setting.
pub fn keyword(word: &str) -> Option<(&'static str, &'static str)> {
    KEYWORDS
        .iter()
        .find(|(w, _, _)| *w == word)
        .map(|(_, syntax, doc)| (*syntax, *doc))
}

/// The arguments and paragraph of a filter.
pub fn filter(name: &str) -> Option<(&'static str, &'static str)> {
    FILTERS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, args, doc)| (*args, *doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every keyword of the grammar has a paragraph, and every filter.
    #[test]
    fn every_keyword_and_filter_is_documented() {
        let grammar = include_str!("../../grammar/campaign.pest");
        for line in grammar.lines() {
            let Some(rest) = line.strip_prefix("kw_") else {
                continue;
            };
            let word = rest.split_whitespace().next().unwrap();
            assert!(keyword(word).is_some(), "no hover text for `{word}`");
        }
        for name in crate::filters::FILTER_NAMES {
            assert!(filter(name).is_some(), "no hover text for filter `{name}`");
        }
    }
}
