//! Every diagnostic and runtime error code, in one place, with what it
//! means. Code that reports one names it by its constant here, and a test
//! (`tests/codes.rs`) holds this list, the docs' tables and the sources to
//! one another both ways.

/// When a code is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// By `check` (and `compile`), as an error.
    Error,
    /// By `check`, as a warning.
    Warning,
    /// At run time, for one contact (docs/language.md's runtime table).
    Runtime,
    /// By a real run, when a request could not be delivered
    /// (docs/delivery.md's failure table).
    Delivery,
}

/// One code and its one-line meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The stable dotted code, e.g. `campaign::merge::unknown_field`.
    pub code: &'static str,
    /// When it is reported.
    pub kind: Kind,
    /// What it means, in one line.
    pub summary: &'static str,
}

macro_rules! codes {
    ($($name:ident = $code:literal, $kind:ident, $summary:literal;)*) => {
        $(
            #[doc = concat!("`", $code, "`: ", $summary, ".")]
            pub const $name: &str = $code;
        )*
        /// Every code, in the order docs/language.md lists them.
        pub const ALL: &[Code] = &[$(Code { code: $code, kind: Kind::$kind, summary: $summary }),*];
    };
}

codes! {
    // Source and syntax.
    SOURCE_INVALID_UTF8 = "campaign::source::invalid_utf8", Error, "the file is not UTF-8";
    SOURCE_TOO_LARGE = "campaign::source::too_large", Error, "the file is larger than 256 MiB";
    SYNTAX_EMPTY = "campaign::syntax::empty", Error, "the file is empty or only whitespace";
    SYNTAX_TOO_DEEP = "campaign::syntax::too_deep", Error, "nesting is deeper than 64 levels";
    SYNTAX_TOO_COMPLEX = "campaign::syntax::too_complex", Error, "the parser's work limit was hit";
    SYNTAX_UNTERMINATED_STRING = "campaign::syntax::unterminated_string", Error, "a string is not closed on its line";
    SYNTAX_UNEXPECTED = "campaign::syntax::unexpected", Error, "the grammar expected something else here";
    SYNTAX_UNKNOWN_STEP = "campaign::syntax::unknown_step", Error, "a word that is not a step stands where a step should";
    SYNTAX_UNKNOWN_SETTING = "campaign::syntax::unknown_setting", Error, "a word that is not a webhook setting stands in a webhook";
    SYNTAX_ESCAPE = "campaign::syntax::escape", Error, "an unknown or invalid escape in a string";
    SYNTAX_MERGE_NOT_ALLOWED = "campaign::syntax::merge_not_allowed", Error, "a name, header name or secret name merges a field";
    SYNTAX_FILTER_ON_TARGET = "campaign::syntax::filter_on_target", Error, "a field being written has filters";
    SYNTAX_UNIT = "campaign::syntax::unit", Error, "an unknown time unit";
    SYNTAX_DURATION_RANGE = "campaign::syntax::duration_range", Error, "a duration longer than ten years";
    SYNTAX_TIMESTAMP = "campaign::syntax::timestamp", Error, "an unquoted date that is not RFC 3339";
    MERGE_UNCLOSED = "campaign::merge::unclosed", Error, "a `[` in a string is never closed";
    MERGE_EMPTY_FIELD = "campaign::merge::empty_field", Error, "a merge names no field";
    MERGE_SYNTAX = "campaign::merge::syntax", Error, "a merge's filters are not written as `| name: args`";
    JSON_NOT_A_FIELD = "campaign::json::not_a_field", Error, "a JSON array that failed to parse reads as a merge of a field named like `1, 2`";
    SPLIT_PERCENT = "campaign::split::percent", Error, "a split's share is over 100%";
    WEBHOOK_METHOD = "campaign::webhook::method", Error, "an unknown HTTP method";
    WEBHOOK_RETRY = "campaign::webhook::retry", Error, "`retry` is over 100";
    WEBHOOK_RATE = "campaign::webhook::rate", Error, "a rate of zero or with an unknown period";
    INTERNAL_PARSER = "campaign::internal::parser", Error, "a bug: the parser met a construct it has no rule for";
    // Semantic errors and lints.
    FLOW_UNREACHABLE = "campaign::flow::unreachable", Warning, "a step after one that always stops";
    GOAL_NESTED = "campaign::goal::nested", Error, "a goal inside `if` or `split`";
    STEP_EMPTY_NAME = "campaign::step::empty_name", Error, "a webhook or goal without a name";
    STEP_DUPLICATE_NAME = "campaign::step::duplicate_name", Error, "two webhooks or goals share a name";
    TRIGGER_EMPTY_TAG = "campaign::trigger::empty_tag", Error, "a `tag_added` trigger names no tag";
    TRIGGER_PATH = "campaign::trigger::path", Error, "a `webhook_received` path does not start with `/`";
    TRIGGER_DUPLICATE_PATH = "campaign::trigger::duplicate_path", Error, "two `webhook_received` triggers of one campaign share a path";
    TRIGGER_UNVERIFIED = "campaign::trigger::unverified", Error, "a `webhook_received` trigger without a `verify` clause";
    TRIGGER_VERIFY_NONE = "campaign::trigger::verify_none", Warning, "a `webhook_received` trigger that accepts unsigned requests (`verify none`)";
    WAIT_DATE = "campaign::wait::date", Error, "`wait until` a quoted text that is not a date";
    WEBHOOK_MISSING_URL = "campaign::webhook::missing_url", Error, "a webhook without `url`";
    WEBHOOK_DUPLICATE_SETTING = "campaign::webhook::duplicate_setting", Error, "a webhook setting given twice, or `post` and `json` together";
    WEBHOOK_TIMEOUT = "campaign::webhook::timeout", Error, "a timeout of zero";
    WEBHOOK_BODY_WITH_GET = "campaign::webhook::body_with_get", Warning, "a GET request with a body";
    HEADER_INVALID_NAME = "campaign::header::invalid_name", Error, "a header name that is not an HTTP token";
    HEADER_NEWLINE = "campaign::header::newline", Error, "a literal header value holds CR, LF or NUL";
    HEADER_CONTROL = "campaign::header::control", Error, "a literal header value holds a control character other than tab";
    HEADER_DUPLICATE = "campaign::header::duplicate", Warning, "the same header name twice in a webhook";
    SECRET_INVALID_NAME = "campaign::secret::invalid_name", Error, "a secret name that is not an environment variable name";
    CAPTURE_POINTER = "campaign::capture::pointer", Error, "a JSON pointer that does not start with `/`";
    URL_INVALID = "campaign::url::invalid", Error, "a URL that cannot be valid";
    URL_CONTROL = "campaign::url::control", Error, "a control character in a literal URL";
    URL_SCHEME = "campaign::url::scheme", Error, "a URL scheme other than http and https";
    URL_MERGE_IN_SCHEME = "campaign::url::merge_in_scheme", Error, "a merge the URL parser reads as part of the scheme";
    URL_MERGE_IN_AUTHORITY = "campaign::url::merge_in_authority", Error, "a merge the URL parser reads as part of the user name, password, host or port";
    URL_INSECURE = "campaign::url::insecure", Warning, "a webhook sent over plain http";
    POST_DUPLICATE_LABEL = "campaign::post::duplicate_label", Error, "a post-data label given twice";
    JSON_DUPLICATE_KEY = "campaign::json::duplicate_key", Error, "a key given twice in one JSON object";
    POST_EMPTY_PAIR = "campaign::post::empty_pair", Warning, "an empty pair in post data";
    POST_MISSING_EQUALS = "campaign::post::missing_equals", Warning, "a post-data pair without `=`";
    POST_EMPTY_LABEL = "campaign::post::empty_label", Warning, "a post-data value without a label";
    CREDENTIAL_LITERAL = "campaign::credential::literal", Warning, "a credential written into the script as literal text";
    FILTER_UNKNOWN = "campaign::filter::unknown", Error, "an unknown filter";
    FILTER_ARGUMENTS = "campaign::filter::arguments", Error, "a filter with the wrong number or kind of arguments";
    FILTER_DATE_FORMAT = "campaign::filter::date_format", Error, "a `date` format chrono rejects";
    FILTER_RAW = "campaign::filter::raw", Warning, "`| raw` turns off escaping";
    MERGE_UNKNOWN_FIELD = "campaign::merge::unknown_field", Error, "a merge of a field the contacts do not have";
    // Runtime errors, per contact.
    RUN_FILTER = "campaign::run::filter", Runtime, "`| number` or `| date` could not read the value";
    RUN_DATE = "campaign::run::date", Runtime, "`wait until` could not read the date";
    RUN_URL = "campaign::run::url", Runtime, "the merged URL is invalid or lost a literal piece of its path";
    RUN_URL_ORIGIN = "campaign::run::url_origin", Runtime, "the merged URL's origin differs from the template's";
    RUN_HEADER_NEWLINE = "campaign::run::header_newline", Runtime, "a merged header value holds CR, LF or NUL";
    RUN_HEADER_CONTROL = "campaign::run::header_control", Runtime, "a merged header value holds a control character other than tab";
    RUN_EMPTY_TAG = "campaign::run::empty_tag", Runtime, "a tag name merged to nothing";
    RUN_TOO_LARGE = "campaign::run::too_large", Runtime, "a merged value or text would pass 1 MiB";
    RUN_INVALID_PROGRAM = "campaign::run::invalid_program", Runtime, "a bug or a hand-built program: an instruction names something the program does not have";
    CONTACTS_INVALID_RECORD = "campaign::contacts::invalid_record", Runtime, "a contacts record could not be read or is over a limit";
    CONTACTS_DUPLICATE_ID = "campaign::contacts::duplicate_id", Runtime, "a record's id is already an earlier record's";
    // Delivery failures, per contact, in real runs only.
    DELIVER_SEND = "campaign::deliver::send", Delivery, "the request could not be sent or got no usable response, and trying again would not help";
    DELIVER_STATUS = "campaign::deliver::status", Delivery, "the response was not a 2xx and not one worth retrying";
    DELIVER_GAVE_UP = "campaign::deliver::gave_up", Delivery, "every attempt failed with a status or error worth retrying";
    DELIVER_GONE = "campaign::deliver::gone", Delivery, "the endpoint answered 410 Gone, now or earlier in the run";
    DELIVER_CAPTURE_BODY = "campaign::deliver::capture_body", Delivery, "a 2xx whose body did not arrive whole, for a webhook that captures from it";
    DELIVER_JOURNAL = "campaign::deliver::journal", Delivery, "the journal could not tell what earlier sessions did for the contact";
    // The formatter.
    INTERNAL_FORMAT = "campaign::internal::format", Error, "a bug: the formatter lost its place in a file that parses";
}

/// What a code means, if it is one.
pub fn lookup(code: &str) -> Option<&'static Code> {
    ALL.iter().find(|c| c.code == code)
}
