//! The firewall filtering real packets: connections from the host reach the guest through QEMU's
//! user-mode network forwards, and the guest's ruleset decides. Also: the ruleset goes in
//! before any service, and an appliance whose ruleset cannot load stops.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use appliance_qemu::{Guest, UserNetwork};
use ipe_lsm::Action;
use ipe_lsm::host::PolicyText;

use super::cases::{CaseResult, expect, run};
use crate::stages::image::Image;

/// The port the ruleset lets in: the status page.
const ALLOWED_PORT: u16 = 80;
/// A port with a listener behind it that the ruleset drops.
const DROPPED_PORT: u16 = 8080;
/// How long a dropped connection is given to answer: a reply would come in milliseconds.
const SILENCE: Duration = Duration::from_secs(5);

/// Host ports forwarded to the guest's allowed and dropped ports.
pub struct Forwards {
    allowed: SocketAddrV4,
    dropped: SocketAddrV4,
}

pub type NetworkCase = fn(&mut Guest, &Image, &Forwards) -> CaseResult;

/// Cases on one guest reachable from the host, in this order (the last one changes its address).
pub const CASES: &[(&str, NetworkCase)] = &[
    (
        "services_hold_only_their_grants",
        services_hold_only_their_grants,
    ),
    (
        "ruleset_loaded_before_any_service",
        ruleset_loaded_before_any_service,
    ),
    (
        "allowed_port_answers_from_the_host",
        allowed_port_answers_from_the_host,
    ),
    (
        "dropped_port_stays_silent_and_is_counted",
        dropped_port_stays_silent_and_is_counted,
    ),
    ("dhcp_lease_from_udhcpc", dhcp_lease_from_udhcpc),
];

/// Two free host ports on 127.0.0.1, forwarded to the allowed and the dropped port.
pub fn network() -> Result<(UserNetwork, Forwards)> {
    let free = || -> Result<SocketAddrV4> {
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
        match listener.local_addr()? {
            std::net::SocketAddr::V4(address) => Ok(address),
            other => anyhow::bail!("bound {other}, not an IPv4 address"),
        }
    };
    let forwards = Forwards {
        allowed: free()?,
        dropped: free()?,
    };
    let network = UserNetwork {
        forwards: vec![
            (forwards.allowed, ALLOWED_PORT),
            (forwards.dropped, DROPPED_PORT),
        ],
    };
    Ok((network, forwards))
}

/// Sends an HTTP request to `address` and returns whatever comes back within `wait`.
fn http_get(address: SocketAddrV4, path: &str, wait: Duration) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&address.into(), wait)
        .map_err(|error| format!("connecting to {address}: {error}"))?;
    stream
        .set_read_timeout(Some(wait))
        .map_err(|error| error.to_string())?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .map_err(|error| format!("sending to {address}: {error}"))?;
    let mut answer = Vec::new();
    // A timeout ends the read as surely as the end of the stream: what came is the answer.
    let _ = stream.read_to_end(&mut answer);
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// The packets the ruleset's `dropped` counter has seen.
fn dropped_packets(guest: &mut Guest) -> Result<u64, String> {
    let listed = run(guest, "nft list counter ip filter dropped")?;
    listed
        .text
        .split_whitespace()
        .skip_while(|word| *word != "packets")
        .nth(1)
        .and_then(|count| count.parse().ok())
        .ok_or_else(|| format!("no packet count in `nft list counter`: {listed:?}"))
}

/// The status page's server holds `CAP_NET_BIND_SERVICE` alone (bit 10), and the policy agent
/// `CAP_MAC_ADMIN` alone (bit 33): what their `caps=` grant, nothing else of root's.
fn services_hold_only_their_grants(guest: &mut Guest, _: &Image, _: &Forwards) -> CaseResult {
    for (program, effective) in [
        ("httpd", "0000000000000400"),
        ("policy-agent", "0000000200000000"),
    ] {
        let status = run(
            guest,
            &format!("grep -E '^(Uid|CapEff|CapBnd)' /proc/$(pidof {program})/status"),
        )?;
        let field = |name: &str| {
            status
                .text
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
        };
        expect(
            field("Uid:") == Some("0")
                && field("CapEff:") == Some(effective)
                && field("CapBnd:") == Some(effective),
            || format!("{program} should run as root with only {effective}: {status:?}"),
        )?;
    }
    Ok(())
}

fn ruleset_loaded_before_any_service(guest: &mut Guest, _: &Image, _: &Forwards) -> CaseResult {
    let ruleset = run(guest, "nft list ruleset")?;
    expect(
        ruleset.status == 0
            && ruleset
                .text
                .contains("hook input priority filter; policy drop;")
            && ruleset.text.contains("tcp dport 80 ct state new accept"),
        || format!("the ruleset is not the layer's: {ruleset:?}"),
    )?;
    let console = guest.transcript();
    let at = |needle: &str| console.find(needle);
    let loaded = at("init: /usr/sbin/nft -f /etc/nftables.conf: done");
    let link_up = at("init: /bin/ip link set eth0 up: done");
    expect(loaded.is_some() && loaded < link_up, || {
        format!(
            "the ruleset was not loaded before eth0 came up (at {loaded:?} and {link_up:?} of the console)"
        )
    })
}

fn allowed_port_answers_from_the_host(_: &mut Guest, _: &Image, ports: &Forwards) -> CaseResult {
    let answer = http_get(ports.allowed, "/cgi-bin/status", Duration::from_secs(30))?;
    expect(
        answer.starts_with("HTTP/1.")
            && answer.contains("fw-status: host")
            && answer.contains("IPE enforcing"),
        || format!("port {ALLOWED_PORT} did not answer with the sealed fw-status page: {answer:?}"),
    )
}

fn dropped_port_stays_silent_and_is_counted(
    guest: &mut Guest,
    _: &Image,
    ports: &Forwards,
) -> CaseResult {
    // A listener on the dropped port that answers from inside: silence from outside is then
    // the ruleset's doing, not a closed port's.
    run(guest, &format!("httpd -p {DROPPED_PORT} -h /srv/www"))?;
    let inside = run(
        guest,
        &format!("wget -q -O - http://127.0.0.1:{DROPPED_PORT}/index.html"),
    )?;
    expect(inside.text.contains("Firewall appliance"), || {
        format!("the listener on port {DROPPED_PORT} does not answer inside the guest: {inside:?}")
    })?;
    let before = dropped_packets(guest)?;
    let answer = http_get(ports.dropped, "/index.html", SILENCE)?;
    expect(answer.is_empty(), || {
        format!("port {DROPPED_PORT} answered the host through the firewall: {answer:?}")
    })?;
    let after = dropped_packets(guest)?;
    expect(after > before, || {
        format!("the dropped counter did not grow: {before} packets before, {after} after")
    })
}

fn dhcp_lease_from_udhcpc(guest: &mut Guest, _: &Image, _: &Forwards) -> CaseResult {
    let lease = run(
        guest,
        "udhcpc -n -q -f -i eth0 -s /usr/share/udhcpc/default.script 2>&1",
    )?;
    expect(
        lease.status == 0 && lease.text.contains("udhcpc: eth0 is 10.0.2.15/24"),
        || format!("udhcpc got no lease from QEMU's DHCP server: {lease:?}"),
    )?;
    let address = run(guest, "ip -4 addr show dev eth0")?;
    expect(address.text.contains("inet 10.0.2.15/24"), || {
        format!("eth0 does not have the leased address: {address:?}")
    })
}

/// A disk holding one signed policy, newer than the image's, under which nothing may run: the
/// init activates it from the slot, and then cannot run `nft`. Returns the disk and the
/// command-line parameter that names it as the third disk.
pub fn policy_slot_denying_exec(image: &Image) -> Result<(PathBuf, String)> {
    let name = format!("{}-deny-exec", image.policy.name());
    let mut policy = PolicyText::new(
        &name,
        super::lifecycle::bumped(image.policy.version()),
        Action::Allow,
    );
    policy.rule("DEFAULT op=EXECUTE action=DENY");
    let signed = image.keys.sign_policy(policy.render().as_bytes())?;
    let mut disk = signed.clone();
    // Whole sectors: QEMU shows a disk's size rounded down to them.
    disk.resize(signed.len().div_ceil(4096) * 4096, 0);
    let path = image.test_dir.join("policy-slot-deny-exec.img");
    crate::cache::write_atomic(&path, &disk)?;
    Ok((
        path,
        format!(
            "appliance.policy={name},{},0,{}",
            image.boot.extra_disk_device(),
            signed.len()
        ),
    ))
}

/// The console of an appliance whose ruleset could not load: it says so and halts, and no
/// interface or service comes up.
pub fn check_stopped(console: &str) -> CaseResult {
    expect(
        console.contains("cannot start /usr/sbin/nft -f /etc/nftables.conf")
            && console.contains("the appliance stops here"),
        || format!("the init did not say that it stops without its ruleset: {console:?}"),
    )?;
    expect(
        !console.contains("init: /bin/ip link set eth0 up: done"),
        || format!("eth0 came up without a ruleset: {console:?}"),
    )
}
