//! The VM's public API takes a `Program` and a `Run` a library user may build
//! or deserialize by hand: any of them, however wrong, must end each contact
//! with events or a `campaign::run::invalid_program` error, never a panic or
//! an endless loop.

use campaign::compile::instructions::{Instruction, Program, Target};
use campaign::contacts::Contact;
use campaign::diagnostics::codes;
use campaign::syntax::ast::CompareOp;
use campaign::vm::{Event, Run, Secrets, Vm};
use proptest::prelude::*;

/// A compiled campaign that uses every table: webhooks with merged URLs,
/// headers, bodies and secrets, goals, waits, splits, constants, filters.
const SOURCE: &str = r#"campaign "All" {
    trigger contact_added
    webhook "W" {
        method POST
        url "https://api.example.com/v1/[Contact ID]/[Path | raw]"
        header "Authorization" = "Bearer " + secret("TOKEN")
        header "X-Name" = "[First Name | upper]"
        json { "id": [Contact ID], "n": [N | number], "ok": true }
    }
    webhook "H" {
        url "https://[Host].example.com/x"
        dynamic host
        post "a=[A]&b=[B | default: 'x']"
    }
    tag add "[Tag | trim]"
    field set [Status] = [A | replace: 'a', 'b']
    wait 2 days
    wait until [Date]
    if [A] == "1" and not [B] is empty or has tag "VIP" {
        note "hi [First Name | title | truncate: 3]"
    } else if [N] > 3 { tag remove "x" } else { stop }
    split 30% { field set [Tags] = "a, b" } else { note "[Date | date: '%Y']" }
    goal "G" when [Status] == "done"
    note "after"
}"#;

fn compiled() -> Program {
    campaign::compile(SOURCE, None)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .program
}

/// Indices around the tables' lengths, and far past them.
fn index() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..12, Just(u32::MAX), any::<u32>()]
}

fn instruction() -> impl Strategy<Value = Instruction> {
    let target = prop_oneof![
        Just(Target::Scratch),
        Just(Target::Url),
        Just(Target::Body),
        (0u16..4).prop_map(Target::Header),
    ];
    let op = prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Lt),
        Just(CompareOp::Contains),
        Just(CompareOp::EndsWith),
    ];
    prop_oneof![
        target.prop_map(Instruction::Begin),
        index().prop_map(Instruction::EmitText),
        index().prop_map(Instruction::EmitMerge),
        index().prop_map(Instruction::EmitJsonMerge),
        index().prop_map(Instruction::EmitSecret),
        Just(Instruction::PushText),
        index().prop_map(Instruction::PushMerge),
        index().prop_map(Instruction::PushConst),
        op.prop_map(Instruction::Compare),
        Just(Instruction::IsEmpty),
        Just(Instruction::Truthy),
        Just(Instruction::HasTag),
        Just(Instruction::Not),
        index().prop_map(Instruction::JumpIfFalseOrPop),
        index().prop_map(Instruction::JumpIfTrueOrPop),
        index().prop_map(Instruction::PopJumpIfFalse),
        index().prop_map(Instruction::Jump),
        index().prop_map(Instruction::Webhook),
        Just(Instruction::TagAdd),
        Just(Instruction::TagRemove),
        index().prop_map(Instruction::FieldSet),
        Just(Instruction::Note),
        index().prop_map(Instruction::Wait),
        Just(Instruction::WaitUntil),
        index().prop_map(Instruction::Split),
        index().prop_map(Instruction::CheckGoals),
        index().prop_map(Instruction::Goal),
        Just(Instruction::Stop),
        Just(Instruction::Return),
        Just(Instruction::Done),
    ]
}

/// Field values with the text that trips escapes and filters.
fn field_value() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        "[a-zA-Z0-9 ,.]{0,12}",
        Just("line\nbreak".to_string()),
        Just("1e308".to_string()),
        Just("2026-12-01T09:00:00Z".to_string()),
        Just("../..\\x/%2f?#@:".to_string()),
        "\\PC{0,6}",
    ])
}

/// The compiled program with its code and tables cut and overwritten, and
/// a contact with any number of fields.
#[derive(Debug)]
struct Case {
    program: Program,
    run: Run,
}

fn case() -> impl Strategy<Value = Case> {
    let base = compiled();
    let code_len = base.code.len();
    (
        proptest::collection::vec((0..code_len + 4, instruction()), 0..8),
        0..code_len + 2,
        proptest::collection::vec(0usize..12, 9),
        proptest::collection::vec(proptest::collection::vec(0u32..40, 2), 0..3),
        proptest::collection::vec(field_value(), 0..14),
        proptest::collection::vec("[a-zA-Z ]{0,6}", 0..4),
        (any::<bool>(), 0u32..80, proptest::option::of(0u32..80)),
    )
        .prop_map(
            move |(patches, keep, cuts, goals, fields, tags, (fresh, pc, after))| {
                let mut program = base.clone();
                for (at, ins) in patches {
                    match program.code.get_mut(at) {
                        Some(slot) => *slot = ins,
                        None => program.code.push(ins),
                    }
                }
                program.code.truncate(keep.max(1).min(program.code.len()));
                // Each table keeps all, some or none of its entries.
                let cut = |len: usize, c: usize| if c >= 8 { len } else { len.min(c) };
                program.texts.truncate(cut(program.texts.len(), cuts[0]));
                program.merges.truncate(cut(program.merges.len(), cuts[1]));
                program.fields.truncate(cut(program.fields.len(), cuts[2]));
                program
                    .constants
                    .truncate(cut(program.constants.len(), cuts[3]));
                program
                    .webhooks
                    .truncate(cut(program.webhooks.len(), cuts[4]));
                program
                    .durations
                    .truncate(cut(program.durations.len(), cuts[5]));
                program.splits.truncate(cut(program.splits.len(), cuts[6]));
                program.spans.truncate(cut(program.spans.len(), cuts[7]));
                program
                    .secrets
                    .truncate(cut(program.secrets.len(), cuts[8]));
                for (goal, g) in program.goals.iter_mut().zip(&goals) {
                    goal.pc = g[0];
                    goal.cond_pc = g[1];
                }
                let contact = Contact {
                    id: "7".into(),
                    row: 1,
                    fields,
                    tags,
                };
                let mut run = Run::new(contact, 1_700_000_000);
                if !fresh {
                    // A run restored from anywhere.
                    run.pc = pc;
                    run.check_goals_after = after;
                }
                Case { program, run }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_program_ends_every_contact_without_panicking(mut case in case()) {
        let secrets = [Secrets::Masked, Secrets::Values(std::sync::Arc::new(vec!["s".into()]))];
        for secrets in secrets {
            let mut vm = Vm::new(&case.program, secrets);
            let mut run = case.run.clone();
            // Every event moves the pc forward or ends the run, and a wait
            // adds at most one goal jump: a bound on events, so no loop.
            let bound = 2 * case.program.code.len() + 4;
            let mut events = 0;
            loop {
                events += 1;
                prop_assert!(events <= bound, "{} events for {:?}", events, case.program.code);
                match vm.next(&mut run) {
                    Event::Done | Event::Stop => break,
                    Event::Error(e) => {
                        prop_assert!(e.code.starts_with("campaign::run::"), "{e:?}");
                        break;
                    }
                    _ => {}
                }
            }
            prop_assert!(matches!(vm.next(&mut run), Event::Done));
        }
        // The compiled program, untouched, never reports itself invalid.
        let program = compiled();
        let mut vm = Vm::new(&program, Secrets::Masked);
        case.run.pc = 0;
        case.run.check_goals_after = None;
        loop {
            match vm.next(&mut case.run) {
                Event::Done | Event::Stop => break,
                Event::Error(e) => {
                    prop_assert_ne!(e.code, codes::RUN_INVALID_PROGRAM, "{:?}", e);
                    break;
                }
                _ => {}
            }
        }
    }
}
