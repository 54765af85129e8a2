//! The builder against the grammar: exact spans, and a pair it does not
//! expect reported as a bug, never skipped.

use super::*;

#[test]
fn spans_end_at_the_last_token_not_at_the_comments_after_it() {
    let src =
        "campaign \"a\" {\n if [A] // c\n { stop } // x\n goal \"g\" when not [B] == \"x\" // c\n}";
    let campaign = parse(src).unwrap();
    let text = |span: Span| &src[span.start as usize..span.end as usize];
    let StepKind::If(chain) = &campaign.steps[0].kind else {
        panic!("not an if: {:?}", campaign.steps[0]);
    };
    assert_eq!(text(campaign.steps[0].span), "if [A] // c\n { stop }");
    assert_eq!(text(chain.branches[0].cond.span()), "[A]");
    let StepKind::Goal(goal) = &campaign.steps[1].kind else {
        panic!("not a goal: {:?}", campaign.steps[1]);
    };
    assert_eq!(text(goal.cond.span()), "not [B] == \"x\"");
}

/// A webhook trigger's span runs from `trigger` to the end of its
/// `verify` clause (not over a comment after it, nor onto the next
/// line); the clause's span covers `verify` to its end, the secret's
/// the `secret(...)` call.
#[test]
fn verify_clauses_build_with_exact_spans() {
    let src = "campaign \"a\" {\n trigger webhook_received \"/a\" verify standard secret(\"A\") // c\n trigger webhook_received \"/b\"\n   verify github secret(\"B\")\n trigger webhook_received \"/c\" verify none\n trigger webhook_received \"/d\" // c\n stop\n}";
    let campaign = parse(src).unwrap();
    let text = |span: Span| &src[span.start as usize..span.end as usize];
    let shown: Vec<(&str, Option<&str>, Option<&str>)> = campaign
        .triggers
        .iter()
        .map(|t| {
            let Trigger::WebhookReceived { path, verify } = &t.node else {
                panic!("not a webhook trigger: {t:?}");
            };
            let secret = verify.as_ref().and_then(|v| match &v.node {
                Verify::Standard(s) | Verify::Github(s) => Some(text(s.span)),
                Verify::None => None,
            });
            assert!(text(t.span).starts_with("trigger") && text(t.span).contains(text(path.span)));
            (text(t.span), verify.as_ref().map(|v| text(v.span)), secret)
        })
        .collect();
    assert_eq!(
        shown,
        [
            (
                "trigger webhook_received \"/a\" verify standard secret(\"A\")",
                Some("verify standard secret(\"A\")"),
                Some("secret(\"A\")")
            ),
            (
                "trigger webhook_received \"/b\"\n   verify github secret(\"B\")",
                Some("verify github secret(\"B\")"),
                Some("secret(\"B\")")
            ),
            (
                "trigger webhook_received \"/c\" verify none",
                Some("verify none"),
                None
            ),
            ("trigger webhook_received \"/d\"", None, None),
        ]
    );
    let names: Vec<Option<&str>> = campaign
        .triggers
        .iter()
        .map(|t| match &t.node {
            Trigger::WebhookReceived {
                verify: Some(v), ..
            } => match &v.node {
                Verify::Standard(s) | Verify::Github(s) => Some(s.node.as_str()),
                Verify::None => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(names, [Some("A"), Some("B"), None, None]);
    assert!(matches!(
        campaign.triggers[0].node,
        Trigger::WebhookReceived {
            verify: Some(Spanned {
                node: Verify::Standard(_),
                ..
            }),
            ..
        }
    ));
    assert!(matches!(
        campaign.triggers[1].node,
        Trigger::WebhookReceived {
            verify: Some(Spanned {
                node: Verify::Github(_),
                ..
            }),
            ..
        }
    ));
}

/// Where the builder makes each kind of node, a pair of a rule it has
/// no arm for, or one missing a child the grammar always gives, is a
/// `campaign::internal::parser` error: never a silent gap, never a
/// panic.
#[test]
fn unexpected_pairs_are_reported_as_bugs() {
    let pair = |rule: Rule, text: &'static str| {
        Grammar::parse(rule, text)
            .unwrap_or_else(|e| panic!("{e}"))
            .next()
            .unwrap()
    };
    let secret = || pair(Rule::secret, "secret(\"K\")");
    let string = || pair(Rule::string, "\"x\"");
    let mut b = Builder::for_test(0);
    let mut reported = 0;
    let mut expect_bug = |b: &mut Builder, what: &str| {
        reported += 1;
        assert_eq!(b.errors.len(), reported, "{what}: {:?}", b.errors);
        let last = b.errors.last().unwrap();
        assert_eq!(last.code, codes::INTERNAL_PARSER, "{what}");
        assert!(last.span.end <= 11, "{what}: {:?}", last.span);
    };
    assert!(b.step(secret()).is_none());
    expect_bug(&mut b, "step of another rule");
    assert!(b.step(string()).is_none());
    expect_bug(&mut b, "step without children");
    assert!(b.setting(secret()).is_none());
    expect_bug(&mut b, "setting of another rule");
    assert!(b.operand(secret()).is_none());
    expect_bug(&mut b, "operand");
    b.cond(secret());
    expect_bug(&mut b, "condition");
    b.json(secret());
    expect_bug(&mut b, "JSON value");
    assert!(b.trigger(string()).is_none());
    expect_bug(&mut b, "trigger without children");
    assert!(b.trigger(secret()).is_none());
    expect_bug(&mut b, "trigger of another kind");
    assert!(b.secret(string()).is_none());
    expect_bug(&mut b, "secret without a name");
    // What the grammar does give builds without a report.
    assert!(b.step(pair(Rule::stop, "stop")).is_some());
    assert!(b.operand(string()).is_some());
    assert_eq!(b.errors.len(), reported);
}
