//! Maintainer scripts read by a person and found to do nothing an image needs, although the
//! analyser (`maintscripts.rs`) does not recognise every line. Each entry pins the script by its
//! sha256: a new Debian version changes the script, the build warns again, and someone reviews
//! it again. To add one, read the script (`dpkg-deb -e PACKAGE.deb DIR`) as dpkg would run it on
//! a fresh install (`preinst install`, `postinst configure`) and say in one line why nothing it
//! does there matters; the build's warning prints the sha256.

pub struct Reviewed {
    pub package: &'static str,
    pub script: &'static str,
    pub sha256: &'static str,
    pub reason: &'static str,
}

pub const REVIEWED: &[Reviewed] = &[
    Reviewed {
        package: "libc6",
        script: "preinst",
        // 2.36-9+deb12u14
        sha256: "77692462251006a8b8161b442c5b0b75b9580d70fd3d85c066a5c9a412c1ce9b",
        reason: "on install it refuses a build host kernel older than 3.2 (the appliance runs \
                 6.12), touches /etc/ld.so.nohwcap, which the postinst removes, and links /lib64 \
                 only where /lib is a symlink (it is a folder here); the rest is for upgrades",
    },
    Reviewed {
        package: "libc6",
        script: "postinst",
        // 2.36-9+deb12u14
        sha256: "21a471a4fb29dd983b61999088fa3d26b892147f729049db648eb839a464beda",
        reason: "on configure it removes the preinst's /etc/ld.so.nohwcap, restarts services \
                 only on upgrades from before 2.36, and asks a running init to re-execute \
                 (telinit u), which a freshly booted image does not need",
    },
];

/// Why the reviewed `script` of `package` with this sha256 needs nothing, if it was reviewed.
pub fn reason(package: &str, script: &str, sha256: &str) -> Option<&'static str> {
    REVIEWED
        .iter()
        .find(|r| r.package == package && r.script == script && r.sha256 == sha256)
        .map(|r| r.reason)
}
