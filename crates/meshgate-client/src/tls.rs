//! Which certificate authorities the client trusts for `https://`
//! gateways: the system's roots (and the Mozilla roots built in, for
//! hosts without a CA store), plus the PEM bundle named by
//! [`CA_FILE_ENV`] or [`crate::ClientBuilder::ca_file`], for a gateway
//! whose certificate a private CA signed.

use std::path::Path;

use crate::error::{Error, Result};

/// Environment variable naming an extra PEM bundle of trusted CAs.
pub const CA_FILE_ENV: &str = "MESHGATE_CA_FILE";

/// The certificates of the PEM bundle at `path`; an unreadable file or
/// one without a certificate is a configuration error naming the file.
pub(crate) fn extra_roots(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path).map_err(|e| Error::Config(format!("cannot read CA file {}: {e}", path.display())))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| Error::Config(format!("CA file {} is not a PEM bundle: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Config(format!("CA file {} holds no CERTIFICATE block", path.display())));
    }
    Ok(certs)
}

/// Whether a transport failure `reason` is a refused server certificate
/// (unknown issuer, name mismatch, expired, ...).
pub fn is_certificate_problem(reason: &str) -> bool {
    reason.contains("certificate")
}
