//! `cargo xtask test`: the workspace's unit tests, the in-kernel KUnit suite, then the
//! integration suite in QEMU guests under each IPE, and the two IPEs' observations compared.
//! Every guest and command runs under a timeout; each case prints its result, and the last
//! line is `N passed, N failed`.

mod boot_chain;
mod cases;
mod cpio;
mod differential;
mod disk;
mod dynamic;
mod firewall;
mod imports;
mod initramfs;
mod key_leak;
mod kill;
mod ktap;
mod kunit;
mod large_policy;
mod lifecycle;
mod lockdown;
pub mod remote_cache;
mod sbom;
mod sealed;
mod tamper;
pub mod updates;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use appliance_qemu::{Guest, Machine};

use crate::exec::Tool;
use crate::flags::{KunitArgs, Only, TestArgs};
use crate::guests;
use crate::stages::boot_spec::BootSpec;
use crate::stages::disk::SLOTS;
use crate::stages::image::{self, Image};
use crate::stages::layer_stack::Ipe;
use crate::stages::session::Session;

type Case = fn(&mut Guest, &Image) -> cases::CaseResult;

/// Cases on the image as built.
const SEALED_IMAGE_CASES: &[(&str, Case)] = &[
    ("ipe_active_and_enforcing", cases::ipe_active_and_enforcing),
    ("rootfs_is_verity_erofs", cases::rootfs_is_verity_erofs),
    ("verity_binary_runs", cases::verity_binary_runs),
    (
        "tmpfs_copy_is_denied_and_audited",
        cases::tmpfs_copy_is_denied_and_audited,
    ),
    (
        "kernel_modules_only_from_the_verity_root",
        cases::kernel_modules_only_from_the_verity_root,
    ),
];

/// Cases on a copy of the image with one byte of a file's data flipped.
const TAMPERED_IMAGE_CASES: &[(&str, Case)] = &[(
    "tampered_file_fails_with_eio",
    cases::tampered_file_fails_with_eio,
)];

/// Cases on a guest with a second disk of test policies; they change its policy state, so they
/// run in this order, on a guest of their own.
const LIFECYCLE_CASES: &[(&str, Case)] = &[
    ("unpack_policy_artifacts", lifecycle::unpack_artifacts),
    (
        "signed_policy_replaced_boot_policy",
        lifecycle::signed_policy_replaced_boot_policy,
    ),
    (
        "other_key_refused_enokey",
        lifecycle::other_key_refused_enokey,
    ),
    ("flipped_byte_refused", lifecycle::flipped_byte_refused),
    (
        "unsigned_refused_ebadmsg",
        lifecycle::unsigned_refused_ebadmsg,
    ),
    (
        "update_not_higher_refused_estale",
        lifecycle::update_not_higher_refused_estale,
    ),
    (
        "activating_lower_version_refused",
        lifecycle::activating_lower_version_refused,
    ),
    (
        "deleting_active_refused_eperm",
        lifecycle::deleting_active_refused_eperm,
    ),
    (
        "agent_applies_only_higher_updates",
        lifecycle::agent_applies_only_higher_updates,
    ),
];

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    fn record_kunit(
        &mut self,
        kernel: &crate::stages::kunit::KunitKernel,
        accel: appliance_qemu::Accel,
        timeout: Duration,
    ) {
        let started = Instant::now();
        let result = kunit::run(kernel, accel, timeout)
            .map(|vectors| println!("kunit: {vectors} parser vectors passed in the kernel"));
        self.record("kunit/ipe-rust-parser", started, result);
    }

    fn exit_code(&self) -> ExitCode {
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    fn record(&mut self, name: &str, started: Instant, result: std::result::Result<(), String>) {
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                self.passed += 1;
                println!("test {name} ... ok ({seconds:.1}s)");
            }
            Err(reason) => {
                self.failed += 1;
                println!(
                    "test {name} ... FAILED ({seconds:.1}s)\n    {}",
                    reason.replace('\n', "\n    ")
                );
            }
        }
    }
}

pub fn run(session: &Session, args: &TestArgs) -> Result<ExitCode> {
    let project = &session.project;
    let mut tally = Tally::default();
    match args.only {
        Some(Only::RemoteCache) => {
            record_remote_cache(&mut tally, session, args, Ipe::Rust)?;
            println!("{} passed, {} failed", tally.passed, tally.failed);
            return Ok(tally.exit_code());
        }
        Some(Only::Updates) => {
            let image_args = test_image_args(&args.image, Ipe::Rust);
            let image = image::build(session, &image_args.request(&project.root, Ipe::Rust)?)?;
            std::fs::create_dir_all(&image.test_dir)?;
            let accel = guests::choose_accel(&project.cache, &image.boot);
            record_updates(
                &mut tally,
                session,
                &image,
                accel,
                Duration::from_secs(args.boot_timeout),
            );
            println!("{} passed, {} failed", tally.passed, tally.failed);
            return Ok(tally.exit_code());
        }
        None => {}
    }
    let toolchain = session.toolchain()?;
    if !args.integration_only {
        let started = Instant::now();
        let result = Tool::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["test", "--workspace"])
            .current_dir(&project.root)
            .env("IPE_KERNEL_SRC", &toolchain.kernel_source)
            .run_streaming(|line| println!("{line}"))
            .map_err(|error| format!("{error:#}"));
        tally.record("workspace_unit_tests", started, result);
    }

    let boot_timeout = Duration::from_secs(args.boot_timeout);
    let mut observations = Vec::new();
    for &ipe in &args.ipe {
        let image_args = test_image_args(&args.image, ipe);
        let request = image_args.request(&project.root, ipe)?;
        let image = image::build(session, &request)?;
        std::fs::create_dir_all(&image.test_dir)?;
        let started = Instant::now();
        tally.record(
            &format!("{}/sbom_passes_the_spdx_validator", ipe.name()),
            started,
            sbom::check(&toolchain.spdx_validator, &image),
        );
        for (name, check) in [
            (
                "sfdisk_reads_the_partitions",
                disk::sfdisk_reads_the_partitions as fn(&Image) -> Result<(), String>,
            ),
            (
                "sbverify_checks_the_uki",
                boot_chain::sbverify_checks_the_uki,
            ),
            (
                "systemd_dissect_finds_root_and_esp",
                disk::systemd_dissect_finds_root_and_esp,
            ),
        ] {
            let started = Instant::now();
            tally.record(&format!("{}/{name}", ipe.name()), started, check(&image));
        }
        let guests = Guests {
            accel: guests::choose_accel(&project.cache, &image.boot),
            boot_timeout,
            prefix: format!("{}/", ipe.name()),
        };
        if ipe == Ipe::Rust {
            let kernel = crate::stages::kunit::build(session, &request.layers)?;
            tally.record_kunit(&kernel, guests.accel, boot_timeout);
        }
        guests.run_suite(&mut tally, session, &image)?;
        let started = Instant::now();
        tally.record(
            &format!(
                "{}boot_policy_of_65537_properties_loads_and_enforces",
                guests.prefix
            ),
            started,
            large_policy::check(session, &image, guests.accel, boot_timeout),
        );
        if let Some(text) = guests.observe_ipe(&mut tally, session, &image)? {
            observations.push((ipe.name(), text));
        }
        if ipe == Ipe::Rust {
            let started = Instant::now();
            tally.record(
                "rust/unloadable_boot_policy_stops_the_boot",
                started,
                large_policy::rust_fails_closed(session, &image, guests.accel, boot_timeout),
            );
            let started = Instant::now();
            let result = kill::check(session, &image).map_err(|error| format!("{error:#}"));
            tally.record(
                "rust/interrupted_builds_resume_to_identical_outputs",
                started,
                result,
            );
            record_remote_cache(&mut tally, session, args, ipe)?;
            record_updates(&mut tally, session, &image, guests.accel, boot_timeout);
        }
    }
    if let [(left, left_text), (right, right_text)] = &observations[..] {
        tally.record(
            &format!("{left}_and_{right}_ipe_observed_alike"),
            Instant::now(),
            differential::compare((left, left_text), (right, right_text)),
        );
    }

    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(tally.exit_code())
}

/// The remote cache against a real registry (`remote_cache.rs`), on the test image's inputs.
fn record_remote_cache(
    tally: &mut Tally,
    session: &Session,
    args: &TestArgs,
    ipe: Ipe,
) -> Result<()> {
    let request = test_image_args(&args.image, ipe).request(&session.project.root, ipe)?;
    let started = Instant::now();
    let result =
        remote_cache::check(&session.project, &request).map_err(|error| format!("{error:#}"));
    tally.record(
        &format!(
            "{}/remote_cache_b_pulls_identical_outputs_and_rejects_poisoned_entries",
            ipe.name()
        ),
        started,
        result,
    );
    Ok(())
}

/// Field updates across reboots (`updates.rs`), under the Rust IPE.
fn record_updates(
    tally: &mut Tally,
    session: &Session,
    image: &Image,
    accel: appliance_qemu::Accel,
    boot_timeout: Duration,
) {
    updates::check(
        session,
        image,
        accel,
        boot_timeout,
        &mut |name, started, result| tally.record(&format!("rust/{name}"), started, result),
    );
}

/// The image under test: the requested layers and the debug layer, whose console shell the
/// cases talk to, in an output folder of its own (`<name>-debug`).
fn test_image_args(requested: &crate::args::ImageArgs, ipe: Ipe) -> crate::args::ImageArgs {
    let mut image = requested.clone();
    if !image.layers.names.iter().any(|name| name == DEBUG_LAYER) {
        image.layers.names.push(DEBUG_LAYER.to_owned());
    }
    image.name = ipe.output_name(&format!("{}-{DEBUG_LAYER}", requested.name));
    image
}

const DEBUG_LAYER: &str = "debug";

/// `cargo xtask kunit`: build the KUnit kernel and run its suite.
pub fn run_kunit_only(session: &Session, args: &KunitArgs) -> Result<ExitCode> {
    let kernel = crate::stages::kunit::build(session, &args.layers.names)?;
    let mut tally = Tally::default();
    // TCG: the KVM probe needs an appliance image, and this suite takes a second under TCG.
    tally.record_kunit(
        &kernel,
        appliance_qemu::Accel::Tcg,
        Duration::from_secs(args.timeout),
    );
    Ok(tally.exit_code())
}

/// How guests are booted for one image.
struct Guests {
    accel: appliance_qemu::Accel,
    boot_timeout: Duration,
    /// Put before each case's name: which IPE it ran under.
    prefix: String,
}

impl Guests {
    /// The integration suite on one image: sealed, tampered, lifecycle and key-leak cases.
    fn run_suite(&self, tally: &mut Tally, session: &Session, image: &Image) -> Result<()> {
        self.run_cases(
            tally,
            image,
            Ok(guests::machine(&image.boot, self.accel)),
            &[
                SEALED_IMAGE_CASES,
                sealed::CASES,
                dynamic::CASES,
                lockdown::CASES,
            ]
            .concat(),
        );
        self.run_network_cases(tally, image)?;
        self.ruleset_failure_stops(tally, image)?;

        self.run_boot_chain(tally, session, image)?;

        // One guest for both tampered partitions, booted through the signed UKI: the firmware
        // checks only the UKI, and dm-verity and fs-verity still catch the changed bytes.
        let tampered = tampered_copy(image)?;
        let machine = self.uefi(image, &tampered, None, "tampered");
        self.run_cases(
            tally,
            image,
            machine,
            &[TAMPERED_IMAGE_CASES, sealed::TAMPERED_CASES].concat(),
        );

        let artifacts = lifecycle::make_artifacts(image)?;
        let mut machine = guests::machine(&image.boot, self.accel);
        machine.disks.push(artifacts);
        self.run_cases(tally, image, Ok(machine), LIFECYCLE_CASES);

        let started = Instant::now();
        tally.record(
            &format!("{}no_private_key_in_outputs", self.prefix),
            started,
            key_leak::check(image),
        );
        Ok(())
    }

    /// The differential observations and the initramfs case; the transcript is written to the
    /// output folder and returned, or its failure recorded.
    fn observe_ipe(
        &self,
        tally: &mut Tally,
        session: &Session,
        image: &Image,
    ) -> Result<Option<String>> {
        let started = Instant::now();
        let observed = self
            .observe(image)
            .and_then(|appliance| Ok((appliance, self.initramfs_session(session, image)?)));
        let (appliance, initramfs) = match observed {
            Ok(texts) => texts,
            Err(reason) => {
                tally.record(&format!("{}observe_ipe", self.prefix), started, Err(reason));
                return Ok(None);
            }
        };
        tally.record(
            &format!("{}initramfs_boot_verified", self.prefix),
            started,
            initramfs::check(&initramfs),
        );
        let text = appliance + &initramfs;
        let path = image.test_dir.join("ipe-observations.txt");
        crate::cache::write_atomic(&path, text.as_bytes())?;
        println!("observations of IPE written to {}", path.display());
        Ok(Some(text))
    }

    /// The kernel relinked with a test boot policy, booted from a test initramfs; returns the
    /// transcript of its commands.
    fn initramfs_session(
        &self,
        session: &Session,
        image: &Image,
    ) -> std::result::Result<String, String> {
        let machine = initramfs::machine(session, image, self.accel)
            .map_err(|error| format!("building the initramfs test: {error:#}"))?;
        let mut guest = self
            .boot(&machine)
            .map_err(|error| format!("the initramfs guest did not boot: {error:#}"))?;
        let text = differential::observe(&mut guest, initramfs::COMMANDS)?;
        Ok(format!("# booted from the test initramfs\n{text}"))
    }

    /// The differential observations, on guests of their own: they change the IPE state.
    fn observe(&self, image: &Image) -> std::result::Result<String, String> {
        let mut transcript = String::new();
        for (parameters, commands) in differential::sessions(image) {
            let mut machine = guests::machine(&image.boot, self.accel);
            machine.cmdline = format!("{} {parameters}", machine.cmdline);
            let mut guest = self
                .boot(&machine)
                .map_err(|error| format!("the guest did not boot: {error:#}"))?;
            transcript.push_str(&format!("# boot parameters: {parameters:?}\n"));
            transcript.push_str(&differential::observe(&mut guest, &commands)?);
        }
        Ok(transcript)
    }

    /// Boots `machine` (the image's own disk, a changed copy, or the firmware's boot) and runs
    /// `cases` on `image` in it; a guest that does not boot fails every case.
    fn run_cases(
        &self,
        tally: &mut Tally,
        image: &Image,
        machine: Result<Machine>,
        cases: &[(&str, Case)],
    ) {
        let started = Instant::now();
        match machine.and_then(|machine| self.boot(&machine)) {
            Ok(mut guest) => {
                println!(
                    "guest booted to its shell in {:.1}s ({:?})",
                    started.elapsed().as_secs_f64(),
                    self.accel
                );
                for (name, case) in cases {
                    let started = Instant::now();
                    tally.record(
                        &format!("{}{name}", self.prefix),
                        started,
                        case(&mut guest, image),
                    );
                }
            }
            Err(error) => {
                for (name, _) in cases {
                    tally.record(
                        &format!("{}{name}", self.prefix),
                        started,
                        Err(format!("the guest did not boot: {error:#}")),
                    );
                }
            }
        }
    }

    /// `boot` as a device boots it: OVMF with Secure Boot and the image's keys, from a copy of
    /// `vars` (the image's store unless given), named `run` in the test folder.
    fn uefi(
        &self,
        image: &Image,
        boot: &BootSpec,
        vars: Option<PathBuf>,
        run: &str,
    ) -> Result<Machine> {
        let boot = BootSpec {
            firmware_vars: vars.or_else(|| boot.firmware_vars.clone()),
            ..boot.clone()
        };
        let run_vars = image.test_dir.join(format!("ovmf-vars-{run}.fd"));
        guests::uefi_machine(&boot, self.accel, &run_vars)
    }

    /// The boot chain: the signed UKI under Secure Boot, a foreign command line ignored, and
    /// each changed UKI refused by the firmware.
    fn run_boot_chain(&self, tally: &mut Tally, session: &Session, image: &Image) -> Result<()> {
        let machine = self.uefi(image, &image.boot, None, "secure-boot");
        self.run_cases(tally, image, machine, boot_chain::SECURE_BOOT_CASES);

        let virt_fw_vars = crate::stages::setup::virt_fw_vars_path(&session.project.cache);
        let machine = boot_chain::vars_with_foreign_options(&virt_fw_vars, image)
            .map_err(anyhow::Error::msg)
            .and_then(|vars| self.uefi(image, &image.boot, Some(vars), "foreign-options"));
        self.run_cases(
            tally,
            image,
            machine,
            boot_chain::FOREIGN_COMMAND_LINE_CASES,
        );

        let started = Instant::now();
        let variants = match boot_chain::refused_ukis(session.toolchain()?, image) {
            Ok(variants) => variants,
            Err(error) => {
                tally.record(
                    &format!("{}firmware_refuses_changed_ukis", self.prefix),
                    started,
                    Err(format!("making the changed UKIs: {error:#}")),
                );
                return Ok(());
            }
        };
        for (name, uki) in variants {
            let started = Instant::now();
            let result = self.refused(image, name, &uki);
            tally.record(
                &format!("{}firmware_refuses_uki_{name}", self.prefix),
                started,
                result,
            );
        }
        Ok(())
    }

    /// Boots a disk whose ESP holds `uki` and requires the firmware's refusal.
    fn refused(&self, image: &Image, name: &str, uki: &[u8]) -> std::result::Result<(), String> {
        let boot = boot_chain::disk_booting(image, name, uki)?;
        let mut machine = self
            .uefi(image, &boot, None, name)
            .map_err(|error| format!("{error:#}"))?;
        machine.network = None;
        let mut guest = Guest::start(&machine).map_err(|error| error.to_string())?;
        let waited = guest.wait_for(boot_chain::REFUSED, self.boot_timeout);
        let console = guest.transcript().to_owned();
        guest.kill();
        waited.map_err(|error| format!("{error}; console: {console:?}"))?;
        boot_chain::check_refused(&console)
    }

    /// The firewall cases, on a guest that the host reaches through forwarded ports.
    fn run_network_cases(&self, tally: &mut Tally, image: &Image) -> Result<()> {
        let started = Instant::now();
        let (network, forwards) = firewall::network()?;
        let mut machine = guests::machine(&image.boot, self.accel);
        machine.network = Some(network);
        let mut booted = self.boot(&machine);
        for (name, case) in firewall::CASES {
            let result = match &mut booted {
                Ok(guest) => {
                    let started = Instant::now();
                    let result = case(guest, image, &forwards);
                    tally.record(&format!("{}{name}", self.prefix), started, result);
                    continue;
                }
                Err(error) => Err(format!("the guest did not boot: {error:#}")),
            };
            tally.record(&format!("{}{name}", self.prefix), started, result);
        }
        Ok(())
    }

    /// An appliance whose ruleset cannot load (here: its newer signed policy lets nothing run,
    /// `nft` included) says so and halts instead of coming up unfiltered.
    fn ruleset_failure_stops(&self, tally: &mut Tally, image: &Image) -> Result<()> {
        let started = Instant::now();
        let (slot, parameter) = firewall::policy_slot_denying_exec(image)?;
        let mut machine = guests::machine(&image.boot, self.accel);
        machine.cmdline = machine
            .cmdline
            .split(' ')
            .map(|word| {
                if word.starts_with("appliance.policy=") {
                    parameter.as_str()
                } else {
                    word
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        machine.disks.push(slot);
        let result = Guest::start(&machine)
            .map_err(|error| error.to_string())
            .and_then(|mut guest| {
                let waited = guest.wait_for("System halted", self.boot_timeout);
                let console = guest.transcript().to_owned();
                guest.kill();
                waited.map_err(|error| format!("{error}; console: {console:?}"))?;
                firewall::check_stopped(&console)
            });
        tally.record(
            &format!("{}unloadable_ruleset_stops_the_appliance", self.prefix),
            started,
            result,
        );
        Ok(())
    }

    fn boot(&self, machine: &appliance_qemu::Machine) -> Result<Guest> {
        guests::boot_to_shell(machine, self.boot_timeout)
    }
}

/// A copy of the disk image with one byte of the build record's data flipped.
fn tampered_copy(image: &Image) -> Result<BootSpec> {
    let spec = &image.boot;
    let mut disk = std::fs::read(&spec.disk)?;
    // Both slots hold the build; the firmware boots slot A.
    let root = image
        .partitions
        .byte_range(SLOTS[0].root)
        .context("the disk has no root partition in slot A")?;
    let offset = root.start
        + tamper::flip_byte_of_file(&mut disk[root], image.build_record.as_bytes())
            .map_err(anyhow::Error::msg)?;
    let tampered_disk = image.test_dir.join("disk-tampered.img");
    println!(
        "tampered copy: flipped the byte at offset {offset} of {}",
        tampered_disk.display()
    );
    // The sealed partition is on the same disk: one byte of the sealed binary too.
    sealed::flip_sealed_binary(image, &mut disk, &tampered_disk)?;
    crate::cache::write_atomic(&tampered_disk, &disk)?;
    Ok(BootSpec {
        disk: tampered_disk,
        ..spec.clone()
    })
}
