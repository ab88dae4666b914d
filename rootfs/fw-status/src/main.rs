//! `fw-status`: the firewall appliance's status line. The firewall layer installs it sealed
//! (fs-verity on the sealed partition), so it runs only with the digest the policy names.
//! Run by a web server as a CGI program (`GATEWAY_INTERFACE` set), it answers with a header.

use std::fs;

/// IPE's securityfs, as the init mounts it.
const IPE: &str = "/sys/kernel/security/ipe";

fn main() {
    let read = |path: &str| fs::read_to_string(path).map(|text| text.trim().to_owned());
    let host = read("/etc/hostname").unwrap_or_else(|_| "unnamed".to_owned());
    let enforce = match read(&format!("{IPE}/enforce")).as_deref() {
        Ok("1") => "enforcing",
        Ok(_) => "permissive",
        Err(_) => "absent",
    };
    let forwarding = match read("/proc/sys/net/ipv4/ip_forward").as_deref() {
        Ok("1") => "on",
        Ok(_) => "off",
        Err(_) => "unsupported",
    };
    if std::env::var_os("GATEWAY_INTERFACE").is_some() {
        print!("Content-Type: text/plain\r\n\r\n");
    }
    println!("fw-status: host {host}, IPE {enforce}, forwarding {forwarding}");
}
