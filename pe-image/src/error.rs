//! Why an image was refused. Every variant says what was wrong with the input.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A PE/COFF image that cannot be parsed, signed or extended.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a well-formed PE/COFF image.
    #[error("not a valid PE/COFF image: {0}")]
    Malformed(String),

    /// The image already carries a certificate table.
    #[error(
        "the image is already signed (its certificate table holds {size} bytes at offset \
         {offset:#x}); sign the unsigned original instead"
    )]
    AlreadySigned {
        /// File offset of the certificate table.
        offset: u32,
        /// Its size in bytes.
        size: u32,
    },

    /// There is no room between the section table and the first section's data.
    #[error(
        "no room for {wanted} more section headers: the section table ends at {table_end:#x} \
         and the headers may only grow to {limit:#x} (SizeOfHeaders or the first section's \
         data); use a stub linked with more header space"
    )]
    NoRoomForSections {
        /// How many headers were to be added.
        wanted: usize,
        /// Where the section table ends today.
        table_end: usize,
        /// Where the first section's data (or SizeOfHeaders) begins.
        limit: usize,
    },

    /// A section to be added is unusable.
    #[error("section {name:?}: {reason}")]
    BadSection {
        /// The section's name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The image would not fit the 32-bit fields of the PE format.
    #[error("the image would exceed the PE format's 4 GiB limit")]
    TooLarge,
}

/// Shorthand for [`Error::Malformed`].
pub(crate) fn malformed(reason: impl Into<String>) -> Error {
    Error::Malformed(reason.into())
}
