//! Reading the files named on the command line: campaigns and contacts formats.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use campaign::contacts::ContactsFormat;
use campaign::diagnostics::{Diagnostic, SourceFile};
use campaign::input::{read_limited, InputError};
use campaign::syntax::parser::MAX_SOURCE_BYTES;
use campaign::Compiled;

use super::error::{CliError, Failure};
use super::render::render;

/// Why a campaign file gives no source to compile.
pub(super) enum SourceError {
    /// It cannot be read at all.
    Unreadable(InputError),
    /// It is too large, or not UTF-8: a diagnostic about what was read.
    Refused(SourceFile, Box<Diagnostic>),
}

/// Reads a campaign file. Invalid UTF-8 becomes a diagnostic at the first bad
/// byte (the source is shown lossily), as does a file over the size limit.
pub(super) fn read_source(path: &Path) -> Result<SourceFile, SourceError> {
    let (path, name) = match is_stdin(path) {
        true => (Path::new(STDIN), "<stdin>".to_string()),
        false => (path, path.display().to_string()),
    };
    let bytes = match read_limited(path, MAX_SOURCE_BYTES as u64) {
        Ok(b) => b,
        Err(InputError::TooLarge { limit, .. }) => {
            let d = Diagnostic::error(
                "campaign::source::too_large",
                campaign::span::Span::new(0, 0),
                format!("this file is larger than {}", campaign::input::Bytes(limit)),
            )
            .label("file starts here")
            .help("split the campaign into smaller files");
            return Err(SourceError::Refused(
                SourceFile::new(name, String::new()),
                Box::new(d),
            ));
        }
        Err(e) => return Err(SourceError::Unreadable(e)),
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile::new(name, text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            // Offsets after the bad byte shift in the lossy text; the first bad one does not.
            let d = Diagnostic::error(
                "campaign::source::invalid_utf8",
                campaign::span::Span::new(at, at + 1),
                format!("this file is not valid UTF-8 (byte {at})"),
            )
            .label("invalid byte")
            .help("save the file as UTF-8; campaign files are text");
            Err(SourceError::Refused(
                SourceFile::new(name, text),
                Box::new(d),
            ))
        }
    }
}

/// The campaign of a command that needs one: a refused file is rendered
/// (and the command fails), an unreadable one is an error.
pub(super) fn read_campaign(path: &Path) -> Result<SourceFile, Failure> {
    read_source(path).map_err(|e| match e {
        SourceError::Unreadable(e) => Failure::from(e),
        SourceError::Refused(source, d) => {
            render(&source, &[*d]);
            Failure::Reported
        }
    })
}

/// Compiles a campaign; the errors are rendered and the command fails.
pub(super) fn compile(source: &SourceFile) -> Result<Compiled, Failure> {
    campaign::compile(&source.text, None).map_err(|diagnostics| {
        render(source, &diagnostics);
        Failure::Reported
    })
}

/// Where `-` reads from. A path, so stdin goes through the same limited
/// reader as a file and, when it is a redirected file, can be read again.
const STDIN: &str = "/dev/stdin";

/// `-`: stdin, as Unix tools spell it.
pub(super) fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Opens `--contacts` (`-` is stdin) with a buffer, and settles its format:
/// `--contacts-format`, else the extension, else (for stdin, which has
/// none) the first byte that is not a byte-order mark or whitespace: `[`
/// a JSON array, `{` NDJSON, anything else CSV.
pub(super) fn open_contacts(
    path: &Path,
    given: Option<ContactsFormat>,
) -> Result<(BufReader<File>, ContactsFormat), CliError> {
    let real = if is_stdin(path) {
        Path::new(STDIN)
    } else {
        path
    };
    let file = File::open(real).map_err(|source| CliError::OpenContacts {
        path: path.to_path_buf(),
        source,
    })?;
    let mut input = BufReader::with_capacity(256 * 1024, file);
    let format = match given {
        Some(f) => f,
        None if is_stdin(path) => {
            let start = input.fill_buf().map_err(|source| CliError::OpenContacts {
                path: path.to_path_buf(),
                source,
            })?;
            sniff(start)
        }
        None => contacts_format(path, None)?,
    };
    Ok((input, format))
}

/// The format the first bytes of a contacts stream suggest.
pub(super) fn sniff(start: &[u8]) -> ContactsFormat {
    let start = start.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(start);
    match start.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => ContactsFormat::Json,
        Some(b'{') => ContactsFormat::Ndjson,
        _ => ContactsFormat::Csv,
    }
}

/// The format of a contacts file: `--contacts-format`, or its extension.
pub(super) fn contacts_format(
    path: &Path,
    given: Option<ContactsFormat>,
) -> Result<ContactsFormat, CliError> {
    given
        .or_else(|| ContactsFormat::from_path(path))
        .ok_or_else(|| CliError::ContactsFormat(path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_looks_past_a_bom_and_whitespace() {
        assert_eq!(sniff(b"\xEF\xBB\xBF \n[{\"a\":1}]"), ContactsFormat::Json);
        assert_eq!(sniff(b"\n{\"a\":1}\n"), ContactsFormat::Ndjson);
        assert_eq!(sniff(b"Contact ID,Email\n"), ContactsFormat::Csv);
        assert_eq!(sniff(b""), ContactsFormat::Csv);
    }
}
