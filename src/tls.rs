//! TLS for the listener: the rustls configuration (ring provider only, no
//! aws-lc-rs in the build; TLS 1.2 and 1.3 with rustls' safe defaults; no
//! client certificates) and a certificate that can be replaced while the
//! server runs ([`CertReloader::reload`], on SIGHUP), so that renewing a
//! certificate needs no restart (and so no unseal).

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::TlsSettings;

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg)
}

/// The certificate and key the server presents, read from their files at
/// start and again by [`CertReloader::reload`].
#[derive(Debug)]
pub struct CertReloader {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertReloader {
    fn load(
        cert_file: &Path,
        key_file: &Path,
        provider: &CryptoProvider,
    ) -> std::io::Result<CertifiedKey> {
        let certs = load_certs(cert_file)?;
        // The key's parse error is never printed: it could quote key bytes.
        let key = PrivateKeyDer::from_pem_file(key_file).map_err(|_| {
            invalid(format!(
                "tls.key_file {}: no readable PEM private key (PKCS#8, PKCS#1 or SEC1)",
                key_file.display()
            ))
        })?;
        CertifiedKey::from_der(certs, key, provider).map_err(|e| {
            invalid(format!(
                "tls.cert_file / tls.key_file do not make a usable pair: {e}"
            ))
        })
    }

    /// Reads the files again and, when they make a usable pair, serves them
    /// to every new connection from now on. On error the certificate in use
    /// stays (the error says why the new one was refused).
    pub fn reload(&self) -> std::io::Result<()> {
        let fresh = Self::load(&self.cert_file, &self.key_file, &self.provider)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

/// The rustls server configuration and its certificate reloader, or `None`
/// when TLS is not configured.
pub fn tls_config(
    tls: &TlsSettings,
) -> std::io::Result<Option<(rustls::ServerConfig, Arc<CertReloader>)>> {
    let (cert_file, key_file) = match (&tls.cert_file, &tls.key_file) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        _ => {
            return Err(invalid(
                "tls.cert_file and tls.key_file go together: set both for HTTPS, or neither".into(),
            ))
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let first = CertReloader::load(cert_file, key_file, &provider)?;
    let reloader = Arc::new(CertReloader {
        cert_file: cert_file.clone(),
        key_file: key_file.clone(),
        provider: Arc::clone(&provider),
        current: RwLock::new(Arc::new(first)),
    });
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(reloader.clone());
    tracing::info!(cert = %cert_file.display(), "TLS enabled");
    Ok(Some((config, reloader)))
}

fn load_certs(path: &Path) -> std::io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(format!("tls.cert_file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "tls.cert_file {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}
