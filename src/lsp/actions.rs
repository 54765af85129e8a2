//! Quick fixes: the diagnostics whose check knows the fix for certain (a
//! did-you-mean of a field or filter, `http://` to `https://`, a literal
//! credential in a header to `secret("...")`) and whose span meets the
//! range the editor asks about.

use crate::diagnostics::{Diagnostic, Fix};
use crate::span::Span;

/// The diagnostics with a fix that touch `range`, with their fixes.
pub fn quick_fixes(diagnostics: &[Diagnostic], range: Span) -> Vec<(&Diagnostic, &Fix)> {
    diagnostics
        .iter()
        .filter(|d| d.span.start <= range.end && range.start <= d.span.end)
        .filter_map(|d| Some((d, d.fix()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Schema;

    #[test]
    fn the_checks_fixes_apply_cleanly() {
        let source = "campaign \"C\" {\n    webhook \"W\" {\n        url \"http://x.example/[Emial | uper]\"\n        header \"Api-Key\" = \"abc123\"\n    }\n}\n";
        let schema = Schema {
            fields: vec!["Email".into()],
            origin: "the sample".into(),
        };
        let diagnostics = crate::diagnose(source, Some(&schema));
        let whole = Span::new(0, source.len());
        let fixes = quick_fixes(&diagnostics, whole);
        let mut fixed = source.to_string();
        // Right to left, so earlier spans stay put.
        for (_, fix) in fixes.iter().rev() {
            fixed.replace_range(fix.span.range(), &fix.replacement);
        }
        assert_eq!(
            fixed,
            "campaign \"C\" {\n    webhook \"W\" {\n        url \"https://x.example/[Email | upper]\"\n        header \"Api-Key\" = secret(\"API_KEY\")\n    }\n}\n"
        );
        assert!(crate::diagnose(&fixed, Some(&schema)).is_empty());
        let titles: Vec<&str> = fixes.iter().map(|(_, f)| f.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "use `https://`",
                "change to `[Email]`",
                "change to `upper`",
                "read it with `secret(\"API_KEY\")`"
            ]
        );
        // A range that touches only the header line offers only its fix.
        let at = source.find("abc123").unwrap();
        assert_eq!(quick_fixes(&diagnostics, Span::new(at, at)).len(), 1);
    }
}
