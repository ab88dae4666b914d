//! Stage `disk`: the device's one disk: the verity-protected rootfs, then a policy slot holding
//! the signed policy. The slot lies outside the verity data, since the policy names the root
//! hash; its signature, checked by the kernel, is what protects it.

use std::fs;
use std::path::Path;

use anyhow::Result;

use super::verity::BLOCK_SIZE;
use crate::cache;

/// Where the signed policy sits on the disk, for the init to find it.
pub struct PolicySlot {
    pub offset: u64,
    pub length: u64,
}

impl PolicySlot {
    /// The kernel command-line argument the init reads: policy name, device, offset, length.
    pub fn cmdline_arg(&self, policy_name: &str, device: &str) -> String {
        format!(
            "appliance.policy={policy_name},{device},{},{}",
            self.offset, self.length
        )
    }
}

pub fn assemble(verity_image: &Path, signed_policy: &[u8], disk: &Path) -> Result<PolicySlot> {
    let mut bytes = fs::read(verity_image)?;
    let offset = (bytes.len() as u64).div_ceil(BLOCK_SIZE) * BLOCK_SIZE;
    bytes.resize(offset as usize, 0);
    bytes.extend_from_slice(signed_policy);
    bytes.resize(
        bytes.len().div_ceil(BLOCK_SIZE as usize) * BLOCK_SIZE as usize,
        0,
    );
    cache::write_if_changed(disk, &bytes)?;
    Ok(PolicySlot {
        offset,
        length: signed_policy.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_follows_the_verity_image_block_aligned() {
        let work = tempfile::tempdir().unwrap();
        let verity_image = work.path().join("v.img");
        fs::write(&verity_image, vec![1u8; 5000]).unwrap();
        let disk = work.path().join("disk.img");
        let slot = assemble(&verity_image, b"signed", &disk).unwrap();
        assert_eq!((slot.offset, slot.length), (8192, 6));
        let bytes = fs::read(&disk).unwrap();
        assert_eq!(bytes.len(), 3 * 4096);
        assert_eq!(&bytes[8192..8198], b"signed");
        assert_eq!(
            slot.cmdline_arg("fw", "/dev/vda"),
            "appliance.policy=fw,/dev/vda,8192,6"
        );
    }
}
