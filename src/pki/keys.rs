//! Parsing PEM certificates and private keys in the shapes users bring them.
//!
//! `rcgen` with `ring` signs only with PKCS#8 keys; CA keys made by Go tools or OpenSSL are
//! often PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`). Those are wrapped into
//! PKCS#8 here, which is a fixed DER envelope around the same key.

use rcgen::{KeyPair, PublicKeyData};
use x509_parser::prelude::X509Certificate;

/// DER of the first `CERTIFICATE` block of a PEM bundle.
pub fn first_cert_der(pem_text: &str) -> Result<Vec<u8>, String> {
    labelled(pem_text, "CERTIFICATE")?
        .into_iter()
        .next()
        .ok_or_else(|| "no CERTIFICATE block found".to_string())
}

/// DER of every PEM block labelled `label` (e.g. `CERTIFICATE`, `CERTIFICATE REQUEST`).
pub fn labelled(pem_text: &str, label: &str) -> Result<Vec<Vec<u8>>, String> {
    Ok(pem_blocks(pem_text)?
        .into_iter()
        .filter(|(tag, _)| tag == label)
        .map(|(_, der)| der)
        .collect())
}

/// Parses a private key in PKCS#8, PKCS#1 (RSA) or SEC1 (EC P-256/P-384) PEM.
pub fn parse_key(pem_text: &str) -> Result<KeyPair, String> {
    let blocks = pem_blocks(pem_text)?;
    let (tag, der) = blocks
        .into_iter()
        .find(|(tag, _)| tag.ends_with("PRIVATE KEY"))
        .ok_or_else(|| "no PRIVATE KEY block found".to_string())?;
    let pkcs8 = match tag.as_str() {
        "PRIVATE KEY" => der,
        "RSA PRIVATE KEY" => wrap_pkcs8(&RSA_ALGORITHM, &der),
        "EC PRIVATE KEY" => {
            let curve = ec_curve_oid(&der).ok_or("unsupported EC curve (use P-256 or P-384)")?;
            let mut alg = Vec::from(EC_PUBLIC_KEY_OID);
            alg.extend_from_slice(curve);
            wrap_pkcs8(&der_tlv(0x30, &alg), &der)
        }
        other => return Err(format!("unsupported key type {other}")),
    };
    let key_der = rustls_pki_types::PrivateKeyDer::Pkcs8(pkcs8.into());
    KeyPair::try_from(&key_der).map_err(|e| e.to_string())
}

/// True when `key` is the private half of the certificate's public key.
pub fn spki_matches(cert: &X509Certificate<'_>, key: &KeyPair) -> bool {
    cert.public_key().raw == key.subject_public_key_info().as_slice()
}

fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let blocks = pem_rfc7468_blocks(text)?;
    if blocks.is_empty() {
        return Err("no PEM block found".into());
    }
    Ok(blocks)
}

/// A small PEM reader: `-----BEGIN X-----`, base64 lines, `-----END X-----`.
fn pem_rfc7468_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(tag) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = Some((tag.to_string(), String::new()));
        } else if let Some(tag) = line
            .strip_prefix("-----END ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            let (begin, body) = current.take().ok_or("END without BEGIN")?;
            if begin != tag {
                return Err(format!("BEGIN {begin} closed by END {tag}"));
            }
            let der = base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|e| format!("bad base64 in {tag} block: {e}"))?;
            out.push((tag.to_string(), der));
        } else if let Some((_, body)) = current.as_mut()
            && !line.contains(':')
        {
            body.push_str(line);
        }
    }
    Ok(out)
}

// AlgorithmIdentifier { rsaEncryption, NULL }
const RSA_ALGORITHM: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
// OID id-ecPublicKey
const EC_PUBLIC_KEY_OID: [u8; 9] = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_OID: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// Finds the named curve in a SEC1 ECPrivateKey (its `[0] parameters` field).
fn ec_curve_oid(sec1: &[u8]) -> Option<&'static [u8]> {
    let contains = |needle: &[u8]| sec1.windows(needle.len()).any(|w| w == needle);
    if contains(&P256_OID) {
        Some(&P256_OID)
    } else if contains(&P384_OID) {
        Some(&P384_OID)
    } else {
        None
    }
}

/// PrivateKeyInfo { version 0, algorithm, privateKey OCTET STRING }.
fn wrap_pkcs8(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(algorithm);
    body.extend(der_tlv(0x04, key));
    der_tlv(0x30, &body)
}

fn der_tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_round_trip() {
        let key = KeyPair::generate().expect("generate");
        let parsed = parse_key(&key.serialize_pem()).expect("parse");
        assert_eq!(parsed.public_key_raw(), key.public_key_raw());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_key("").is_err());
        assert!(parse_key("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----").is_err());
        assert!(parse_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err());
        assert!(first_cert_der("-----BEGIN CERTIFICATE-----\nAA").is_err());
    }

    #[test]
    fn openssl_pkcs1_and_sec1_keys_are_read() {
        for (cert, key) in [
            ("rsa-ca.crt", "rsa-pkcs1.key"),
            ("ec-ca.crt", "ec-sec1.key"),
        ] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki");
            let key_pem = std::fs::read_to_string(dir.join(key)).expect("key");
            let cert_pem = std::fs::read_to_string(dir.join(cert)).expect("cert");
            let pair = parse_key(&key_pem).expect(key);
            let der = first_cert_der(&cert_pem).expect(cert);
            let (_, x509) = x509_parser::parse_x509_certificate(&der).expect("x509");
            assert!(spki_matches(&x509, &pair), "{key} does not match {cert}");
        }
    }
}
