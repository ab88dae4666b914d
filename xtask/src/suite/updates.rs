//! Field updates across reboots, as a device takes them. RAUC in the appliance installs a
//! bundle into the slot that is not running; the firmware boots that slot once (BootNext), and
//! it stays only if it comes up with IPE enforcing (mark-good puts it first in BootOrder). One
//! disk and one firmware variable store persist across every reboot of the scenario; each
//! bundle reaches the guest as a second, read-only disk. Reboots are real: `reboot -f`, and
//! QEMU (`-no-reboot`) exits, to be started again on the same disk and store.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use appliance_qemu::{Accel, Guest, Machine};
use ipe_lsm::Action;
use ipe_lsm::host::PolicyText;

use super::cases::{CaseResult, expect, run};
use crate::exec::Tool;
use crate::guests;
use crate::stages::bundle;
use crate::stages::image::{self, Image, ImageRequest};
use crate::stages::session::Session;
use crate::stages::sign::{self, BundleSignerChoice, SignerChoice};

/// Where the guest copies a bundle from its second disk before installing it.
const IN_GUEST: &str = "/tmp/update.raucb";
/// What the appliance prints once RAUC has marked the booted slot good.
const MARKED_GOOD: &str = "marked good (IPE enforcing";
/// Installs write a whole slot under TCG.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);

/// The bundles of the scenario, all for this product.
struct Bundles {
    /// The next release: a higher version and its own root hash.
    next: PathBuf,
    next_by_another_key: PathBuf,
    next_one_byte_changed: PathBuf,
    /// The running release's own bundle: an equal, then a lower version.
    current: PathBuf,
    /// The release after next, whose signed policy denies every execution: it cannot come up.
    failing: PathBuf,
}

/// The scenario's cases, each handed to `record` as it ends.
pub fn check(
    session: &Session,
    image: &Image,
    accel: Accel,
    timeout: Duration,
    record: &mut dyn FnMut(&'static str, Instant, CaseResult),
) {
    let started = Instant::now();
    match Scenario::prepare(session, image, accel, timeout) {
        Ok(mut scenario) => scenario.run(image, started, record),
        Err(error) => {
            for name in CASES {
                record(
                    name,
                    started,
                    Err(format!("preparing the update scenario: {error:#}")),
                );
            }
        }
    }
}

const CASES: [&str; 6] = [
    "update_bundle_passes_rauc_info_on_the_host",
    "update_refuses_another_key_and_a_changed_byte",
    "update_installs_into_the_other_slot_and_boots_it_enforcing",
    "update_refuses_an_equal_or_lower_version",
    "update_that_cannot_come_up_falls_back_to_the_running_slot",
    "update_slot_marked_good_stays_across_reboots",
];

struct Scenario {
    next: Image,
    bundles: Bundles,
    rauc_cert: PathBuf,
    device: Device,
}

/// A device in QEMU: its own disk and firmware variable store, which persist across its boots.
pub struct Device {
    machine: Machine,
    timeout: Duration,
}

/// The keys folder whose RAUC key signs bundles for `image`, and the signer.
fn bundle_signer(image: &Image) -> Result<(PathBuf, signing::rauc::BundleSigner)> {
    let keys_dir = match &image.request.signer {
        SignerChoice::DevKeys(dir) => dir.clone(),
        _ => anyhow::bail!("updates are tested with bundles signed by the keys folder's RAUC key"),
    };
    let signer = sign::load_bundle_signer(&BundleSignerChoice::KeysDir(keys_dir.clone()))?;
    Ok((keys_dir, signer))
}

/// The next release of `image` (its policy version bumped, so a new root hash), built as image
/// `<name>-next`, and its bundle in `dir`.
pub fn next_release(session: &Session, image: &Image, dir: &Path) -> Result<(Image, PathBuf)> {
    let (_, signer) = bundle_signer(image)?;
    let next = image::build(
        session,
        &ImageRequest {
            name: format!("{}-next", image.request.name),
            policy_version: Some(super::lifecycle::bumped(image.policy.version()).to_string()),
            ..image.request.clone()
        },
    )?;
    let bundle = dir.join("next.raucb");
    bundle::write(&bundle::for_image(&next, &signer), &bundle)?;
    Ok((next, bundle))
}

impl Scenario {
    fn prepare(
        session: &Session,
        image: &Image,
        accel: Accel,
        timeout: Duration,
    ) -> Result<Scenario> {
        let dir = image.test_dir.join("updates");
        fs::create_dir_all(&dir)?;
        let (keys_dir, signer) = bundle_signer(image)?;
        let (next, next_bundle) = next_release(session, image, &dir)?;
        let write = |name: &str, inputs: &bundle::BundleInputs| -> Result<PathBuf> {
            let path = dir.join(name);
            bundle::write(inputs, &path)?;
            Ok(path)
        };
        let other_keys = dir.join("other-keys");
        signing::rauc::create_missing(&other_keys, "Update test, a key not in the keyring")?;
        let other = signing::rauc::BundleSigner::load(&other_keys)?;
        let by_other = write(
            "next-by-another-key.raucb",
            &bundle::for_image(&next, &other),
        )?;
        let changed = dir.join("next-one-byte-changed.raucb");
        let mut bytes = fs::read(&next_bundle)?;
        // Inside the squashfs's first image, which every install reads through dm-verity.
        bytes[10 * 4096] ^= 0x01;
        fs::write(&changed, bytes)?;
        let current = write("current.raucb", &bundle::for_image(image, &signer))?;
        let failing = write("failing.raucb", &failing_inputs(&next, &signer)?)?;

        let device = Device::factory(image, accel, &dir, timeout)?;
        Ok(Scenario {
            next,
            bundles: Bundles {
                next: next_bundle,
                next_by_another_key: by_other,
                next_one_byte_changed: changed,
                current,
                failing,
            },
            rauc_cert: signing::rauc::dir(&keys_dir).join(signing::keystore::CERT_PEM_FILE),
            device,
        })
    }

    /// Runs the cases in order, each recorded as it ends; `prepared` is when the scenario's
    /// builds began, counted with the first case.
    fn run(
        &mut self,
        image: &Image,
        prepared: Instant,
        record: &mut dyn FnMut(&'static str, Instant, CaseResult),
    ) {
        record(CASES[0], prepared, self.rauc_info_on_the_host());
        let steps: [fn(&mut Scenario, &Image) -> CaseResult; 5] = [
            Scenario::refuse_damaged_bundles,
            Scenario::install_next,
            Scenario::refuse_older_bundles,
            Scenario::fall_back,
            Scenario::stays_after_reboot,
        ];
        let mut failed = None;
        for (step, name) in steps.into_iter().zip(&CASES[1..]) {
            let started = Instant::now();
            let result = match &failed {
                Some(earlier) => Err(format!("not reached: {earlier} failed")),
                None => step(self, image),
            };
            if result.is_err() && failed.is_none() {
                failed = Some(*name);
            }
            record(name, started, result);
        }
    }

    fn rauc_info_on_the_host(&self) -> CaseResult {
        let info = Tool::new("rauc")
            .arg("info")
            .arg("--keyring")
            .arg(&self.rauc_cert)
            .arg(&self.bundles.next)
            .output()
            .map_err(|error| format!("rauc info refused the bundle: {error:#}"))?;
        let info = String::from_utf8_lossy(&info);
        let version = self.next.policy.version().to_string();
        expect(info.contains(&format!("'{version}'")), || {
            format!("rauc info does not show version {version}: {info}")
        })
    }

    /// Boot 1, factory slot A: install the next release. Boot 2: slot B runs it.
    fn install_next(&mut self, image: &Image) -> CaseResult {
        let mut guest = self.device.boot(Some(&self.bundles.next))?;
        expect_slot(&mut guest, "A", image)?;
        let installed = self.device.install(&mut guest, &self.bundles.next)?;
        expect(installed.status == 0, || {
            format!("rauc install failed: {}", installed.text)
        })?;
        self.device.reboot(guest)?;

        let mut guest = self.device.boot(None)?;
        expect(
            guest.transcript().contains("starting Boot000B \"B\""),
            || "the firmware did not start slot B's boot entry".to_owned(),
        )?;
        expect_slot(&mut guest, "B", &self.next)?;
        super::cases::ipe_active_and_enforcing(&mut guest, &self.next)?;
        expect(
            guest
                .transcript()
                .contains("init: /usr/sbin/nft -f /etc/nftables.conf: done"),
            || "the firewall's ruleset did not load in slot B".to_owned(),
        )?;
        let ruleset = run(&mut guest, "nft list ruleset | grep -c 'policy drop'")?;
        expect(
            ruleset.text.trim().parse::<u32>().is_ok_and(|n| n > 0),
            || format!("slot B filters nothing: {ruleset:?}"),
        )?;
        self.device.reboot(guest)
    }

    /// Running the factory's slot A: a newer bundle signed by another key, or with one byte
    /// changed, is refused; slot A boots again.
    fn refuse_damaged_bundles(&mut self, image: &Image) -> CaseResult {
        // A changed byte: dm-verity under the bundle's squashfs fails the read of its block.
        let bundles = [
            (
                self.bundles.next_by_another_key.as_path(),
                "signature verification failed",
            ),
            (
                self.bundles.next_one_byte_changed.as_path(),
                "Input/output error",
            ),
        ];
        self.refuse(&bundles, "A", image)
    }

    /// Running the next release in slot B: its own bundle again and the older one are refused.
    fn refuse_older_bundles(&mut self, _image: &Image) -> CaseResult {
        let bundles = [
            (
                self.bundles.next.as_path(),
                "not higher than the running policy's version",
            ),
            (
                self.bundles.current.as_path(),
                "not higher than the running policy's version",
            ),
        ];
        self.refuse(&bundles, "B", &self.next)
    }

    /// Each bundle's install fails, with its reason from the client or in the kernel's log;
    /// then `running` boots again.
    fn refuse(&self, bundles: &[(&Path, &str)], bootname: &str, running: &Image) -> CaseResult {
        for (bundle, reason) in bundles {
            let mut guest = self.device.boot(Some(bundle))?;
            let console_before = guest.transcript().len();
            let refused = self.device.install(&mut guest, bundle)?;
            let name = bundle.file_name().unwrap_or_default().to_string_lossy();
            expect(refused.status != 0, || {
                format!("rauc installed {name}: {}", refused.text)
            })?;
            // The client says why it failed, or the service and its handler do, in the kernel's
            // log.
            let log = run(&mut guest, "dmesg | tail -n 60")?;
            let said = &format!("{}{}", &guest.transcript()[console_before..], log.text);
            let _ = fs::write(bundle.with_extension("console"), said);
            let reason_line = said.lines().find(|line| line.contains(reason));
            expect(reason_line.is_some(), || {
                format!("refusing {name}, RAUC did not say {reason:?}: {said}")
            })?;
            println!(
                "updates: {name} refused: {}",
                reason_line.unwrap_or_default().trim()
            );
            self.device.reboot(guest)?;
        }
        let mut guest = self.device.boot(None)?;
        expect_slot(&mut guest, bootname, running)?;
        self.device.reboot(guest)
    }

    /// Slot A takes a release that halts at boot; the next boot is slot B again.
    fn fall_back(&mut self, _image: &Image) -> CaseResult {
        let mut guest = self.device.boot(Some(&self.bundles.failing))?;
        let installed = self.device.install(&mut guest, &self.bundles.failing)?;
        expect(installed.status == 0, || {
            format!("rauc install failed: {}", installed.text)
        })?;
        self.device.reboot(guest)?;

        let mut guest =
            appliance_qemu::Guest::start(&self.device.machine).map_err(|e| e.to_string())?;
        let stopped = guest.wait_for("the appliance stops here", self.device.timeout);
        let console = guest.transcript().to_owned();
        guest.kill();
        stopped.map_err(|error| format!("the failing release did not stop: {error}"))?;
        expect(console.contains("starting Boot000A \"A\""), || {
            "the firmware did not start the new slot A once".to_owned()
        })?;
        expect(!console.contains(MARKED_GOOD), || {
            "the failing slot was marked good".to_owned()
        })?;

        let mut guest = self.device.boot(None)?;
        expect_slot(&mut guest, "B", &self.next)?;
        self.device.reboot(guest)
    }

    /// A cold boot after all this: still slot B, marked good.
    fn stays_after_reboot(&mut self, _image: &Image) -> CaseResult {
        let mut guest = self.device.boot(None)?;
        expect_slot(&mut guest, "B", &self.next)?;
        let status = run(&mut guest, "rauc status --detailed 2>&1")?;
        expect(status.status == 0 && status.text.contains("good"), || {
            format!("rauc status: {}", status.text)
        })?;
        guest.kill();
        Ok(())
    }
}

impl Device {
    /// A device fresh from the factory in `dir`: a copy of `image`'s disk (sparse) and of its
    /// firmware variable store, the disk writable.
    pub fn factory(image: &Image, accel: Accel, dir: &Path, timeout: Duration) -> Result<Device> {
        let disk = dir.join("device.img");
        Tool::new("cp")
            .args(["--sparse=always", "--reflink=auto"])
            .arg(&image.boot.disk)
            .arg(&disk)
            .run()?;
        let spec = crate::stages::boot_spec::BootSpec {
            disk,
            ..image.boot.clone()
        };
        let mut machine = guests::uefi_machine(&spec, accel, &dir.join("device-vars.fd"))?;
        machine.first_disk_writable = true;
        Ok(Device { machine, timeout })
    }

    /// Boots the device, with `bundle` as its second disk if any, until it has come up: its
    /// slot marked good, RAUC's service on the bus.
    pub fn boot(&self, bundle: Option<&Path>) -> Result<Guest, String> {
        let mut machine = self.machine.clone();
        if let Some(bundle) = bundle {
            machine
                .disks
                .push(padded_to_sectors(bundle).map_err(|e| format!("{e:#}"))?);
        }
        let mut guest =
            guests::boot_to_shell(&machine, self.timeout).map_err(|error| format!("{error:#}"))?;
        // The services log to the kernel's log, which the console shows no more (`dmesg -n 1`).
        let waited = guest
            .run(
                &format!(
                    "n=0; until dmesg | grep -q '{MARKED_GOOD}'; do n=$((n + 1)); \
                     [ $n -ge {} ] && break; sleep 1; done; dmesg | grep rauc-mark-good",
                    self.timeout.as_secs()
                ),
                self.timeout + Duration::from_secs(10),
            )
            .map_err(|error| error.to_string())?;
        expect(waited.text.contains(MARKED_GOOD), || {
            format!("the booted slot was not marked good: {}", waited.text)
        })?;
        Ok(guest)
    }

    /// Reboots the guest for real and waits for QEMU to exit.
    pub fn reboot(&self, mut guest: Guest) -> CaseResult {
        guest
            .send_line("sync; busybox reboot -f")
            .map_err(|error| error.to_string())?;
        guest
            .wait_for_exit(self.timeout)
            .map(drop)
            .map_err(|error| format!("the guest did not reboot: {error}"))
    }

    /// Copies the bundle on the second disk to the guest's /tmp and runs `rauc install`.
    pub fn install(
        &self,
        guest: &mut Guest,
        bundle: &Path,
    ) -> Result<appliance_qemu::Output, String> {
        let size = fs::metadata(bundle).map_err(|e| e.to_string())?.len();
        let copied = run(guest, &format!("head -c {size} /dev/vdb > {IN_GUEST}"))?;
        expect(copied.status == 0, || {
            format!("copying the bundle: {copied:?}")
        })?;
        guest
            .run(&format!("rauc install {IN_GUEST} 2>&1"), INSTALL_TIMEOUT)
            .map_err(|error| error.to_string())
    }
}

/// The guest runs `bootname`'s slot with `release`'s root.
pub fn expect_slot(guest: &mut Guest, bootname: &str, release: &Image) -> CaseResult {
    let cmdline = run(guest, "cat /proc/cmdline")?;
    expect(
        cmdline.text.contains(&format!("rauc.slot={bootname}")),
        || format!("not slot {bootname}: {}", cmdline.text.trim()),
    )?;
    expect(cmdline.text.contains(&release.verity.root_hash()), || {
        format!(
            "slot {bootname} does not run root hash {}: {}",
            release.verity.root_hash(),
            cmdline.text.trim()
        )
    })?;
    let booted = run(
        guest,
        "rauc status --output-format=shell 2>&1 | grep BOOTED",
    )?;
    expect(
        booted.text.contains(&format!("='{bootname}'"))
            || booted.text.contains(&format!("={bootname}")),
        || format!("rauc does not see slot {bootname} booted: {}", booted.text),
    )
}

/// The next release's images with a signed policy that denies every execution, as the release
/// after next: its init cannot start the firewall's ruleset loader, so it halts.
fn failing_inputs<'a>(
    next: &Image,
    signer: &'a signing::rauc::BundleSigner,
) -> Result<bundle::BundleInputs<'a>> {
    let version = super::lifecycle::bumped(next.policy.version());
    let mut policy = PolicyText::new(next.policy.name(), version, Action::Allow);
    policy.rule("DEFAULT op=EXECUTE action=DENY");
    let mut signed = next.keys.sign_policy(policy.render().as_bytes())?;
    signed.resize(crate::stages::disk::POLICY_SLOT_BYTES as usize, 0);
    let mut inputs = bundle::for_image(next, signer);
    inputs.version = version.to_string();
    let slot = inputs
        .images
        .iter_mut()
        .find(|image| image.class == bundle::POLICY_CLASS)
        .context("the bundle has no policy image")?;
    slot.source = bundle::Source::Bytes(signed);
    Ok(inputs)
}

/// A copy of `file` padded with zeros to whole sectors: QEMU shows a disk's size rounded down.
fn padded_to_sectors(file: &Path) -> Result<PathBuf> {
    let mut bytes = fs::read(file).with_context(|| file.display().to_string())?;
    bytes.resize(bytes.len().div_ceil(512) * 512, 0);
    let padded = file.with_extension("disk");
    fs::write(&padded, bytes)?;
    Ok(padded)
}
