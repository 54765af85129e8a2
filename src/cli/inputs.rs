//! Reading the files named on the command line: campaigns and contacts formats.

use std::path::Path;

use campaign::contacts::ContactsFormat;
use campaign::diagnostics::{Diagnostic, SourceFile};

pub(super) type Source = Result<SourceFile, (SourceFile, Diagnostic)>;

/// Reads a campaign file. Invalid UTF-8 becomes a diagnostic at the first bad
/// byte (the source is shown lossily); an unreadable file is reported and
/// gives `None`.
pub(super) fn read_source(path: &Path) -> Option<Source> {
    use campaign::input::{read_limited, InputError};
    use campaign::syntax::parser::MAX_SOURCE_BYTES;

    let name = path.display().to_string();
    let bytes = match read_limited(path, MAX_SOURCE_BYTES as u64) {
        Ok(b) => b,
        Err(InputError::TooLarge { limit, .. }) => {
            let d = Diagnostic::error(
                "campaign::source::too_large",
                campaign::syntax::span::Span::new(0, 0),
                format!("this file is larger than {}", campaign::input::Bytes(limit)),
            )
            .label("file starts here")
            .help("split the campaign into smaller files");
            return Some(Err((SourceFile::new(name, String::new()), d)));
        }
        Err(e) => {
            eprintln!("error: {e}");
            return None;
        }
    };
    Some(match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile::new(name, text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            // Offsets after the bad byte shift in the lossy text; the first bad one does not.
            let d = Diagnostic::error(
                "campaign::source::invalid_utf8",
                campaign::syntax::span::Span::new(at, at + 1),
                format!("this file is not valid UTF-8 (byte {at})"),
            )
            .label("invalid byte")
            .help("save the file as UTF-8; campaign files are text");
            Err((SourceFile::new(name, text), d))
        }
    })
}

pub(super) fn contacts_format(
    path: &Path,
    given: Option<ContactsFormat>,
) -> Result<ContactsFormat, String> {
    given.or_else(|| ContactsFormat::from_path(path)).ok_or_else(|| {
        format!(
            "cannot tell the format of {} from its extension; pass --contacts-format csv|json|ndjson",
            path.display()
        )
    })
}
