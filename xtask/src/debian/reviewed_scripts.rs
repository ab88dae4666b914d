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
    Reviewed {
        package: "dbus-daemon",
        script: "postinst",
        // 1.14.10-1~deb12u1
        sha256: "495df67c0020441d33bba4dc30eaa27942bf9282a707eacacd94600e4dbfd375",
        reason: "on configure it writes a machine id (/var/lib/dbus/machine-id, dbus-uuidgen \
                 --ensure) for session buses, which the appliance never starts; its system bus \
                 runs without one (booted and checked), and systemd-tmpfiles is absent",
    },
    Reviewed {
        package: "dbus-system-bus-common",
        script: "postinst",
        // 1.14.10-1~deb12u1
        sha256: "7e29a7a9d8f0e0847bd7269a5cc51d14f41a5b250531f7e334754cbab74124b7",
        reason: "on configure it only creates the system user and group messagebus with \
                 adduser; the updates layer declares both ([[users]], [[groups]])",
    },
    Reviewed {
        package: "libgcrypt20",
        script: "postinst",
        // 1.10.1-3+deb12u1
        sha256: "b8ccd8524c389b644c072df2e66b376ec243c8c9159b9b6be66136f94be9a687",
        reason: "it cleans up stale copies of the library only on upgrades (a second argument), \
                 which a freshly built image never has",
    },
    Reviewed {
        package: "libglib2.0-0",
        script: "postinst",
        // 2.74.6-2+deb12u9
        sha256: "c22d8eb72994a3f26f16a8224fe0d629989b3fa32da7b3531b73dac8d0e38edc",
        reason: "it compiles GSettings schemas and caches the GIO modules' list; the image has \
                 neither (no package ships a schema or a GIO module, and RAUC reads no \
                 GSettings), and the pre-multiarch clean-up finds nothing on a fresh install",
    },
    Reviewed {
        package: "libglib2.0-0",
        script: "triggers",
        // 2.74.6-2+deb12u9
        sha256: "3750ebf007bd8df95b4e6c056377681ea1f30d8779321d67fbe90530d10b0b50",
        reason: "interest in GSettings schemas and GIO modules, which the postinst handles and \
                 the image has none of (see its postinst's review); ldconfig is not needed",
    },
    Reviewed {
        package: "libgssapi-krb5-2",
        script: "postinst",
        // 1.20.1-2+deb12u5
        sha256: "e4281cab5316aa28177447f8c8c5ee6e17cfdcad3edca77c81fc77670fe0a5f4",
        reason: "it copies /usr/etc/gss/mech only on upgrades from before 1.12.1, which a \
                 freshly built image never is",
    },
];

/// Why the reviewed `script` of `package` with this sha256 needs nothing, if it was reviewed.
pub fn reason(package: &str, script: &str, sha256: &str) -> Option<&'static str> {
    REVIEWED
        .iter()
        .find(|r| r.package == package && r.script == script && r.sha256 == sha256)
        .map(|r| r.reason)
}
