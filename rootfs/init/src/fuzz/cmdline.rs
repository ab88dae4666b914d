//! `appliance.policy=` and `appliance.sealed=` on hostile kernel command lines.

use super::{check_refusal, config, edits, mutate};
use crate::policy::{self, MAX_LENGTH, Slot};
use crate::sealed::{self, Sealed};
use proptest::prelude::*;

/// What a command line says about either parameter: an accepted value keeps its invariants and
/// reads back the same once written out again; a refusal names the parameter.
fn check_cmdline(cmdline: &[u8]) -> Result<(), TestCaseError> {
    match policy::parse_slot(cmdline) {
        None => {}
        Some(Ok(slot)) => check_slot(&slot)?,
        Some(Err(message)) => check_param_refusal(&message, policy::PARAM)?,
    }
    match sealed::parse(cmdline) {
        None => {}
        Some(Ok(sealed)) => check_sealed(&sealed)?,
        Some(Err(message)) => check_param_refusal(&message, sealed::PARAM)?,
    }
    Ok(())
}

fn check_param_refusal(message: &str, param: &str) -> Result<(), TestCaseError> {
    prop_assert!(message.starts_with(param), "{message}");
    prop_assert!(message.contains("; expected "), "{message}");
    check_refusal(message)
}

fn check_slot(slot: &Slot) -> Result<(), TestCaseError> {
    prop_assert!((1..=MAX_LENGTH).contains(&slot.length), "{slot:?}");
    prop_assert!(
        !slot.name.is_empty() && !slot.name.contains('/') && !slot.name.starts_with('.'),
        "{slot:?}"
    );
    let value = slot_value(slot);
    let reread = Slot::parse(&value);
    prop_assert_eq!(reread.as_ref(), Ok(slot));
    if !value.contains('"') {
        let quoted = format!("{}=\"{value}\"", policy::PARAM);
        let reread = policy::parse_slot(quoted.as_bytes());
        prop_assert_eq!(reread.as_ref().map(Result::as_ref), Some(Ok(slot)));
    }
    Ok(())
}

fn check_sealed(sealed: &Sealed) -> Result<(), TestCaseError> {
    prop_assert!(
        sealed.device.starts_with("/dev/") && sealed.target.starts_with('/'),
        "{sealed:?}"
    );
    let value = format!("{},{}", sealed.device, sealed.target);
    let reread = Sealed::parse(&value);
    prop_assert_eq!(reread.as_ref(), Ok(sealed));
    if !value.contains('"') {
        let quoted = format!("{}=\"{value}\"", sealed::PARAM);
        let reread = sealed::parse(quoted.as_bytes());
        prop_assert_eq!(reread.as_ref().map(Result::as_ref), Some(Ok(sealed)));
    }
    Ok(())
}

fn slot() -> impl Strategy<Value = Slot> {
    (
        "[a-z0-9_-][a-z0-9_.-]{0,15}",
        "/dev/[a-z0-9]{1,6}",
        any::<u64>(),
        1..=MAX_LENGTH,
    )
        .prop_map(|(name, device, offset, length)| Slot {
            name,
            device,
            offset,
            length,
        })
}

/// As xtask's `PolicySlot::cmdline_arg` writes it.
fn slot_value(slot: &Slot) -> String {
    format!(
        "{},{},{},{}",
        slot.name, slot.device, slot.offset, slot.length
    )
}

/// `DEVICE,MOUNTPOINT`; the mount point may hold commas.
fn sealed_value() -> impl Strategy<Value = (String, String)> {
    ("/dev/[a-z0-9]{1,6}", "/[a-z0-9_.,/-]{0,16}")
}

/// Parameters a real command line has around ours, some with quoted values holding words that
/// look like ours.
fn other_param() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("console=ttyS0".to_owned()),
        Just("ro".to_owned()),
        Just("dm-mod.create=\"rootfs,,,ro,0 8 verity 1 /dev/vda /dev/vda 4096 4096 1 1 sha256 00 11\"".to_owned()),
        // `--` would end the kernel's parameters.
        "[a-z_.-]{1,10}(=[a-zA-Z0-9,/:._-]{0,10})?".prop_filter("not --", |p| p != "--"),
        "[a-z_.-]{1,10}=\"[a-z ,=]{0,12}\"",
        "[a-z]{1,6}=\"x appliance\\.(policy|sealed)=[a-z,/0-9]{0,12} y\"",
    ]
}

/// A command line holding `param=value` among others, the value written in one of the ways the
/// kernel reads alike, the words apart by any of the kernel's spaces.
fn cmdline_with(param: &'static str, value: String) -> impl Strategy<Value = Vec<u8>> {
    let spaces: &[&[u8]] = &[b" ", b"  ", b"\t", b"\n", b" \xa0", b"\r\n"];
    (
        prop::collection::vec(other_param(), 0..4),
        0..3usize,
        prop::collection::vec(other_param(), 0..4),
        prop::collection::vec(prop::sample::select(spaces), 3..10),
    )
        .prop_map(move |(before, form, after, spaces)| {
            let ours = match form {
                0 => format!("{param}={value}"),
                1 => format!("{param}=\"{value}\""),
                _ => format!("\"{param}={value}\""),
            };
            let words = before.iter().chain([&ours]).chain(&after);
            let mut line = spaces[0].to_vec();
            for (word, space) in words.zip(spaces.iter().cycle().skip(1)) {
                line.extend_from_slice(word.as_bytes());
                line.extend_from_slice(space);
            }
            line
        })
}

fn valid_policy_cmdline() -> impl Strategy<Value = (Slot, Vec<u8>)> {
    slot().prop_flat_map(|slot| {
        let value = slot_value(&slot);
        (Just(slot), cmdline_with(policy::PARAM, value))
    })
}

fn valid_sealed_cmdline() -> impl Strategy<Value = ((String, String), Vec<u8>)> {
    sealed_value().prop_flat_map(|(device, target)| {
        let value = format!("{device},{target}");
        (Just((device, target)), cmdline_with(sealed::PARAM, value))
    })
}

/// One field of a valid slot made wrong, and what the refusal must name.
fn broken_slot() -> impl Strategy<Value = (String, &'static str)> {
    let not_a_number = prop_oneof![
        Just(String::new()),
        "[a-z]{1,4}",
        "-[1-9][0-9]{0,4}",
        "0x[0-9a-f]{1,4}",
        Just("18446744073709551616".to_owned()),
    ];
    let not_a_length = prop_oneof![
        not_a_number.clone(),
        Just("0".to_owned()),
        (MAX_LENGTH as u64 + 1..).prop_map(|n| n.to_string()),
    ];
    let name = prop_oneof![
        Just(String::new()),
        "\\.[a-z]{0,5}",
        "[a-z]{0,3}/[a-z]{0,3}"
    ];
    let field = prop_oneof![
        name.prop_map(|name| (0, name, "NAME")),
        not_a_number.prop_map(|offset| (2, offset, "OFFSET")),
        not_a_length.prop_map(|length| (3, length, "LENGTH")),
    ];
    let fields = prop_oneof![1..4usize, 5..8usize];
    (
        slot(),
        prop_oneof![field.prop_map(Ok), fields.prop_map(Err),],
    )
        .prop_map(|(slot, broken)| {
            let mut fields: Vec<String> = slot_value(&slot).split(',').map(str::to_owned).collect();
            match broken {
                Ok((index, value, named)) => {
                    fields[index] = value;
                    (fields.join(","), named)
                }
                Err(count) => {
                    fields.resize(count, "x".to_owned());
                    (fields.join(","), "not 4 fields")
                }
            }
        })
}

fn broken_sealed() -> impl Strategy<Value = (String, &'static str)> {
    prop_oneof![
        "/dev/[a-z]{1,6}".prop_map(|device| (device, "no `,`")),
        (
            "(/[a-z]{0,4}){0,2}|dev/[a-z]{1,4}|/devx/[a-z]{1,3}"
                .prop_filter("not under /dev/", |d| !d.starts_with("/dev/")),
            "/[a-z]{0,6}"
        )
            .prop_map(|(device, target)| (format!("{device},{target}"), "DEVICE")),
        ("/dev/[a-z]{1,4}", "[a-z.][a-z/]{0,6}|")
            .prop_map(|(device, target)| (format!("{device},{target}"), "MOUNTPOINT")),
    ]
}

proptest! {
    #![proptest_config(config(16000))]

    #[test]
    fn a_valid_slot_among_other_parameters_reads_back_exactly((slot, cmdline) in valid_policy_cmdline()) {
        prop_assert_eq!(policy::parse_slot(&cmdline), Some(Ok(slot)));
        prop_assert_eq!(sealed::parse(&cmdline), None);
    }

    #[test]
    fn a_valid_sealed_value_among_other_parameters_reads_back_exactly(((device, target), cmdline) in valid_sealed_cmdline()) {
        let expected = Sealed { device: &device, target: &target };
        prop_assert_eq!(sealed::parse(&cmdline), Some(Ok(expected)));
        prop_assert_eq!(policy::parse_slot(&cmdline), None);
    }

    #[test]
    fn a_broken_slot_is_refused_naming_the_field((value, named) in broken_slot()) {
        let cmdline = format!("ro {}={value} console=ttyS0", policy::PARAM);
        let message = policy::parse_slot(cmdline.as_bytes()).unwrap().unwrap_err();
        prop_assert!(message.contains(named), "{} should name {}", message, named);
        check_param_refusal(&message, policy::PARAM)?;
    }

    #[test]
    fn a_broken_sealed_value_is_refused_naming_the_field((value, named) in broken_sealed()) {
        let cmdline = format!("ro {}={value} console=ttyS0", sealed::PARAM);
        let message = sealed::parse(cmdline.as_bytes()).unwrap().unwrap_err();
        prop_assert!(message.contains(named), "{} should name {}", message, named);
        check_param_refusal(&message, sealed::PARAM)?;
    }

    #[test]
    fn mutated_command_lines_are_read_or_refused_clearly(
        (_, policy) in valid_policy_cmdline(),
        ((_, _), sealed) in valid_sealed_cmdline(),
        edits in edits(),
    ) {
        let line = [policy, sealed].concat();
        check_cmdline(&mutate(line, &edits))?;
    }

    #[test]
    fn arbitrary_bytes_are_read_or_refused_clearly(
        before in prop::collection::vec(any::<u8>(), 0..64),
        param in prop::sample::select(&[policy::PARAM, sealed::PARAM][..]),
        after in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        check_cmdline(&after)?;
        check_cmdline(&[&before[..], param.as_bytes(), b"=", &after].concat())?;
    }
}
