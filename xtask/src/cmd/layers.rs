//! `cargo xtask layers`: the configuration a list of layers resolves to, as `mkosi summary` and
//! `bitbake-layers show-layers` print theirs: each layer in order and what it adds or overrides,
//! then the merged result. It validates everything first, as `image` does, without building.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use clap::Args;

use crate::args::LayersArg;
use crate::debian::trim::DEFAULT_EXCLUDE;
use crate::layers::Layer;
use crate::stages::layer_stack::Ipe;
use crate::stages::session::Session;
use crate::stages::validate::validate;

#[derive(Debug, Args)]
pub struct LayersArgs {
    #[command(flatten)]
    pub layers: LayersArg,
    /// Which IPE the kernel gets: `rust` adds the `ipe-rust` layer.
    #[arg(long, value_enum, default_value = "rust", env = "APPLIANCE_IPE")]
    pub ipe: Ipe,
    /// The policy version to check, instead of the one in policies/releases.toml.
    #[arg(long, value_name = "MAJOR.MINOR.REVISION")]
    pub policy_version: Option<String>,
}

pub fn run(session: &Session, args: &LayersArgs) -> Result<()> {
    let started = Instant::now();
    let layers = session.layers(&args.layers.names, args.ipe)?;
    let validated = validate(&session.project, &layers, args.policy_version.as_deref())?;
    let elapsed = started.elapsed();

    println!("Layers, in order (later ones override earlier ones):");
    let mut owners: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (index, layer) in layers.loaded.iter().enumerate() {
        print_layer(index + 1, layer, &mut owners);
    }
    let resolved = &layers.resolved;
    println!("\nResolved:");
    println!("  packages:   {}", list(&resolved.debian_packages));
    let exclude = resolved
        .package_exclude
        .iter()
        .map(|(_, pattern)| pattern.clone());
    let exclude: Vec<String> = DEFAULT_EXCLUDE
        .iter()
        .map(|p| p.to_string())
        .chain(exclude)
        .collect();
    println!(
        "  exclude:    {} (from the packages' files; copyright files stay)",
        list(&exclude)
    );
    let accounts = &resolved.accounts;
    let users: Vec<String> = accounts
        .users
        .iter()
        .map(|u| format!("{}:{}", u.name, u.uid))
        .collect();
    let groups: Vec<String> = accounts
        .groups
        .iter()
        .map(|g| format!("{}:{}", g.name, g.gid))
        .collect();
    println!("  users:      {} (name:uid)", list(&users));
    println!("  groups:     {} (name:gid)", list(&groups));
    for (install, binary) in &resolved.binaries {
        println!(
            "  binary:     {install} ← {}:{} (from {}{})",
            binary.package,
            binary.bin,
            binary.layer,
            if binary.sealed { ", sealed" } else { "" }
        );
    }
    println!(
        "  kernel:     {} fragments, {} patches after kernel-config/*.config",
        resolved.kernel_fragments.len(),
        resolved.kernel_patches.len()
    );
    println!("  cmdline:    {}", list(&resolved.kernel_cmdline));
    println!(
        "  policy:     {} {} (DEFAULT action=DENY; the root filesystem and sealed binaries by \
         hash, then {} layer rule(s))",
        validated.policy_name,
        validated.policy_version,
        resolved.policy_rules.len()
    );
    for rule in &resolved.policy_rules {
        println!("              {rule}");
    }
    for (path, layers) in owners.iter().filter(|(_, layers)| layers.len() > 1) {
        println!("  overridden: {path}: {}", layers.join(" → "));
    }
    println!(
        "\nValid: checked in {:.2} s, nothing built.",
        elapsed.as_secs_f64()
    );
    Ok(())
}

fn print_layer<'l>(number: usize, layer: &'l Layer, owners: &mut BTreeMap<String, Vec<&'l str>>) {
    let manifest = &layer.manifest;
    println!(
        "{number:>3}. {:<14} {}  ({})",
        layer.name,
        manifest.description,
        layer.manifest_path.display()
    );
    if let Some(overlay) = &manifest.overlay {
        let dir = layer.dir.join(overlay.get_ref());
        let mut files = 0;
        for entry in walkdir::WalkDir::new(&dir)
            .min_depth(1)
            .into_iter()
            .flatten()
        {
            if !entry.file_type().is_dir() {
                files += 1;
                if let Ok(relative) = entry.path().strip_prefix(&dir) {
                    owners
                        .entry(format!("/{}", relative.display()))
                        .or_default()
                        .push(&layer.name);
                }
            }
        }
        println!("       overlay:   {} ({files} files)", overlay.get_ref());
    }
    let strings = |items: &[toml::Spanned<String>]| -> Vec<String> {
        items.iter().map(|item| item.get_ref().clone()).collect()
    };
    for (what, items) in [
        ("packages:", strings(&manifest.packages.debian)),
        ("exclude:", strings(&manifest.packages.exclude)),
        ("fragments:", strings(&manifest.kernel.fragments)),
        ("patches:", strings(&manifest.kernel.patches)),
        ("cmdline:", strings(&manifest.kernel.cmdline)),
        ("rules:", strings(&manifest.policy.rules)),
    ] {
        if !items.is_empty() {
            println!("       {what:<10} {}", items.join(", "));
        }
    }
    for binary in &manifest.binaries {
        owners
            .entry(binary.install.get_ref().clone())
            .or_default()
            .push(&layer.name);
        println!(
            "       binary:    {} ← {}:{}",
            binary.install.get_ref(),
            binary.package,
            binary.bin
        );
    }
    if let Some(name) = &manifest.policy.name {
        println!("       policy:    named {}", name.get_ref());
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(" ")
    }
}
