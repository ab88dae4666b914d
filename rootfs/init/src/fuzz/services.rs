//! Files of `/etc/appliance/services.d` with hostile lines.

use super::{check_refusal, config, edits, mutate};
use crate::services::{self, LineError, Restart, Service};
use proptest::prelude::*;
use rustix::thread::CapabilitySet;

/// Pieces of services files, for texts that random bytes would seldom write.
const SOUP: &[&[u8]] = &[
    b"required",
    b"once",
    b"respawn",
    b"console",
    b"#",
    b"/bin/sh",
    b"-l",
    b" ",
    b"\t",
    b"\n",
    b"\r",
    b"\xff",
    b"\0",
    b"\xc3",
    b"\xa9",
    b"\xe2\x80\xa8",
];

fn word(restart: Restart) -> &'static str {
    match restart {
        Restart::Required => "required",
        Restart::Once => "once",
        Restart::Respawn => "respawn",
        Restart::Console => "console",
    }
}

fn render(service: &Service) -> String {
    let caps = service.caps.map(|set| {
        let names: Vec<String> = set
            .iter_names()
            .map(|(name, _)| name.to_ascii_lowercase())
            .collect();
        format!("caps={}", names.join(","))
    });
    let user = service.user.as_ref().map(|name| format!("user={name}"));
    let words = [word(service.restart)]
        .into_iter()
        .chain(user.as_deref())
        .chain(caps.as_deref())
        .chain([service.program.as_str()])
        .chain(service.args.iter().map(String::as_str));
    words.collect::<Vec<_>>().join(" ")
}

/// Every result is accounted for: an accepted service reads back the same once written out
/// again; a refusal carries a line number within the text, in order, and says what to do.
fn check_services(text: &[u8]) -> Result<(), TestCaseError> {
    let lines = text.split(|&b| b == b'\n').count();
    let parsed = services::parse(text);
    prop_assert!(parsed.len() <= lines);
    let mut previous = 0;
    for entry in parsed {
        match entry {
            Ok(service) => {
                let line = render(&service);
                prop_assert_eq!(services::parse(line.as_bytes()), vec![Ok(service)]);
            }
            Err(LineError { line, problem }) => {
                prop_assert!(previous < line && line <= lines, "line {line} of {lines}");
                previous = line;
                check_refusal(&problem)?;
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Line {
    Service(Service),
    Comment(String),
    Blank(String),
    /// Refused, and the message must hold the second field.
    Bad(Vec<u8>, String),
}

fn restart() -> impl Strategy<Value = Restart> {
    prop_oneof![
        Just(Restart::Required),
        Just(Restart::Once),
        Just(Restart::Respawn),
        Just(Restart::Console)
    ]
}

fn service() -> impl Strategy<Value = Service> {
    (
        restart(),
        "/[a-z]{1,8}(/[a-z0-9._-]{1,8}){0,2}",
        prop::collection::vec("[!-~]{1,8}|[a-zé€]{1,4}", 0..4),
        prop::option::of(prop::bits::u64::between(0, 41)),
        prop::option::of("[a-z_][a-z0-9_-]{0,8}"),
    )
        .prop_map(|(restart, program, args, caps, user)| Service {
            restart,
            caps: caps.map(CapabilitySet::from_bits_truncate),
            user,
            program,
            args,
        })
}

fn bad_line() -> impl Strategy<Value = Line> {
    let not_a_restart = "[a-z]{1,8}".prop_filter("not a restart word", |word| {
        !["required", "once", "respawn", "console"].contains(&word.as_str())
    });
    prop_oneof![
        not_a_restart
            .prop_map(|word| Line::Bad(format!("{word} /bin/x").into(), format!("{word:?}"))),
        restart().prop_map(|r| Line::Bad(format!("{} \t", word(r)).into(), "no command".into())),
        Just(Line::Bad(b"once /bin/\xff".to_vec(), "not UTF-8".into())),
        Just(Line::Bad(b"respawn /bin/a\0b".to_vec(), "NUL".into())),
    ]
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        4 => service().prop_map(Line::Service),
        1 => "[ \t]{0,2}#[ -~]{0,20}".prop_map(Line::Comment),
        1 => "[ \t]{0,3}".prop_map(Line::Blank),
        2 => bad_line(),
    ]
}

/// The file's bytes, with `\n` or `\r\n` line ends, words apart by spaces or tabs.
fn file() -> impl Strategy<Value = (Vec<Line>, Vec<u8>)> {
    (
        prop::collection::vec(line(), 0..12),
        prop::sample::select(&["\n", "\r\n"][..]),
        prop::sample::select(&[" ", "\t", "  \t"][..]),
        any::<bool>(),
    )
        .prop_map(|(lines, end, space, last_end)| {
            let mut text = Vec::new();
            for (index, line) in lines.iter().enumerate() {
                match line {
                    Line::Service(service) => {
                        text.extend(render(service).replace(' ', space).bytes())
                    }
                    Line::Comment(comment) | Line::Blank(comment) => text.extend(comment.bytes()),
                    Line::Bad(bytes, _) => text.extend(bytes),
                }
                if index + 1 < lines.len() || last_end {
                    text.extend(end.bytes());
                }
            }
            (lines, text)
        })
}

proptest! {
    #![proptest_config(config(16000))]

    #[test]
    fn a_file_reads_as_its_services_and_its_bad_lines_by_number((lines, text) in file()) {
        let parsed = services::parse(&text);
        let mut expected = lines.iter().zip(1..).filter(|(line, _)| matches!(line, Line::Service(_) | Line::Bad(..)));
        prop_assert_eq!(parsed.len(), expected.clone().count());
        for (entry, (line, number)) in parsed.iter().zip(&mut expected) {
            match (entry, line) {
                (Ok(service), Line::Service(written)) => prop_assert_eq!(service, written),
                (Err(error), Line::Bad(_, named)) => {
                    prop_assert_eq!(error.line, number);
                    prop_assert!(error.problem.contains(named.as_str()), "{} should name {}", error.problem, named);
                }
                _ => prop_assert!(false, "line {}: {:?} read as {:?}", number, line, entry),
            }
        }
        check_services(&text)?;
    }

    #[test]
    fn mutated_files_are_read_or_refused_clearly((_, text) in file(), edits in edits()) {
        check_services(&mutate(text, &edits))?;
    }

    #[test]
    fn arbitrary_bytes_are_read_or_refused_clearly(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        soup in prop::collection::vec(prop::sample::select(SOUP), 0..64),
    ) {
        check_services(&bytes)?;
        check_services(&soup.concat())?;
    }
}
